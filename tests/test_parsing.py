"""Reading what people type."""

from __future__ import annotations

from datetime import time

import pytest

from chatbot.core.commands import find_command
from chatbot.core.model import Venue
from chatbot.core.parsing import (
    BadInput,
    match_venue,
    parse_coordinates,
    parse_open,
    parse_tags,
)


@pytest.mark.parametrize(
    ("args", "start", "end", "place", "topic"),
    [
        ("10-14 Café Museum - Steuern", time(10), time(14), "Café Museum", "Steuern"),
        ("Café Museum 9:30", time(9, 30), None, "Café Museum", ""),
        ("Café Museum 9.30-13 - Buchhaltung", time(9, 30), time(13), "Café Museum", "Buchhaltung"),
        ("2 10 - 14", time(10), time(14), "2", ""),
        ("Kö Lounge", None, None, "Kö Lounge", ""),
        ("10:15–12:45 Kö", time(10, 15), time(12, 45), "Kö", ""),
    ],
)
def test_open_reads_time_and_venue_in_either_order(
    args: str, start: time | None, end: time | None, place: str, topic: str
) -> None:
    request = parse_open(args)
    assert (request.start, request.end, request.place, request.topic) == (start, end, place, topic)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ("25:99 Museum", "time"),
        ("9:60 Museum", "time"),
        ("24-26 Museum", "time"),
        ("14-10 Museum", "range"),
        ("9-13 Museum 14:00", "two_times"),
    ],
)
def test_open_rejects_impossible_times(args: str, reason: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_open(args)
    assert caught.value.reason == reason


def test_coordinates_are_range_checked() -> None:
    assert parse_coordinates("51.4344, 6.7623") == (51.4344, 6.7623)
    assert parse_coordinates("geo:51.4344,6.7623;u=35") == (51.4344, 6.7623)
    for bad in ("91, 6", "51, 181", "-90.5, 0"):
        with pytest.raises(BadInput) as caught:
            parse_coordinates(bad)
        assert caught.value.reason == "coordinates_range"
    with pytest.raises(BadInput):
        parse_coordinates("Königstraße")


VENUES = [
    Venue(1, 1, "Café Museum", 0, 0, number=1),
    Venue(2, 1, "Finkenkrug", 0, 0, number=2),
    Venue(3, 1, "Kö Lounge", 0, 0, number=3),
    Venue(4, 1, "Museumscafé Lehmbruck", 0, 0, number=4),
]


def test_venue_by_number_name_or_unique_part() -> None:
    assert match_venue("2", VENUES).venue == VENUES[1]
    assert match_venue("cafe museum", VENUES).venue == VENUES[0]
    assert match_venue("lounge", VENUES).venue == VENUES[2]
    assert match_venue("9", VENUES).venue is None


def test_ambiguous_or_misspelt_venue_gives_suggestions() -> None:
    ambiguous = match_venue("museum", VENUES)
    assert ambiguous.venue is None
    assert {v.name for v in ambiguous.suggestions} == {"Café Museum", "Museumscafé Lehmbruck"}
    typo = match_venue("Finkenkrg", VENUES)
    assert typo.venue is None and typo.suggestions[0].name == "Finkenkrug"
    assert match_venue("Bahnhof", VENUES).suggestions == ()


def test_tags_in_german_and_english() -> None:
    assert parse_tags("wlan, Strom ruhig food") == ("wifi", "power", "quiet", "food")
    with pytest.raises(BadInput):
        parse_tags("wifi, sauna")


def test_commands_by_english_and_german_name_in_any_case() -> None:
    assert find_command("heute") == find_command("TODAY")
    assert find_command("Einstellungen") == find_command("settings")
    assert find_command("tanzen") is None
