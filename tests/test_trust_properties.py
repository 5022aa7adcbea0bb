"""Properties of trust, checked after every step of random walks through a group's life
(see /work/shared/PRODUCT.md, "Principles"): a shown reference keeps its meaning,
nothing changes silently, no duplicates.

Hypothesis draws the steps (four people opening, joining, leaving and cancelling
sessions with odd times and names, series, venue changes, polls, votes, forgetting,
timezone changes and clock jumps across the DST change); one asyncio loop runs a walk
against a fresh SQLite file, and after every step the invariants are read from the
database and from what the bot said. A plain example test below covers each finding
that the walks hit only by chance."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatbot.core.actions import Action, DirectMessage, EditText, SendText
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.model import SessionState
from chatbot.storage.base import to_iso
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import FakeAdmins, GroupChat, berlin

settings.register_profile(
    "trust",
    max_examples=int(os.environ.get("TRUST_EXAMPLES", "40")),  # more to hunt locally
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("trust-ci", parent=settings.get_profile("trust"), derandomize=True)
TRUST = settings.get_profile("trust-ci" if os.environ.get("CI") else "trust")

# the apology of chatbot/core/bot.py, and its German translation
APOLOGIES = (
    "Sorry, something went wrong on my side",
    "Entschuldige, bei mir ist etwas schiefgegangen",
)
PEOPLE = ["Anna", "Ben", "Carla", "Dana"]
STARTS = [
    berlin("2026-11-30 08:30"),  # a Monday
    berlin("2027-03-26 20:30"),  # a Friday; the clocks go forward on Sunday the 28th
]
VENUES = [
    "Café Museum | 51.4344, 6.7623 | Königstraße 1 | wlan",
    "Kö Lounge | 51.4330, 6.7650",
    "Finkenkrug | 51.4290, 6.7900 | | ruhig, essen",
]

# --- what people type ----------------------------------------------------------------

TIMES = [
    "10-14", "9-12", "11-15", "13-17", "8:30-9:15", "23:59", "23:50-23:59", "0:00-1:00",
    "9-9", "²-³", "10-14 Uhr", "１０-１４", "1\u200b0-14", "von 10 bis 14", "ab 9", "bis 14",
    "", "25:99", "14-10", "9h30-13h", "10 - 14", "18-22",
]  # fmt: skip
TOPICS = [
    "", " - Steuererklärung", " - Zeile 1\nZeile 2", " - " + "x" * 300, " - " + "é" * 200,
    " - Steuer\u200berklärung", " - \u202eevil\u202c", " - \tTabs\tund  Leerzeichen ",
    " - a\r\nb\x00c",
]  # fmt: skip
# names an admin tries for a venue: plain ones, look-alikes of existing ones, invisible
# and bidi characters, names that read as keywords, times, numbers or ids
VENUE_NAMES = [
    "Neues Café", "Stadtbibliothek", "Cafe Museum", "Сafé Museum", "Кö Lounge",
    "Fіnkenkrug", "Bü\u200bro", "\u202eLounge\u202c", "Werk\u00adstatt", "  Dach  Terrasse ",
    "Hier Café", "Café hier", "jeden Tag", "Montag Bar", "Bar s12", "10-14 Bar", "Bar 5.12.",
    "123", "Co|Work", "Dach - Terrasse", "Zeile\nZwei", "Tab\tBar", "X" * 90, "\u200b",
    "Serie Bar", "Heute Bar", "Bar max 5", "Οffice",
]  # fmt: skip
UNKNOWN_PLACES = ["Nirgendwo", "99", "Café", "Museum", "hier", "0", "s1", "Кафе"]
DAYS = ["morgen", "fr", "so", "5.12.", "29.3.", "2027-03-28", "heute", "31.2."]
CHANGES = ["12-16", "13-17", "mi 11-15 Kö Lounge", "morgen 10-14", "max 2", "Finkenkrug", "bitte"]
WEEKDAYS = ["mo", "di", "mi", "do", "fr", "sa", "so", "dienstag", "xx"]
JUMPS = [
    timedelta(minutes=7), timedelta(minutes=50), timedelta(hours=1), timedelta(hours=5),
    timedelta(hours=23, minutes=50), timedelta(days=1), timedelta(days=3),
]  # fmt: skip
# look-alikes for digits: superscripts (a German keyboard has ² and ³), full width
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
CYRILLIC = str.maketrans("aceopxACEKMOPTX", "асеорхАСЕКМОРТХ")

person = st.sampled_from(PEOPLE)
private = st.booleans()
pick = st.integers(0, 50)
# a session as someone names it: one the bot showed (by number or by id, in one of the
# ways a keyboard writes digits), a random one, or none
session_ref = st.one_of(
    st.tuples(st.just("shown"), pick, st.sampled_from(["N", "sN", "²", "ｓN", "N "])),
    st.tuples(st.just("random"), st.integers(0, 30), st.sampled_from(["N", "sN"])),
    st.tuples(st.just("none"), st.just(0), st.just("")),
)
venue_ref = st.one_of(
    st.tuples(st.sampled_from(["name", "number", "lookalike", "upper"]), pick),
    st.tuples(st.just("unknown"), st.sampled_from(UNKNOWN_PLACES)),
)
time_text = st.one_of(
    st.sampled_from(TIMES),
    st.integers(7, 22).map(lambda h: f"{h}-{h + 1}"),
    st.integers(7, 22).map(lambda h: f"{h}-{h + 1}"),
    st.tuples(st.integers(0, 24), st.integers(0, 24)).map(lambda t: f"{t[0]}-{t[1]}"),
)
venue_name = st.one_of(
    st.sampled_from(VENUE_NAMES),
    st.text(st.characters(codec="utf-8", exclude_characters="|"), min_size=1, max_size=12),
)
# (what, how often): opening and joining most, forgetting and the timezone rarely
STEPS = [
    (st.tuples(st.just("open"), person, time_text, venue_ref, st.sampled_from(TOPICS), private), 5),
    (st.tuples(st.just("open on"), person, st.sampled_from(DAYS), time_text, venue_ref), 2),
    (st.tuples(st.just("change"), person, session_ref, st.sampled_from(CHANGES)), 1),
    (st.tuples(st.just("open here"), person, time_text), 1),
    (st.tuples(st.just("join"), person, session_ref, private), 5),
    (st.tuples(st.just("leave"), person, session_ref, private), 2),
    (st.tuples(st.just("cancel"), person, session_ref), 2),
    (st.tuples(st.just("today"), person), 2),
    (st.tuples(st.just("series"), person, st.sampled_from(WEEKDAYS), time_text, venue_ref), 1),
    (st.tuples(st.just("end series"), person, pick, st.booleans()), 1),
    (st.tuples(st.just("venue add"), st.sampled_from(["Anna", "Anna", "Ben"]), venue_name), 1),
    (
        st.tuples(
            st.just("venue edit"), st.just("Anna"), pick,
            st.sampled_from(["name", "adresse"]), venue_name,
        ),
        1,
    ),
    (st.tuples(st.just("venue remove"), st.sampled_from(["Anna", "Anna", "Ben"]), pick), 1),
    (st.tuples(st.just("poll"), person), 1),
    (st.tuples(st.just("vote"), person, st.one_of(pick, st.just(-1))), 1),
    (st.tuples(st.just("native vote"), person, st.integers(-1, 4)), 1),
    (st.tuples(st.just("close"), person), 1),
    (st.tuples(st.just("forget"), person, private), 1),
    (st.tuples(st.just("timezone"), st.sampled_from(["Europe/London", "Europe/Berlin"])), 1),
    (st.tuples(st.just("advance"), st.sampled_from(JUMPS)), 3),
    (st.tuples(st.just("to DST"), st.sampled_from(["01:30", "03:30"])), 1),
]  # fmt: skip
STEP = st.one_of([strategy for strategy, weight in STEPS for _ in range(weight)])


# --- a walk ------------------------------------------------------------------------


@dataclass
class Walk:
    """One group's life: the chat, what the bot showed, and what must stay true."""

    repo: SqliteRepository
    clock: FakeClock
    group: GroupChat
    group_id: int = 0
    # (session number, session id, the session's day) as the bot showed them
    shown: list[tuple[int, int, date]] = field(default_factory=list)
    # every venue number ever given, with the venue's id
    venue_numbers: dict[int, int] = field(default_factory=dict)
    said: list[Action] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    async def rows(self, sql: str, *params: Any) -> list[Any]:
        return [tuple(row) for row in await self.repo.db.execute_fetchall(sql, params)]

    async def today(self) -> date:
        group = await self.repo.cities.group(self.group_id)
        assert group is not None
        return self.clock.now().astimezone(ZoneInfo(group.settings.timezone)).date()

    # --- steps ---------------------------------------------------------------------

    async def session_ref(self, ref: tuple[str, int, str]) -> str:
        kind, k, style = ref
        if kind == "none":
            return ""
        if kind == "random":
            number, session_id = k, k
        else:
            if not self.shown:
                return str(k)
            number, session_id, _ = self.shown[k % len(self.shown)]
        if style == "sN":
            return f"s{session_id}"
        if style == "ｓN":
            return "ｓ" + str(session_id).translate(FULL_WIDTH)
        if style == "²":
            return str(number).translate(SUPERSCRIPT)
        return str(number) + (" " if style == "N " else "")

    async def venue_ref(self, ref: tuple[str, Any]) -> str:
        kind, value = ref
        if kind == "unknown":
            return str(value)
        venues = await self.repo.venues.of_group(self.group_id)
        if not venues:
            return "Café Museum"
        venue = venues[value % len(venues)]
        if kind == "number":
            return str(venue.number)
        if kind == "lookalike":
            return venue.name.translate(CYRILLIC)
        if kind == "upper":
            return venue.name.upper()
        return venue.name

    async def say(self, name: str, text: str, *, private: bool = False) -> None:
        self.log.append(f"{name}{' (dm)' if private else ''}: {text!r}")
        self.said += await self.group.say(name, text, private=private)

    async def step(self, step: tuple[Any, ...]) -> None:
        kind, *args = step
        if kind == "open":
            name, when, where, topic, dm = args
            place = await self.venue_ref(where)
            await self.say(name, f"/neu {when} {place}{topic}".replace("  ", " "), private=dm)
        elif kind == "open on":
            name, day, when, where = args
            await self.say(name, f"/neu {day} {when} {await self.venue_ref(where)}")
        elif kind == "change":
            name, ref, change = args
            await self.say(name, f"/aendern {await self.session_ref(ref)} {change}")
        elif kind == "open here":
            name, when = args
            self.said += await self.group.share(name, 51.4335, 6.7640)
            await self.say(name, f"/neu hier {when}")
        elif kind in ("join", "leave"):
            name, ref, dm = args
            command = "/dabei" if kind == "join" else "/absagen"
            await self.say(name, f"{command} {await self.session_ref(ref)}".strip(), private=dm)
        elif kind == "cancel":
            name, ref = args
            await self.say(name, f"/streichen {await self.session_ref(ref)}".strip())
        elif kind == "today":
            await self.say(args[0], "/heute")
        elif kind == "series":
            name, weekday, when, where = args
            await self.say(name, f"/neu jeden {weekday} {when} {await self.venue_ref(where)}")
        elif kind == "end series":
            name, k, listed = args
            if listed:
                await self.say(name, "/serien")
            series = await self.repo.sessions.standing_sessions(self.group_id)
            number = series[k % len(series)].number if series and k < 40 else k
            await self.say(name, f"/streichen serie {number}")
        elif kind == "venue add":
            name, venue = args
            await self.say(name, f"/ort add {venue} | 51.4321, 6.7711")
        elif kind in ("venue edit", "venue remove"):
            name, k, *rest = args
            venues = await self.repo.venues.of_group(self.group_id)
            number = venues[k % len(venues)].number if venues and k < 40 else k
            if kind == "venue edit":
                await self.say(name, f"/ort edit {number} {rest[0]} {rest[1]}")
            else:
                await self.say(name, f"/ort remove {number}")
        elif kind == "poll":
            await self.say(args[0], "/umfrage")
        elif kind == "vote":
            name, k = args
            poll = await self.repo.polls.poll_on(self.group_id, await self.today())
            options = poll.options if poll else ()
            number = options[k % len(options)].number if options and k >= 0 else abs(k)
            await self.say(name, f"/stimme {number}")
        elif kind == "native vote":
            name, index = args
            polls = [p for p in await self.repo.polls.open_polls() if p.group_id == self.group_id]
            if polls:
                indexes = () if index < 0 else (index,)
                self.log.append(f"{name} votes {indexes} in poll {polls[0].id}")
                self.said += await self.group.vote(name, str(polls[0].id), *indexes)
        elif kind == "close":
            await self.say(args[0], "/schliessen")
        elif kind == "forget":
            name, dm = args
            await self.say(name, "/vergessen", private=dm)
        elif kind == "timezone":
            await self.say("Anna", f"/einstellungen zeitzone {args[0]}")
        elif kind == "advance":
            self.log.append(f"advance {args[0]}")
            self.said += await self.group.advance(self.clock.now() + args[0])
        elif kind == "to DST":
            when = berlin(f"2027-03-28 {args[0]}")
            if when - timedelta(days=7) < self.clock.now() < when:
                self.log.append(f"advance to {when}")
                self.said += await self.group.advance(when)
        else:  # pragma: no cover
            raise AssertionError(kind)

    # --- what the bot showed -------------------------------------------------------

    async def note_shown(self, actions: list[Action]) -> None:
        """Remember every session number the bot showed with its session's id: an
        announcement, a poll's result, /today (whose blocks and buttons agree)."""
        for action in actions:
            if not isinstance(action, SendText) or not action.buttons:
                continue
            changed = re.match(r"Session (\d+) geändert", action.text)
            if not changed and not action.text.startswith(
                ("Neue Session", "Heute in", "Die Umfrage ist geschlossen")
            ):
                continue  # e.g. a nearby answer: its buttons are labelled by list position
            pairs = []
            for button in action.buttons:
                if button.command == "where":  # the place on a map: same session id
                    assert re.fullmatch(r"s(\d+)", button.args), button
                    continue
                label = re.fullmatch(r"Dabei bei (\d+)", button.label)
                target = re.fullmatch(r"s(\d+)", button.args)
                assert label and target and button.command == "join", button
                pairs.append((int(label.group(1)), int(target.group(1))))
            announced = changed or re.match(r"Neue Session (\d+)(?: am [^:]+)?:", action.text)
            if action.text.startswith("Neue Session") or changed:
                assert announced, action.text
                assert [int(announced.group(1))] == [n for n, _ in pairs], action.text
            if action.text.startswith("Heute in"):
                blocks = re.findall(r"^(\d+)\. ", action.text, re.M)
                assert [int(b) for b in blocks] == [n for n, _ in pairs], action.text
            for number, session_id in pairs:
                session = await self.repo.sessions.session(session_id)
                assert session is not None, f"a button names session s{session_id}, not stored"
                assert session.number == number, (number, session)
                self.shown.append((number, session_id, session.local_date))

    # --- invariants ----------------------------------------------------------------

    async def check(self) -> None:
        actions, self.said = self.said, []
        for action in actions:
            text = action.text if isinstance(action, SendText | EditText | DirectMessage) else ""
            assert not any(a in text for a in APOLOGIES), f"a handler failed: {text}"
        await self.note_shown(actions)
        today = await self.today()
        for number, session_id, day in self.shown:
            session = await self.repo.sessions.session(session_id)
            if day < today or session is None or session.local_date < today:
                continue  # its day is over: the number may name another session now
            # as /dabei N reads it (a session moved by /aendern keeps its number)
            found = await self.repo.sessions.sessions_numbered(self.group_id, number, today)
            assert found and found[-1].id == session_id, (
                f"number {number} on {day} was shown for s{session_id}, now names"
                f" {[s.id for s in found]}"
            )
        await self.check_venues()
        await self.check_sessions()
        await self.check_outbox()
        await self.check_texts()

    async def check_venues(self) -> None:
        rows = await self.rows("SELECT id, number FROM venues WHERE group_id = ?", self.group_id)
        numbers = [number for _, number in rows]
        assert None not in numbers and len(set(numbers)) == len(numbers), rows
        for venue_id, number in rows:
            known = self.venue_numbers.setdefault(number, venue_id)
            assert known == venue_id, f"venue number {number} was reused"

    async def check_sessions(self) -> None:
        rows = await self.rows(
            "SELECT id, venue_id, local_date, start_local, end_local, starts_at, ends_at,"
            " standing_id FROM sessions WHERE group_id = ? AND state = 'open'",
            self.group_id,
        )
        group = await self.repo.cities.group(self.group_id)
        assert group is not None
        zone = ZoneInfo(group.settings.timezone)
        for session_id, _, day, start, end, starts_at, ends_at, standing_id in rows:
            assert start < end, f"s{session_id}: {start}–{end}"
            if standing_id is not None and (
                in_dst_gap(day, start, zone) or in_dst_gap(day, end, zone)
            ):
                continue  # a known bug: test_a_series_on_the_dst_night_ends_after_it_starts
            assert starts_at < ends_at, f"s{session_id}: {start}–{end}, {starts_at}–{ends_at}"
        now = to_iso(self.clock.now())
        by_place: dict[tuple[int, str], list[tuple[str, str, int]]] = {}
        for session_id, venue_id, day, start, end, _, ends_at, _ in rows:
            # one that is over (not yet marked ended by the schedule) holds no place
            if venue_id is not None and ends_at > now:
                by_place.setdefault((venue_id, day), []).append((start, end, session_id))
        for (venue_id, day), sessions in by_place.items():
            sessions.sort()
            for (_, end, first), (start, _, second) in zip(sessions, sessions[1:], strict=False):
                assert end <= start, (
                    f"open sessions s{first} and s{second} overlap at venue {venue_id} on {day}"
                )
        numbers = await self.rows(
            "SELECT local_date, number, group_concat(id) FROM sessions WHERE group_id = ?"
            " GROUP BY local_date, number HAVING COUNT(*) > 1",
            self.group_id,
        )
        assert not numbers, f"two sessions of one day hold one number: {numbers}"

    async def check_outbox(self) -> None:
        stale = await self.rows(
            "SELECT o.kind, o.person_id, s.id FROM outbox o JOIN sessions s"
            " ON s.id = o.session_id WHERE s.state = ? AND o.state = 'pending'"
            " AND o.kind IN ('reminder', 'ping')",
            SessionState.CANCELLED.value,
        )
        assert not stale, f"cancelled sessions keep pending messages: {stale}"
        # a pending reminder is for someone who takes part in the session
        for person_id, session_id in await self.rows(
            "SELECT person_id, session_id FROM outbox WHERE kind = 'reminder' AND state = 'pending'"
        ):
            session = await self.repo.sessions.session(session_id)
            assert session is not None
            assert any(p.ref.id == person_id for p in (session.opener, *session.joiners)), (
                f"{person_id} has a reminder for s{session_id} without taking part"
            )
        strays = await self.rows(
            "SELECT kind, platform, person_id FROM outbox WHERE platform != 'test'"
        )
        assert not strays, f"direct messages to nobody: {strays}"

    async def check_texts(self) -> None:
        texts = await self.rows("SELECT 'venue', name FROM venues")
        # (retention empties the place of an old session opened "here": it names the opener)
        kept = (await self.today()) - timedelta(days=80)
        texts += await self.rows(
            "SELECT 'session', place FROM sessions WHERE local_date >= ?", kept.isoformat()
        )
        texts += await self.rows("SELECT 'series', place FROM standing_sessions")
        for what, text in texts:
            assert text and text == text.strip(), f"{what} {text!r}"
            bad = [ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf")]
            assert not bad, f"{what} {text!r} has invisible characters {bad}"
        for (topic,) in await self.rows("SELECT topic FROM sessions"):
            assert "\n" not in topic and "\r" not in topic, repr(topic)


def in_dst_gap(day: str, wall: str, zone: ZoneInfo) -> bool:
    """Whether a wall-clock time does not exist on that day (the spring-forward hour)."""
    local = datetime.combine(date.fromisoformat(day), time.fromisoformat(wall), tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None)


@contextmanager
def errors_logged() -> Iterator[list[str]]:
    """The messages of every ERROR logged meanwhile (a handler's or a tick's failure)."""
    failures: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            failures.append(record.getMessage())

    handler = Collect(logging.ERROR)
    logging.getLogger().addHandler(handler)
    try:
        yield failures
    finally:
        logging.getLogger().removeHandler(handler)


async def walk(start: datetime, steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        repo = await SqliteRepository.open(f"sqlite:///{Path(folder) / 'walk.db'}")
        clock = FakeClock(start)
        group = GroupChat(
            Bot(repo, clock, default_language="de", default_timezone="Europe/Berlin"),
            clock,
            FakeAdmins({"Anna"}),
        )
        run = Walk(repo, clock, group)
        try:
            with errors_logged() as failures:
                await group.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
                for venue in VENUES:
                    await group.say("Anna", f"/ort add {venue}")
                found = await repo.cities.group_for_chat(group.chat)
                assert found is not None
                run.group_id = found.id
                await run.check()
                for step in steps:
                    await run.step(step)
                    await run.check()
                    assert not failures, failures
        except AssertionError as error:
            raise AssertionError(f"{error}\nafter:\n" + "\n".join(run.log)) from None
        finally:
            await repo.close()


@TRUST
@given(start=st.sampled_from(STARTS), steps=st.lists(STEP, min_size=1, max_size=30))
def test_random_walks_keep_the_principles(start: datetime, steps: list[tuple[Any, ...]]) -> None:
    asyncio.run(walk(start, steps))


# --- findings, as plain examples --------------------------------------------------------


def buttons_of(actions: list[Action]) -> list[str]:
    return [f"{b.command} {b.args}" for a in actions if isinstance(a, SendText) for b in a.buttons]


async def test_an_announcements_button_joins_its_session_after_an_earlier_one_opens(
    duisburg: GroupChat,
) -> None:
    announced = await duisburg.say("Ben", "/neu 14-18 Kö Lounge")
    assert buttons_of(announced) == ["join s1", "where s1"]
    await duisburg.say("Carla", "/neu 9-12 Café Museum")  # starts earlier
    today = await duisburg.reply_text("Dana", "/heute")
    assert today.index("2. Café Museum") < today.index("1. Kö Lounge")
    joined = await duisburg.reply_text("Dana", "/dabei s1")  # the old button
    assert joined == "Dana ist dabei: Kö Lounge, 14:00–18:00."
    assert (await duisburg.reply_text("Anna", "/dabei 1")).startswith("Anna ist dabei: Kö Lounge")


async def test_a_late_press_of_a_cancelled_sessions_button_says_it_was_cancelled(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei s1")
    await duisburg.say("Ben", "/streichen 1")
    assert [m.person.id for m in await duisburg.pending("cancelled")] == ["carla"]
    assert await duisburg.pending("reminder") == []
    for private in (False, True):
        text = await duisburg.reply_text("Dana", "/dabei s1", private=private)
        assert "wurde gestrichen" in text, text
    # and a new session today does not take the cancelled one's number
    announced = await duisburg.reply_text("Dana", "/neu 11-13 Kö Lounge")
    assert announced.startswith("Neue Session 2:")


async def test_leaving_and_joining_again_leaves_exactly_one_reminder(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    for _ in range(3):
        await duisburg.say("Carla", "/dabei 1")
        await duisburg.say("Carla", "/absagen s1", private=True)
        assert await duisburg.pending("reminder") == []
    await duisburg.say("Carla", "/dabei s1")
    reminders = await duisburg.pending("reminder")
    assert [(m.person.id, m.session_id) for m in reminders] == [("carla", 1)]
    assert reminders[0].due_at == berlin("2026-11-30 09:45")


async def test_forgetting_an_opener_of_a_running_session_hands_it_over(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Dana", "/neu 8:00-12 Café Museum")  # running already
    await duisburg.say("Ben", "/dabei 1")
    await duisburg.say("Carla", "/dabei 1")
    actions = await duisburg.say("Dana", "/vergessen", private=True)
    told = [a.text for a in actions if isinstance(a, SendText) and a.chat == duisburg.chat]
    assert len(told) == 1
    assert "Ben leitet jetzt Session 1 (Café Museum, 08:00–12:00)." in told[0]
    assert "Dana" not in told[0]
    [handover] = await duisburg.pending("handover")
    assert handover.person.id == "ben"
    today = await duisburg.reply_text("Carla", "/heute")
    assert "1. Café Museum, 08:00–12:00\n   Königstraße 1\n   eröffnet von Ben" in today
    assert "Dana" not in today
    # the session goes on: Carla can still leave it, Ben (now its opener) cancel it
    assert "nicht" in await duisburg.reply_text("Carla", "/absagen 1")
    assert "gestrichen" in await duisburg.reply_text("Ben", "/streichen 1")


async def test_a_session_in_the_dst_gap_ends_after_it_starts(duisburg: GroupChat) -> None:
    """On 2027-03-28 the clocks go from 02:00 to 03:00 in Berlin. `/neu 2:30-3:15` is
    accepted and stored from 03:30 to 03:15 (01:30–01:15 UTC): it ends before it
    starts, and Carla's reminder ("starts in 15 minutes") is due when it ends. It should
    be refused (that time does not exist tonight) or stored with its start before its
    end."""
    duisburg.clock.set(berlin("2027-03-28 01:30"))
    answer = await duisburg.reply_text("Ben", "/neu 2:30-3:15 Café Museum")
    await duisburg.say("Carla", "/dabei 1")
    # refused, saying why: that time does not exist that night
    assert await duisburg.bot.repo.sessions.session(1) is None
    assert "02:30–03:15" in answer and "28. März" in answer
    assert await duisburg.pending("reminder") == []


async def test_removing_the_venue_of_a_polls_session_tells_only_its_people(
    duisburg: GroupChat,
) -> None:
    """A poll closed early gives a session that has not started (10:00); removing its
    venue cancels it and tells Carla, who voted for it. It also queues a "cancelled"
    message for the session's opener, which for a poll's session is `POLL`
    (platform "core", id "poll"): a direct message to nobody, never delivered."""
    await duisburg.say("Ben", "/umfrage")
    await duisburg.say("Carla", "/stimme 3")
    await duisburg.say("Anna", "/schliessen")
    session = await duisburg.bot.repo.sessions.session(1)
    assert session is not None and session.from_poll and session.starts_at > duisburg.clock.now()
    await duisburg.say("Anna", "/ort remove 3")
    told = await duisburg.bot.repo.db.execute_fetchall(
        "SELECT platform, person_id FROM outbox WHERE kind = 'cancelled'"
    )
    assert [tuple(row) for row in told] == [("test", "carla")]


async def test_a_series_on_the_dst_night_ends_after_it_starts(group: GroupChat) -> None:
    """`/neu jeden so 2:30-3:15` is a fine series, but on 2027-03-28 02:00–03:00 does
    not exist in Berlin. /open refuses such a time that night; the series' session of
    that Sunday is still materialized, from 03:30 to 03:15 (01:30–01:15 UTC), and
    Carla's reminder ("starts in 15 minutes") is due at its end. It should be skipped
    that night (and its people told) or stored with its start before its end."""
    group.clock.set(berlin("2027-03-20 10:00"))
    await group.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
    await group.say("Anna", "/ort add Café Museum | 51.4344, 6.7623")
    await group.say("Ben", "/neu jeden so 2:30-3:15 Café Museum")
    await group.advance(berlin("2027-03-28 01:30"))
    await group.say("Dana", "/heute")
    await group.say("Carla", "/dabei 1")
    repo = group.bot.repo
    found = await repo.cities.group_for_chat(group.chat)
    assert found is not None
    for session in await repo.sessions.sessions_on(found.id, date(2027, 3, 28)):
        assert session.starts_at < session.ends_at, (session.starts_at, session.ends_at)
    for reminder in await group.pending("reminder"):
        session = await repo.sessions.session(reminder.session_id or 0)
        assert session is not None and reminder.due_at < session.starts_at
