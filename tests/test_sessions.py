"""Core use cases: open, join, leave, cancel and today's list, on a real SQLite file."""

from __future__ import annotations

import pytest

from chatbot.core.actions import SendText
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import GroupChat, berlin


async def count(repo: SqliteRepository, table: str) -> int:
    async with repo.db.execute(f"SELECT COUNT(*) FROM {table}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_open_posts_the_session_with_a_join_button(duisburg: GroupChat) -> None:
    actions = await duisburg.say("Ben", "/neu 10-14 Café Museum - Steuererklärung")
    [message] = actions
    assert isinstance(message, SendText)
    assert "Café Museum" in message.text
    assert "10:00–14:00" in message.text
    assert "Ben" in message.text
    assert "Steuererklärung" in message.text
    [button, where] = message.buttons
    assert (where.command, where.args) == ("where", "s1")
    # the button carries the session's identity, not a position in a list
    assert (button.command, button.args, button.command_name) == ("join", "s1", "dabei")


async def test_venue_and_time_come_in_either_order(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu Kö Lounge 9:30")
    text = await duisburg.reply_text("Ben", "/heute")
    # without an end, a session lasts the group's default duration (4 hours)
    assert "1. Kö Lounge, 09:30–13:30" in text


async def test_venue_by_number_from_the_venue_list(duisburg: GroupChat) -> None:
    venues = await duisburg.reply_text("Ben", "/orte")
    # sorted by name, each with the number it was given when it was added
    assert venues.splitlines()[1:] == [
        "1. Café Museum · Königstraße 1 · WLAN",
        "3. Finkenkrug · ruhig · Essen",
        "2. Kö Lounge",
    ]
    await duisburg.say("Ben", "/neu 3 10-12")
    assert "1. Finkenkrug, 10:00–12:00" in await duisburg.reply_text("Ben", "/heute")


async def test_venue_name_forgives_accents_and_case(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-12 cafe museum")
    assert "Café Museum" in await duisburg.reply_text("Ben", "/heute")


async def test_unknown_venue_suggests_the_closest_and_stores_nothing(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    text = await duisburg.reply_text("Ben", "/neu 10-12 Museun")
    assert "„Museun“" in text
    assert "Meintest du: Café Museum?" in text
    assert "Beispiel: /neu 10-14 Café Museum" in text
    assert await count(repo, "sessions") == 0


async def test_impossible_time_is_rejected_with_an_example(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    text = await duisburg.reply_text("Ben", "/neu 25:99 Café Museum")
    assert "„25:99“ ist keine Uhrzeit" in text
    assert "Beispiel: /neu" in text
    text = await duisburg.reply_text("Ben", "/neu 14-10 Café Museum")
    assert "„14-10“ ist kein Zeitraum" in text
    assert await count(repo, "sessions") == 0


async def test_a_session_already_over_is_refused(duisburg: GroupChat) -> None:
    duisburg.clock.set(berlin("2026-11-30 15:00"))
    text = await duisburg.reply_text("Ben", "/neu 9-13 Café Museum")
    assert "schon vorbei" in text


async def test_without_a_time_the_session_runs_from_now(duisburg: GroupChat) -> None:
    duisburg.clock.set(berlin("2026-11-30 10:07"))
    await duisburg.say("Ben", "/neu Café Museum")
    assert "10:05–14:05" in await duisburg.reply_text("Ben", "/heute")


async def test_group_default_hours_apply_when_no_time_is_given(duisburg: GroupChat) -> None:
    await duisburg.say("Anna", "/einstellungen zeiten 9-13")
    await duisburg.say("Ben", "/neu Café Museum")
    assert "09:00–13:00" in await duisburg.reply_text("Ben", "/heute")


async def test_today_lists_sessions_in_start_order_with_joiners_and_topic(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Ben", "/neu 13-17 Kö Lounge")
    await duisburg.say("Carla", "/neu 9-12 Café Museum - Buchhaltung")
    # each session keeps the number it was announced with: Carla's is 2
    await duisburg.say("Dana", "/dabei 2")
    await duisburg.say("Ben", "/dabei 2")
    actions = await duisburg.say("Dana", "/heute")
    [message] = actions
    assert isinstance(message, SendText)
    assert message.text.splitlines() == [
        "Heute in Duisburg, Montag, 30. November",
        "",
        "2. Café Museum, 09:00–12:00",
        "   Königstraße 1",
        "   eröffnet von Carla",
        "   3 dabei: Carla, Dana, Ben",  # the opener counts
        "   Thema: Buchhaltung",
        "",
        "1. Kö Lounge, 13:00–17:00",
        "   eröffnet von Ben",
    ]
    assert [(b.label, b.args) for b in message.buttons] == [
        ("Dabei bei 2", "s2"),
        ("Dabei bei 1", "s1"),
    ]


async def test_today_without_sessions_says_how_to_open_one(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Ben", "/heute")
    assert "Noch keine Sessions" in text
    assert "/neu 10-14 Café Museum" in text


async def test_join_without_number_takes_the_only_session(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    text = await duisburg.reply_text("Carla", "/dabei")
    assert text == "Carla ist dabei: Café Museum, 10:00–14:00."
    assert "2 dabei: Ben, Carla" in await duisburg.reply_text("Ben", "/heute")


async def test_join_twice_or_own_session_changes_nothing(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei 1")
    assert "schon dabei" in await duisburg.reply_text("Carla", "/dabei 1")
    assert "eröffnet" in await duisburg.reply_text("Ben", "/dabei 1")
    assert "2 dabei: Ben, Carla" in await duisburg.reply_text("Ben", "/heute")


async def test_join_needs_a_number_when_there_are_several(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/neu 10-14 Kö Lounge")
    text = await duisburg.reply_text("Dana", "/dabei")
    assert "2 Sessions" in text and "Beispiel: /dabei 1" in text
    assert "keine Session Nummer 5" in await duisburg.reply_text("Dana", "/dabei 5")


async def test_leave_removes_the_person(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei")
    await duisburg.say("Dana", "/dabei")
    text = await duisburg.reply_text("Carla", "/absagen")
    assert text == "Carla ist bei Café Museum doch nicht dabei."
    assert "2 dabei: Ben, Dana" in await duisburg.reply_text("Ben", "/heute")
    assert "bei keiner Session" in await duisburg.reply_text("Carla", "/absagen")


async def test_opener_cannot_leave_but_is_pointed_to_cancel(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    assert "/streichen" in await duisburg.reply_text("Ben", "/absagen")


async def test_cancel_tells_the_joiners(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei")
    await duisburg.say("Dana", "/dabei")
    reminders = await duisburg.pending("reminder")
    assert sorted(m.person.id for m in reminders) == ["carla", "dana"]
    actions = await duisburg.say("Ben", "/streichen")
    group_posts = [a for a in actions if isinstance(a, SendText)]
    assert len(group_posts) == 1 and "Café Museum" in group_posts[0].text
    assert "Carla, Dana" in group_posts[0].text
    # the joiners are told through the outbox (durable), and their reminders are gone
    notices = await duisburg.pending("cancelled")
    assert sorted(m.person.id for m in notices) == ["carla", "dana"]
    assert all("Café Museum" in m.text and "Ben" in m.text for m in notices)
    assert await duisburg.pending("reminder") == []
    assert "Noch keine Sessions" in await duisburg.reply_text("Ben", "/heute")


async def test_only_opener_or_admin_may_cancel(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    assert "Nur wer die Session eröffnet hat" in await duisburg.reply_text("Carla", "/streichen 1")
    assert "1. Café Museum" in await duisburg.reply_text("Carla", "/heute")
    assert "gestrichen" in await duisburg.reply_text("Anna", "/streichen 1")  # Anna is admin


async def test_sessions_end_by_themselves_after_their_end(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    await duisburg.say("Ben", "/neu 9-11 Café Museum")
    await duisburg.say("Ben", "/neu 10-16 Kö Lounge")
    duisburg.clock.set(berlin("2026-11-30 11:30"))
    await duisburg.bot.tick()
    text = await duisburg.reply_text("Ben", "/heute")
    assert "2. Kö Lounge" in text and "Café Museum" not in text
    async with repo.db.execute("SELECT place, state FROM sessions ORDER BY id") as cursor:
        rows = [tuple(r) for r in await cursor.fetchall()]
    assert rows == [("Café Museum", "ended"), ("Kö Lounge", "open")]


async def test_yesterdays_sessions_are_not_today(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 20-23 Café Museum")
    duisburg.clock.set(berlin("2026-12-01 08:00"))
    assert "Noch keine Sessions" in await duisburg.reply_text("Ben", "/heute")


async def test_english_group_speaks_english(group: GroupChat) -> None:
    await group.say("Anna", "/setup Leeds | Europe/London | en")
    await group.say("Anna", "/venue add Northern Bloc | 53.80, -1.55")
    await group.say("Ben", "/open 10-14 Northern Bloc - taxes")
    await group.say("Carla", "/join")
    text = await group.reply_text("Carla", "/today")
    assert text.splitlines() == [
        "Today in Leeds, Monday, November 30",
        "",
        "1. Northern Bloc, 10:00\u202fAM–2:00\u202fPM",  # CLDR: narrow no-break space
        "   opened by Ben",
        "   2 coming: Ben, Carla",
        "   Topic: taxes",
    ]


async def test_german_and_english_names_work_in_any_group(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/open 10-14 Café Museum")
    await duisburg.say("Carla", "/join")
    # the group is German: replies are German and name the German commands
    assert "2 dabei: Ben, Carla" in await duisburg.reply_text("Ben", "/today")
    assert "/heute" in await duisburg.reply_text("Ben", "/help")


async def test_commands_before_setup_explain_how_to_set_up(group: GroupChat) -> None:
    text = await group.reply_text("Ben", "/heute")
    assert "noch keine Stadtgruppe" in text
    assert "/einrichten Duisburg | Europe/Berlin | de" in text


async def test_unknown_command_points_to_help(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Ben", "/tanzen@bot")
    assert "/tanzen" in text and "/hilfe" in text
    # in a private chat every command is for the bot
    text = await duisburg.reply_text("Ben", "/tanzen", private=True)
    assert "/tanzen" in text and "/hilfe" in text


async def test_another_bots_command_in_the_group_gets_no_answer(duisburg: GroupChat) -> None:
    """A group with a second bot: its commands ("!remind", "/poll new") are not ours."""
    assert await duisburg.say("Ben", "/remind me in 1h") == []
    assert await duisburg.say("Ben", "/tanzen") == []


@pytest.mark.parametrize("command", ['/umfrage new "Wohin?"', "/poll new x", "/orte alle"])
async def test_a_command_without_arguments_refuses_some_with_its_usage(
    duisburg: GroupChat, command: str
) -> None:
    text = await duisburg.reply_text("Anna", command)
    assert "kommt nichts weiter" in text and " – " in text  # the usage follows
    assert await duisburg.bot.repo.polls.open_polls() == []  # no poll was opened


async def test_a_crash_in_a_handler_is_an_apology_and_the_next_command_works(
    duisburg: GroupChat, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from chatbot.core import bot as bot_module

    async def broken(ctx: object, args: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setitem(bot_module.HANDLERS, "today", broken)
    text = await duisburg.reply_text("Ben", "/heute")
    assert "etwas schiefgegangen" in text
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)
    monkeypatch.undo()
    assert "Noch keine Sessions" in await duisburg.reply_text("Ben", "/heute")


async def test_private_chat_commands_point_to_the_group(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Ben", "/neu 10-14 Café Museum", private=True)
    assert "privater Chat" in text
    # /heute there asks which publicly listed city (a visitor plans a trip)
    text = await duisburg.reply_text("Ben", "/heute", private=True)
    assert "Welche Stadt?" in text and "Duisburg" in text


async def test_a_database_failure_while_loading_the_chat_is_an_apology(
    duisburg: GroupChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(chat: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(duisburg.bot.repo.cities, "group_for_chat", broken)
    text = await duisburg.reply_text("Ben", "/heute")
    assert "etwas schiefgegangen" in text
    monkeypatch.undo()
    assert "Noch keine Sessions" in await duisburg.reply_text("Ben", "/heute")


async def test_a_session_number_in_a_group_that_is_no_city_yet_says_so(group: GroupChat) -> None:
    """Not "here in our private chat": the group is told it is no city group yet."""
    for command in ("/dabei 1", "/absagen 1", "/streichen 1", "/wo 1"):
        text = await group.reply_text("Ben", command)
        assert "noch keine Stadtgruppe" in text, (command, text)
        assert "privaten Chat" not in text
