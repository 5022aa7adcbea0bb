"""The texts read as if a native speaker wrote them, in German and in English.

The catalogs are complete; German texts use German words (command names and accepted
input aside); no article is glued to a venue's name; counts that are not whole numbers
take the plural and are written the language's way; the settings view is made of
labelled, translated lines; /privacy tells the truth, and retention covers all of it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from chatbot.i18n import Translator, locales_dir
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import GroupChat, berlin

# English words a German reply must not contain ("Session" is a German loanword here,
# "Ping" too; command names after / or ! and {placeholders} are not looked at)
ENGLISH_WORDS = {
    "add",
    "edit",
    "remove",
    "delete",
    "poll",
    "polls",
    "join",
    "joins",
    "leave",
    "cancel",
    "cancelled",
    "venue",
    "venues",
    "every",
    "today",
    "here",
    "series",
    "settings",
    "public",
    "close",
    "days",
    "hours",
    "hour",
    "minutes",
    "duration",
    "timezone",
    "language",
    "weekly",
    "standing",
    "opened",
    "the",
    "and",
    "with",
    "please",
    "yes",
    "off",
    "on",
}
# placeholders that hold a venue's or a person's name: no article may precede them
NAME_PLACEHOLDERS = ("place", "venue", "name", "names")
GERMAN_ARTICLES = (
    "im|am|ans|ins|vom|zum|zur|beim|dem|den|der|die|das|des|ein|eine|einem|einen|einer|in"
)


def _catalog(language: str) -> list[Message]:
    path = locales_dir() / language / "LC_MESSAGES" / "chatbot.po"
    with path.open("rb") as handle:
        return [m for m in read_po(handle, locale=language) if m.id]


def _strings(message: Message) -> list[str]:
    value = message.string
    return [str(s) for s in value] if isinstance(value, tuple | list) else [str(value or "")]


def _words(text: str) -> list[str]:
    text = re.sub(r"\{\w*\}", " ", text)  # placeholders
    text = re.sub(r"[/!]\w+", " ", text)  # command names: /neu, !open
    return re.findall(r"[A-Za-zÄÖÜäöüß]+", text)


@pytest.mark.parametrize("language", ["de", "en"])
def test_no_message_is_untranslated_or_fuzzy(language: str) -> None:
    messages = _catalog(language)
    assert messages
    untranslated = [m.id for m in messages if not all(_strings(m))]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert (untranslated, fuzzy) == ([], [])


def test_german_texts_use_german_words() -> None:
    offenders = [
        (m.id, text, sorted(found))
        for m in _catalog("de")
        for text in _strings(m)
        if (found := {w for w in _words(text) if w.lower() in ENGLISH_WORDS})
    ]
    assert offenders == []


def test_the_english_word_check_sees_words_but_not_commands_or_placeholders() -> None:
    assert {w.lower() for w in _words("Bitte sag add, edit oder remove.")} >= {"add", "edit"}
    assert not {w.lower() for w in _words("Mit /poll {venue} und !cancel")} & {
        "poll",
        "venue",
        "cancel",
    }


@pytest.mark.parametrize("language", ["de", "en"])
def test_no_article_is_glued_to_a_venue_or_person_name(language: str) -> None:
    articles = GERMAN_ARTICLES if language == "de" else "the|a|an"
    glued = re.compile(rf"\b({articles})\s+\{{({'|'.join(NAME_PLACEHOLDERS)})\}}", re.IGNORECASE)
    offenders = [
        (m.id, text) for m in _catalog(language) for text in _strings(m) if glued.search(text)
    ]
    assert offenders == []


def test_the_article_check_catches_what_users_found() -> None:
    glued = re.compile(rf"\b({GERMAN_ARTICLES})\s+\{{(place|venue|name)\}}", re.IGNORECASE)
    assert glued.search("Feste Session: jeden {weekday}, {time} im {place}")
    assert glued.search("Die Serie am {weekday} im {place} ist beendet.")
    assert not glued.search("Serie: jeden {weekday}, {time}, {place}")
    assert not glued.search("{name} ist bei {place} doch nicht dabei.")


@pytest.mark.parametrize("language", ["de", "en"])
def test_one_word_each_for_leave_cancel_and_series(language: str) -> None:
    texts = [text for m in _catalog(language) for text in _strings(m)]
    if language == "de":
        # cancelling is "streichen"; "absagen" is what a joiner does (/absagen)
        forbidden = re.compile(
            r"\bAbgesagt\b|\bist abgesagt\b|\bwurde abgesagt\b|Reihe\b|"
            r"[Ww]öchentliche Session|Feste Session"
        )
    else:
        forbidden = re.compile(r"[Ss]tanding session|weekly session")
    assert [t for t in texts if forbidden.search(t)] == []


def test_counts_that_are_not_whole_take_the_plural_and_the_languages_decimal_sign() -> None:
    de, en = Translator("de"), Translator("en")
    assert de.hours(1) == "1 Stunde"
    assert de.hours(1.5) == "1,5 Stunden"
    assert de.hours(2.25) == "2,25 Stunden"
    assert en.hours(1) == "1 hour"
    assert en.hours(1.5) == "1.5 hours"
    assert de.duration(90) == "1,5 Stunden"
    assert de.duration(135) == "2 Stunden 15 Minuten"
    assert en.duration(90) == "1.5 hours"
    assert en.duration(135) == "2 hours 15 minutes"
    assert de.duration(45) == "45 Minuten"
    assert en.duration(60) == "1 hour"
    assert de.number(12345.5) == "12.345,5"
    assert en.number(12345.5) == "12,345.5"


@pytest.mark.parametrize(
    ("typed", "shown"),
    [("1,5", "1,5 Stunden"), ("2,25", "2 Stunden 15 Minuten"), ("1", "1 Stunde")],
)
async def test_the_settings_view_shows_the_duration_in_german(
    duisburg: GroupChat, typed: str, shown: str
) -> None:
    text = await duisburg.reply_text("Anna", f"/einstellungen dauer {typed}")
    assert text == f"Gespeichert: eine Session ohne Endzeit dauert {shown}."
    text = await duisburg.reply_text("Anna", "/einstellungen")
    assert f"Dauer einer Session ohne Endzeit: {shown} (ändern:" in text


@pytest.mark.parametrize(("typed", "shown"), [("1.5", "1.5 hours"), ("2.25", "2 hours 15 minutes")])
async def test_the_settings_view_shows_the_duration_in_english(
    group: GroupChat, typed: str, shown: str
) -> None:
    await group.say("Anna", "/setup Leeds | Europe/London | en")
    text = await group.reply_text("Anna", f"/settings duration {typed}")
    assert text == f"Saved: a session opened without an end lasts {shown}."
    text = await group.reply_text("Anna", "/settings")
    assert f"Length of a session opened without an end: {shown} (change:" in text


async def test_the_settings_view_is_made_of_translated_labels(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Ben", "/einstellungen")
    lines = text.splitlines()
    assert lines[0] == "Einstellungen von Duisburg:"
    assert "• Sprache: Deutsch (ändern: /einstellungen sprache en)" in lines
    assert "• Öffentlich gelistet (auch in der Umkreissuche anderer Städte): ja" in text
    assert "(ändern: /einstellungen öffentlich aus)" in text
    for raw_key in ("oeffentlich", "schluss:", "zeiten:", "umkreis:", "public"):
        assert raw_key not in text.lower()
    for line in lines[1:-1]:
        assert line.startswith("• ") and ": " in line and "(ändern: /einstellungen " in line


async def test_settings_accept_keys_with_umlaut_or_eszett(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Anna", "/einstellungen öffentlich aus")
    assert text == "Gespeichert: nicht öffentlich gelistet."
    text = await duisburg.reply_text("Anna", "/einstellungen Schluß 11:00")
    assert text == "Gespeichert: keine tägliche Orts-Umfrage (sie würde um 11:00 schließen)."
    text = await duisburg.reply_text("Anna", "/einstellungen")
    assert "Öffentlich gelistet (auch in der Umkreissuche anderer Städte): nein" in text
    assert "Umfrage schließt: 11:00" in text


async def test_privacy_after_forget_shows_nothing_stored(duisburg: GroupChat) -> None:
    await duisburg.say("Carla", "/abo")
    await duisburg.say("Carla", "/neu 10-14 Café Museum")
    assert "Anzeigename" in await duisburg.reply_text("Carla", "/datenschutz")
    await duisburg.say("Carla", "/vergessen")
    text = await duisburg.reply_text("Carla", "/datenschutz")
    assert text.startswith("Ich speichere nichts über dich.")
    # reading it twice stores nothing either
    assert (await duisburg.reply_text("Carla", "/datenschutz")).startswith(
        "Ich speichere nichts über dich."
    )


async def test_privacy_names_series_and_messages(duisburg: GroupChat) -> None:
    await duisburg.say("Carla", "/abo")
    await duisburg.say("Ben", "/neu jeden mi 9-12 Kö Lounge")
    await duisburg.say("Ben", "/neu 13-17 Café Museum")  # a ping for Carla
    ben = await duisburg.reply_text("Ben", "/datenschutz")
    assert "1 Serie, die du angelegt hast" in ben
    carla = await duisburg.reply_text("Carla", "/datenschutz")
    assert "1 Direktnachricht an dich (Ping oder Erinnerung), gesendet oder wartend" in carla
    assert "nach 90 Tagen gelöscht" in carla


async def test_retention_covers_openers_messages_and_names(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    await duisburg.say("Carla", "/abo")
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Dana", "/dabei")
    ben = duisburg.person("Ben").ref
    dana = duisburg.person("Dana").ref
    carla = duisburg.person("Carla").ref
    assert (await repo.people.personal_data(ben))["sessions_opened"] == 1
    assert (await repo.people.personal_data(carla))["messages"] == 1
    duisburg.clock.set(berlin("2027-03-01 12:00"))  # more than 90 days later
    await duisburg.bot.tick()
    assert not any((await repo.people.personal_data(ben)).values())
    assert not any((await repo.people.personal_data(dana)).values())
    carla_data = await repo.people.personal_data(carla)
    # Carla still gets pings: her subscription (and name) stay, the old message went
    assert (carla_data["subscriptions"], carla_data["messages"]) == (1, 0)
    rows = await (await repo.db.execute("SELECT opener_name FROM sessions")).fetchall()
    assert [r[0] for r in rows] == [""]


def test_the_catalog_files_exist() -> None:
    for language in ("de", "en"):
        assert Path(locales_dir() / language / "LC_MESSAGES" / "chatbot.po").exists()
