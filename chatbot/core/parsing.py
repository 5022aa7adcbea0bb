"""Reading what people type: time ranges, coordinates, venue names.

Functions here return plain values or raise `BadInput` with a machine-readable
reason; the use cases turn that into a translated reply with an example.

What they read has been normalized (NFKC, see `text.normalize_input`); digits are
ASCII digits: a "٣" is not read as a number.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from typing import TYPE_CHECKING

from chatbot.core.model import Venue

if TYPE_CHECKING:
    from chatbot.core.days import DaySpec
from chatbot.core.text import fold, parse_number, skeleton


class BadInput(ValueError):
    def __init__(self, reason: str, value: str = "") -> None:
        super().__init__(reason, value)
        self.reason = reason
        self.value = value


# A time of day as people write it: "9", "9:30", "9.30", "9h30", "9h", "10am", "2 pm",
# "14 Uhr". Digits are ASCII digits ([0-9], never \d).
_HOUR = r"[0-9]{1,2}(?:[:.h][0-9]{2}|h)?"
_SUFFIX = r"(?:am|pm|a\.m\.|p\.m\.|uhr)"
_TIME = rf"{_HOUR}(?:\s?{_SUFFIX})?"
_DASH = r"[-–—]"
_UNTIL = rf"(?:\s*{_DASH}\s*|\s+(?:bis|to|until|till)\s+)"
_CLOCK_RE = re.compile(rf"([0-9]{{1,2}})(?:[:.h]([0-9]{{2}})|h)?(?:\s?({_SUFFIX}))?", re.IGNORECASE)
# A time phrase inside a command, between spaces (or the ends):
#   range: "10-14", "10 bis 14", "10 to 14", "9h30-13h", "10am-2pm", "von 10 bis 14 Uhr"
#   start: "ab 10", "from 9:30"
#   until: "bis 14" (no start: refused, with the phrase named)
#   single: "9:30", "9h", "14 Uhr", "10am" (a bare "10" is a venue number, not a time)
_PHRASE_RE = re.compile(
    rf"(?<!\S)(?:"
    rf"(?:(?:von|from|between)\s+)?(?P<first>{_TIME}){_UNTIL}(?P<last>{_TIME})"
    rf"|(?:ab|from|after|von)\s+(?P<start>{_TIME})"
    rf"|(?:bis|until|till)\s+(?P<until>{_TIME})"
    rf"|(?P<single>[0-9]{{1,2}}(?:(?:[:.h][0-9]{{2}}|h)(?:\s?{_SUFFIX})?|\s?{_SUFFIX}))"
    rf")(?!\S)",
    re.IGNORECASE,
)
# anything else with a colon between digits ("123:45", "9:5") is a time gone wrong
_CLOCKISH_RE = re.compile(r"(?<!\S)\S*[0-9]:[0-9]\S*(?!\S)")
# "10 - 14" written with spaces is a range, not the topic separator
_SPACED_RANGE_RE = re.compile(rf"(?<!\S)({_TIME})\s+{_DASH}\s+({_TIME})(?!\S)", re.IGNORECASE)
_TOPIC_SPLIT_RE = re.compile(rf"\s+{_DASH}\s+")


def parse_clock(text: str) -> time:
    """ "9", "09:30", "9.30", "14h00", "14h", "2pm", "14 Uhr" -> a time;
    "25:99" -> BadInput("time")."""
    match = _CLOCK_RE.fullmatch(text.strip())
    if not match:
        raise BadInput("time", text)
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    suffix = (match.group(3) or "").lower().replace(".", "")
    if suffix in ("am", "pm"):
        if not 1 <= hour <= 12:
            raise BadInput("time", text)
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        raise BadInput("time", text)
    return time(hour, minute)


@dataclass(frozen=True)
class TimePhrase:
    """A time phrase found in a command: where it is and what it says."""

    text: str
    begin: int
    end: int
    match: re.Match[str]

    def read(self) -> tuple[time, time | None]:
        """The start and (for a range) the end; BadInput when impossible."""
        groups = self.match.groupdict()
        if groups["until"] is not None:
            raise BadInput("time_start", self.text)
        if groups["first"] is not None:
            start, end = parse_clock(groups["first"]), parse_clock(groups["last"])
            if end <= start:
                raise BadInput("range", self.text)
            return start, end
        return parse_clock(groups["start"] or groups["single"]), None


def find_time_phrases(text: str) -> list[TimePhrase]:
    """Every time phrase in text (see _PHRASE_RE), left to right."""
    found = [TimePhrase(m.group(0), m.start(), m.end(), m) for m in _PHRASE_RE.finditer(text)]
    return found


def looks_like_time(text: str) -> bool:
    """Whether a command would read text (a word or a phrase) as a time."""
    return bool(find_time_phrases(text) or _CLOCKISH_RE.search(text))


@dataclass(frozen=True)
class OpenRequest:
    """`/open 10-14 Café Museum - topic`, read into its parts."""

    start: time | None
    end: time | None
    place: str
    topic: str
    weekdays: tuple[int, ...] = ()  # "jeden di" / "every mo,do": a weekly series (each day)
    day: DaySpec | None = None  # "morgen", "fr", "5.12.": another day than today
    seats: int | None = None  # "max 4": how many fit, the opener included


def split_topic(args: str) -> tuple[str, str]:
    """ "10 - 14 Café Museum - Steuern" -> ("10-14 Café Museum", "Steuern").

    One line with single spaces (a topic is one line), which also keeps the patterns
    here linear on long input."""
    text = _SPACED_RANGE_RE.sub(r"\1-\2", " ".join(args.split()))
    parts = _TOPIC_SPLIT_RE.split(text, maxsplit=1)
    return parts[0].strip(), parts[1].strip() if len(parts) > 1 else ""


def parse_open(args: str) -> OpenRequest:
    """Time range and venue in either order; topic after ' - '.

    A lone number is a venue number (from /venues); times need a colon, an "h", a
    range, "Uhr"/am/pm or "ab": "9:30", "10-14", "10 bis 14", "9h30-13h", "ab 10".
    """
    from chatbot.core.days import take_day, take_seats  # days builds on this module

    head, topic = split_topic(args)
    head, weekdays = take_weekly(head)
    head, seats = take_seats(head)
    head, day = take_day(head)
    start: time | None = None
    end: time | None = None
    phrases = find_time_phrases(head)
    if len(phrases) > 1:
        raise BadInput("two_times", phrases[1].text)
    if phrases:
        start, end = phrases[0].read()
        head = head[: phrases[0].begin] + " " + head[phrases[0].end :]
    clockish = _CLOCKISH_RE.search(head)
    if clockish:
        raise BadInput("two_times" if start is not None else "time", clockish.group(0))
    return OpenRequest(
        start=start,
        end=end,
        place=" ".join(head.split()),
        topic=topic,
        weekdays=weekdays,
        day=day,
        seats=seats,
    )


_EVERY = {"jeden", "jede", "jeder", "every", "each"}
WEEKDAYS = {
    **{
        name: n
        for n, names in enumerate(
            (
                ("mo", "mon", "montag", "monday", "montags", "mondays"),
                ("di", "tu", "tue", "tues", "dienstag", "tuesday", "dienstags", "tuesdays"),
                ("mi", "we", "wed", "mittwoch", "wednesday", "mittwochs", "wednesdays"),
                (
                    "do",
                    "th",
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
                ("so", "su", "sun", "sonntag", "sunday", "sonntags", "sundays"),
            )
        )
        for name in names
    },
}


def weekday_of(word: str) -> int | None:
    return WEEKDAYS.get(fold(word).rstrip("."))


def take_weekly(text: str) -> tuple[str, tuple[int, ...]]:
    """Find "jeden di" / "every tue" / "jeden mo,do" / "jeden mo, do" / "every mon-fri" in
    text; return the rest and the weekdays (0 = Monday; none: not weekly)."""
    words = text.split()
    for i, word in enumerate(words[:-1]):
        if fold(word) in _EVERY:
            end = i + 2
            while words[end - 1].endswith(",") and end < len(words):
                end += 1
            days = " ".join(words[i + 1 : end])
            return " ".join(words[:i] + words[end:]), parse_weekdays(days)
    return text, ()


def parse_weekdays(text: str) -> tuple[int, ...]:
    """ "mo-fr", "mon,wed,fri", "di do", "fr-mo" (across the week's end) -> weekday
    numbers (0 = Monday), sorted."""
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
    pattern = r"\s*([0-9]{1,3})(?:[.,]([0-9]{1,2}))?\s*" + (f"(?:{unit})?\\s*" if unit else "")
    match = re.fullmatch(pattern, text, re.IGNORECASE)
    return float(f"{match.group(1)}.{match.group(2) or 0}") if match else None


def parse_hours(text: str) -> tuple[time, time]:
    """ "9-13", "9 bis 13 Uhr", "9h30-13h" -> (09:00, 13:00)."""
    text = _SPACED_RANGE_RE.sub(r"\1-\2", " ".join(text.split()))
    match = _PHRASE_RE.fullmatch(text)
    if not match or match.group("first") is None:
        raise BadInput("range", text)
    start, end = TimePhrase(text, 0, len(text), match).read()
    assert end is not None
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
    if raw[:4].lower() == "geo:":
        raw = raw[4:].split(";", 1)[0]
    number = r"[-+]?[0-9]{1,3}(?:\.[0-9]{1,15})?"
    match = re.fullmatch(rf"\s*({number})\s*[,;]\s*({number})\s*", raw)
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
    if query.isascii() and query.isdigit():
        number = parse_number(query)
        return VenueMatch(next((v for v in venues if v.number == number), None))
    wanted = venue_key(query)
    if not wanted:
        return VenueMatch(None)
    by_fold = {venue_key(v.name): v for v in venues}
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


def venue_key(name: str) -> str:
    """What a venue's name is matched and compared by: look-alike letters of other
    scripts as the Latin ones, case, accents and spacing ignored ("Сafé  Museum" with a
    Cyrillic С -> "cafe museum")."""
    return " ".join(fold(skeleton(name)).split())


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


# --- distances: one reading for every command that asks for a radius -------------------

_DISTANCE_RE = re.compile(
    r"(?P<number>[0-9]{1,6})(?:[.,](?P<fraction>[0-9]{1,3}))?\s*"
    r"(?P<unit>km|kilometer|kilometers|kilometre|kilometres|m|meter|meters|metre|metres)?\.?",
    re.IGNORECASE,
)
MAX_KM_DIGITS = 3  # "1000000" is no radius; "500 m" is


def parse_distance_km(text: str) -> float | None:
    """A radius as people write it, in km: "2", "2 km", "2km", "2,5 km", "2.5",
    "500 m" (-> 0.5), "1500m" (-> 1.5); anything else -> None. A bare number is km.
    ASCII digits only."""
    match = _DISTANCE_RE.fullmatch(text.strip())
    if match is None:
        return None
    unit = (match.group("unit") or "km").lower()
    value = float(f"{match.group('number')}.{match.group('fraction') or 0}")
    if unit.startswith("k"):
        if len(match.group("number")) > MAX_KM_DIGITS:
            return None
        return value
    return value / 1000


def take_distance(words: Sequence[str], i: int) -> tuple[float, int] | None:
    """A distance at words[i] ("2km") or over words[i] and words[i + 1] ("2 km",
    "500 m"): the km and how many words it took; None if there is none."""
    if i + 1 < len(words):
        two = parse_distance_km(words[i] + " " + words[i + 1])
        if two is not None and not words[i + 1][:1].isdigit():
            return two, 2
    one = parse_distance_km(words[i]) if i < len(words) else None
    return (one, 1) if one is not None else None
