"""Names people give (venues): cleaned, compared, and checked against the commands.

A name is stored as `clean_name` gives it. Two names are the same venue when their
`name_key`s are equal: case, accents, spacing and look-alike letters of other scripts
do not make a new venue. `name_problem` says why a name would be misread where it is
used, in `/open 10-14 NAME - topic`, and returns None for a name that can be used.
"""

from __future__ import annotations

import re
import unicodedata

from chatbot.core.parsing import WEEKDAYS, BadInput, looks_like_time, parse_open, venue_key
from chatbot.core.text import fold, normalize_input

MAX_NAME = 80

# words the commands read by themselves, folded (see text.fold)
KEYWORDS = frozenset({"hier", "here"})
EVERY = frozenset({"jeden", "jede", "jeder", "jedes", "every", "each"})
DAYS = frozenset({"heute", "morgen", "uebermorgen", "ubermorgen", "today", "tomorrow", "tonight"})
SERIES = frozenset({"serie", "serien", "series"})
# words that belong to a time next to them: "10-14 Uhr", "von 10-14", "10 am"
_AFTER_TIME = frozenset({"uhr", "am", "pm", "a.m.", "p.m."})
_BEFORE_TIME = frozenset({"von", "from", "between", "ab", "after", "bis", "until", "till"})

_DASH_TOKEN_RE = re.compile(r"[-–—]+")
_NUMBER_TOKEN_RE = re.compile(r"[0-9]+")
_DATE_TOKEN_RE = re.compile(
    r"[0-9]{1,2}\.[0-9]{1,2}\.(?:[0-9]{2,4})?"  # 5.12. / 05.12.2026
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"  # 2026-12-05
    r"|[0-9]{1,2}/[0-9]{1,2}(?:/[0-9]{2,4})?"  # 12/5, 12/5/2026
)
_MAX_TOKEN_RE = re.compile(r"max\.?[0-9]+")
_ID_TOKEN_RE = re.compile(r"s[0-9]+")

# the reasons name_problem gives, in the order it checks them
REASONS = (
    "empty",
    "long",
    "pipe",
    "number",
    "separator",
    "keyword",
    "every",
    "weekday",
    "day",
    "series",
    "max",
    "id",
    "date",
    "time",
    "misread",
)


def clean_name(text: str) -> str:
    """A name as it is stored: NFKC, without invisible (control, format, bidi)
    characters, all white space (line breaks too) as single spaces, trimmed; marks
    that would combine with nothing at the start are dropped."""
    words = normalize_input(text).split()
    name = " ".join(words)
    while name and unicodedata.combining(name[0]):
        name = name[1:].lstrip()
    return name


def name_key(text: str) -> str:
    """What names are compared by: two names with the same key are one venue.

    "Café Museum", "cafe  museum" and "Сafé Museum" (a Cyrillic С) have one key."""
    return venue_key(clean_name(text))


def name_problem(name: str) -> str | None:
    """Why `/open 10-14 NAME` would not find a venue with this (cleaned) name, or would
    read part of it as something else; None when the name can be used.

    Reasons (see REASONS): "empty"; "long" (more than MAX_NAME characters); "pipe" (a
    "|", which separates a venue's fields); "number" (only digits: a venue number);
    "separator" (a lone dash: " - " starts the topic); "keyword" (hier/here); "every"
    (jeden/every: a weekly series); "weekday" (mo, di, montag, monday, ...); "day"
    (heute, morgen, today, ...); "series" (serie/series); "max" (max 5: a limit);
    "id" (s12: a session's id); "date" (5.12., 2026-12-05); "time" (9:30, 10-14,
    10 bis 14, ab 10, 14 Uhr, 9h30, 10am, or a word that would join a time next to it:
    "Uhr ...", "... von"); "misread" (anything else /open would read differently).
    """
    name = clean_name(name)
    if not name or not venue_key(name):
        return "empty"
    if len(name) > MAX_NAME:
        return "long"
    if "|" in name:
        return "pipe"
    words = name.split()
    if all(_NUMBER_TOKEN_RE.fullmatch(w) or w.isdigit() for w in words):
        return "number"
    if any(_DASH_TOKEN_RE.fullmatch(w) for w in words):
        return "separator"
    folded = [fold(w) for w in words]
    for reason in _WORD_REASONS:
        if any(_word_reason(w) == reason for w in folded):
            return reason
    pairs = zip(folded, folded[1:], strict=False)
    if any(a.rstrip(".") == "max" and _NUMBER_TOKEN_RE.fullmatch(b) for a, b in pairs):
        return "max"
    if looks_like_time(name) or folded[0] in _AFTER_TIME or folded[-1] in _BEFORE_TIME:
        return "time"
    return _misread(name)


_WORD_REASONS = ("keyword", "every", "weekday", "day", "series", "max", "id", "date")


def _word_reason(word: str) -> str | None:
    """What the commands read a single (folded) word as, if anything."""
    if word in KEYWORDS:
        return "keyword"
    if word in EVERY:
        return "every"
    if word.rstrip(".") in WEEKDAYS:
        return "weekday"
    if word in DAYS:
        return "day"
    if word in SERIES:
        return "series"
    if _MAX_TOKEN_RE.fullmatch(word):
        return "max"
    if _ID_TOKEN_RE.fullmatch(word):
        return "id"
    if _DATE_TOKEN_RE.fullmatch(word):
        return "date"
    return None


def _misread(name: str) -> str | None:
    """The last word: /open itself, with a time before and after the name."""
    for args in (f"10-14 {name}", f"{name} 10-14", f"9:30 {name}", f"{name} 9:30"):
        try:
            request = parse_open(args)
        except BadInput as error:
            return "time" if error.reason in ("time", "two_times", "range") else "misread"
        if request.topic or request.weekdays or request.place != name:
            return "misread"
    return None
