"""Venue names and what people type around them: every input gets a clear answer, none
crashes, nothing garbled is stored. On a real SQLite file, through the bot."""

from __future__ import annotations

import pytest

from chatbot.core.actions import SendText
from chatbot.core.model import Venue
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import GroupChat


@pytest.fixture
async def city(group: GroupChat) -> GroupChat:
    """An English city group (the messages checked here are the English ones) with
    three venues."""
    await group.say("Anna", "/setup Duisburg | Europe/Berlin | en")
    await group.say("Anna", "/venue add Café Museum | 51.4344, 6.7623 | Königstraße 1 | wifi")
    await group.say("Anna", "/venue add Kö Lounge | 51.4330, 6.7650")
    await group.say("Anna", "/venue add Finkenkrug | 51.4290, 6.7900 | | quiet | upstairs")
    return group


async def venues(repo: SqliteRepository) -> list[Venue]:
    return list(await repo.venues.of_group(1))  # the city group is the first one


async def names(repo: SqliteRepository) -> list[str]:
    return sorted(v.name for v in await venues(repo))


ORIGINAL = ["Café Museum", "Finkenkrug", "Kö Lounge"]  # numbers 1, 3, 2


def plain(text: str) -> str:
    """English times read "10:00 AM–2:00 PM" (with narrow no-break spaces)."""
    return text.replace("\u202f", " ")


async def test_a_zero_width_space_is_dropped_from_a_name(
    city: GroupChat, repo: SqliteRepository
) -> None:
    text = await city.reply_text("Anna", "/venue add Zur\u200b Linde\u200d | 51.43, 6.76")
    assert "Zur Linde" in text
    assert "Zur Linde" in await names(repo)
    # the name alone, invisible: no name at all
    text = await city.reply_text("Anna", "/venue add \u200b\u2060 | 51.43, 6.76")
    assert "The venue needs a name." in text
    # with a zero-width space inside, an existing name is still the existing name
    text = await city.reply_text("Anna", "/venue add Café\u200b Museum | 51.43, 6.76")
    assert "There is a venue called “Café Museum” already." in text
    assert await names(repo) == sorted([*ORIGINAL, "Zur Linde"])


async def test_a_right_to_left_override_is_not_stored(
    city: GroupChat, repo: SqliteRepository
) -> None:
    await city.say("Anna", "/venue add \u202eBar Extra\u202c | 51.43, 6.76")
    assert "Bar Extra" in await names(repo)
    assert not any("\u202e" in name or "\u202c" in name for name in await names(repo))


@pytest.mark.parametrize(
    "spoof",
    [
        "\u0421af\u00e9 Museum",  # Cyrillic С
        "Caf\u0435\u0301 Mus\u0435um",  # Cyrillic е (with a combining accent)
        "Café Μuseum",  # Greek Μ
        "CAFE MUSEUM",
        "Cafe  Museum",
    ],
)
async def test_a_look_alike_of_an_existing_name_is_refused_naming_it(
    city: GroupChat, repo: SqliteRepository, spoof: str
) -> None:
    text = await city.reply_text("Anna", f"/venue add {spoof} | 51.43, 6.76")
    assert "There is a venue called “Café Museum” already." in text
    assert await names(repo) == ORIGINAL


async def test_a_look_alike_is_refused_as_a_new_name_for_another_venue_too(
    city: GroupChat, repo: SqliteRepository
) -> None:
    text = await city.reply_text("Anna", "/venue edit 3 name К\u00f6 Lounge")  # Cyrillic К
    assert "There is a venue called “Kö Lounge” already." in text
    assert await names(repo) == ORIGINAL


@pytest.mark.parametrize(
    ("name", "part"),
    [
        ("Hier", "“here”"),
        ("here", "“here”"),
        ("Jeden Tag Café", "“every”"),
        ("Every Day Bar", "“every”"),
        ("Bar - Lounge", "a lone dash"),
        ("Bar – Lounge", "a lone dash"),
        ("Raum 9:30", "a time"),
        ("Raum 10-14", "a time"),
        ("Bar 10 bis 14", "a time"),
        ("Café 14 Uhr", "a time"),
        ("Bar 9h30", "a time"),
        ("Café Mo", "a weekday"),
        ("Montag Bar", "a weekday"),
        ("Heute Bar", "“today”"),
        ("Morgenrot Bar", None),  # a word that only starts like a day is fine
        ("Bar Serie", "“series”"),
        ("Bar max 5", "“max”"),
        ("S12 Lounge", "s12"),
        ("5.12. Bar", "a date"),
        ("Bar 2026-12-05", "a date"),
        ("12", "just a number"),
    ],
)
async def test_names_the_commands_would_misread_are_refused_with_the_reason(
    city: GroupChat, repo: SqliteRepository, name: str, part: str | None
) -> None:
    text = await city.reply_text("Anna", f"/venue add {name} | 51.43, 6.76")
    if part is None:
        assert f"Added venue 4: {name}." in text
        assert "10:00 AM–2:00 PM" in plain(await city.reply_text("Ben", f"/open 10-14 {name}"))
        return
    assert part in text, text
    assert "Example: /venue add" in text
    assert await names(repo) == ORIGINAL


async def test_an_accepted_name_is_found_by_open_in_either_order(
    city: GroupChat, repo: SqliteRepository
) -> None:
    await city.say("Anna", "/venue add Café am Markt | 51.43, 6.76")
    text = await city.reply_text("Ben", "/open Café am Markt 9:30-12 - Steuern")
    assert "Café am Markt" in text and "9:30 AM–12:00 PM" in plain(text) and "Steuern" in text


async def test_a_huge_unknown_name_is_quoted_as_a_short_excerpt(city: GroupChat) -> None:
    huge = "Unbekannt" * 600  # 5,400 characters
    for command in (f"/open 10-14 {huge}", f"/venue remove {huge}", f"/venue edit 1 {huge} x"):
        text = await city.reply_text("Anna", command)
        assert len(text) < 400, (command, len(text))
        assert "Unbekannt" in text and "…" in text
    text = await city.reply_text("Anna", f"/venue add {huge} | 51.43, 6.76")
    assert "at most 80 characters" in text and len(text) < 400


async def test_an_empty_edit_is_refused_and_changes_nothing(
    city: GroupChat, repo: SqliteRepository
) -> None:
    for field in ("address", "notes", "tags", "name", "coordinates"):
        text = await city.reply_text("Anna", f"/venue edit 1 {field}")
        assert text.startswith("Give the new "), text
        assert "Example: /venue edit 1 " in text
    [museum] = [v for v in await venues(repo) if v.name == "Café Museum"]
    assert (museum.address, museum.tags) == ("Königstraße 1", ("wifi",))


async def test_german_empty_address_edit_is_refused(duisburg: GroupChat) -> None:
    before = await duisburg.reply_text("Ben", "/orte")
    text = await duisburg.reply_text("Anna", "/ort edit 1 adresse")
    assert "Beispiel: /ort" in text or "Example: /ort" in text
    assert await duisburg.reply_text("Ben", "/orte") == before


async def test_a_dash_clears_address_notes_and_tags_and_says_so(
    city: GroupChat, repo: SqliteRepository
) -> None:
    assert (
        await city.reply_text("Anna", "/venue edit 1 address -")
        == "Removed the address of Café Museum."
    )
    assert (
        await city.reply_text("Anna", "/venue edit 1 tags -") == "Removed the tags of Café Museum."
    )
    assert (
        await city.reply_text("Anna", "/venue edit 3 notes -") == "Removed the notes of Finkenkrug."
    )
    by_name = {v.name: v for v in await venues(repo)}
    assert by_name["Café Museum"].address == "" and by_name["Café Museum"].tags == ()
    assert by_name["Finkenkrug"].notes == ""
    # a dash is no name and no position
    assert "a lone dash" in await city.reply_text("Anna", "/venue edit 1 name -")
    assert "are not coordinates" in await city.reply_text("Anna", "/venue edit 1 coordinates -")


async def test_addresses_and_notes_are_one_line(city: GroupChat, repo: SqliteRepository) -> None:
    await city.say("Anna", "/venue edit 1 address Königstraße 1\nDuisburg")
    await city.say("Anna", "/venue edit 1 notes upstairs,\n\nask for\tthe code")
    [museum] = [v for v in await venues(repo) if v.name == "Café Museum"]
    assert museum.address == "Königstraße 1 Duisburg"
    assert museum.notes == "upstairs, ask for the code"


@pytest.mark.parametrize(
    ("phrase", "span"),
    [
        ("10 bis 14", "10:00 AM–2:00 PM"),
        ("10-14 Uhr", "10:00 AM–2:00 PM"),
        ("10 to 14", "10:00 AM–2:00 PM"),
        ("9h30-13h", "9:30 AM–1:00 PM"),
        ("10am-2pm", "10:00 AM–2:00 PM"),
        ("von 10 bis 14 Uhr", "10:00 AM–2:00 PM"),
        ("10 - 14", "10:00 AM–2:00 PM"),
    ],
)
async def test_time_phrases_people_write_are_read(city: GroupChat, phrase: str, span: str) -> None:
    for args in (f"{phrase} Café Museum", f"Café Museum {phrase} - Thema"):
        text = await city.reply_text("Ben", f"/open {args}")
        assert "Café Museum" in text and span in plain(text), text
        assert "don't know a venue" not in text
        await city.say("Ben", "/cancel")


async def test_a_time_phrase_without_a_start_is_named_not_blamed_on_the_venue(
    city: GroupChat,
) -> None:
    text = await city.reply_text("Ben", "/open bis 14 Café Museum")
    assert "“bis 14”" in text and "start" in text
    assert "don't know a venue" not in text
    text = await city.reply_text("Ben", "/open 25:99 Café Museum")
    assert "“25:99” is not a time of day" in text


async def test_ab_10_starts_at_ten(city: GroupChat) -> None:
    text = await city.reply_text("Ben", "/open ab 10 Café Museum")
    assert "10:00 AM–2:00 PM" in plain(text)


@pytest.mark.parametrize("args", ["²", "١", "1e9", "9" * 5000, "-1", "0x10"])
async def test_odd_numbers_get_an_answer(city: GroupChat, args: str) -> None:
    for command in ("/join", "/nearby", "/venue remove", "/venue edit", "/vote", "/open"):
        actions = await city.say("Anna", f"{command} {args}")
        texts = [a.text for a in actions if isinstance(a, SendText)]
        assert texts, (command, args)
        assert not any("went wrong" in t or "Sorry" in t for t in texts), (command, texts)
        assert all(len(t) < 600 for t in texts), (command, args)


async def test_a_superscript_two_is_a_two(city: GroupChat) -> None:
    await city.say("Ben", "/open 10-14 Café Museum")
    await city.say("Ben", "/open 10-14 Kö Lounge")
    text = await city.reply_text("Carla", "/join ²")
    assert "Kö Lounge" in text


async def test_a_shared_venue_title_is_checked_like_a_typed_name(
    city: GroupChat, repo: SqliteRepository
) -> None:
    await city.say("Anna", "/venue add")
    actions = await city.share("Anna", 51.43, 6.76, title="\u202eHier", address="Markt 1\nDuisburg")
    [reply] = [a for a in actions if isinstance(a, SendText)]
    assert "“here”" in reply.text
    await city.say("Anna", "/venue add")
    await city.share("Anna", 51.43, 6.76, title="Zur\u200b Linde", address="Markt 1\nDuisburg")
    [linde] = [v for v in await venues(repo) if v.name == "Zur Linde"]
    assert linde.address == "Markt 1 Duisburg"
