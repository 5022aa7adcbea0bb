"""Pings, reminders and personal data (core + outbox sender, real SQLite, fake clock)."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from chatbot.adapters.base import RetryAfter, Unreachable
from chatbot.core.actions import Action, DirectMessage, SendText
from chatbot.core.bot import Bot
from chatbot.core.events import Person
from chatbot.delivery import OutboxSender
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import PLATFORM, GroupChat, berlin
from tests.support.waiting import eventually

HBF = (51.4297, 6.7755)


@dataclass
class Postbox:
    """A performer we own: records what would be sent; some people can't be reached."""

    platform: str = PLATFORM
    unreachable: set[str] = field(default_factory=set)
    sent: list[Action] = field(default_factory=list)
    busy_for: float = 0.0  # the platform answers "retry after" that many seconds
    hang_after: int | None = None  # sends taken; the next one never gets its answer
    hanging: asyncio.Event = field(default_factory=asyncio.Event)  # ... and here it is

    async def perform(self, action: Action) -> None:
        if isinstance(action, DirectMessage) and action.person.id in self.unreachable:
            raise Unreachable(action.person.id)
        if self.busy_for:
            raise RetryAfter(self.busy_for)
        if self.hang_after is not None and len(self.sent) >= self.hang_after:
            self.hanging.set()
            await asyncio.Event().wait()  # until the sender is cancelled
        if isinstance(action, DirectMessage) and action.key is not None:
            # like Matrix's transaction ids: a retry of a message the platform already
            # took (the sender died before it could mark it sent) is not shown twice
            if any(isinstance(a, DirectMessage) and a.key == action.key for a in self.sent):
                return
        self.sent.append(action)

    def private_chat_link(self, start: str) -> str:
        return f"https://t.me/CoworkBot?start={start}"

    def directs(self, person: str | None = None) -> list[DirectMessage]:
        return [
            a
            for a in self.sent
            if isinstance(a, DirectMessage) and (person is None or a.person.id == person)
        ]


@pytest.fixture
def postbox() -> Postbox:
    return Postbox()


@pytest.fixture
def sender(bot: Bot, postbox: Postbox) -> OutboxSender:
    return OutboxSender(bot, postbox, rate=0)


async def test_a_subscriber_gets_a_ping_with_a_join_button(
    duisburg: GroupChat, sender: OutboxSender, postbox: Postbox
) -> None:
    text = await duisburg.reply_text("Carla", "/abo")
    assert text.startswith("Carla bekommt eine Direktnachricht, wenn in Duisburg")
    await duisburg.say("Ben", "/neu 10-14 Café Museum - Steuern")
    assert await sender.drain() == 1
    [ping] = postbox.directs("carla")
    assert ping.text == (
        "Neue Session in Duisburg: Café Museum, 10:00–14:00, eröffnet von Ben.\nThema: Steuern"
    )
    [button] = ping.buttons
    assert (button.command, button.command_name) == ("join", "dabei")
    # pressing it in the private chat joins the session
    assert "Carla ist dabei" in await duisburg.reply_text(
        "Carla", f"/dabei {button.args}", private=True
    )
    assert await sender.drain() == 0  # her reminder is queued, not due yet
    assert postbox.directs("carla") == [ping]


async def test_no_ping_for_your_own_session_and_none_twice(
    duisburg: GroupChat, sender: OutboxSender, postbox: Postbox, repo: SqliteRepository
) -> None:
    await duisburg.say("Ben", "/abo")
    await duisburg.say("Carla", "/abo")
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await sender.drain()
    await sender.drain()
    assert [d.person.id for d in postbox.directs()] == ["carla"]
    session = (await repo.sessions.sessions_on(1, berlin("2026-11-30 00:00").date()))[0]
    assert not await repo.outbox.enqueue(
        "ping",
        postbox.directs()[0].person,
        "again",
        due_at=duisburg.clock.now(),
        session_id=session.id,
    )


async def test_unsubscribe_stops_pings(
    duisburg: GroupChat, sender: OutboxSender, postbox: Postbox
) -> None:
    await duisburg.say("Carla", "/abo")
    assert "Keine Pings mehr" in await duisburg.reply_text("Carla", "/abbestellen")
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await sender.drain()
    assert postbox.directs() == []


async def test_a_radius_limits_pings_to_sessions_near_the_shared_point(
    duisburg: GroupChat, sender: OutboxSender, postbox: Postbox
) -> None:
    assert "zuerst deinen Standort" in await duisburg.reply_text("Carla", "/abo 1")
    await duisburg.share("Carla", *HBF)
    # the centre is kept rounded to about 1 km, so the radius is a little coarse
    assert "Nur im Umkreis von 2 km." in await duisburg.reply_text("Carla", "/abo 2")
    await duisburg.say("Anna", "/ort add Mülheim Café | 51.4270, 6.8830")
    await duisburg.say("Ben", "/neu 10-14 Mülheim Café")  # 7.5 km away
    await duisburg.say("Dana", "/neu 10-14 Kö Lounge")  # 820 m away
    await sender.drain()
    assert [d.text.split(":")[1].split(",")[0].strip() for d in postbox.directs()] == ["Kö Lounge"]


async def test_quiet_hours_across_midnight_delay_or_drop(
    duisburg: GroupChat, sender: OutboxSender, postbox: Postbox
) -> None:
    await duisburg.say("Carla", "/abo ruhe 22-7")
    # 06:00 is quiet: the ping for the 8-12 session waits until 07:00
    duisburg.clock.set(berlin("2026-11-30 06:00"))
    await duisburg.say("Ben", "/neu 8-12 Café Museum")
    await sender.drain()
    assert postbox.directs() == []
    await duisburg.advance(berlin("2026-11-30 06:59"))
    await sender.drain()
    assert postbox.directs() == []
    duisburg.clock.set(berlin("2026-11-30 07:00"))
    await sender.drain()
    assert len(postbox.directs("carla")) == 1
    # 23:00 is quiet too; this session is over before 07:00, so no ping at all
    duisburg.clock.set(berlin("2026-11-30 23:00"))
    await duisburg.say("Ben", "/neu 23:00-23:45 Kö Lounge")
    await duisburg.advance(berlin("2026-12-01 08:00"))
    await sender.drain()
    assert len(postbox.directs("carla")) == 1


async def test_joiners_get_a_reminder_before_the_start(
    duisburg: GroupChat, sender: OutboxSender, postbox: Postbox
) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei")
    await duisburg.say("Dana", "/dabei")
    await duisburg.say("Dana", "/absagen")  # no reminder for Dana any more
    duisburg.clock.set(berlin("2026-11-30 09:44"))
    await sender.drain()
    assert postbox.directs() == []
    duisburg.clock.set(berlin("2026-11-30 09:45"))
    await sender.drain()
    [reminder] = postbox.directs()
    assert reminder.person.id == "carla"
    assert reminder.text == "Erinnerung: Café Museum, 10:00–14:00 beginnt in 15 Minuten."


async def test_cancelling_drops_waiting_pings_and_reminders(
    duisburg: GroupChat, sender: OutboxSender, postbox: Postbox
) -> None:
    await duisburg.say("Carla", "/abo ruhe 6-9")
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Dana", "/dabei")
    await duisburg.say("Ben", "/streichen")
    duisburg.clock.set(berlin("2026-11-30 09:50"))
    await sender.drain()
    # no ping for Carla, no reminder for Dana: only Dana's notice that it is cancelled
    [notice] = postbox.directs()
    assert notice.person.id == "dana" and notice.text.startswith("Gestrichen in Duisburg")


async def test_an_unreachable_person_is_marked_and_the_group_told_once(
    duisburg: GroupChat, sender: OutboxSender, postbox: Postbox
) -> None:
    postbox.unreachable.add("carla")
    await duisburg.say("Carla", "/abo")
    await duisburg.say("Ben", "/neu 10-12 Café Museum")
    await duisburg.say("Dana", "/neu 12-14 Kö Lounge")
    await sender.drain()
    notices = [a for a in postbox.sent if isinstance(a, SendText)]
    assert len(notices) == 1
    assert notices[0].chat == duisburg.chat
    assert "Ich kann Carla keine Pings schicken" in notices[0].text
    assert "https://t.me/CoworkBot?start=abo" in notices[0].text
    # when Carla starts a private chat with the bot, pings work again
    postbox.unreachable.clear()
    await duisburg.say("Carla", "/hilfe", private=True)
    await duisburg.say("Emil", "/neu 15-17 Finkenkrug")
    await sender.drain()
    assert [d.text.split(":")[1].split(",")[0].strip() for d in postbox.directs("carla")] == [
        "Finkenkrug"
    ]


async def test_a_sender_stopped_mid_fanout_leaves_the_rest_to_the_next_once(
    duisburg: GroupChat, db_url: str, postbox: Postbox
) -> None:
    people = [f"P{n:02}" for n in range(40)]
    for name in people:
        await duisburg.say(name, "/abo")
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    postbox.hang_after = 15
    first = OutboxSender(duisburg.bot, postbox, rate=0)
    task = asyncio.create_task(first.drain())
    await asyncio.wait_for(postbox.hanging.wait(), 10)  # the 16th send is on its way
    task.cancel()  # the process dies in the middle of a send
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(postbox.directs()) == 15
    postbox.hang_after = None
    # a new process on the same file; the interrupted claim is retried after a minute
    repo = await SqliteRepository.open(db_url)
    try:
        duisburg.clock.set(berlin("2026-11-30 08:32"))
        second = OutboxSender(Bot(repo, duisburg.clock), postbox, rate=0)
        await second.drain()
    finally:
        await repo.close()
    received = sorted(d.person.id for d in postbox.directs())
    assert received == sorted(p.lower() for p in people)  # everyone, nobody twice


async def test_privacy_lists_what_is_stored(duisburg: GroupChat) -> None:
    await duisburg.say("Carla", "/abo")
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei")
    text = await duisburg.reply_text("Carla", "/datenschutz")
    assert "1 Abo (Pings), bis du abbestellst" in text
    assert "0 Sessions, die du eröffnet hast" in text
    assert "1 Session, bei der du dabei warst" in text
    assert "nach 90 Tagen gelöscht" in text


async def test_forget_leaves_no_row_about_the_person(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    await duisburg.say("Carla", "/abo")
    await duisburg.say("Carla", "/neu 10-14 Café Museum - Carlas Thema")
    await duisburg.say("Carla", "/neu jeden mi 9-12 Kö Lounge")
    await duisburg.say("Ben", "/neu 15-18 Finkenkrug")
    await duisburg.say("Carla", "/dabei 2")
    await duisburg.share("Carla", 51.4297, 6.7755)
    await duisburg.say("Carla", "/neu hier 16-18")  # named after her: "… von Carla"
    await duisburg.say("Dana", "/dabei 4")
    await duisburg.say("Ben", "/umfrage")
    await duisburg.say("Carla", "/stimme 1")
    actions = await duisburg.say("Carla", "/vergessen")
    [group_post, text] = [a.text for a in actions if isinstance(a, SendText)]
    assert text.startswith("Erledigt: Ich habe alles gelöscht")
    assert "Carla" not in group_post and "Serie 1" in group_post
    tables = [
        r[0]
        for r in await (
            await repo.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ).fetchall()
    ]
    for table in tables:
        rows = await (await repo.db.execute(f"SELECT * FROM {table}")).fetchall()
        for row in rows:
            values = [str(v).lower() for v in tuple(row)]
            assert "carla" not in values, (table, tuple(row))
    places = await repo.db.execute_fetchall("SELECT place FROM sessions")
    assert not [p for (p,) in places if "Carla" in p]
    # nor in memory: the storage memoizes what it read (/heute read Carla's sessions)
    assert not _held_in_memory("Carla")
    assert "Carla" not in await duisburg.reply_text("Ben", "/heute")


async def test_retention_deletes_old_joiners_and_votes(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei")
    await duisburg.say("Ben", "/umfrage")
    await duisburg.say("Carla", "/stimme 1")
    duisburg.clock.set(berlin("2027-02-27 12:00"))  # 89 days later
    await duisburg.bot.tick()
    assert (await repo.people.personal_data(duisburg.person("Carla").ref))["joins"] == 1
    duisburg.clock.set(berlin("2027-03-01 12:00"))  # more than 90 days later
    await duisburg.bot.tick()
    data = await repo.people.personal_data(duisburg.person("Carla").ref)
    assert (data["joins"], data["votes"]) == (0, 0)
    assert not _held_in_memory("Carla")


def _held_in_memory(name: str) -> list[Person]:
    """Live Person objects with this name (after collecting garbage)."""
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, Person) and o.name == name]


async def test_a_stop_during_a_platforms_wait_stops_the_sender_at_once(
    duisburg: GroupChat, sender: OutboxSender, postbox: Postbox
) -> None:
    await duisburg.say("Carla", "/abo")
    postbox.busy_for = 30.0  # a flood limit, or Telegram down: "try again in 30 s"
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    repo = duisburg.bot.repo

    async def tried_and_back() -> bool:
        rows = await (await repo.db.execute("SELECT state, attempts FROM outbox")).fetchall()
        return [tuple(row) for row in rows] == [("pending", 1)]

    await eventually(tried_and_back, "the ping tried and back in the outbox")  # it waits now
    stop.set()
    await asyncio.wait_for(running, 2)  # not 30 s later
    assert postbox.directs() == []
    messages = await duisburg.bot.repo.outbox.due_messages(
        PLATFORM, duisburg.clock.now() + timedelta(seconds=31), 10, stale_claim=duisburg.clock.now()
    )
    assert len(messages) == 1  # still in the outbox, due after the wait
