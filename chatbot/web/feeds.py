"""iCalendar feeds, written by the `icalendar` library.

A city's feed: one VEVENT per session of the feed's window (a cancelled one with
STATUS:CANCELLED), and each weekly series as one VEVENT with RRULE:FREQ=WEEKLY in the
city's TZID (with its VTIMEZONE): a skipped day (the series' row of that day is
cancelled) is an EXDATE, a day changed with /change an override with RECURRENCE-ID.
UIDs are stable: `session-<id>@<host>`, `series-<id>@<host>`.

DTSTAMP says when the feed's content last changed; the caller knows that only after
seeing the content, so events are written with a placeholder stamp that
`with_stamp` replaces.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone

from chatbot.core.clock import wall_clock_instant
from chatbot.core.model import CityGroup, Session, SessionState, StandingSession
from chatbot.i18n import Translator

FEED_WEEKS = 8  # sessions can be planned up to 8 weeks ahead
FEED_PAST_DAYS = 7  # the last week stays, so calendars do not lose what just happened
_PLACEHOLDER = datetime(2000, 1, 1, tzinfo=UTC)
_PLACEHOLDER_LINE = b"DTSTAMP:20000101T000000Z"


@dataclass(frozen=True)
class FeedSeries:
    series: StandingSession
    first_day: date  # the first day it meets (on or after the day it was opened)


@dataclass(frozen=True)
class FeedCity:
    group: CityGroup
    page_url: str  # the city's page (absolute, or a path)
    addresses: dict[int, str]  # venue id -> address


def first_meeting(series: StandingSession, opened: datetime, zone: ZoneInfo) -> date:
    """The first day on or after the day the series was opened that is its weekday."""
    day = opened.astimezone(zone).date()
    return date.fromordinal(day.toordinal() + (series.weekday - day.weekday()) % 7)


def build_calendar(
    name: str,
    host: str,
    cities: dict[int, FeedCity],
    sessions: Sequence[Session],
    series: Sequence[FeedSeries],
) -> bytes:
    """The feed's bytes, with a placeholder DTSTAMP (see `with_stamp`).

    Each event is written by icalendar once for the values it is made of (a session's
    row, the city's language, zone, page and the venue's address) and kept: after a
    change only the changed events are written again (icalendar takes about half a
    millisecond per event, which for a city's thousand sessions is too long to repeat)."""
    by_id = {s.series.id: s for s in series}
    skipped: dict[int, list[datetime]] = defaultdict(list)
    events: list[bytes] = []
    overrides: list[bytes] = []
    zones: set[str] = set()
    for session in sessions:
        city = cities[session.group_id]
        tzid = city.group.settings.timezone
        zones.add(tzid)
        language = city.group.settings.language
        address = city.addresses.get(session.venue_id or 0, "")
        feed_series = by_id.get(session.standing_id or 0)
        if feed_series is not None and _on_pattern(feed_series, session):
            standing = feed_series.series
            occurrence = _local(session.local_date, standing.start, ZoneInfo(tzid))
            if session.state == SessionState.CANCELLED:
                skipped[standing.id].append(occurrence)
            elif not _as_planned(standing, session):
                uid = f"series-{standing.id}@{host}"
                overrides.append(
                    _session_event(
                        _EventSession.of(session),
                        language,
                        tzid,
                        city.page_url,
                        address,
                        uid,
                        occurrence,
                    )
                )
            continue
        uid = f"session-{session.id}@{host}"
        events.append(
            _session_event(
                _EventSession.of(session), language, tzid, city.page_url, address, uid, None
            )
        )
    for feed_series in series:
        standing = feed_series.series
        city = cities[standing.group_id]
        zones.add(city.group.settings.timezone)
        events.append(
            _series_event(
                feed_series,
                city.group.settings.language,
                city.group.settings.timezone,
                city.page_url,
                city.addresses.get(standing.venue_id or 0, ""),
                host,
                tuple(sorted(skipped.get(standing.id, []))),
            )
        )
    # the zones' rules for the years the feed covers (a series repeats on: some years on)
    starts = [s.local_date for s in sessions] + [s.first_day for s in series]
    first = min(starts, default=date(2000, 1, 1))
    last = max(starts, default=first)
    head = bytes(_calendar_head(name, tuple(sorted(zones)), first.year - 1, last.year + 6))
    end = b"END:VCALENDAR\r\n"
    assert head.endswith(end)
    return b"".join([head[: -len(end)], *events, *overrides, end])


@lru_cache(maxsize=256)
def _calendar_head(name: str, zones: tuple[str, ...], first_year: int, last_year: int) -> bytes:
    """The calendar with its properties and a VTIMEZONE for each zone, no events yet."""
    calendar = Calendar()
    calendar.add("prodid", "-//chatbot//coworking city feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for tzid in zones:
        calendar.add_component(
            Timezone.from_tzid(
                tzid, first_date=date(first_year, 1, 1), last_date=date(last_year, 1, 1)
            )
        )
    return bytes(calendar.to_ical())


def with_stamp(feed: bytes, stamp: datetime) -> bytes:
    line = "DTSTAMP:" + stamp.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return feed.replace(_PLACEHOLDER_LINE, line.encode("ascii"))


def _local(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time of the city as an aware local datetime (written with TZID)."""
    return wall_clock_instant(day, wall, zone).astimezone(zone)


def _on_pattern(feed_series: FeedSeries, session: Session) -> bool:
    return (
        session.local_date.weekday() == feed_series.series.weekday
        and session.local_date >= feed_series.first_day
    )


def _as_planned(standing: StandingSession, session: Session) -> bool:
    return (session.start, session.end, session.place, session.topic) == (
        standing.start,
        standing.end,
        standing.place,
        standing.topic,
    )


def _summary(t: Translator, place: str, topic: str) -> str:
    summary = t.gettext("Coworking: {place}").format(place=place)
    return f"{summary} – {topic}" if topic else summary


def _common(
    event: Event, t: Translator, place: str, topic: str, address: str, lat: float, lon: float
) -> None:
    event.add("dtstamp", _PLACEHOLDER)
    event.add("summary", _summary(t, place, topic))
    event.add("location", ", ".join(p for p in (place, address) if p))
    if lat or lon:
        event.add("geo", (lat, lon))
    if topic:
        event.add("description", t.gettext("Topic: {topic}").format(topic=topic))


@dataclass(frozen=True)
class _EventSession:
    """What an event says of a session (no names: kept in memory for the cache)."""

    id: int
    place: str
    topic: str
    starts_at: datetime
    ends_at: datetime
    latitude: float
    longitude: float
    state: SessionState

    @classmethod
    def of(cls, s: Session) -> _EventSession:
        return cls(s.id, s.place, s.topic, s.starts_at, s.ends_at, s.latitude, s.longitude, s.state)


@lru_cache(maxsize=16384)
def _session_event(
    session: _EventSession,
    language: str,
    tzid: str,
    page_url: str,
    address: str,
    uid: str,
    recurrence: datetime | None,
) -> bytes:
    zone = ZoneInfo(tzid)
    t = Translator(language)
    event = Event()
    event.add("uid", uid)
    if recurrence is not None:
        event.add("recurrence-id", recurrence)
    event.add("dtstart", session.starts_at.astimezone(zone))
    event.add("dtend", session.ends_at.astimezone(zone))
    _common(event, t, session.place, session.topic, address, session.latitude, session.longitude)
    if page_url:
        event.add("url", f"{page_url}#s{session.id}")
    cancelled = session.state == SessionState.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return bytes(event.to_ical())


@lru_cache(maxsize=4096)
def _series_event(
    feed_series: FeedSeries,
    language: str,
    tzid: str,
    page_url: str,
    address: str,
    host: str,
    skipped: tuple[datetime, ...],
) -> bytes:
    standing = feed_series.series
    zone = ZoneInfo(tzid)
    t = Translator(language)
    event = Event()
    event.add("uid", f"series-{standing.id}@{host}")
    event.add("dtstart", _local(feed_series.first_day, standing.start, zone))
    event.add("dtend", _local(feed_series.first_day, standing.end, zone))
    event.add("rrule", {"freq": "weekly"})
    for day in skipped:
        event.add("exdate", day)
    _common(
        event,
        t,
        standing.place,
        standing.topic,
        address,
        standing.latitude,
        standing.longitude,
    )
    if page_url:
        event.add("url", page_url)
    event.add("status", "CONFIRMED")
    return bytes(event.to_ical())
