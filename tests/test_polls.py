"""Venue polls, the daily schedule and standing sessions (core, real SQLite, fake clock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from chatbot.core.actions import ClosePoll, SendPoll, SendText
from chatbot.core.bot import Bot
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import FakeAdmins, GroupChat, berlin


def polls_in(actions: list[object]) -> list[SendPoll]:
    return [a for a in actions if isinstance(a, SendPoll)]


def texts_in(actions: list[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, SendText)]


async def set_up_at(group: GroupChat, when: str) -> GroupChat:
    """The Duisburg group, set up at that (local) time, with the daily poll turned on
    (it is off for a new group): its schedule starts then."""
    group.clock.set(berlin(when))
    await group.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
    await group.say("Anna", "/einstellungen umfrage 8:00")
    await group.say("Anna", "/ort add Café Museum | 51.4344, 6.7623")
    await group.say("Anna", "/ort add Kö Lounge | 51.4330, 6.7650")
    await group.say("Anna", "/ort add Finkenkrug | 51.4290, 6.7900")
    return group


def option_index(poll: SendPoll, name: str) -> int:
    """Where the venue stands among the native poll's options ("3. Finkenkrug")."""
    [index] = [i for i, label in enumerate(poll.options) if label.split(". ", 1)[1] == name]
    return index


async def started_poll(group: GroupChat, name: str = "Ben") -> SendPoll:
    [poll] = polls_in(await group.say(name, "/umfrage"))
    return poll


async def test_poll_offers_the_venues_used_longest_ago_first(duisburg: GroupChat) -> None:
    # Finkenkrug had a session yesterday, Kö Lounge the day before; Café Museum never
    duisburg.clock.set(berlin("2026-11-28 09:00"))
    await duisburg.say("Ben", "/neu 9-17 Kö Lounge")
    duisburg.clock.set(berlin("2026-11-29 09:00"))
    await duisburg.say("Ben", "/neu 9-17 Finkenkrug")
    duisburg.clock.set(berlin("2026-11-30 08:30"))
    poll = await started_poll(duisburg)
    # each option shows the venue's own number, which /stimme takes
    assert poll.options == ("1. Café Museum", "2. Kö Lounge", "3. Finkenkrug")
    assert "Wo arbeiten wir heute?" in poll.question and "/stimme N" in poll.question


async def test_with_more_than_ten_venues_those_used_recently_wait(group: GroupChat) -> None:
    await group.say("Anna", "/einrichten Köln | Europe/Berlin | de")
    for n in range(12):
        await group.say("Anna", f"/ort add Café {chr(65 + n)} | 50.9, 6.9")
    group.clock.set(berlin("2026-11-28 09:00"))
    await group.say("Ben", "/neu 9-17 Café A")
    await group.say("Ben", "/neu 9-17 Café B")
    group.clock.set(berlin("2026-11-30 08:30"))
    poll = await started_poll(group)
    assert poll.options == tuple(f"{n}. Café {chr(64 + n)}" for n in range(3, 13))


async def test_at_most_ten_options(group: GroupChat) -> None:
    await group.say("Anna", "/einrichten Köln | Europe/Berlin | de")
    for n in range(12):
        await group.say("Anna", f"/ort add Café {chr(65 + n)} | 50.9, 6.9")
    poll = await started_poll(group)
    assert len(poll.options) == 10


async def test_latest_vote_counts_and_closing_opens_the_winners_session(
    duisburg: GroupChat,
) -> None:
    poll = await started_poll(duisburg)  # 1. Café Museum, 2. Kö Lounge, 3. Finkenkrug
    await duisburg.say("Carla", "/stimme 1")
    await duisburg.say("Dana", "/stimme 3")
    await duisburg.say("Dana", "/stimme 1")  # changes her mind: the latest vote counts
    await duisburg.vote("Emil", poll.poll_key, option_index(poll, "Finkenkrug"))
    actions = await duisburg.say("Ben", "/schliessen")
    assert [a.poll_key for a in actions if isinstance(a, ClosePoll)] == [poll.poll_key]
    [announcement] = texts_in(actions)
    lines = announcement.splitlines()
    assert lines[0] == "Die Umfrage ist geschlossen: Café Museum gewinnt mit 2 Stimmen."
    assert lines[1] == "Stimmen: Café Museum 2, Finkenkrug 1, Kö Lounge 0"
    # the session starts a travel margin (30 minutes) after the poll's close time
    assert lines[2:] == ["Heutige Session 1: Café Museum, 10:30–14:30.", "Dabei: Carla, Dana."]
    today = await duisburg.reply_text("Ben", "/heute")
    assert "1. Café Museum, 10:30–14:30" in today
    # the poll's session has no personal opener: both voters are its joiners
    assert "eröffnet von" not in today and "2 dabei: Carla, Dana" in today
    assert "Café Museum hat gewonnen" in today


async def test_a_retracted_native_vote_is_removed(duisburg: GroupChat) -> None:
    poll = await started_poll(duisburg)
    await duisburg.vote("Carla", poll.poll_key, 0)
    await duisburg.vote("Dana", poll.poll_key, 1)
    await duisburg.vote("Carla", poll.poll_key)  # empty answer: retracted
    [announcement] = texts_in(await duisburg.say("Ben", "/schliessen"))
    assert announcement.startswith("Die Umfrage ist geschlossen: Kö Lounge gewinnt mit 1 Stimme.")


async def test_tie_goes_to_venue_used_longest_ago(duisburg: GroupChat) -> None:
    duisburg.clock.set(berlin("2026-11-27 09:00"))
    await duisburg.say("Ben", "/neu 9-17 Café Museum")
    duisburg.clock.set(berlin("2026-11-29 09:00"))
    await duisburg.say("Ben", "/neu 9-17 Kö Lounge")
    duisburg.clock.set(berlin("2026-11-30 08:30"))
    poll = await started_poll(duisburg)
    museum, lounge = option_index(poll, "Café Museum"), option_index(poll, "Kö Lounge")
    await duisburg.vote("Carla", poll.poll_key, lounge)
    await duisburg.vote("Dana", poll.poll_key, museum)
    [announcement] = texts_in(await duisburg.say("Ben", "/schliessen"))
    assert "Café Museum gewinnt mit 1 Stimme" in announcement  # used 3 days ago, not 1


async def test_tie_between_never_used_venues_goes_by_name(duisburg: GroupChat) -> None:
    poll = await started_poll(duisburg)
    await duisburg.vote("Carla", poll.poll_key, option_index(poll, "Kö Lounge"))
    await duisburg.vote("Dana", poll.poll_key, option_index(poll, "Finkenkrug"))
    [announcement] = texts_in(await duisburg.say("Ben", "/schliessen"))
    assert "Finkenkrug gewinnt" in announcement


async def test_no_votes_no_session(duisburg: GroupChat) -> None:
    await started_poll(duisburg)
    [announcement] = texts_in(await duisburg.say("Ben", "/schliessen"))
    assert "ohne Stimmen" in announcement
    assert "Noch keine Sessions" in await duisburg.reply_text("Ben", "/heute")


async def test_only_the_starter_or_an_admin_closes(duisburg: GroupChat) -> None:
    await started_poll(duisburg, "Ben")
    assert "Nur wer die Umfrage gestartet hat" in await duisburg.reply_text("Carla", "/schliessen")
    assert polls_in(await duisburg.say("Carla", "/umfrage")) == []
    assert "geschlossen" in (await duisburg.reply_text("Anna", "/schliessen"))


async def test_one_poll_a_day_also_when_two_triggers_race(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    results = await asyncio.gather(
        duisburg.say("Ben", "/umfrage"), duisburg.say("Carla", "/umfrage"), duisburg.bot.tick()
    )
    posted = [p for actions in results for p in polls_in(list(actions))]
    assert len(posted) == 1
    async with repo.db.execute("SELECT COUNT(*) FROM venue_polls") as cursor:
        assert (await cursor.fetchone())[0] == 1  # type: ignore[index]
    refusals = [t for actions in results for t in texts_in(list(actions))]
    assert refusals == ["Die heutige Umfrage läuft schon. Abstimmen mit /stimme N."]


async def test_vote_with_a_bad_number_is_explained(duisburg: GroupChat) -> None:
    await started_poll(duisburg)
    text = await duisburg.reply_text("Carla", "/stimme 7")
    assert "1. Café Museum, 2. Kö Lounge, 3. Finkenkrug" in text
    assert "Beispiel: /stimme 1" in text
    assert "„2x“ ist keine Ortsnummer" in await duisburg.reply_text("Carla", "/stimme ²x")
    # AltGr+3 on a German keyboard is read as the digit it shows
    assert "stimmt für Finkenkrug" in await duisburg.reply_text("Carla", "/stimme ³")


async def test_the_daily_poll_comes_at_wall_clock_time_across_dst(group: GroupChat) -> None:
    # Europe/Berlin leaves summer time on Sunday 2026-10-25; polls every day at 08:00
    duisburg = await set_up_at(group, "2026-10-22 12:00")
    await duisburg.say("Anna", "/einstellungen tage mo-so")
    posted_at = []
    end = berlin("2026-10-29 12:00")
    while (due := await duisburg.bot.next_due()) is not None and due <= end:
        duisburg.clock.set(due)
        if polls_in(await duisburg.bot.tick()):
            posted_at.append(due)
    local = [
        t.astimezone(berlin("2026-10-22 00:00").tzinfo).strftime("%a %H:%M") for t in posted_at
    ]
    # ...the poll each morning at 08:00 local, which is 06:00 UTC before and 07:00 after
    assert [t for t in local] == [
        "Fri 08:00",
        "Sat 08:00",
        "Sun 08:00",
        "Mon 08:00",
        "Tue 08:00",
        "Wed 08:00",
        "Thu 08:00",
    ]
    assert posted_at[1].astimezone(UTC).hour == 6 and posted_at[2].astimezone(UTC).hour == 7


async def test_scheduled_poll_closes_by_itself_and_opens_the_session(group: GroupChat) -> None:
    duisburg = await set_up_at(group, "2026-11-29 20:00")  # Sunday evening
    [poll] = polls_in(await duisburg.advance(berlin("2026-11-30 08:00")))
    await duisburg.vote("Carla", poll.poll_key, 2)
    actions = await duisburg.advance(berlin("2026-11-30 12:00"))
    assert duisburg.clock.now() == berlin("2026-11-30 12:00")
    [announcement] = texts_in(actions)
    assert "Finkenkrug gewinnt mit 1 Stimme" in announcement
    assert "10:30–14:30" in announcement


async def test_a_restart_between_poll_and_close_closes_once(db_url: str, group: GroupChat) -> None:
    duisburg = await set_up_at(group, "2026-11-29 20:00")
    [poll] = polls_in(await duisburg.advance(berlin("2026-11-30 08:00")))
    await duisburg.vote("Carla", poll.poll_key, 0)
    # the process stops; a new one starts on the same file at 10:30, after the close time
    repo = await SqliteRepository.open(db_url)
    try:
        duisburg.clock.set(berlin("2026-11-30 10:30"))
        restarted = GroupChat(Bot(repo, duisburg.clock), duisburg.clock, FakeAdmins({"Anna"}))
        first = await restarted.advance(berlin("2026-11-30 10:30"))
        assert len(texts_in(first)) == 1 and "gewinnt" in texts_in(first)[0]
        again = await restarted.advance(berlin("2026-11-30 10:31"))
        assert texts_in(again) == [] and polls_in(again) == []
    finally:
        await repo.close()


async def test_a_missed_poll_is_posted_at_start_if_its_close_has_not_come(
    group: GroupChat,
) -> None:
    duisburg = await set_up_at(group, "2026-11-29 20:00")
    # down from Sunday evening until Monday 09:15; the 08:00 poll is posted at start
    duisburg.clock.set(berlin("2026-11-30 09:15"))
    assert len(polls_in(await duisburg.bot.tick())) == 1
    [monday] = await duisburg.bot.repo.polls.open_polls()
    await duisburg.vote("Carla", str(monday.id), 0)
    # down past both poll and close on Tuesday: no poll that day, and Monday's poll,
    # whose close was missed, is closed now without a session for a day that is over
    duisburg.clock.set(berlin("2026-12-01 10:30"))
    actions = await duisburg.bot.tick()
    assert polls_in(actions) == []
    assert [a.poll_key for a in actions if isinstance(a, ClosePoll)] == [str(monday.id)]
    [late] = texts_in(actions)
    assert late.splitlines() == [
        "Die Umfrage vom Montag, 30. November wird erst jetzt geschlossen, nach ihrem Tag;"
        " darum wird keine Session daraus eröffnet.",
        "Stimmen: Café Museum 1, Kö Lounge 0, Finkenkrug 0",
    ]
    group_id = monday.group_id
    for day in (monday.local_date, duisburg.clock.now().date()):
        assert await duisburg.bot.repo.sessions.sessions_on(group_id, day) == []
    assert await duisburg.bot.repo.polls.open_polls() == []
    assert texts_in(await duisburg.bot.tick()) == []  # closed once


async def test_settings_changes_take_effect_for_the_next_occurrence(duisburg: GroupChat) -> None:
    duisburg.clock.set(berlin("2026-11-30 09:00"))
    await duisburg.say("Anna", "/einstellungen umfrage 8:30")
    # 08:30 has passed today: no poll at once, the next one is tomorrow 08:30
    assert polls_in(await duisburg.bot.tick()) == []
    assert await duisburg.bot.next_due() is not None
    actions = await duisburg.advance(berlin("2026-12-01 08:29"))
    assert polls_in(actions) == []
    assert len(polls_in(await duisburg.advance(berlin("2026-12-01 08:30")))) == 1
    await duisburg.say("Anna", "/einstellungen umfrage aus")
    assert polls_in(await duisburg.advance(berlin("2026-12-03 12:00"))) == []


async def test_poll_settings_are_checked(duisburg: GroupChat) -> None:
    await duisburg.say("Anna", "/einstellungen umfrage 8:00")
    text = await duisburg.reply_text("Anna", "/einstellungen schluss 7:00")
    assert "schließen" in text and "Beispiel: /einstellungen schluss 10:00" in text
    assert "kein Wochentag" in await duisburg.reply_text("Anna", "/einstellungen tage mo-xy")
    assert "nur die Admins" in await duisburg.reply_text("Ben", "/einstellungen umfrage 9:00")


async def test_standing_session_shows_up_every_week_until_cancelled(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Ben", "/neu jeden di 9-13 Café Museum - Buchhaltung")
    assert text.startswith("Serie 1: jeden Dienstag, 09:00–13:00, Café Museum")
    assert "Noch keine Sessions" in await duisburg.reply_text("Ben", "/heute")  # Monday
    duisburg.clock.set(berlin("2026-12-01 08:00"))  # Tuesday
    tuesday = await duisburg.reply_text("Carla", "/heute")
    assert "1. Café Museum, 09:00–13:00" in tuesday and "jeden Dienstag" in tuesday
    await duisburg.say("Carla", "/dabei")
    # skip next Tuesday only
    duisburg.clock.set(berlin("2026-12-08 08:00"))
    skipped = await duisburg.reply_text("Ben", "/streichen 1")
    assert "nächste Woche" in skipped
    assert "Noch keine Sessions" in await duisburg.reply_text("Ben", "/heute")
    duisburg.clock.set(berlin("2026-12-15 08:00"))
    assert "1. Café Museum" in await duisburg.reply_text("Ben", "/heute")
    # end the series
    ended = await duisburg.reply_text("Ben", "/streichen jeden di")
    assert "Serie 1" in ended and "Dienstag" in ended and "Café Museum" in ended
    duisburg.clock.set(berlin("2026-12-22 08:00"))
    assert "Noch keine Sessions" in await duisburg.reply_text("Ben", "/heute")


async def test_standing_session_in_english(group: GroupChat) -> None:
    await group.say("Anna", "/setup Leeds | Europe/London | en")
    await group.say("Anna", "/venue add Northern Bloc | 53.80, -1.55")
    text = await group.reply_text("Ben", "/open every wed 9-13 Northern Bloc")
    assert text.startswith("Series 1: every Wednesday, 9:00\u202fAM–1:00\u202fPM")
    group.clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    assert "1. Northern Bloc" in await group.reply_text("Ben", "/today")


async def test_a_group_too_small_for_a_poll_still_gets_its_other_scheduled_work(
    group: GroupChat, repo: SqliteRepository
) -> None:
    group.clock.set(berlin("2026-08-01 12:00"))
    await group.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
    await group.say("Anna", "/ort add Café Museum | 51.4344, 6.7623")  # one venue only
    await group.say("Ben", "/neu 13-17 Café Museum")
    await group.say("Carla", "/dabei")
    # more than 90 days later, inside the poll window (08:00-10:00 on a Monday)
    group.clock.set(berlin("2026-11-30 08:30"))
    actions = await group.bot.tick()
    assert polls_in(actions) == []
    assert (await repo.people.personal_data(group.person("Carla").ref))["joins"] == 0


async def test_a_poll_has_no_more_options_than_the_platform_shows(duisburg: GroupChat) -> None:
    """The platform's limit comes from its adapter (a registered capability), not from
    one platform's constant in the core."""
    from chatbot.core.context import Capabilities

    duisburg.bot.register(duisburg.platform, Capabilities("/", max_poll_options=2))
    [poll] = polls_in(await duisburg.say("Anna", "/umfrage"))
    assert len(poll.options) == 2
