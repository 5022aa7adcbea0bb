"""One city on Telegram and Matrix at once (#16), end to end: `chatbot run` as a real
process serving a Telegram group (the fake Bot API) and a Matrix room (the suite's
Synapse), linked with a code. What is opened, joined, voted and unlinked on one side
shows on the other; a bridge ghost's command gets no answer; a restart in the middle
loses nothing and doubles nothing."""

from __future__ import annotations

import re
import secrets
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nio import JoinResponse, RoomCreateResponse, RoomInviteResponse

from tests.fakes.telegram_api import ThreadedFakeTelegramServer
from tests.matrix.conftest import USER_PASSWORD
from tests.matrix.helpers import POLL_END, POLL_RESPONSE, POLL_START, Member, body, poll_response
from tests.matrix.test_run_process import start, stop
from tests.support.synapse import SynapseServer
from tests.support.waiting import eventually, undelivered

if TYPE_CHECKING:
    from .conftest import MakeClient, MakeUser

GROUP = -1002000000016
ANNA, BEN, CARLA = 7101, 7102, 7103
ROOT = Path(__file__).resolve().parents[2]
CODE_RE = re.compile(r"\b[A-Z2-9]{3}-[A-Z2-9]{3}\b")


def morning_zone() -> str:
    """An IANA zone where it is between 9 and 10 in the morning now, so that the
    sessions of the test (10-14, 15-18) lie ahead whatever the hour of the run."""
    offset = 9 - datetime.now(UTC).hour
    if offset < -12:
        offset += 24
    if offset > 14:
        offset -= 24
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # Etc/GMT-2 is UTC+2


async def join(member: Member, inviter: Member, room: str) -> None:
    invited = await inviter.client.room_invite(room, member.user_id)
    assert isinstance(invited, RoomInviteResponse), invited
    joined = await member.client.join(room)
    assert isinstance(joined, JoinResponse), joined


def count(texts: list[str], part: str) -> int:
    return sum(part in t for t in texts)


def votes(db_path: Path) -> int:
    """The venue poll votes the bot has counted."""
    with sqlite3.connect(db_path) as db:
        return int(db.execute("SELECT count(*) FROM poll_votes").fetchone()[0])


async def test_a_telegram_group_and_a_matrix_room_are_one_city(
    synapse: SynapseServer, matrix_user: MakeUser, matrix_client: MakeClient, tmp_path: Path
) -> None:
    bot_user = matrix_user("linkbot")
    mia = Member(await matrix_client(matrix_user("mia")))
    nils = Member(await matrix_client(matrix_user("nils")))
    # a mautrix-telegram ghost, as the bridge would register it
    ghost_user = synapse.register(f"telegram_{secrets.randbelow(10**9)}", USER_PASSWORD)
    ghost = Member(await matrix_client(ghost_user))
    for member, name in ((mia, "Mia"), (nils, "Nils")):
        await member.client.set_displayname(name)
    created = await mia.client.room_create(name="Coworking Ruhr")
    assert isinstance(created, RoomCreateResponse), created
    room = created.room_id
    bot_id = bot_user.user_id

    def room_texts() -> list[str]:
        return [body(e) for e in mia.from_user(room, bot_id)]

    with ThreadedFakeTelegramServer() as telegram:
        telegram.add_chat(GROUP, "supergroup", title="Coworking Duisburg")
        for user_id, name in ((ANNA, "Anna"), (BEN, "Ben"), (CARLA, "Carla")):
            telegram.set_user(user_id, first_name=name, language_code="de")
        telegram.set_member(GROUP, ANNA, "administrator")

        def tg_say(user_id: int, text: str) -> None:
            telegram.push_update(telegram.message_update(GROUP, user_id, text))

        def tg_texts() -> list[str]:
            return telegram.sent_texts(GROUP)

        async def tg_ask(user_id: int, text: str, answer: str) -> str:
            before = count(tg_texts(), answer)
            tg_say(user_id, text)
            await eventually(lambda: count(tg_texts(), answer) > before, repr(answer))
            return [t for t in tg_texts() if answer in t][-1]

        db_path = tmp_path / "bot.db"
        env = {
            "CHATBOT_DATABASE_URL": f"sqlite:///{db_path}",
            "CHATBOT_TELEGRAM_TOKEN": telegram.token,
            "CHATBOT_TELEGRAM_API_URL": telegram.base_url,
            "CHATBOT_TELEGRAM_POLL_TIMEOUT": "1",
            "CHATBOT_TELEGRAM_FLOOD_LIMITS": "false",
            "CHATBOT_MATRIX_HOMESERVER": synapse.url,
            "CHATBOT_MATRIX_USER_ID": bot_id,
            "CHATBOT_MATRIX_PASSWORD": USER_PASSWORD,
            "PYTHONPATH": str(ROOT),  # the code under test, whatever is installed
        }
        process = start(tmp_path, env)
        try:
            # the city on Telegram, with two venues; Carla gets pings
            await tg_ask(ANNA, f"/einrichten Duisburg | {morning_zone()} | de", "Stadtgruppe")
            await tg_ask(ANNA, "/ort add Café Museum | 51.4344, 6.7623", "Café Museum")
            await tg_ask(ANNA, "/ort add Kö Lounge | 51.4330, 6.7650", "Kö Lounge")
            await tg_ask(CARLA, "/abo", "Carla")

            # the Matrix room, with the bot, Nils and a bridge ghost in it
            invited = await mia.client.room_invite(room, bot_id)
            assert isinstance(invited, RoomInviteResponse), invited
            await mia.notice(room, bot_id, "Hallo!")
            await join(nils, mia, room)
            await join(ghost, mia, room)

            # a code from Telegram; refused on Matrix when wrong or from a non-admin
            code_text = await tg_ask(ANNA, "/verbinden", "Verbindungscode")
            found = CODE_RE.search(code_text)
            assert found is not None, code_text
            code = found.group(0)
            assert "kenne ich nicht" in await mia.ask(room, bot_id, "!verbinden ABC-DEF")
            assert "nur die Admins" in await nils.ask(room, bot_id, f"!verbinden {code}")
            linked = await mia.ask(room, bot_id, f"!verbinden {code}")
            assert linked.startswith("Dieser Chat gehört jetzt zur Stadt Duisburg:"), linked
            assert "Telegram: Coworking Duisburg" in linked
            await eventually(
                lambda: count(tg_texts(), "Matrix: Coworking Ruhr gehört jetzt zu Duisburg") == 1,
                "the link told on Telegram",
            )
            reused = await mia.ask(room, bot_id, f"!verbinden {code}")
            assert "schon benutzt" in reused

            # opened on Matrix: announced on both sides, each in its syntax, and listed
            await nils.say(room, "!neu 10-14 Café Museum")
            announcement = await nils.notice(room, bot_id, "Neue Session 1")
            assert announcement["content"]["msgtype"] == "m.notice"  # bridges leave it alone
            opened = body(announcement)
            assert (
                opened.startswith("Neue Session 1: Café Museum, 10:00–14:00")
                and "!dabei 1" in opened
            )
            await eventually(
                lambda: count(tg_texts(), "Neue Session 1: Café Museum") == 1, "announcement"
            )
            [on_telegram] = [t for t in tg_texts() if "Neue Session 1" in t]
            assert "/dabei 1" in on_telegram and "!dabei" not in on_telegram
            assert "Café Museum" in await tg_ask(BEN, "/heute", "Café Museum, 10:00–14:00")
            # a Telegram subscriber is pinged about the Matrix session
            await eventually(
                lambda: count(telegram.sent_texts(CARLA), "Neue Session in Duisburg") == 1,
                "Carla's ping",
            )
            # a join on Matrix shows on Telegram
            assert "Mia ist dabei" in await mia.ask(room, bot_id, "!dabei 1")
            await eventually(
                lambda: count(tg_texts(), "Mia ist bei Session 1 dabei") == 1, "the join"
            )

            # a bridge ghost's command is not answered (Telegram answers the original)
            ghost_said = await ghost.say(room, "!heute")
            assert "Café Museum" in await nils.ask(room, bot_id, "!heute")
            await mia.sync_once()
            assert mia.replies(room, bot_id, ghost_said) == []
            assert stop(process) == 0
        finally:
            if process.poll() is None:
                process.kill()

        # a restart in the middle: nothing lost, nothing twice
        process = start(tmp_path, env)
        try:
            assert "Mia" in await tg_ask(BEN, "/heute", "Café Museum, 10:00–14:00")

            # a poll on both sides; votes from both count once per person
            tg_say(BEN, "/umfrage")
            await eventually(lambda: bool(telegram.calls_to("sendPoll")), "the Telegram poll")
            [tg_poll] = telegram.calls_to("sendPoll")
            labels = [o if isinstance(o, str) else o["text"] for o in tg_poll.params["options"]]
            museum = labels.index("1. Café Museum")
            start_event = await mia.until(
                lambda: next(
                    (
                        e
                        for e in mia.from_user(room, bot_id)
                        if e["type"] == POLL_START and "Wo arbeiten" in str(e["content"])
                    ),
                    None,
                ),
                "the Matrix poll",
            )
            answers: list[dict[str, Any]] = start_event["content"][POLL_START]["answers"]
            assert [a["id"] for a in answers] == [str(i + 1) for i in range(len(labels))]
            poll_id = tg_poll.result["poll"]["id"]
            telegram.push_update(telegram.poll_answer_update(poll_id, BEN, [museum]))
            await nils.send(
                room, poll_response(start_event["event_id"], [str(museum + 1)]), POLL_RESPONSE
            )
            await mia.send(
                room, poll_response(start_event["event_id"], [str(2 - museum)]), POLL_RESPONSE
            )
            await eventually(lambda: votes(db_path) == 3, "the three votes counted")
            result = await tg_ask(ANNA, "/schliessen", "Die Umfrage ist geschlossen")
            assert "Café Museum gewinnt mit 2 Stimmen" in result
            assert "Café Museum 2, Kö Lounge 1" in result
            await mia.notice(room, bot_id, "Café Museum gewinnt mit 2 Stimmen")
            await eventually(
                lambda: bool(telegram.calls_to("stopPoll")), "the Telegram poll closed"
            )
            await mia.until(
                lambda: any(e["type"] == POLL_END for e in mia.from_user(room, bot_id)),
                "the Matrix poll closed",
            )

            # unlinking stops the announcements on Matrix
            left = await mia.ask(room, bot_id, "!trennen")
            assert left.startswith("Dieser Chat hat die Stadt Duisburg verlassen.")
            await eventually(
                lambda: count(tg_texts(), "Matrix: Coworking Ruhr hat Duisburg verlassen") == 1,
                "the unlink told on Telegram",
            )
            await tg_ask(BEN, "/neu 15-18 Kö Lounge", "Neue Session 2")
            # what the /neu decided (recorded with its Telegram reply) has all gone out
            await eventually(lambda: undelivered(db_path) == 0, "everything delivered")
            await mia.sync_once()
            assert count(room_texts(), "Neue Session 2") == 0
            assert stop(process) == 0
        finally:
            if process.poll() is None:
                process.kill()

        # nothing twice, on either side
        await mia.sync_once()
        for part in ("Neue Session 1: Café Museum", "Mia ist bei Session 1 dabei", "gewinnt mit"):
            assert count(tg_texts(), part) == 1, part
        assert len(telegram.calls_to("sendPoll")) == len(telegram.calls_to("stopPoll")) == 1
        assert count(room_texts(), "Neue Session 1: Café Museum") == 1
        assert count(telegram.sent_texts(CARLA), "Neue Session in Duisburg: Café Museum") == 1
        assert count(room_texts(), "Mia ist dabei") == 1
        assert count(room_texts(), "gewinnt mit") == 1
