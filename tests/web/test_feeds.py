"""The feeds as a calendar app reads them: parsed by `icalendar`, the series expanded
by `recurring_ical_events` (DST, skipped days, a changed day)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import icalendar
import recurring_ical_events

from tests.kit import BERLIN, GroupChat, berlin
from tests.web.conftest import Web


def _expand(body: bytes, first: date, last: date) -> list[icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    return sorted(
        recurring_ical_events.of(calendar).between(first, last), key=lambda e: e["DTSTART"].dt
    )


async def test_a_weekly_series_keeps_its_wall_clock_time_across_the_dst_change(
    duisburg: GroupChat, web: Web
) -> None:
    duisburg.clock.set(berlin("2026-10-20 08:00"))  # a Tuesday; clocks go back on Oct 25
    await duisburg.say("Ben", "/neu jeden di 9-13 Café Museum")
    status, _, body = await web.get("/duisburg.ics")
    assert status == 200
    events = _expand(body, date(2026, 10, 19), date(2026, 11, 11))
    starts = [e["DTSTART"].dt for e in events]
    assert [s.date() for s in starts] == [
        date(2026, 10, 20),
        date(2026, 10, 27),
        date(2026, 11, 3),
        date(2026, 11, 10),
    ]
    assert all(s.astimezone(BERLIN).time() == time(9) for s in starts)
    assert all(e["DTEND"].dt.astimezone(BERLIN).time() == time(13) for e in events)
    # the same wall-clock time is another instant on each side of the change
    assert [s.utcoffset() for s in starts[:2]] == [timedelta(hours=2), timedelta(hours=1)]
    assert all(str(e["UID"]) == "series-1@cowork.example.org" for e in events)


async def test_a_skipped_day_is_not_in_the_calendar_and_a_changed_day_moves(
    duisburg: GroupChat, web: Web
) -> None:
    await duisburg.say("Ben", "/neu jeden di 9-13 Café Museum")
    await duisburg.say("Ben", "/neu jeden mi 9-13 Kö Lounge")
    await duisburg.say("Ben", "/woche")  # the week's days are materialized
    await duisburg.say("Ben", "/streichen 1")  # Tuesday, Dec 1: skipped
    await duisburg.say("Ben", "/aendern 2 14-17")  # Wednesday, Dec 2: later
    events = _expand((await web.get("/duisburg.ics"))[2], date(2026, 11, 30), date(2026, 12, 10))
    starts = [e["DTSTART"].dt.astimezone(BERLIN).replace(tzinfo=None) for e in events]
    assert starts == [
        datetime(2026, 12, 2, 14, 0),
        datetime(2026, 12, 8, 9, 0),
        datetime(2026, 12, 9, 9, 0),
    ]


async def test_the_feed_window_is_eight_weeks(duisburg: GroupChat, web: Web) -> None:
    await duisburg.say("Ben", "/neu 2027-01-20 10-12 Café Museum")  # 7 weeks ahead
    await duisburg.say("Ben", "/neu heute 15-17 Café Museum")
    duisburg.clock.set(berlin("2026-12-10 08:00"))  # the one today ended 10 days ago
    calendar = icalendar.Calendar.from_ical((await web.get("/duisburg.ics"))[2])
    days = [e["DTSTART"].dt.date() for e in calendar.walk("VEVENT")]
    assert days == [date(2027, 1, 20)]
