"""A group can trust what the bot shows: numbers keep naming one thing, nothing is
cancelled silently, no duplicates (core, real SQLite, fake clock)."""

from __future__ import annotations

from chatbot.core.actions import SendPoll, SendText
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import GroupChat, berlin


def texts(actions: list[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, SendText)]


async def test_venue_numbers_are_never_reused_or_renumbered(duisburg: GroupChat) -> None:
    # Café Museum 1, Kö Lounge 2, Finkenkrug 3 (the fixture adds them in that order)
    assert "Ort 3 entfernt: Finkenkrug." in await duisburg.reply_text("Anna", "/ort remove 3")
    added = await duisburg.reply_text("Anna", "/ort add Altes Bahnhöfchen | 51.43, 6.77")
    assert added == "Ort 4 hinzugefügt: Altes Bahnhöfchen."  # not 3 again
    venues = (await duisburg.reply_text("Ben", "/orte")).splitlines()[1:]
    assert venues == [
        "4. Altes Bahnhöfchen",
        "1. Café Museum · Königstraße 1 · WLAN",
        "2. Kö Lounge",
    ]
    # an edit by number after an add hits the venue the admin meant
    await duisburg.say("Anna", "/ort edit 2 adresse Kuhstraße 5")
    assert "2. Kö Lounge · Kuhstraße 5" in await duisburg.reply_text("Ben", "/orte")


async def test_a_join_button_keeps_naming_its_session_when_an_earlier_one_opens(
    duisburg: GroupChat,
) -> None:
    [announcement] = await duisburg.say("Ben", "/neu 14-18 Kö Lounge")
    assert isinstance(announcement, SendText)
    button = announcement.buttons[0]
    await duisburg.say("Carla", "/neu 9-13 Café Museum")  # starts earlier: listed first
    # the late press of Ben's button joins Ben's session, not the first in the list
    joined = await duisburg.reply_text("Dana", f"/{button.command_name} {button.args}")
    assert joined == "Dana ist dabei: Kö Lounge, 14:00–18:00."
    # and the number printed with it, too
    assert "Kö Lounge" in await duisburg.reply_text("Emil", "/dabei 1")


async def test_a_cancelled_sessions_number_is_not_given_to_another_that_day(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Ben", "/streichen 1")
    [announcement] = texts(await duisburg.say("Carla", "/neu 10-14 Kö Lounge"))
    assert announcement.startswith("Neue Session 2:")
    assert "gestrichen" in await duisburg.reply_text("Dana", "/dabei 1")
    # the next day, numbers start again from 1
    duisburg.clock.set(berlin("2026-12-01 08:00"))
    [tomorrow] = texts(await duisburg.say("Ben", "/neu 10-14 Café Museum"))
    assert tomorrow.startswith("Neue Session 1:")


async def test_opening_the_same_venue_at_an_overlapping_time_points_to_the_session(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    for _ in range(3):
        refused = await duisburg.reply_text("Ben", "/neu 11-13 Café Museum")
        assert "1. Café Museum, 10:00–14:00" in refused
    other = await duisburg.reply_text("Carla", "/neu 12-16 Café Museum")
    assert "/dabei 1" in other
    # after it, or at another venue, is fine
    assert (await duisburg.reply_text("Carla", "/neu 14-18 Café Museum")).startswith(
        "Neue Session 2"
    )
    assert (await duisburg.reply_text("Dana", "/neu 10-14 Kö Lounge")).startswith("Neue Session 3")
    rows = await repo.db.execute_fetchall("SELECT COUNT(*) FROM sessions")
    assert list(rows)[0][0] == 3


async def test_leaving_and_joining_again_keeps_one_reminder(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei 1")
    await duisburg.say("Carla", "/absagen 1")
    assert await duisburg.pending("reminder") == []
    await duisburg.say("Carla", "/dabei 1")
    [reminder] = await duisburg.pending("reminder")
    assert reminder.person.id == "carla" and "Café Museum" in reminder.text


async def test_a_visitor_leaves_from_the_private_chat_what_they_joined_there(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    joined = await duisburg.reply_text("Vera", "/dabei s1", private=True)
    assert "Vera ist dabei" in joined
    left = await duisburg.reply_text("Vera", "/absagen", private=True)
    assert "Vera ist bei Café Museum doch nicht dabei" in left
    await duisburg.say("Vera", "/dabei s1", private=True)
    assert "doch nicht dabei" in await duisburg.reply_text("Vera", "/absagen s1", private=True)


async def test_a_pings_button_works_for_a_subscriber_of_a_group_that_is_not_public(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Anna", "/einstellungen öffentlich aus")
    await duisburg.say("Carla", "/abo")
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    [ping] = await duisburg.pending("ping")
    [(_, command, args, _)] = ping.buttons
    assert (command, args) == ("join", "s1")
    assert "Carla ist dabei" in await duisburg.reply_text("Carla", "/dabei s1", private=True)
    # someone who is neither subscribed nor taking part learns nothing of it
    assert "kenne ich nicht" in await duisburg.reply_text("Zoe", "/dabei s1", private=True)


async def test_the_poll_winner_joins_the_session_planned_there(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    await duisburg.say("Ben", "/neu 9-17 Kö Lounge")
    [poll] = [a for a in await duisburg.say("Carla", "/umfrage") if isinstance(a, SendPoll)]
    await duisburg.say("Carla", "/stimme 2")
    await duisburg.say("Dana", "/stimme 2")
    [announcement] = texts(await duisburg.say("Carla", "/schliessen"))
    assert "Kö Lounge gewinnt mit 2 Stimmen" in announcement
    assert "Session 1" in announcement and "Ben" in announcement
    rows = await repo.db.execute_fetchall("SELECT COUNT(*) FROM sessions")
    assert list(rows)[0][0] == 1  # no second session there
    today = await duisburg.reply_text("Ben", "/heute")
    assert "3 dabei: Ben, Carla, Dana" in today  # the opener counts
    assert poll.poll_key


async def test_a_poll_session_has_no_personal_opener(duisburg: GroupChat) -> None:
    await duisburg.say("Carla", "/umfrage")
    await duisburg.say("Carla", "/stimme 1")
    await duisburg.say("Dana", "/stimme 1")
    await duisburg.say("Carla", "/schliessen")
    # the first voter can leave it like anyone else; only an admin can cancel it
    assert "doch nicht dabei" in await duisburg.reply_text("Carla", "/absagen 1")
    assert "Nur wer" in await duisburg.reply_text("Dana", "/streichen 1")
    assert "gestrichen" in await duisburg.reply_text("Anna", "/streichen 1")
    [notice] = await duisburg.pending("cancelled")
    assert notice.person.id == "dana"


async def test_a_venue_removed_during_the_poll_leaves_it(duisburg: GroupChat) -> None:
    await duisburg.say("Carla", "/umfrage")
    await duisburg.say("Carla", "/stimme 3")
    await duisburg.say("Dana", "/stimme 3")
    await duisburg.say("Emil", "/stimme 1")
    removed = await duisburg.reply_text("Anna", "/ort remove 3")
    assert "2 Stimmen" in removed
    [announcement] = texts(await duisburg.say("Anna", "/schliessen"))
    assert "Café Museum gewinnt" in announcement and "Finkenkrug" not in announcement


async def test_removing_a_venue_cancels_its_coming_sessions_and_tells_the_joiners(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Ben", "/neu 10-14 Finkenkrug")
    await duisburg.say("Carla", "/dabei 1")
    await duisburg.say("Ben", "/neu jeden mi 9-12 Finkenkrug")
    removed = await duisburg.reply_text("Anna", "/ort remove 3")
    assert "Serie 1" in removed and "Session 1" in removed and "Carla" in removed
    told = sorted(m.person.id for m in await duisburg.pending("cancelled"))
    assert told == ["ben", "carla"]
    assert await duisburg.pending("reminder") == []
    assert "jeden Mittwoch" not in await duisburg.reply_text("Ben", "/serien")


async def test_two_series_on_one_day_are_ended_by_number(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu jeden di 9-12 Café Museum")
    await duisburg.say("Carla", "/neu jeden di 13-17 Café Museum")
    refused = await duisburg.reply_text("Ben", "/streichen jeden di")
    assert "1. jeden Dienstag" in refused and "2. jeden Dienstag" in refused
    listed = await duisburg.reply_text("Ben", "/serien")
    assert "1. jeden Dienstag, 09:00–12:00, Café Museum" in listed
    assert "2. jeden Dienstag, 13:00–17:00, Café Museum" in listed
    assert "Serie 2" in await duisburg.reply_text("Carla", "/streichen serie 2")
    listed = await duisburg.reply_text("Ben", "/serien")
    assert "1. jeden Dienstag" in listed and "2. jeden Dienstag" not in listed
    # the same series twice is refused, naming the one there is
    assert "Serie 1" in await duisburg.reply_text("Dana", "/neu jeden di 10-11 Café Museum")


async def test_ending_a_series_tells_the_joiner_of_todays_session(duisburg: GroupChat) -> None:
    duisburg.clock.set(berlin("2026-12-01 08:00"))  # a Tuesday
    await duisburg.say("Ben", "/neu jeden di 9-13 Café Museum")
    await duisburg.say("Carla", "/dabei 1")
    ended = await duisburg.reply_text("Ben", "/streichen serie 1")
    assert "Carla" in ended
    [notice] = await duisburg.pending("cancelled")
    assert notice.person.id == "carla"
    assert await duisburg.pending("reminder") == []


async def test_forgetting_an_opener_hands_the_session_to_the_first_joiner(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei 1")
    await duisburg.say("Dana", "/dabei 1")
    actions = await duisburg.say("Ben", "/vergessen")
    [group_post, _] = texts(actions)
    assert "Carla" in group_post and "Session 1" in group_post and "Ben" not in group_post
    [handover] = await duisburg.pending("handover")
    assert handover.person.id == "carla"
    today = await duisburg.reply_text("Dana", "/heute")
    assert "eröffnet von Carla" in today and "2 dabei: Carla, Dana" in today
    # Carla leads it now: she can cancel it, and Dana is told
    assert "gestrichen" in await duisburg.reply_text("Carla", "/streichen 1")
    assert [m.person.id for m in await duisburg.pending("cancelled")] == ["dana"]


async def test_odd_session_inputs_are_refused_clearly(duisburg: GroupChat) -> None:
    await duisburg.share("Ben", 51.43, 6.76)
    text = await duisburg.reply_text("Ben", "/neu jeden mi hier 15-17")
    assert "Ort aus der Liste" in text
    duisburg.clock.set(berlin("2026-11-30 23:00"))
    text = await duisburg.reply_text("Ben", "/neu 23:59 Café Museum")
    assert "Mitternacht" in text
    assert "Sessions" not in await duisburg.reply_text("Ben", "/dabei ²")  # "2": no such session


async def test_a_multi_line_topic_cannot_fake_entries_in_today(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum - Steuern\n\n2. Kö Lounge, 10:00–18:00")
    today = await duisburg.reply_text("Ben", "/heute")
    assert "Thema: Steuern 2. Kö Lounge, 10:00–18:00" in today
    assert "\n2. Kö Lounge" not in today


async def test_a_timezone_change_keeps_the_wall_clock_times(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei 1")
    await duisburg.say("Anna", "/einstellungen zeitzone Europe/London")
    [session] = await repo.sessions.sessions_on(1, berlin("2026-11-30 00:00").date())
    assert session.starts_at.isoformat() == "2026-11-30T10:00:00+00:00"  # 10:00 in London
    assert "10:00–14:00" in await duisburg.reply_text("Ben", "/heute")
    [reminder] = await duisburg.pending("reminder")
    assert reminder.due_at.isoformat() == "2026-11-30T09:45:00+00:00"


async def test_an_opener_cancels_from_the_private_chat_by_the_id_shown(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    await duisburg.say("Carla", "/dabei 1")
    assert "Nur wer" in await duisburg.reply_text("Carla", "/streichen s1", private=True)
    actions = await duisburg.say("Ben", "/streichen s1", private=True)
    posted = [a for a in actions if isinstance(a, SendText) and a.chat == duisburg.chat]
    assert len(posted) == 1 and "Session 1" in posted[0].text and "Carla" in posted[0].text
    [notice] = await duisburg.pending("cancelled")
    assert notice.person.id == "carla"
