"""Reading what people type: time ranges, coordinates, venue names.

Functions here return plain values or raise `BadInput` with a machine-readable
reason; the use cases turn that into a translated reply with an example.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time

from chatbot.core.model import Venue
from chatbot.core.text import fold


class BadInput(ValueError):
    def __init__(self, reason: str, value: str = "") -> None:
        super().__init__(reason, value)
        self.reason = reason
        self.value = value


_CLOCK = r"\d{1,2}(?:[:.h]\d{2})?"
_RANGE_RE = re.compile(rf"^({_CLOCK})\s*[-–—]\s*({_CLOCK})$")
_SINGLE_RE = re.compile(r"^(\d{1,2})[:.h](\d{2})$")
_TOPIC_SPLIT_RE = re.compile(r"\s+[-–—]\s+")


def parse_clock(text: str) -> time:
    """ "9", "09:30", "9.30", "14h00" -> a time; "25:99" -> BadInput("time")."""
    match = re.fullmatch(r"(\d{1,2})(?:[:.h](\d{2}))?", text.strip())
    if not match:
        raise BadInput("time", text)
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 23 or minute > 59:
        raise BadInput("time", text)
    return time(hour, minute)


@dataclass(frozen=True)
class OpenRequest:
    """`/open 10-14 Café Museum - topic`, read into its parts."""

    start: time | None
    end: time | None
    place: str
    topic: str
    weekday: int | None = None  # "jeden di" / "every tue": a standing weekly session


def looks_like_time(token: str) -> bool:
    return bool(_RANGE_RE.match(token) or _SINGLE_RE.match(token))


def parse_open(args: str) -> OpenRequest:
    """Time range and venue in either order; topic after ' - '.

    A lone number is a venue number (from /venues); times need a colon or a range:
    "9:30", "10-14", "9:30-13".
    """
    # "10 - 14" written with spaces is a range, not the topic separator
    text = re.sub(rf"\b({_CLOCK})\s+[-–—]\s+({_CLOCK})\b", r"\1-\2", args.strip())
    parts = _TOPIC_SPLIT_RE.split(text, maxsplit=1)
    head = parts[0]
    topic = parts[1].strip() if len(parts) > 1 else ""
    start: time | None = None
    end: time | None = None
    place_tokens: list[str] = []
    head, weekday = take_weekly(head)
    for token in head.split():
        range_match = _RANGE_RE.match(token)
        single_match = _SINGLE_RE.match(token)
        if range_match and start is None:
            start = parse_clock(range_match.group(1))
            end = parse_clock(range_match.group(2))
            if end <= start:
                raise BadInput("range", token)
        elif single_match and start is None:
            start = parse_clock(token)
        elif (range_match or single_match) and start is not None:
            raise BadInput("two_times", token)
        else:
            place_tokens.append(token)
    return OpenRequest(
        start=start, end=end, place=" ".join(place_tokens), topic=topic, weekday=weekday
    )


_EVERY = {"jeden", "jede", "jeder", "every", "each"}
WEEKDAYS = {
    **{
        name: n
        for n, names in enumerate(
            (
                ("mo", "mon", "montag", "monday", "montags", "mondays"),
                ("di", "tue", "tues", "dienstag", "tuesday", "dienstags", "tuesdays"),
                ("mi", "wed", "mittwoch", "wednesday", "mittwochs", "wednesdays"),
                (
                    "do",
                    "thu",
                    "thur",
                    "thurs",
                    "donnerstag",
                    "thursday",
                    "donnerstags",
                    "thursdays",
                ),
                ("fr", "fri", "freitag", "friday", "freitags", "fridays"),
                ("sa", "sat", "samstag", "saturday", "samstags", "saturdays", "sonnabend"),
                ("so", "sun", "sonntag", "sunday", "sonntags", "sundays"),
            )
        )
        for name in names
    },
}


def weekday_of(word: str) -> int | None:
    return WEEKDAYS.get(fold(word).rstrip("."))


def take_weekly(text: str) -> tuple[str, int | None]:
    """Find "jeden di" / "every tue" in text; return the rest and the weekday (0 = Monday)."""
    words = text.split()
    for i, word in enumerate(words[:-1]):
        if fold(word) in _EVERY:
            weekday = weekday_of(words[i + 1])
            if weekday is None:
                raise BadInput("weekday", words[i + 1])
            return " ".join(words[:i] + words[i + 2 :]), weekday
    return text, None


def parse_weekdays(text: str) -> tuple[int, ...]:
    """ "mo-fr", "mon,wed,fri", "di do" -> weekday numbers (0 = Monday), sorted."""
    days: set[int] = set()
    for part in re.split(r"[\s,;]+", text.strip()):
        if not part:
            continue
        ends = re.split(r"[-–]", part)
        if len(ends) == 2:
            first, last = weekday_of(ends[0]), weekday_of(ends[1])
            if first is None or last is None:
                raise BadInput("weekday", part)
            day = first
            days.add(day)
            while day != last:
                day = (day + 1) % 7
                days.add(day)
        else:
            day_ = weekday_of(part)
            if day_ is None:
                raise BadInput("weekday", part)
            days.add(day_)
    if not days:
        raise BadInput("weekday", text)
    return tuple(sorted(days))


def parse_amount(text: str, unit: str = "") -> float | None:
    """ "2", "2,5", "2.5", "2 km" (with unit "km") -> the number; anything else -> None."""
    pattern = r"\s*(\d{1,3})(?:[.,](\d{1,2}))?\s*" + (f"(?:{unit})?\\s*" if unit else "")
    match = re.fullmatch(pattern, text, re.IGNORECASE)
    return float(f"{match.group(1)}.{match.group(2) or 0}") if match else None


def parse_hours(text: str) -> tuple[time, time]:
    """ "9-13" -> (09:00, 13:00)."""
    match = _RANGE_RE.match(text.strip())
    if not match:
        raise BadInput("range", text)
    start, end = parse_clock(match.group(1)), parse_clock(match.group(2))
    if end <= start:
        raise BadInput("range", text)
    return start, end


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, a)))


def round_position(lat: float, lon: float) -> tuple[float, float]:
    """About 100 m of precision (3 decimals): enough to meet, not enough to find a home."""
    lat = min(90.0, max(-90.0, lat))
    lon = (lon + 180.0) % 360.0 - 180.0 if not -180.0 <= lon <= 180.0 else lon
    # + 0.0 turns a rounded -0.0 into 0.0
    return round(lat, 3) + 0.0, round(lon, 3) + 0.0


def check_coordinates(lat: float, lon: float) -> tuple[float, float]:
    """A position as a platform sent it, range-checked."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or lat != lat or lon != lon:
        raise BadInput("coordinates_range", f"{lat}, {lon}")
    return lat, lon


def parse_coordinates(text: str) -> tuple[float, float]:
    """ "51.4344, 6.7623" or "geo:51.4344,6.7623;u=35" -> (lat, lon), range-checked."""
    raw = text.strip()
    if raw.lower().startswith("geo:"):
        raw = raw[4:].split(";", 1)[0]
    match = re.fullmatch(r"\s*([-+]?\d+(?:\.\d+)?)\s*[,;]\s*([-+]?\d+(?:\.\d+)?)\s*", raw)
    if not match:
        raise BadInput("coordinates", text)
    lat, lon = float(match.group(1)), float(match.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise BadInput("coordinates_range", text)
    return lat, lon


@dataclass(frozen=True)
class VenueMatch:
    venue: Venue | None
    suggestions: tuple[Venue, ...] = ()


def match_venue(query: str, venues: Sequence[Venue]) -> VenueMatch:
    """A venue by number (as /venues shows it) or by name, forgiving typos and accents.

    Returns the venue when the choice is clear, otherwise the closest names.
    """
    query = query.strip()
    if query.isdigit():
        index = int(query) - 1
        if 0 <= index < len(venues):
            return VenueMatch(venues[index])
        return VenueMatch(None)
    wanted = fold(query)
    if not wanted:
        return VenueMatch(None)
    by_fold = {fold(v.name): v for v in venues}
    if wanted in by_fold:
        return VenueMatch(by_fold[wanted])
    containing = [v for key, v in by_fold.items() if wanted in key]
    if len(containing) == 1:
        return VenueMatch(containing[0])
    scored = sorted(
        ((_similarity(wanted, key), v) for key, v in by_fold.items()),
        key=lambda pair: -pair[0],
    )
    suggestions = list(containing)
    suggestions += [v for score, v in scored if score >= 0.6 and v not in suggestions]
    return VenueMatch(None, tuple(suggestions[:3]))


def _similarity(query: str, name: str) -> float:
    """How alike a query and a name are, also when the query is only part of the name:
    "museun" is close to "cafe museum"."""
    best = difflib.SequenceMatcher(None, query, name).ratio()
    name_words, width = name.split(), len(query.split())
    for i in range(len(name_words) - width + 1):
        window = " ".join(name_words[i : i + width])
        best = max(best, difflib.SequenceMatcher(None, query, window).ratio())
    return best


_TAG_ALIASES = {
    "wifi": "wifi",
    "wlan": "wifi",
    "wi-fi": "wifi",
    "power": "power",
    "strom": "power",
    "steckdosen": "power",
    "steckdose": "power",
    "outlets": "power",
    "quiet": "quiet",
    "ruhig": "quiet",
    "leise": "quiet",
    "food": "food",
    "essen": "food",
}


def parse_tags(text: str) -> tuple[str, ...]:
    """ "wifi, strom ruhig" -> ("wifi", "power", "quiet"); unknown words -> BadInput."""
    tags: list[str] = []
    for word in re.split(r"[\s,;]+", text.strip()):
        if not word:
            continue
        tag = _TAG_ALIASES.get(fold(word))
        if tag is None:
            raise BadInput("tag", word)
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)
