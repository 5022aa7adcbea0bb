"""Planning ahead: another day, the week, seats and a waiting list, changing a session
(core, real SQLite, fake clock; the fixture's today is Monday 2026-11-30, 08:30)."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date, time, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.core.actions import SendText
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.days import resolve, take_day
from chatbot.core.parsing import BadInput
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import FakeAdmins, GroupChat, berlin
from tests.test_console import ROOT, console

MONDAY = date(2026, 11, 30)


def texts(actions: list[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, SendText)]


async def day_of(repo: SqliteRepository, number: int) -> date:
    [session] = await repo.sessions.sessions_numbered(1, number, MONDAY)
    return session.local_date


async def test_open_on_another_day_in_every_way_people_write_it(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    phrases = {
        "morgen 10-14 Café Museum": date(2026, 12, 1),
        "Kö Lounge übermorgen 10-14": date(2026, 12, 2),
        "fr 9:30 Finkenkrug": date(2026, 12, 4),
        "am Freitag 14-18 Café Museum": date(2026, 12, 4),
        "5.12. 10-12 Kö Lounge": date(2026, 12, 5),
        "2026-12-06 10-12 Kö Lounge": date(2026, 12, 6),
        "10-12 Kö Lounge Dec 7": date(2026, 12, 7),
        "8 Dez 10-12 Kö Lounge": date(2026, 12, 8),
        "mo 9-12 Finkenkrug": date(2026, 11, 30),  # today: 09:00 is still ahead
        "mo 8-9 Finkenkrug": date(2026, 12, 7),  # 08:00 has passed: next Monday
    }
    for number, (phrase, day) in enumerate(phrases.items(), start=1):
        [announcement] = texts(await duisburg.say("Ben", f"/neu {phrase}"))
        assert announcement.startswith(f"Neue Session {number}"), (phrase, announcement)
        assert await day_of(repo, number) == day, phrase
    assert (
        "am Freitag, 4. Dezember" in texts(await duisburg.say("Ben", "/neu fr 9-10 Kö Lounge"))[0]
    )


async def test_a_past_or_too_far_day_is_refused_with_an_example(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    past = await duisburg.reply_text("Ben", "/neu 29.11. 10-14 Café Museum")
    assert "schon vorbei" in past and "Beispiel: /neu morgen 10-14" in past
    far = await duisburg.reply_text("Ben", "/neu 2027-02-01 10-14 Café Museum")
    assert "8 Wochen" in far
    assert "31.2." in await duisburg.reply_text("Ben", "/neu 31.2. 10-14 Café Museum")
    rows = await repo.db.execute_fetchall("SELECT COUNT(*) FROM sessions")
    assert list(rows)[0][0] == 0


async def test_the_week_shows_each_day_with_series_and_buttons(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu jeden mi 9-13 Café Museum")
    await duisburg.say("Carla", "/neu morgen 10-14 Kö Lounge max 2 - Steuern")
    await duisburg.say("Dana", "/dabei 1")
    [week] = [a for a in await duisburg.say("Emil", "/woche") if isinstance(a, SendText)]
    lines = week.text.splitlines()
    assert lines[0] == "Die Woche in Duisburg"
    tuesday = lines.index("Morgen, Dienstag, 1. Dezember")
    assert lines[tuesday + 1].startswith("  1. 10:00–14:00 Kö Lounge · 2/2 dabei: Carla, Dana")
    wednesday = lines.index("Mittwoch, 2. Dezember")
    assert "Café Museum" in lines[wednesday + 1] and "wöchentlich" in lines[wednesday + 1]
    assert [b.args for b in week.buttons][0] == "s1"
    # a visitor sees it in a private chat, and the buttons work there
    private = await duisburg.reply_text("Vera", "/woche duisburg", private=True)
    assert "Kö Lounge" in private
    assert "Warteliste" in await duisburg.reply_text("Vera", "/dabei s1", private=True)


async def test_the_week_fits_one_telegram_message(duisburg: GroupChat) -> None:
    for n in range(12):
        await duisburg.say("Anna", f"/ort add Café {chr(65 + n)}{chr(65 + n)} | 51.4, 6.7")
    for day in range(7):
        when = (MONDAY + timedelta(days=day)).strftime("%d.%m.")
        for n in range(12):
            await duisburg.say(
                f"P{n}", f"/neu {when} 10-14 Café {chr(65 + n)}{chr(65 + n)} - {'x' * 40}"
            )
    [week] = [a for a in await duisburg.say("Emil", "/woche") if isinstance(a, SendText)]
    assert len(week.text) <= 4096
    assert "/heute und /morgen" in week.text  # says how to see the rest
    assert len(week.buttons) <= 30


async def test_a_full_session_has_a_waiting_list_that_moves_up(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum max 3")
    await duisburg.say("Carla", "/dabei 1")
    await duisburg.say("Dana", "/dabei 1")
    waiting = await duisburg.reply_text("Emil", "/dabei 1")
    assert "voll" in waiting and "Warteliste" in waiting
    today = await duisburg.reply_text("Ben", "/heute")
    assert "3/3 dabei: Ben, Carla, Dana" in today and "Warteliste: Emil" in today
    assert sorted(m.person.id for m in await duisburg.pending("reminder")) == ["carla", "dana"]
    await duisburg.say("Carla", "/absagen 1")
    [moved] = await duisburg.pending("moved_up")
    assert moved.person.id == "emil"
    assert sorted(m.person.id for m in await duisburg.pending("reminder")) == ["dana", "emil"]
    assert "3/3 dabei: Ben, Dana, Emil" in await duisburg.reply_text("Ben", "/heute")


async def test_change_keeps_number_and_people_and_moves_the_reminders(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    await duisburg.say("Ben", "/neu morgen 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei 1")
    changed = await duisburg.reply_text("Ben", "/aendern 1 mi 11-15 Kö Lounge")
    assert "Session 1" in changed and "Carla" in changed
    [session] = await repo.sessions.sessions_numbered(1, 1, MONDAY)
    assert (session.local_date, session.start, session.place) == (
        date(2026, 12, 2),
        time(11),
        "Kö Lounge",
    )
    assert [j.name for j in session.joiners] == ["Carla"]
    [notice] = await duisburg.pending("changed")
    assert notice.person.id == "carla" and "Kö Lounge" in notice.text
    [reminder] = await duisburg.pending("reminder")
    assert reminder.due_at == berlin("2026-12-02 10:45")
    # a second change is news again
    await duisburg.say("Ben", "/aendern 1 12-16")
    [notice] = await duisburg.pending("changed")
    assert "12:00–16:00" in notice.text
    # only the opener or an admin
    assert "Nur wer" in await duisburg.reply_text("Dana", "/aendern 1 13-17")
    assert "„bitte“" in await duisburg.reply_text("Ben", "/aendern 1 bitte")
    assert "„max“" in await duisburg.reply_text("Ben", "/aendern 1 max")


async def test_a_session_planned_across_the_spring_change_keeps_its_wall_clock_time(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    duisburg.clock.set(berlin("2026-10-20 12:00"))  # summer time; winter time from the 25th
    await duisburg.say("Ben", "/neu 26.10. 9-13 Café Museum")
    autumn = await repo.sessions.session(1)
    assert autumn is not None
    assert autumn.starts_at.isoformat() == "2026-10-26T08:00:00+00:00"  # 09:00 winter time
    duisburg.clock.set(berlin("2027-03-20 12:00"))  # winter time; summer time from the 28th
    await duisburg.say("Ben", "/neu 29.3. 9-13 Café Museum")
    spring = await repo.sessions.session(2)
    assert spring is not None
    assert spring.starts_at.isoformat() == "2027-03-29T07:00:00+00:00"  # 09:00 summer time


async def test_the_poll_winner_merges_with_a_session_planned_days_before(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    duisburg.clock.set(berlin("2026-11-27 12:00"))  # the Friday before
    await duisburg.say("Ben", "/neu mo 9-17 Kö Lounge")
    duisburg.clock.set(berlin("2026-11-30 08:30"))
    await duisburg.say("Carla", "/umfrage")
    await duisburg.say("Carla", "/stimme 2")
    [announcement] = texts(await duisburg.say("Carla", "/schliessen"))
    assert "Session 1" in announcement
    rows = await repo.db.execute_fetchall("SELECT COUNT(*) FROM sessions")
    assert list(rows)[0][0] == 1


WORDS = st.sampled_from(
    [
        "morgen",
        "tomorrow",
        "übermorgen",
        "fr",
        "freitag",
        "fri",
        "friday",
        "mo",
        "so",
        "sunday",
        "5.12.",
        "5.12.2026",
        "2026-12-05",
        "Dec 5",
        "5 Dez",
        "5. Dezember",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    word=WORDS,
    today=st.dates(date(2026, 1, 1), date(2028, 12, 31)),
    start=st.times(),
    now=st.times(),
)
def test_every_day_phrase_names_one_day_within_a_year(
    word: str, today: date, start: time, now: time
) -> None:
    rest, spec = take_day(f"Café Museum {word} 10-14")
    assert rest == "Café Museum 10-14" and spec is not None
    try:
        day = resolve(spec, today, start, now)
    except BadInput as error:  # 5.12. with a year that is not today's: fine as a refusal
        assert error.reason == "date"
        return
    if spec.year is None:
        assert today - timedelta(days=366) <= day <= today + timedelta(days=366)
    if spec.weekday is not None:
        assert day.weekday() == spec.weekday and 0 <= (day - today).days <= 7


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_take_day_reads_or_refuses_anything(text: str) -> None:
    try:
        rest, spec = take_day(text)
    except BadInput as error:
        assert error.reason == "two_days"
        return
    assert len(rest) <= len(text)
    if spec is None:
        assert rest == " ".join(text.split())


def test_a_planned_week_in_the_console(tmp_path: Path) -> None:
    output = console(
        tmp_path,
        "",
        "--script",
        str(ROOT / "examples" / "plan-week-de.txt"),
        "--admin",
        "Anna",
        "--echo",
        via_stdin=False,
    )
    assert "Neue Session 1 am Dienstag, 1. Dezember: Café Museum, 10:00–14:00" in output
    assert "Platz für 3." in output
    assert "ist Nummer 1 auf der Warteliste" in output
    assert "[dm Emil]\nEin Platz ist frei" in output
    assert "Session 1 geändert (Zeit)" in output
    assert "[dm Vera]\nDie Woche in Duisburg" in output
    assert "„31.11.“ ist kein Datum im Kalender." in output
    assert "zu weit voraus" in output
    assert output.rstrip().endswith("  [Dabei bei 1] → /dabei s1")


PHRASES = st.sampled_from(
    [
        "morgen",
        "übermorgen",
        "fr",
        "sonntag",
        "5.12.",
        "31.2.",
        "29.11.",
        "2027-02-01",
        "2026-13-01",
        "Dec 5",
        "5 Dez",
        "morgen fr",
        "max 1",
        "max 4",
        "max",
        "heute",
    ]
)


@settings(max_examples=60, deadline=None)
@given(day=PHRASES, time_=st.sampled_from(["10-14", "9:30", "", "25:00"]))
def test_every_day_phrase_opens_a_session_or_answers_with_an_example(day: str, time_: str) -> None:
    async def run() -> None:
        with tempfile.TemporaryDirectory() as folder:
            repo = await SqliteRepository.open(f"sqlite:///{folder}/t.db")
            try:
                clock = FakeClock(berlin("2026-11-30 08:30"))
                group = GroupChat(Bot(repo, clock), clock, FakeAdmins({"Anna"}))
                await group.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
                await group.say("Anna", "/ort add Café Museum | 51.4344, 6.7623")
                text = await group.reply_text("Ben", f"/neu {day} {time_} Café Museum".strip())
                rows = await repo.db.execute_fetchall("SELECT COUNT(*) FROM sessions")
                opened = list(rows)[0][0]
                assert (opened == 1) == text.startswith("Neue Session"), text
                if not opened:
                    assert "Beispiel: /neu" in text, (day, time_, text)
            finally:
                await repo.close()

    asyncio.run(run())


async def test_a_cancelled_session_of_another_day_names_the_day(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu fr 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei 1")
    await duisburg.say("Ben", "/streichen 1")
    [notice] = await duisburg.pending("cancelled")
    assert "Café Museum, Freitag, 4. Dezember, 10:00–14:00" in notice.text
