"""Quiet by default: a group where nobody interacts gets at most one bot message a
day; a poll nobody votes in just ends; a poll's session leaves time to get there;
/setup says what is on and how to change it; a settings change confirms that setting."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

from chatbot.core.actions import Action, ClosePoll, SendPoll, SendText
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import GroupChat, berlin
from tests.test_console import ROOT, console


def posts_by_day(actions: list[Action], days: dict[int, str]) -> Counter[str]:
    """Messages the bot wrote on its own (texts and polls), by the day they came."""
    counted: Counter[str] = Counter()
    for index, day in days.items():
        if isinstance(actions[index], SendText | SendPoll):
            counted[day] += 1
    return counted


async def idle_week(group: GroupChat, start: str) -> tuple[list[Action], dict[int, str]]:
    """Step the clock through a week from `start`, hour by hour; every action the bot
    gives on its own, and the local day it came on."""
    actions: list[Action] = []
    days: dict[int, str] = {}
    when = berlin(start)
    for _ in range(7 * 24):
        when += timedelta(hours=1)
        for action in await group.advance(when):
            days[len(actions)] = group.clock.now().astimezone(when.tzinfo).date().isoformat()
            actions.append(action)
    return actions, days


async def test_an_idle_group_gets_no_message_in_its_first_week(duisburg: GroupChat) -> None:
    actions, days = await idle_week(duisburg, "2026-11-30 09:00")
    assert [a for a in actions if isinstance(a, SendText | SendPoll)] == []


async def test_a_new_group_has_no_daily_poll(duisburg: GroupChat) -> None:
    settings = await duisburg.reply_text("Ben", "/einstellungen")
    assert "• Tägliche Orts-Umfrage: aus (ändern: /einstellungen umfrage 8:00)" in settings


async def test_with_the_poll_on_nobody_voting_gives_one_message_a_day(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Anna", "/einstellungen umfrage 8:00")
    actions, days = await idle_week(duisburg, "2026-11-30 09:00")
    per_day = posts_by_day(actions, days)
    # the poll on each weekday from Tuesday, and nothing when it closes without votes
    assert per_day == Counter(
        {"2026-12-01": 1, "2026-12-02": 1, "2026-12-03": 1, "2026-12-04": 1, "2026-12-07": 1}
    )
    assert all(isinstance(a, SendPoll) for a in actions if isinstance(a, SendText | SendPoll))
    # each poll just ends (Monday's is still open when the week ends at 09:00)
    assert len([a for a in actions if isinstance(a, ClosePoll)]) == 4


async def test_a_poll_without_votes_just_ends_and_today_says_so(duisburg: GroupChat) -> None:
    await duisburg.say("Anna", "/einstellungen umfrage 8:00")
    actions = await duisburg.advance(berlin("2026-12-01 10:30"))
    assert len([a for a in actions if isinstance(a, ClosePoll)]) == 1
    assert [a for a in actions if isinstance(a, SendText)] == []  # no "closed" post
    assert "ohne Stimmen geschlossen" in await duisburg.reply_text("Ben", "/heute")
    # who closes an empty poll by command is still answered
    [poll] = [
        a for a in await duisburg.advance(berlin("2026-12-02 08:30")) if isinstance(a, SendPoll)
    ]
    actions = await duisburg.say("Anna", "/schliessen")
    assert [a.poll_key for a in actions if isinstance(a, ClosePoll)] == [poll.poll_key]
    [text] = [a.text for a in actions if isinstance(a, SendText)]
    assert "ohne Stimmen" in text


def test_an_idle_group_in_the_console(tmp_path: Path) -> None:
    """examples/quiet-week-de.txt: a week with the default settings, then a week with
    the poll on that nobody votes in."""
    script = ROOT / "examples" / "quiet-week-de.txt"
    output = console(
        tmp_path, "", "--script", str(script), "--admin", "Anna", "--echo", via_stdin=False
    )
    # what the bot posts on its own comes after a "# time" line
    posted = re.findall(r"^# (\S+) \S+\n\n\[group\]\n(.*)$", output, re.M)
    messages = [(day, line) for day, line in posted if line != "(poll closed)"]
    assert all(line.startswith("Wo arbeiten wir heute?") for _, line in messages)
    assert Counter(day for day, _ in messages) == Counter(
        {"2026-12-08": 1, "2026-12-09": 1, "2026-12-10": 1, "2026-12-11": 1}
    )
    assert "ohne Stimmen" not in output.split("> Ben: /heute")[0]
    assert "Die heutige Umfrage wurde ohne Stimmen geschlossen." in output


# --- the travel margin --------------------------------------------------------------


async def vote_and_close(group: GroupChat) -> str:
    [poll] = [a for a in await group.say("Ben", "/umfrage") if isinstance(a, SendPoll)]
    await group.vote("Carla", poll.poll_key, 0)
    [text] = [a.text for a in await group.say("Ben", "/schliessen") if isinstance(a, SendText)]
    return text


async def test_a_polls_session_starts_a_travel_margin_after_the_close(
    duisburg: GroupChat,
) -> None:
    assert "Heutige Session 1: Café Museum, 10:30–14:30." in await vote_and_close(duisburg)


async def test_the_travel_margin_is_a_setting(duisburg: GroupChat, repo: SqliteRepository) -> None:
    settings = await duisburg.reply_text("Ben", "/einstellungen")
    assert (
        "• Anreise (so lange nach dem Umfrage-Schluss beginnt ihre Session): 30 Minuten"
        " (ändern: /einstellungen anreise 30)"
    ) in settings
    saved = await duisburg.reply_text("Anna", "/einstellungen anreise 45")
    assert (
        saved
        == "Gespeichert: die Session aus der Umfrage beginnt frühestens 45 Minuten nach dem Schluss."
    )
    [group] = await repo.cities.groups()
    assert group.settings.travel_minutes == 45  # stored
    assert "Café Museum, 10:45–14:45." in await vote_and_close(duisburg)


async def test_the_travel_margin_in_english(group: GroupChat) -> None:
    await group.say("Anna", "/setup Leeds | Europe/London | en")
    assert await group.reply_text("Anna", "/settings travel 0") == (
        "Saved: a poll's session starts at least 0 minutes after the close."
    )
    text = await group.reply_text("Anna", "/settings travel 3 hours")
    assert "The travel time is given in minutes, from 0 to 180." in text


async def test_default_hours_later_than_the_margin_are_kept(duisburg: GroupChat) -> None:
    await duisburg.say("Anna", "/einstellungen zeiten 11-15")
    assert "Café Museum, 11:00–15:00." in await vote_and_close(duisburg)


# --- /setup says what is on -------------------------------------------------------------


async def test_setup_says_the_poll_is_off_and_the_group_public(group: GroupChat) -> None:
    text = await group.reply_text("Anna", "/einrichten Duisburg | Europe/Berlin | de")
    assert "Die tägliche Orts-Umfrage ist aus; /einstellungen umfrage 8:00 schaltet sie ein." in (
        text
    )
    assert "öffentlich gelistet" in text and "/einstellungen öffentlich aus ändert das" in text


async def test_setup_again_confirms_only_the_change(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Anna", "/einrichten Duisburg-Nord | Europe/Berlin | en")
    assert text == "Saved: city group Duisburg-Nord (Europe/Berlin, en)."


# --- a settings change confirms that one setting ------------------------------------------


async def test_a_settings_change_confirms_that_setting_only(duisburg: GroupChat) -> None:
    assert await duisburg.reply_text("Anna", "/einstellungen umfrage 8:00") == (
        "Gespeichert: Umfrage um 08:00 (schließt 10:00)."
    )
    assert await duisburg.reply_text("Anna", "/einstellungen schluss 10:30") == (
        "Gespeichert: Umfrage um 08:00 (schließt 10:30)."
    )
    assert await duisburg.reply_text("Anna", "/einstellungen tage fr-mo") == (
        "Gespeichert: Umfrage-Tage Mo., Fr., Sa., So."
    )
    assert await duisburg.reply_text("Anna", "/einstellungen umkreis 500 m") == (
        "Gespeichert: Umkreis für die Suche in der Nähe 500 m."
    )
    assert await duisburg.reply_text("Anna", "/einstellungen zeitzone new york") == (
        "Gespeichert: Zeitzone America/New_York."
    )
    # alone, it still shows every setting
    assert len((await duisburg.reply_text("Ben", "/einstellungen")).splitlines()) > 8


async def test_the_polls_session_starts_after_the_margin_even_within_default_hours(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Anna", "/einstellungen zeiten 9-13")
    await duisburg.say("Carla", "/umfrage")
    await duisburg.say("Carla", "/stimme 1")
    duisburg.clock.set(berlin("2026-11-30 10:00"))
    await duisburg.say("Carla", "/schliessen")
    # closed at 10:00, 30 minutes to get there: 10:30–13:00, not 9–13
    assert "1. Café Museum, 10:30–13:00" in await duisburg.reply_text("Ben", "/heute")
