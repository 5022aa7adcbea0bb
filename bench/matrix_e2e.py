"""Benchmark: a member's `!heute` to the bot's reply, end to end over a real Synapse.

    python bench/matrix_e2e.py [--n 100] [--warmup 5]

Starts its own Synapse (tests/support/synapse.py, loopback only, a free port) and runs
two bots on it in the same process:

- the project's Matrix adapter, built with `chatbot.adapters.matrix.build(...)` over
  a temporary SQLite file, in a room that is a city group with a venue and a session
  (so `!heute` reads real data and renders a session with its join command);
- a bare matrix-nio echo bot (sync loop, replies to every text with an m.notice), in a
  room of its own: the baseline for what a sync + send round trip costs anyway.

The encrypted arm: the same two bots again, each in a room of its own that is
end-to-end encrypted (as Element creates private rooms): the project's adapter with its
crypto module (nio's Olm machine, keys in a store next to its database) against the
echo bot as a nio client with encryption on (store_path, keys uploaded, queried and
claimed after each sync as nio's sync_forever does). Same Synapse, same run.

A member (a nio client with encryption on and a long-polling sync) sends `!heute` and
waits until the reply (an event with `m.in_reply_to` pointing at the command, decrypted
where it came encrypted) arrives in its sync; the time from the send to that is one
sample. The requests go round the four rooms (one at a time, N each after a warm-up),
so drift hits all alike.

Printed: p50/p99 of each, the ratios of the medians and of the p99s of each arm, the
goal (<= 1.2) for both.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nio import (  # noqa: E402
    AsyncClient,
    AsyncClientConfig,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

from chatbot.adapters.matrix import build  # noqa: E402
from chatbot.config import Settings  # noqa: E402
from chatbot.core.bot import Bot  # noqa: E402
from chatbot.core.clock import SystemClock  # noqa: E402
from chatbot.storage.sqlite import SqliteRepository  # noqa: E402
from tests.support.synapse import SynapseServer  # noqa: E402

PASSWORD = "bench password that is long enough"
GOAL_RATIO = 1.2
TIMEOUT_S = 20.0


ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


def client_for(server: SynapseServer, user: Any, store: Path) -> AsyncClient:
    """A nio client with end-to-end encryption (its keys in ``store``)."""
    store.mkdir(parents=True, exist_ok=True)
    config = AsyncClientConfig(
        max_limit_exceeded=0, max_timeouts=2, request_timeout=60, encryption_enabled=True
    )
    client = AsyncClient(
        server.url, user.user_id, device_id=user.device_id, store_path=str(store), config=config
    )
    client.restore_login(user.user_id, user.device_id, user.access_token)
    return client


async def keys(client: AsyncClient) -> None:
    """What nio's sync_forever does after each sync for an encrypting client."""
    if client.should_upload_keys:
        await client.keys_upload()
    if client.should_query_keys:
        await client.keys_query()
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())
    await client.send_to_device_messages()


async def echo_bot(client: AsyncClient, stop: asyncio.Event) -> None:
    """The baseline: a bare nio bot answering every text with an m.notice reply."""
    first = await client.sync(timeout=0, full_state=True)
    assert isinstance(first, SyncResponse), first
    await keys(client)
    while not stop.is_set():
        response = await client.sync(timeout=30_000)
        if not isinstance(response, SyncResponse):
            await asyncio.sleep(1)
            continue
        await keys(client)
        for room_id in response.rooms.invite:
            await client.join(room_id)
        for room_id, info in response.rooms.join.items():
            for event in info.timeline.events:
                if isinstance(event, RoomMessageText) and event.sender != client.user_id:
                    await client.room_send(
                        room_id,
                        "m.room.message",
                        {
                            "msgtype": "m.notice",
                            "body": "echo: " + event.body,
                            "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}},
                        },
                        ignore_unverified_devices=True,  # encrypted rooms: every device
                    )


class Member:
    """Sends a command and waits (long-polling sync) for the reply to it."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.replies: dict[str, str] = {}  # replied-to event id -> reply body
        self.joined: set[str] = set()
        self.invited: set[str] = set()

    async def sync(self, timeout_ms: int) -> None:
        response = await self.client.sync(timeout=timeout_ms)
        assert isinstance(response, SyncResponse), response
        await keys(self.client)
        for info in response.rooms.join.values():
            for event in info.timeline.events:
                content = event.source.get("content", {})
                relates = content.get("m.relates_to") or {}
                target = (relates.get("m.in_reply_to") or {}).get("event_id")
                if target and event.sender != self.client.user_id:
                    self.replies[target] = str(content.get("body", ""))
                if event.source.get("type") == "m.room.member":
                    if event.source.get("content", {}).get("membership") == "join":
                        self.joined.add(event.source.get("state_key", ""))

    async def ask(self, room_id: str, text: str) -> tuple[float, str]:
        started = time.perf_counter()
        sent = await self.client.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": text},
            ignore_unverified_devices=True,
        )
        assert isinstance(sent, RoomSendResponse), sent
        deadline = time.monotonic() + TIMEOUT_S
        while sent.event_id not in self.replies:
            assert time.monotonic() < deadline, f"no reply to {text!r} in {room_id}"
            await self.sync(30_000)
        return time.perf_counter() - started, self.replies[sent.event_id]

    async def wait_joined(self, user_id: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while user_id not in self.joined:
            assert time.monotonic() < deadline, f"{user_id} did not join"
            await self.sync(1_000)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


async def main(n: int, warmup: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        server = SynapseServer(Path(tmp) / "synapse")
        started = time.monotonic()
        server.start()
        print(f"synapse {server.url} up in {time.monotonic() - started:.1f} s")
        try:
            return await run(server, Path(tmp), n, warmup)
        finally:
            server.stop()


async def run(server: SynapseServer, tmp: Path, n: int, warmup: int) -> int:
    suffix = uuid.uuid4().hex[:6]
    bot_user = server.register(f"chatbot-{suffix}", PASSWORD)
    echo_user = server.register(f"echo-{suffix}", PASSWORD)
    anna_user = server.register(f"anna-{suffix}", PASSWORD)

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp / 'bot.db'}",
        matrix_homeserver=server.url,
        matrix_user_id=bot_user.user_id,
        matrix_password=PASSWORD,
    )
    repo = await SqliteRepository.open(settings.database_url)
    bot = Bot(repo, SystemClock(), default_language="de", default_timezone="Europe/Berlin")
    adapter = build(settings, bot, repo)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(adapter.run(stop))]
    echo_client = client_for(server, echo_user, tmp / "echo-store")
    tasks.append(asyncio.create_task(echo_bot(echo_client, stop)))
    anna = Member(client_for(server, anna_user, tmp / "anna-store"))
    arms = ("chatbot", "echo", "chatbot-e2e", "echo-e2e")
    try:
        await anna.sync(0)
        rooms = {}
        for name in arms:
            invitee = bot_user.user_id if name.startswith("chatbot") else echo_user.user_id
            created = await anna.client.room_create(
                name=name,
                invite=[invitee],
                initial_state=[ENCRYPTION] if name.endswith("e2e") else [],
            )
            assert isinstance(created, RoomCreateResponse), created
            rooms[name] = created.room_id
            await anna.wait_joined(invitee)
        # make the bot's rooms city groups with a venue and a session for !heute
        for name, city in (("chatbot", "Duisburg"), ("chatbot-e2e", "Essen")):
            for command in (
                f"!einrichten {city} | Europe/Berlin | de",
                "!ort add Café Museum | 51.4344, 6.7623",
            ):
                await anna.ask(rooms[name], command)
            await anna.client.room_send(  # announced to the room, not a reply
                rooms[name],
                "m.room.message",
                {"msgtype": "m.text", "body": "!neu Café Museum"},
                ignore_unverified_devices=True,
            )
            _, today = await anna.ask(rooms[name], "!heute")
            assert "Café Museum" in today, today
        print("the bot's !heute (encrypted room):\n  " + today.replace("\n", "\n  "))

        for _ in range(warmup):
            for name in arms:
                await anna.ask(rooms[name], "!heute")
        samples: dict[str, list[float]] = {name: [] for name in arms}
        for _ in range(n):
            for name in arms:
                elapsed, _ = await anna.ask(rooms[name], "!heute")
                samples[name].append(elapsed)
    finally:
        stop.set()
        await asyncio.wait_for(tasks[0], timeout=30)
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)
        await echo_client.close()
        await anna.client.close()
        await repo.close()

    print(f"\n!heute -> reply, {n} sequential requests each (after {warmup} warm-up)")
    figures = {}
    labels = {
        "chatbot": "chatbot adapter",
        "echo": "nio echo bot",
        "chatbot-e2e": "chatbot, e2ee",
        "echo-e2e": "nio echo, e2ee",
    }
    for name in arms:
        data = samples[name]
        p50, p99 = percentile(data, 50) * 1000, percentile(data, 99) * 1000
        figures[name] = (p50, p99)
        mean = statistics.fmean(data) * 1000
        print(f"  {labels[name]:16} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   mean {mean:7.1f} ms")
    worst = 0.0
    for arm, mine, theirs in (
        ("plain", "chatbot", "echo"),
        ("encrypted", "chatbot-e2e", "echo-e2e"),
    ):
        ratio50 = figures[mine][0] / figures[theirs][0]
        ratio99 = figures[mine][1] / figures[theirs][1]
        worst = max(worst, ratio50)
        print(
            f"  ratio {arm:10} p50 {ratio50:7.2f}      p99 {ratio99:7.2f}   (goal <= {GOAL_RATIO})"
        )
    return 0 if worst <= GOAL_RATIO else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="requests per bot")
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.n, args.warmup)))
