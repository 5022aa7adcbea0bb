"""One city in two chats on two platforms (#16): a Telegram group and a Matrix room
linked with a one-time code share one state, and the city's news is posted in both, in
each platform's command syntax (core, real SQLite, fake clock)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from chatbot.core.actions import Action, ClosePoll, SendPoll, SendText
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.context import Capabilities
from chatbot.core.events import ChatRef
from chatbot.core.handlers.linking import CODE_ALPHABET, normalize_code
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import FakeAdmins, GroupChat, berlin

TELEGRAM = ChatRef("telegram", "-1001234")
MATRIX = ChatRef("matrix", "!ruhr:example.org")
CODE_RE = re.compile(r"\b[A-Z2-9]{3}-[A-Z2-9]{3}\b")


def texts_to(actions: list[Action], chat: ChatRef) -> list[str]:
    return [a.text for a in actions if isinstance(a, SendText) and a.chat == chat]


@pytest.fixture
def tg(bot: Bot, clock: FakeClock) -> GroupChat:
    """The Telegram group; Anna is its admin."""
    bot.register("telegram", Capabilities("/"))
    bot.register("matrix", Capabilities("!"))
    return GroupChat(bot, clock, FakeAdmins({"Anna"}), TELEGRAM, title="Coworking Duisburg")


@pytest.fixture
def mx(bot: Bot, clock: FakeClock) -> GroupChat:
    """The Matrix room; Mia is its admin (Anna is not)."""
    bot.register("telegram", Capabilities("/"))
    bot.register("matrix", Capabilities("!"))
    return GroupChat(bot, clock, FakeAdmins({"Mia"}), MATRIX, title="Coworking Ruhr")


@pytest.fixture
async def duisburg_tg(tg: GroupChat) -> GroupChat:
    await tg.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
    await tg.say("Anna", "/ort add Café Museum | 51.4344, 6.7623")
    await tg.say("Anna", "/ort add Kö Lounge | 51.4330, 6.7650")
    return tg


async def code_from(chat: GroupChat, admin: str = "Anna") -> str:
    reply = await chat.reply_text(admin, "/verbinden")
    found = CODE_RE.search(reply)
    assert found, reply
    return found.group(0)


@pytest.fixture
async def linked(duisburg_tg: GroupChat, mx: GroupChat) -> tuple[GroupChat, GroupChat]:
    code = await code_from(duisburg_tg)
    await mx.say("Mia", f"/verbinden {code}")
    return duisburg_tg, mx


def test_codes_are_short_unambiguous_and_read_forgivingly() -> None:
    assert not set("01IOL") & set(CODE_ALPHABET)
    assert normalize_code("k7m 4qx") == normalize_code("K7M-4QX") == "K7M4QX"
    assert normalize_code("K7M-4Q") is None
    assert normalize_code("K0M-4QX") is None  # a zero is never in a code


async def test_a_code_links_a_matrix_room_into_the_telegram_city(
    duisburg_tg: GroupChat, mx: GroupChat
) -> None:
    reply = await duisburg_tg.reply_text("Anna", "/verbinden")
    code = CODE_RE.search(reply)
    assert code is not None
    assert reply.splitlines()[0] == f"Verbindungscode für Duisburg: {code.group(0)}"
    assert "15 Minuten" in reply
    assert f"/verbinden {code.group(0)} (in einem Matrix-Raum: !verbinden {code.group(0)})" in reply

    actions = await mx.say("Mia", f"/verbinden {code.group(0).lower().replace('-', ' ')}")
    [here] = texts_to(actions, MATRIX)
    assert here.splitlines()[0] == (
        "Dieser Chat gehört jetzt zur Stadt Duisburg: Matrix: Coworking Ruhr (dieser Chat),"
        " Telegram: Coworking Duisburg."
    )
    assert "!heute" in here
    [told] = texts_to(actions, TELEGRAM)
    assert told.startswith("Matrix: Coworking Ruhr gehört jetzt zu Duisburg")
    assert "!trennen" in told  # typed in the Matrix room, so in its syntax

    # one state: the same venues and settings from both chats
    assert "Café Museum" in await mx.reply_text("Nils", "/orte")
    settings = await mx.reply_text("Nils", "/einstellungen")
    assert settings.startswith("Einstellungen von Duisburg:")
    assert (
        "Chats dieser Stadt: Matrix: Coworking Ruhr (dieser Chat), Telegram: Coworking Duisburg"
        in settings
    )
    assert "!verbinden" in settings and "!trennen" in settings
    assert "Telegram: Coworking Duisburg (dieser Chat)" in await duisburg_tg.reply_text(
        "Ben", "/einstellungen"
    )


async def test_a_session_opened_on_one_side_is_announced_and_listed_on_the_other(
    linked: tuple[GroupChat, GroupChat],
) -> None:
    tg, mx = linked
    actions = await tg.say("Ben", "/neu 10-14 Café Museum")
    [on_telegram] = texts_to(actions, TELEGRAM)
    [on_matrix] = texts_to(actions, MATRIX)
    assert on_telegram.startswith("Neue Session 1: Café Museum, 10:00–14:00")
    assert "/dabei 1" in on_telegram
    assert on_matrix.startswith("Neue Session 1: Café Museum, 10:00–14:00")
    assert "!dabei 1" in on_matrix and "/dabei" not in on_matrix
    assert "Café Museum" in await mx.reply_text("Nils", "/heute")

    # a join on Matrix is answered there and shows on Telegram
    actions = await mx.say("Nils", "/dabei 1")
    assert texts_to(actions, MATRIX) == ["Nils ist dabei: Café Museum, 10:00–14:00."]
    assert texts_to(actions, TELEGRAM) == [
        "Nils ist bei Session 1 dabei (Café Museum, 10:00–14:00)."
    ]
    today = await tg.reply_text("Carla", "/heute")
    assert "Nils" in today and "Ben" in today

    # opened on Matrix: announced on Telegram in its syntax
    actions = await mx.say("Nils", "/neu 15-18 Kö Lounge")
    [on_telegram] = texts_to(actions, TELEGRAM)
    assert on_telegram.startswith("Neue Session 2: Kö Lounge, 15:00–18:00, eröffnet von Nils")
    assert "/dabei 2" in on_telegram

    # a cancellation and a change are news in both chats too
    actions = await mx.say("Nils", "/aendern 2 16-18")
    assert len(texts_to(actions, TELEGRAM)) == len(texts_to(actions, MATRIX)) == 1
    actions = await tg.say("Anna", "/streichen 2")
    assert "gestrichen" in texts_to(actions, MATRIX)[0]
    assert "gestrichen" in texts_to(actions, TELEGRAM)[0]


async def test_a_subscriber_on_either_platform_is_pinged_for_a_session_opened_on_the_other(
    linked: tuple[GroupChat, GroupChat],
) -> None:
    tg, mx = linked
    await tg.say("Carla", "/hilfe", private=True)  # Telegram: a private chat first
    await tg.say("Carla", "/abo")
    await mx.say("Nils", "/abo")
    await mx.say("Mia", "/neu 10-14 Café Museum")
    [ping] = await tg.pending("ping")
    assert ping.person == tg.person("Carla").ref
    assert ping.text.startswith("Neue Session in Duisburg: Café Museum, 10:00–14:00")
    assert await mx.pending("ping") != []  # Nils, on Matrix, too: not the opener Mia
    [matrix_ping] = await mx.pending("ping")
    assert matrix_ping.person == mx.person("Nils").ref

    await tg.say("Ben", "/neu 15-18 Kö Lounge")
    pinged = {m.person for m in await mx.pending("ping")}
    assert mx.person("Nils").ref in pinged


async def test_the_poll_runs_in_both_chats_and_counts_each_person_once(
    linked: tuple[GroupChat, GroupChat],
) -> None:
    tg, mx = linked
    tg.clock.set(berlin("2026-11-30 08:00"))
    actions = await mx.say("Nils", "/umfrage")
    polls = [a for a in actions if isinstance(a, SendPoll)]
    assert {p.chat for p in polls} == {TELEGRAM, MATRIX}
    assert len({p.poll_key for p in polls}) == 1
    on_matrix = next(p for p in polls if p.chat == MATRIX)
    on_telegram = next(p for p in polls if p.chat == TELEGRAM)
    assert "!stimme N" in on_matrix.question and "/stimme N" in on_telegram.question
    key = polls[0].poll_key
    museum = on_matrix.options.index("1. Café Museum")

    await tg.vote("Ben", key, 1 - museum)  # Ben changes his mind: the latest vote counts
    await tg.vote("Ben", key, museum)
    await tg.say("Ben", "/stimme 1")  # the text path too: still one vote
    await mx.vote("Nils", key, museum)
    await mx.vote("Ben", key, 1 - museum)  # a Matrix "Ben" is another person

    actions = await tg.say("Anna", "/schliessen")
    assert {a.chat for a in actions if isinstance(a, ClosePoll)} == {TELEGRAM, MATRIX}
    [result_tg] = texts_to(actions, TELEGRAM)
    [result_mx] = texts_to(actions, MATRIX)
    for result in (result_tg, result_mx):
        assert result.startswith("Die Umfrage ist geschlossen: Café Museum gewinnt mit 2 Stimmen.")
        assert "Stimmen: Café Museum 2, Kö Lounge 1" in result
        assert "Dabei: Ben, Nils." in result


async def test_the_scheduled_poll_is_posted_and_closed_in_every_chat(
    linked: tuple[GroupChat, GroupChat],
) -> None:
    tg, mx = linked
    await tg.say("Anna", "/einstellungen umfrage 8:00")
    actions = await tg.advance(berlin("2026-12-01 08:01"))
    polls = [a for a in actions if isinstance(a, SendPoll)]
    assert {p.chat for p in polls} == {TELEGRAM, MATRIX}
    await mx.vote("Nils", polls[0].poll_key, 0)
    actions = await tg.advance(berlin("2026-12-01 10:01"))
    assert {a.chat for a in actions if isinstance(a, ClosePoll)} == {TELEGRAM, MATRIX}
    assert len(texts_to(actions, TELEGRAM)) == len(texts_to(actions, MATRIX)) == 1


async def test_wrong_expired_reused_codes_and_non_admins_are_refused(
    duisburg_tg: GroupChat, mx: GroupChat, repo: SqliteRepository
) -> None:
    async def chats_of_duisburg() -> int:
        group = await repo.cities.group_for_chat(TELEGRAM)
        assert group is not None
        return len(await repo.cities.chats_of_group(group.id))

    # only an admin gets a code
    assert "nur die Admins" in await duisburg_tg.reply_text("Ben", "/verbinden")
    code = await code_from(duisburg_tg)
    # only an admin of the other chat uses it; the code stays valid
    assert "nur die Admins" in await mx.reply_text("Nils", f"/verbinden {code}")
    assert "nur die Admins" in await mx.reply_text("Anna", f"/verbinden {code}")
    wrong = await mx.reply_text("Mia", "/verbinden hallo")
    assert wrong.startswith("„hallo“ ist kein Verbindungscode.")
    assert "Beispiel: !verbinden K7M-4QX" in wrong
    unknown = await mx.reply_text("Mia", "/verbinden ABC-DEF")
    assert unknown.startswith("Den Verbindungscode ABC-DEF kenne ich nicht.")
    assert "!verbinden dort" in unknown
    assert "privaten Chat" not in await mx.reply_text("Mia", "/hilfe verbinden")
    private = await mx.reply_text("Mia", f"/verbinden {code}", private=True)
    assert "Gruppenchat" in private
    assert await chats_of_duisburg() == 1

    # expired after 15 minutes
    mx.clock.set(mx.clock.now() + timedelta(minutes=15, seconds=1))
    expired = await mx.reply_text("Mia", f"/verbinden {code}")
    assert expired.startswith("Dieser Verbindungscode ist abgelaufen")
    assert await chats_of_duisburg() == 1

    # used once, then refused
    fresh = await code_from(duisburg_tg)
    await mx.say("Mia", f"/verbinden {fresh}")
    assert await chats_of_duisburg() == 2
    third = GroupChat(mx.bot, mx.clock, FakeAdmins({"Olga"}), ChatRef("matrix", "!third:x"))
    reused = await third.reply_text("Olga", f"/verbinden {fresh}")
    assert reused.startswith("Dieser Verbindungscode wurde schon benutzt")
    assert await chats_of_duisburg() == 2
    # linking a chat that is in the city already
    again = await code_from(duisburg_tg)
    assert "gehört schon zu Duisburg" in await mx.reply_text("Mia", f"/verbinden {again}")

    # a chat that is no city group asks for a code: it is told how linking works
    told = await third.reply_text("Olga", "/verbinden")
    assert "noch keine Stadtgruppe" in told and "!verbinden CODE hier" in told


async def test_a_chat_with_its_own_sessions_cannot_join_another_city(
    duisburg_tg: GroupChat, mx: GroupChat, repo: SqliteRepository
) -> None:
    await mx.say("Mia", "/einrichten Ruhr")
    await mx.say("Mia", "/ort add Bahnhof | 51.43, 6.77")
    await mx.say("Nils", "/neu 10-14 Bahnhof")
    code = await code_from(duisburg_tg)
    refused = await mx.reply_text("Mia", f"/verbinden {code}")
    assert refused.startswith("Dieser Chat ist schon die Stadtgruppe Ruhr")
    assert "nicht zusammenlegen" in refused
    ruhr = await repo.cities.group_for_chat(MATRIX)
    assert ruhr is not None and ruhr.name == "Ruhr"
    assert "Bahnhof" in await mx.reply_text("Nils", "/heute")


async def test_a_city_group_without_sessions_joins_and_its_empty_group_goes(
    duisburg_tg: GroupChat, mx: GroupChat, repo: SqliteRepository
) -> None:
    await mx.say("Mia", "/einrichten Ruhr")
    await mx.say("Mia", "/ort add Bahnhof | 51.43, 6.77")
    ruhr = await repo.cities.group_for_chat(MATRIX)
    assert ruhr is not None
    code = await code_from(duisburg_tg)
    joined = await mx.reply_text("Mia", f"/verbinden {code}")
    assert "gehört nicht mehr zu Ruhr" in joined
    assert await repo.cities.group(ruhr.id) is None
    venues = await mx.reply_text("Nils", "/orte")
    assert "Café Museum" in venues and "Bahnhof" not in venues


async def test_unlinking_stops_the_announcements_and_the_city_keeps_its_data(
    linked: tuple[GroupChat, GroupChat], repo: SqliteRepository
) -> None:
    tg, mx = linked
    await mx.say("Nils", "/neu 10-14 Café Museum")
    assert "nur die Admins" in await mx.reply_text("Nils", "/trennen")
    # another bot's syntax is not an unlink: the usage, and nothing changes
    assert "!trennen" in await mx.reply_text("Mia", "/trennen alles")
    assert await repo.cities.group_for_chat(MATRIX) is not None
    actions = await mx.say("Mia", "/trennen")
    [here] = texts_to(actions, MATRIX)
    assert here.startswith("Dieser Chat hat die Stadt Duisburg verlassen.")
    assert "Telegram: Coworking Duisburg" in here
    [told] = texts_to(actions, TELEGRAM)
    assert told == (
        "Matrix: Coworking Ruhr hat Duisburg verlassen; ihre Neuigkeiten werden dort nicht"
        " mehr gepostet."
    )
    assert await repo.cities.group_for_chat(MATRIX) is None

    actions = await tg.say("Ben", "/neu 15-18 Kö Lounge")
    assert texts_to(actions, MATRIX) == []
    assert len(texts_to(actions, TELEGRAM)) == 1
    today = await tg.reply_text("Ben", "/heute")
    assert "Café Museum" in today  # the session opened from Matrix stays with the city
    assert "noch keine Stadtgruppe" in await mx.reply_text("Nils", "/heute")

    # the last chat of a city cannot leave it
    last = await tg.reply_text("Anna", "/trennen")
    assert last.startswith("Das ist der einzige Chat von Duisburg")
    assert await repo.cities.group_for_chat(TELEGRAM) is not None


async def test_unlinking_closes_the_native_poll_in_that_chat(
    linked: tuple[GroupChat, GroupChat],
) -> None:
    tg, mx = linked
    await tg.say("Ben", "/umfrage")
    actions = await mx.say("Mia", "/trennen")
    assert [a.chat for a in actions if isinstance(a, ClosePoll)] == [MATRIX]
    actions = await tg.say("Anna", "/schliessen")
    assert {a.chat for a in actions if isinstance(a, ClosePoll)} == {TELEGRAM}


async def test_privacy_and_forget_are_right_in_a_linked_city(
    linked: tuple[GroupChat, GroupChat],
) -> None:
    tg, mx = linked
    await mx.say("Nils", "/neu 10-14 Café Museum")
    await tg.say("Ben", "/dabei 1")
    privacy = await mx.reply_text("Nils", "/datenschutz")
    assert "1 Session, die du eröffnet hast" in privacy
    actions = await mx.say("Nils", "/vergessen")
    # the session passes to Ben (on Telegram), and both chats hear of it without the name
    for chat in (TELEGRAM, MATRIX):
        [notice] = [t for t in texts_to(actions, chat) if t.startswith("Jemand")]
        assert "Nils" not in notice
    assert "Ich speichere nichts über dich." in await mx.reply_text("Nils", "/datenschutz")
    # Ben on Telegram still has his data
    assert "1 Session" in await tg.reply_text("Ben", "/datenschutz")
