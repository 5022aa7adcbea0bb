"""Helpful in detail: /help COMMAND with syntax and two examples that the parsers
accept, help that lists what works where, and the one input grammar the help
promises (subscriptions that keep what is not named, distances with units,
weekdays, timezones)."""

from __future__ import annotations

import pytest

from chatbot.core.actions import SendText, SendVenue
from chatbot.core.commands import COMMANDS
from chatbot.core.parsing import parse_distance_km, parse_weekdays
from chatbot.i18n import Translator
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import GroupChat

LANGUAGES = ("de", "en")


# --- /help COMMAND --------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_command_has_a_translated_usage_and_two_examples(language: str) -> None:
    t = Translator(language)
    for spec in COMMANDS:
        assert spec.usage and "{command}" in spec.usage, spec.key
        assert len(spec.examples) == 2, spec.key
        if language == "de":
            assert t.gettext(spec.usage) != spec.usage, spec.key


@pytest.mark.parametrize(
    "asked", ["ort", "venue", "/ort", "!venue", "Ort", "nähe", "naehe", "/Einstellungen"]
)
async def test_help_for_one_command_by_either_name(duisburg: GroupChat, asked: str) -> None:
    text = await duisburg.reply_text("Ben", f"/hilfe {asked}")
    assert "Beispiele:" in text
    assert len([line for line in text.splitlines() if line.startswith("• ")]) == 2


async def test_help_for_the_venue_command_in_german(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Ben", "/hilfe ort")
    lines = text.splitlines()
    assert lines[0] == "/ort (/venue) – für Admins"
    assert "/ort neu NAME | BREITE,LÄNGE" in text and "/ort ändern N FELD WERT" in text
    assert "• /ort neu Stadtbibliothek | 51.4310, 6.7700 | Düsseldorfer Str. 5 | wlan, ruhig" in (
        lines
    )


async def test_help_for_one_command_in_english(group: GroupChat) -> None:
    await group.say("Anna", "/setup Leeds | Europe/London | en")
    text = await group.reply_text("Ben", "/help abo")
    assert text.splitlines()[0] == "/subscribe (/abo)"
    assert "• /subscribe 3 quiet 22-7" in text and "• /subscribe quiet off" in text


async def test_help_for_an_unknown_command_names_the_closest(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Ben", "/hilfe nahe")
    assert text.startswith("Den Befehl „nahe“ kenne ich nicht. Meintest du: /naehe")
    text = await duisburg.reply_text("Ben", "/hilfe xyzzy")
    assert "kenne ich nicht" in text and "/hilfe zeigt, was ich kann" in text


async def test_group_help_lists_admin_commands_last(duisburg: GroupChat) -> None:
    lines = (await duisburg.reply_text("Ben", "/hilfe")).splitlines()
    heading = lines.index("Für Admins:")
    admins = [s for s in COMMANDS if s.admin_only]
    before = "\n".join(lines[:heading])
    after = "\n".join(lines[heading:])
    for spec in admins:
        assert f"/{spec.de} –" in after and f"/{spec.de} –" not in before
    assert "/neu –" in before and "/hilfe BEFEHL" in before


async def test_private_help_lists_only_what_works_there(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Ben", "/hilfe", private=True)
    for works in ("/hilfe", "/datenschutz", "/vergessen", "/dabei sN", "/absagen sN"):
        assert works in text
    assert "Teile einen Standort mit mir" in text
    for not_here in ("/ort", "/umfrage", "/einstellungen", "/abo", "/neu ", "/streichen"):
        assert not_here not in text


async def prepared(group: GroupChat, language: str) -> GroupChat:
    """A city group with three venues, a session (1), a series (1), an open poll and
    Carla's shared location: what the examples refer to."""
    if language == "de":
        await group.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
        add = "/ort add"
    else:
        await group.say("Anna", "/setup Duisburg | Europe/Berlin | en")
        add = "/venue add"
    await group.say("Anna", f"{add} Café Museum | 51.4344, 6.7623")
    await group.say("Anna", f"{add} Kö Lounge | 51.4330, 6.7650")
    await group.say("Anna", f"{add} Finkenkrug | 51.4290, 6.7900")
    await group.say("Ben", "/neu 12-16 Café Museum")
    await group.say("Ben", "/neu jeden di 9-13 Finkenkrug")
    await group.say("Ben", "/umfrage")
    await group.share("Anna", 51.43, 6.77)
    return group


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("spec", [s for s in COMMANDS if s.key != "help"], ids=lambda s: s.key)
async def test_the_examples_are_accepted(group: GroupChat, language: str, spec: object) -> None:
    """Each example, run as shown (by an admin), is not refused as bad input."""
    from chatbot.core.commands import CommandSpec

    assert isinstance(spec, CommandSpec)
    await prepared(group, language)
    t = Translator(language)
    names = {s.key: "/" + s.name(language) for s in COMMANDS}
    for example in spec.examples:
        line = t.gettext(example).format(command=names[spec.key], **names)
        private = spec.key in ("today", "tomorrow", "week") and " " in line
        actions = await group.say("Anna", line, private=private)
        texts = [a.text for a in actions if isinstance(a, SendText)]
        assert texts or any(isinstance(a, SendVenue) for a in actions), line
        for text in texts:
            assert "Beispiel:" not in text and "Example:" not in text, (line, text)


# --- /subscribe keeps what is not named ------------------------------------------------


async def subscription(repo: SqliteRepository, group: GroupChat, name: str) -> object:
    [sub] = await repo.people.subscriptions_of(group.person(name).ref)
    return sub


async def test_subscribe_changes_what_is_named_and_keeps_the_rest(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    await duisburg.share("Carla", 51.4344, 6.7623)
    assert "Nur im Umkreis von 2 km." in await duisburg.reply_text("Carla", "/abo 2")
    text = await duisburg.reply_text("Carla", "/abo ruhe 22-7")
    assert "Nur im Umkreis von 2 km." in text and "Keine von 22:00 bis 07:00." in text
    sub = await subscription(repo, duisburg, "Carla")
    assert sub.radius_km == 2 and sub.quiet is not None  # type: ignore[attr-defined]
    text = await duisburg.reply_text("Carla", "/abo ruhe aus")
    assert "Nur im Umkreis von 2 km." in text and "Keine von" not in text
    text = await duisburg.reply_text("Carla", "/abo überall")
    assert "Umkreis" not in text
    sub = await subscription(repo, duisburg, "Carla")
    assert sub.radius_km is None and sub.quiet is None  # type: ignore[attr-defined]


async def test_subscribe_alone_shows_the_subscription(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    first = await duisburg.reply_text("Carla", "/abo ruhe 22-7")
    assert "bekommt eine Direktnachricht" in first
    text = await duisburg.reply_text("Carla", "/abo")
    assert text.startswith("Du bekommst schon Pings aus Duisburg. Keine von 22:00 bis 07:00.")
    assert "/abo ruhe aus" in text and "/abo überall" in text and "/abbestellen" in text
    assert (await subscription(repo, duisburg, "Carla")).quiet is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize("typed", ["2 km", "2km", "2,0 km", "2000 m"])
async def test_subscribe_takes_a_radius_with_a_unit(duisburg: GroupChat, typed: str) -> None:
    await duisburg.share("Carla", 51.4344, 6.7623)
    assert "Nur im Umkreis von 2 km." in await duisburg.reply_text("Carla", f"/abo {typed}")


# --- one input grammar ----------------------------------------------------------------


def test_english_weekday_abbreviations_and_ranges_across_the_weeks_end() -> None:
    assert parse_weekdays("tu we th su") == (1, 2, 3, 6)
    assert parse_weekdays("fr-mo") == (0, 4, 5, 6)
    assert parse_weekdays("mo-su") == tuple(range(7))
    assert parse_weekdays("sa-so") == (5, 6)


async def test_poll_days_across_the_weeks_end_in_english(group: GroupChat) -> None:
    await group.say("Anna", "/setup Leeds | Europe/London | en")
    assert await group.reply_text("Anna", "/settings days mo-su") == (
        "Saved: poll days Mon, Tue, Wed, Thu, Fri, Sat, Sun."
    )


@pytest.mark.parametrize(
    ("typed", "km"),
    [("2", 2.0), ("2 km", 2.0), ("2km", 2.0), ("2,5 km", 2.5), ("500 m", 0.5), ("500m", 0.5)],
)
def test_distances_with_units(typed: str, km: float) -> None:
    assert parse_distance_km(typed) == km


@pytest.mark.parametrize("typed", ["", "km", "2 miles", "1e9", "١", "2 km km", "1000000"])
def test_what_is_no_distance(typed: str) -> None:
    assert parse_distance_km(typed) is None


async def test_nearby_and_the_settings_radius_take_units(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/naehe 500 m")
    [answer] = [a.text for a in await duisburg.share("Carla", 51.4344, 6.7623)]  # type: ignore[attr-defined]
    assert "im Umkreis von 500 m" in answer
    await duisburg.say("Carla", "/naehe 2km")
    [answer] = [a.text for a in await duisburg.share("Carla", 51.4344, 6.7623)]  # type: ignore[attr-defined]
    assert "im Umkreis von 2 km" in answer
    assert await duisburg.reply_text("Anna", "/einstellungen umkreis 2,5 km") == (
        "Gespeichert: Umkreis für die Suche in der Nähe 2,5 km."
    )


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("europe/berlin", "Europe/Berlin"),
        ("EUROPE/LONDON", "Europe/London"),
        ("New York", "America/New_York"),
        ("los angeles", "America/Los_Angeles"),
        ("Buenos Aires", "America/Argentina/Buenos_Aires"),
    ],
)
async def test_timezones_by_name_in_any_case_or_by_city(
    duisburg: GroupChat, typed: str, zone: str
) -> None:
    assert await duisburg.reply_text("Anna", f"/einstellungen zeitzone {typed}") == (
        f"Gespeichert: Zeitzone {zone}."
    )


@pytest.mark.parametrize("typed", ["CET", "MEZ", "EST", "PST", "GMT+1", "UTC-5"])
async def test_timezone_abbreviations_are_refused_with_a_zone_to_take(
    duisburg: GroupChat, typed: str
) -> None:
    text = await duisburg.reply_text("Anna", f"/einstellungen zeitzone {typed}")
    assert text.startswith(f"{typed} ist eine Zeitzonen-Abkürzung, keine Zone; nimm z. B. ")
    assert "Beispiel: /einstellungen zeitzone Europe/Berlin" in text
    # nothing stored
    assert "Zeitzone: Europe/Berlin" in await duisburg.reply_text("Ben", "/einstellungen")
