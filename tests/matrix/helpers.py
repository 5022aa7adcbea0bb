"""People and the bot for end-to-end tests against the Synapse fixture.

``Member`` wraps a logged-in nio client as a person in the chat: it sends commands and
Element-shaped messages and waits (by syncing) for the bot's answers, checking them
by content. ``start_bot`` builds the project's own adapter with ``build(...)`` from a
``Settings`` object and runs it as a task, as ``chatbot run`` does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nio import AsyncClient, JoinResponse, RoomSendResponse, SyncResponse

from chatbot.adapters.matrix import MatrixAdapter, build
from chatbot.config import Settings
from chatbot.core.bot import Bot
from chatbot.core.clock import Clock, SystemClock
from chatbot.storage.sqlite import SqliteRepository
from tests.support.synapse import MatrixUser, SynapseServer
from tests.support.waiting import eventually as eventually  # also for the tests

DEADLINE = 15.0  # seconds to wait for an answer


def element_location(lat: float, lon: float, accuracy: int) -> dict[str, Any]:
    """A "share my location" message as Element Web sends it (see test_homeserver)."""
    ts = int(time.time() * 1000)
    uri = f"geo:{lat},{lon};u={accuracy}"
    text = f"User Location {uri} at 2026-01-01T10:00:00.000Z"
    return {
        "msgtype": "m.location",
        "body": text,
        "geo_uri": uri,
        "org.matrix.msc3488.location": {"uri": uri, "description": None},
        "org.matrix.msc3488.asset": {"type": "m.self"},
        "org.matrix.msc1767.text": text,
        "org.matrix.msc3488.ts": ts,
    }


def element_pin(lat: float, lon: float, description: str | None = None) -> dict[str, Any]:
    """A dropped pin (a place, no accuracy) as matrix-js-sdk's ``makeLocationContent``
    builds it; ``description`` is the place's label (Element leaves it out)."""
    ts = int(time.time() * 1000)
    uri = f"geo:{lat},{lon}"
    label = f' "{description}"' if description else ""
    text = f"Location{label} {uri} at 2026-01-01T10:00:00.000Z"
    location: dict[str, Any] = {"uri": uri}
    if description:
        location["description"] = description
    return {
        "msgtype": "m.location",
        "body": text,
        "geo_uri": uri,
        "org.matrix.msc3488.location": location,
        "org.matrix.msc3488.asset": {"type": "m.pin"},
        "org.matrix.msc1767.text": text,
        "org.matrix.msc3488.ts": ts,
    }


POLL_START = "org.matrix.msc3381.poll.start"
POLL_RESPONSE = "org.matrix.msc3381.poll.response"
POLL_END = "org.matrix.msc3381.poll.end"


def poll_response(start: str, answers: list[str], *, stable: bool = False) -> dict[str, Any]:
    """A vote as Element sends it (unstable MSC3381), or in the stable shape."""
    relates = {"rel_type": "m.reference", "event_id": start}
    if stable:
        return {"m.relates_to": relates, "m.selections": answers}
    return {"m.relates_to": relates, POLL_RESPONSE: {"answers": answers}}


def replied_to(event: dict[str, Any]) -> str | None:
    relates = event.get("content", {}).get("m.relates_to") or {}
    return (relates.get("m.in_reply_to") or {}).get("event_id")


def body(event: dict[str, Any]) -> str:
    return str(event.get("content", {}).get("body", ""))


DECRYPTED = "test.decrypted"  # marks an event that arrived encrypted (see Member)


def _source(event: Any) -> dict[str, Any]:
    """The event as a dict; one that arrived encrypted and was decrypted by the
    client carries ``DECRYPTED: True``."""
    source = dict(event.source)
    if getattr(event, "decrypted", False):
        source[DECRYPTED] = True
    return source


def encrypted(event: dict[str, Any]) -> bool:
    return bool(event.get(DECRYPTED))


@dataclass
class Member:
    client: AsyncClient
    timeline: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    invites: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    async def sync_once(self, timeout_ms: int = 500) -> None:
        response = await self.client.sync(timeout=timeout_ms)
        assert isinstance(response, SyncResponse), response
        for room_id, info in response.rooms.join.items():
            self.timeline.setdefault(room_id, []).extend(_source(e) for e in info.timeline.events)
        await self.keys()
        for room_id, info in response.rooms.invite.items():
            self.invites[room_id] = {
                "events": [getattr(e, "source", {}) for e in info.invite_state]
            }

    async def keys(self) -> None:
        """What an encrypting client does after each sync (as nio's sync_forever):
        upload, query and claim keys, send queued to-device messages."""
        client = self.client
        if client.olm is None:
            return
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    async def until(
        self, condition: Callable[[], Any], what: str, deadline: float = DEADLINE
    ) -> Any:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            result = condition()
            if result:
                return result
            await self.sync_once()
        result = condition()
        if result:
            return result
        raise AssertionError(f"{self.user_id}: no {what} within {deadline:.0f} s")

    async def send(
        self, room_id: str, content: dict[str, Any], kind: str = "m.room.message"
    ) -> str:
        # in an encrypted room: share the key with every device, as Element does
        sent = await self.client.room_send(room_id, kind, content, ignore_unverified_devices=True)
        assert isinstance(sent, RoomSendResponse), sent
        return str(sent.event_id)

    async def say(self, room_id: str, text: str) -> str:
        return await self.send(room_id, {"msgtype": "m.text", "body": text})

    def from_user(self, room_id: str, user_id: str) -> list[dict[str, Any]]:
        return [e for e in self.timeline.get(room_id, []) if e.get("sender") == user_id]

    async def event_of_type(self, room_id: str, user_id: str, kind: str) -> dict[str, Any]:
        """The first event of this type from this user in the room (waits for it)."""

        def find() -> dict[str, Any] | None:
            return next((e for e in self.from_user(room_id, user_id) if e["type"] == kind), None)

        found: dict[str, Any] = await self.until(find, f"{kind} event")
        return found

    def replies(self, room_id: str, bot_id: str, event_id: str) -> list[dict[str, Any]]:
        return [e for e in self.from_user(room_id, bot_id) if replied_to(e) == event_id]

    async def reply_to(self, room_id: str, bot_id: str, event_id: str) -> str:
        """The body of the bot's (first) reply to an event."""
        found = await self.until(lambda: self.replies(room_id, bot_id, event_id), "reply")
        return body(found[0])

    async def ask(self, room_id: str, bot_id: str, text: str) -> str:
        return await self.reply_to(room_id, bot_id, await self.say(room_id, text))

    async def notice(self, room_id: str, bot_id: str, contains: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for event in self.from_user(room_id, bot_id):
                if contains in body(event):
                    return event
            return None

        found: dict[str, Any] = await self.until(find, f"bot message with {contains!r}")
        return found

    async def accept_invite(self, room_id: str | None = None) -> str:
        """Wait for an invite (to ``room_id`` or any), join it, return the room id."""

        def invited() -> str | None:
            if room_id is not None:
                return room_id if room_id in self.invites else None
            return next(iter(self.invites), None)

        target: str = await self.until(invited, "invite")
        joined = await self.client.join(target)
        assert isinstance(joined, JoinResponse), joined
        self.invites.pop(target, None)
        if self.client.olm is not None:
            await self.sync_once(0)  # an encrypting client sends only in rooms it synced
        return target


@dataclass
class RunningBot:
    adapter: MatrixAdapter
    repo: SqliteRepository
    task: asyncio.Task[None]
    stopper: asyncio.Event
    user: MatrixUser

    @property
    def user_id(self) -> str:
        return self.user.user_id

    @property
    def bot(self) -> Bot:
        return self.adapter.bot

    async def synced(self, deadline: float = DEADLINE) -> None:
        """Wait until the adapter has finished its first sync (its token is saved)."""

        async def first_sync_done() -> bool:
            assert not self.task.done(), self.task
            token = await self.repo.ledger.platform_value("matrix", "next_batch")
            return token is not None and self.adapter._synced.is_set()

        await eventually(first_sync_done, "first sync of the bot", deadline)

    async def stop(self) -> None:
        self.stopper.set()
        await asyncio.wait_for(self.task, timeout=DEADLINE)
        await self.repo.close()


def bot_settings(
    server: SynapseServer, user: MatrixUser, db_url: str, password: str, **extra: Any
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        matrix_homeserver=server.url,
        matrix_user_id=user.user_id,
        matrix_password=password,
        default_language="de",
        default_timezone="Europe/Berlin",
        **extra,
    )


async def start_bot(
    server: SynapseServer,
    user: MatrixUser,
    db_url: str,
    password: str,
    *,
    timeline_limit: int | None = None,
    clock: Clock | None = None,
    **extra: Any,
) -> RunningBot:
    settings = bot_settings(server, user, db_url, password, **extra)
    repo = await SqliteRepository.open(settings.database_url)
    bot = Bot(
        repo,
        clock or SystemClock(),
        default_language=settings.default_language,
        default_timezone=settings.default_timezone,
    )
    adapter = build(settings, bot, repo)
    if timeline_limit is not None:
        adapter.timeline_limit = timeline_limit
    stopper = asyncio.Event()
    task = asyncio.create_task(adapter.run(stopper))
    running = RunningBot(adapter, repo, task, stopper, user)
    await running.synced()
    return running
