"""Clocks. The core never reads the machine's time directly; it is handed a clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to (tests, and the console's `@` lines)."""

    def __init__(self, start: datetime) -> None:
        self._now = _as_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = _as_utc(instant)


def wall_clock_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a day in a zone. A time inside a DST gap
    (02:30 on the spring-forward night) lands after the gap; a repeated time (autumn)
    is its first occurrence."""
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def wall_clock_range(
    day: date, start: time, end: time, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """The instants of a wall-clock range on a day. A start inside the spring-forward gap
    whose end lies after it (a weekly 02:30–03:15 on that night) starts when the clocks
    jump, so the range never ends before it starts."""
    starts_at, ends_at = wall_clock_instant(day, start, zone), wall_clock_instant(day, end, zone)
    if ends_at <= starts_at:
        after = ends_at.astimezone(zone).utcoffset()
        jump = starts_at
        while jump > ends_at - timedelta(hours=3) and (
            (jump - timedelta(minutes=1)).astimezone(zone).utcoffset() == after
        ):
            jump -= timedelta(minutes=1)
        starts_at = jump if jump < ends_at else ends_at - timedelta(minutes=1)
    return starts_at, ends_at


def _as_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("a clock needs a timezone-aware datetime")
    return instant.astimezone(UTC)
