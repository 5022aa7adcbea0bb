"""Properties of reading what people type: no input crashes a parser, accepted times are
real times, and every venue name that is accepted can be used by name in /open."""

from __future__ import annotations

import asyncio
import string
import tempfile
from datetime import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from chatbot.core.actions import SendText
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.model import Venue
from chatbot.core.names import REASONS, clean_name, name_key, name_problem
from chatbot.core.parsing import (
    BadInput,
    match_venue,
    parse_amount,
    parse_clock,
    parse_coordinates,
    parse_hours,
    parse_open,
    parse_tags,
    parse_weekdays,
)
from chatbot.core.text import normalize_input, parse_number
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import FakeAdmins, GroupChat, berlin

FAST = settings(max_examples=150, deadline=None)
SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# what the grammar is made of, and what people paste into it
GRAMMAR = list("0123456789:.-–— hHaAmMpPuUrRsSbBiItTo|,;²１٣\u200b\u202e\u00a0\n\t")
WORDS = [
    "hier", "here", "jeden", "every", "di", "tue", "mo", "Montag", "heute", "morgen",
    "übermorgen", "tomorrow", "serie", "series", "max", "5", "s12", "5.12.", "2026-12-05",
    "9:30", "10-14", "9h30-13h", "10am-2pm", "Uhr", "bis", "ab", "to", "von", "am", "pm",
    "-", "–", "|", "Café", "Museum", "Kö", "Lounge", "Bar", "Raum", "9", "12", "Max",
    "Straße", "Сafé", "Μuseum", "\u200b", "\u202e", "\u0301", "a\u0308", "ﬁ", "Ⅻ", "①",
]  # fmt: skip
grammar_text = st.text(alphabet=st.sampled_from(GRAMMAR), max_size=30)
any_text = st.one_of(st.text(max_size=60), grammar_text)
name_text = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
    st.text(alphabet=string.ascii_letters + "éöüß ", min_size=1, max_size=20),
    st.text(min_size=1, max_size=20),
)

VENUES = [
    Venue(1, 1, "Café Museum", 0, 0, number=1),
    Venue(2, 1, "Finkenkrug", 0, 0, number=2),
    Venue(3, 1, "Kö Lounge", 0, 0, number=3),
]


@FAST
@given(any_text)
def test_no_parser_raises_anything_but_bad_input(text: str) -> None:
    for value in (text, normalize_input(text)):
        for parse in (
            parse_open,
            parse_clock,
            parse_coordinates,
            parse_weekdays,
            parse_tags,
            parse_hours,
        ):
            try:
                parse(value)
            except BadInput as error:
                assert isinstance(error.reason, str) and error.reason
        assert parse_amount(value) is None or 0 <= parse_amount(value, "km") <= 999.99  # type: ignore[operator]
        number = parse_number(value)
        assert number is None or value.strip().isascii()
        match_venue(value, VENUES)
        clean_name(value)
        name_key(value)
        assert name_problem(value) in (None, *REASONS)


@FAST
@given(st.integers(0, 23), st.integers(0, 59), st.sampled_from([":", ".", "h"]))
def test_accepted_times_are_real_and_round_trip(hour: int, minute: int, sep: str) -> None:
    written = f"{hour}{sep}{minute:02}"
    assert parse_clock(written) == time(hour, minute)
    assert parse_clock(parse_clock(written).strftime("%H:%M")) == time(hour, minute)


@FAST
@given(grammar_text)
def test_whatever_is_accepted_as_a_time_is_a_valid_time(text: str) -> None:
    text = normalize_input(text)
    try:
        clock = parse_clock(text)
    except BadInput:
        return
    assert parse_clock(clock.strftime("%H:%M")) == clock
    try:
        request = parse_open(text + " Café")
    except BadInput:
        return
    if request.end is not None:
        assert request.start is not None and request.start < request.end


@FAST
@given(st.integers(0, 22), st.integers(1, 23), st.sampled_from(["-", " - ", " bis ", " to "]))
def test_a_range_reads_the_same_in_either_order_with_a_venue(
    start: int, end: int, until: str
) -> None:
    assume(start < end)
    for args in (f"{start}{until}{end} Kö Lounge", f"Kö Lounge {start}{until}{end} Uhr - Thema"):
        request = parse_open(args)
        assert (request.start, request.end, request.place) == (time(start), time(end), "Kö Lounge")


FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
MATH_BOLD = str.maketrans("0123456789", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@FAST
@given(st.integers(0, 23), st.integers(0, 59))
def test_digits_are_ascii_after_nfkc_or_refused(hour: int, minute: int) -> None:
    written = f"{hour}:{minute:02}"
    for table in (FULLWIDTH, MATH_BOLD):
        assert parse_clock(normalize_input(written.translate(table))) == time(hour, minute)
    with pytest.raises(BadInput):
        parse_clock(normalize_input(written.translate(ARABIC_INDIC)))
    assert parse_number(normalize_input(str(hour).translate(ARABIC_INDIC))) is None
    assert parse_number(normalize_input(str(hour).translate(FULLWIDTH))) == hour


INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u202d",
             "\u2066", "\u2069", "\u061c", "\u200e", "\u200f", "\x00", "\x1b", "\u3164",
             "\ufe0f", "\u034f"]  # fmt: skip


@FAST
@given(name_text, st.lists(st.tuples(st.integers(0, 40), st.sampled_from(INVISIBLE)), max_size=5))
def test_invisible_characters_are_stripped_from_names(
    name: str, inserts: list[tuple[int, str]]
) -> None:
    dirty = name
    for position, char in inserts:
        dirty = dirty[:position] + char + dirty[position:]
    assert clean_name(dirty) == clean_name(name.replace("\n", " "))
    assert not any(char in clean_name(dirty) for char in INVISIBLE)
    assert clean_name(clean_name(dirty)) == clean_name(dirty)


LOOK_ALIKES = {
    "a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у",  # Cyrillic
    "A": "Α", "B": "Β", "E": "Ε", "K": "Κ", "M": "Μ", "O": "Ο", "T": "Τ",  # Greek
    "H": "Н", "C": "С", "P": "Р",  # Cyrillic capitals
}  # fmt: skip


@FAST
@given(
    st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=24),
    st.lists(st.booleans(), min_size=24, max_size=24),
)
def test_look_alikes_from_other_scripts_collide(name: str, swaps: list[bool]) -> None:
    spoof = "".join(
        LOOK_ALIKES.get(ch, ch) if swap else ch for ch, swap in zip(name, swaps, strict=False)
    )
    assert name_key(spoof) == name_key(name)


@settings(max_examples=300, deadline=None)
@given(name_text)
@example("Café Mo")
@example("Uhr Café")
@example("Café von")
@example("Raum 9")
@example("\u0301x")
def test_every_accepted_name_is_found_again_by_open(name: str) -> None:
    """The key property: a name that name_problem accepts, stored as clean_name gives
    it, is what `/open 10-14 NAME` (and `/open NAME 10-14 - topic`) finds."""
    if name_problem(name) is not None:
        return
    stored = clean_name(name)
    assume(all(name_key(v.name) != name_key(stored) for v in VENUES))
    venue = Venue(9, 1, stored, 0, 0, number=9)
    venues = [*VENUES, venue]
    for args in (f"10-14 {name}", f"{name} 10-14 - Thema", f"jeden di 9:30 {name}"):
        request = parse_open(normalize_input(args))
        assert request.start is not None
        assert match_venue(request.place, venues).venue == venue, (args, request)


async def _add_and_open(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        repo = await SqliteRepository.open(f"sqlite:///{Path(folder) / 'bot.db'}")
        try:
            clock = FakeClock(berlin("2026-11-30 08:30"))
            group = GroupChat(Bot(repo, clock, default_language="de"), clock, FakeAdmins({"Anna"}))
            await group.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
            await group.say("Anna", "/ort add Café Museum | 51.4344, 6.7623")
            for name in names:
                await group.say("Anna", f"/ort add {name} | 51.43, 6.76")
            stored = {v.name for v in await repo.venues.of_group(1)}
            opened: set[str] = set()
            for name in names:
                if name_problem(name) is not None or clean_name(name) not in stored:
                    continue  # refused, or the same as a venue before it
                if name_key(name) in opened:
                    continue
                opened.add(name_key(name))
                actions = await group.say("Ben", f"/neu 10-14 {name}")
                [message] = [a for a in actions if isinstance(a, SendText)]
                assert clean_name(name) in message.text, message.text
                assert "10:00–14:00" in message.text, message.text
        finally:
            await repo.close()


@SLOW
@given(st.lists(name_text, min_size=1, max_size=4))
def test_accepted_names_are_found_through_the_bot(names: list[str]) -> None:
    asyncio.run(_add_and_open(names))
