"""The work that time brings, computed from what is stored.

Nothing here lives only in memory: after a restart the next due time follows from the
database. A poll whose time passed while the bot was down is posted if its close time
has not come yet; a missed close is done; the unique (group, day) poll and the
open→closed transition make sure nothing is done twice.

A city's times are wall-clock times in its zone: the 08:00 poll is at 08:00 on both
sides of a daylight-saving change, because each day's instant is computed for that day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chatbot.core.clock import wall_clock_instant
from chatbot.core.model import CityGroup, VenuePoll
from chatbot.core.ports import Repository


def zone_of(group: CityGroup) -> ZoneInfo:
    return ZoneInfo(group.settings.timezone)


def poll_window(group: CityGroup, day: date) -> tuple[datetime, datetime] | None:
    """When the day's automatic poll opens and closes (UTC), or None if there is none."""
    settings = group.settings
    if settings.poll_time is None or day.weekday() not in settings.poll_days:
        return None
    zone = zone_of(group)
    opens = wall_clock_instant(day, settings.poll_time, zone)
    closes = wall_clock_instant(day, settings.poll_close, zone)
    if closes <= opens:
        return None
    if settings.poll_since is not None and opens < settings.poll_since:
        return None
    return opens, closes


async def next_due(repo: Repository, now: datetime) -> datetime | None:
    """The earliest instant after `now` at which something is due."""
    candidates: list[datetime] = []
    session_end = await repo.sessions.next_session_end(now)
    if session_end is not None:
        candidates.append(session_end)
    candidates += [p.closes_at for p in await repo.polls.open_polls() if p.closes_at > now]
    message_due = await repo.outbox.next_message_due(now)
    if message_due is not None:
        candidates.append(message_due)
    for group in await repo.cities.groups():
        today = now.astimezone(zone_of(group)).date()
        for offset in range(8):
            window = poll_window(group, today + timedelta(days=offset))
            if window is not None and window[0] > now:
                candidates.append(window[0])
                break
        # midnight brings a new day: standing sessions appear
        candidates.append(wall_clock_instant(today + timedelta(days=1), time(0), zone_of(group)))
    future = [c for c in candidates if c > now]
    return min(future) if future else None


async def polls_due(repo: Repository, now: datetime) -> list[tuple[CityGroup, datetime]]:
    """Groups whose automatic poll is due now, with its close time."""
    due = []
    for group in await repo.cities.groups():
        today = now.astimezone(zone_of(group)).date()
        window = poll_window(group, today)
        if window is None or not window[0] <= now < window[1]:
            continue
        if await repo.polls.poll_on(group.id, today) is None:
            due.append((group, window[1]))
    return due


async def closes_due(repo: Repository, now: datetime) -> dict[int, list[VenuePoll]]:
    """Open polls whose close time has come, by group id."""
    due: dict[int, list[VenuePoll]] = {}
    for poll in await repo.polls.open_polls():
        if poll.closes_at <= now:
            due.setdefault(poll.group_id, []).append(poll)
    return due
