"""Which day people mean: `morgen`, `übermorgen`, a weekday, `5.12.`, `2026-12-05`,
`Dec 5` / `5 Dez`, in German and English.

`take_day` finds one day phrase in what someone typed and returns the rest; `resolve`
turns it into a date for a city's today (a weekday is the next such day, today if the
time is still ahead). Bad dates raise `BadInput` with the phrase as typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time, timedelta

from chatbot.core.parsing import BadInput, weekday_of
from chatbot.core.text import fold

MAX_DAYS_AHEAD = 56  # 8 weeks

_RELATIVE = {
    "heute": 0,
    "today": 0,
    "morgen": 1,
    "tomorrow": 1,
    "uebermorgen": 2,
    "ubermorgen": 2,
}
_MONTHS = {
    name: n
    for n, names in enumerate(
        (
            ("jan", "januar", "january", "jaenner"),
            ("feb", "februar", "february"),
            ("mar", "maer", "maerz", "march", "mrz"),
            ("apr", "april"),
            ("mai", "may"),
            ("jun", "juni", "june"),
            ("jul", "juli", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("okt", "oct", "oktober", "october"),
            ("nov", "november"),
            ("dez", "dec", "dezember", "december"),
        ),
        start=1,
    )
    for name in names
}
# words that may stand before a day and belong to it: "am Freitag", "on Friday"
_LEADING = {"am", "on", "naechsten", "naechster", "kommenden", "next"}
_ISO_RE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_GERMAN_RE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.(?:([0-9]{4}|[0-9]{2}))?")
_DAY_NUMBER_RE = re.compile(r"([0-9]{1,2})(?:\.|st|nd|rd|th)?,?", re.IGNORECASE)


@dataclass(frozen=True)
class DaySpec:
    """A day as someone wrote it, before it is resolved against a city's today."""

    text: str
    offset: int | None = None  # 0 today, 1 tomorrow, 2 the day after
    weekday: int | None = None  # 0 = Monday: the next such day
    day: int | None = None  # a calendar date: day, month and (maybe) year
    month: int | None = None
    year: int | None = None


def _month(word: str) -> int | None:
    return _MONTHS.get(fold(word).rstrip(".,"))


def _one(words: list[str], i: int) -> tuple[DaySpec, int] | None:
    """A day phrase starting at word i, and how many words it takes."""
    word = words[i]
    folded = fold(word).rstrip(",")
    if folded in _RELATIVE:
        return DaySpec(word, offset=_RELATIVE[folded]), 1
    if (match := _ISO_RE.fullmatch(word)) is not None:
        y, m, d = (int(g) for g in match.groups())
        return DaySpec(word, day=d, month=m, year=y), 1
    if (match := _GERMAN_RE.fullmatch(word)) is not None:
        year: int | None = int(match.group(3)) if match.group(3) else None
        if year is not None and year < 100:
            year += 2000
        return DaySpec(word, day=int(match.group(1)), month=int(match.group(2)), year=year), 1
    weekday = weekday_of(folded)
    if weekday is not None:
        return DaySpec(word, weekday=weekday), 1
    if i + 1 < len(words):
        # "5 Dez" / "5. Dezember" / "Dec 5"
        both = f"{word} {words[i + 1]}"
        day_first = _DAY_NUMBER_RE.fullmatch(word)
        later_month = _month(words[i + 1])
        if day_first and later_month:
            return DaySpec(both, day=int(day_first.group(1)), month=later_month), 2
        first_month = _month(word)
        day_after = _DAY_NUMBER_RE.fullmatch(words[i + 1])
        if first_month and day_after:
            return DaySpec(both, day=int(day_after.group(1)), month=first_month), 2
    return None


def take_day(text: str) -> tuple[str, DaySpec | None]:
    """Find the day phrase in `text`; return the rest and the day (None: none given).
    Two day phrases are refused."""
    words = text.split()
    found: DaySpec | None = None
    rest: list[str] = []
    i = 0
    while i < len(words):
        one = _one(words, i)
        if one is None:
            rest.append(words[i])
            i += 1
            continue
        spec, width = one
        if found is not None:
            raise BadInput("two_days", spec.text)
        found = spec
        if rest and fold(rest[-1]) in _LEADING:
            rest.pop()
        i += width
    return " ".join(rest), found


def resolve(spec: DaySpec, today: date, start: time | None, now: time) -> date:
    """The date a day phrase names, seen from `today` (local) at `now` (local): a
    weekday is the next such day, today if the start is still ahead; a date without a
    year is the next such date."""
    if spec.offset is not None:
        return today + timedelta(days=spec.offset)
    if spec.weekday is not None:
        ahead = (spec.weekday - today.weekday()) % 7
        if ahead == 0 and start is not None and start <= now:
            ahead = 7
        return today + timedelta(days=ahead)
    assert spec.day is not None and spec.month is not None
    try:
        if spec.year is not None:
            return date(spec.year, spec.month, spec.day)
        candidate = date(today.year, spec.month, spec.day)
        if candidate < today - timedelta(days=183):  # "5.1." in December: next January
            candidate = date(today.year + 1, spec.month, spec.day)
        return candidate  # a date just past stays past, so it is refused as past
    except ValueError:
        raise BadInput("date", spec.text) from None


_SEATS_RE = re.compile(r"(?<!\S)max\.?\s*([0-9]{1,4})(?!\S)", re.IGNORECASE)


def take_seats(text: str) -> tuple[str, int | None]:
    """ "max 4" anywhere: how many people fit (the opener included)."""
    found = list(_SEATS_RE.finditer(text))
    if not found:
        if re.search(r"(?<!\S)max(?!\S)", text, re.IGNORECASE):
            raise BadInput("seats", "max")
        return text, None
    if len(found) > 1:
        raise BadInput("seats", found[1].group(0))
    match = found[0]
    seats = int(match.group(1))
    if not 2 <= seats <= 500:
        raise BadInput("seats", match.group(0))
    return (text[: match.start()] + " " + text[match.end() :]).strip(), seats
