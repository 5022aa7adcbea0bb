"""The trust walk-throughs (examples/trust-*.txt) through the real console: the lines
a person would notice in a group's week, not the whole transcript (texts still change).

What they show: venue numbers stay after an add and a removal, session numbers and
buttons stay when an earlier session is opened, a duplicate opening is pointed to the
existing session, a poll's winner joins the planned session there, a series ended by
its number tells its joiner, `/vergessen` of an opener hands the session over, `²`
reads as 2, and a look-alike venue name is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_console import ROOT, console

Steps = list[tuple[str, str]]
_RUNS: dict[str, Steps] = {}


def run(tmp_path: Path, name: str) -> Steps:
    """(the echoed input line, the bot's blocks after it) for each input line; each
    script runs once per test session."""
    if name not in _RUNS:
        _RUNS[name] = _run(tmp_path, name)
    return _RUNS[name]


def _run(tmp_path: Path, name: str) -> Steps:
    script = ROOT / "examples" / f"trust-{name}.txt"
    output = console(
        tmp_path, "", "--script", str(script), "--admin", "Anna", "--echo", via_stdin=False
    )
    steps: list[tuple[str, str]] = []
    for block in output.strip().split("\n\n"):
        if block.startswith("> "):
            steps.append((block[2:], ""))
        else:
            line, answer = steps[-1]
            steps[-1] = (line, f"{answer}\n\n{block}".strip())
    return steps


def answer(steps: list[tuple[str, str]], line: str, nth: int = 0) -> str:
    """The bot's blocks after the nth input line equal to `line`."""
    found = [a for said, a in steps if said == line]
    assert len(found) > nth, f"the script has no line {line!r}"
    return found[nth]


def test_de_venue_numbers_stay_after_a_removal(tmp_path: Path) -> None:
    steps = run(tmp_path, "de")
    assert "Ort 3 entfernt: Finkenkrug." in answer(steps, "Anna: /ort remove 3")
    added = answer(steps, "Anna: /ort add Stadtbibliothek | 51.4310, 6.7700")
    assert "Ort 4 hinzugefügt: Stadtbibliothek." in added
    listed = answer(steps, "Anna: /orte").splitlines()
    assert "2. Kö Lounge" in listed
    assert "4. Stadtbibliothek" in listed
    assert not any(line.startswith("3.") for line in listed)
    # the poll shows the venues' own numbers, and /stimme takes them
    assert "Ben stimmt für Stadtbibliothek." in answer(steps, "Ben: /stimme 4")


def test_de_look_alike_venue_name_is_refused(tmp_path: Path) -> None:
    steps = run(tmp_path, "de")
    refused = answer(steps, "Anna: /ort add Кö Lounge | 51.4331, 6.7651")
    assert "Es gibt schon einen Ort namens „Kö Lounge“." in refused
    assert "hinzugefügt" not in refused


def test_de_session_numbers_and_buttons_stay(tmp_path: Path) -> None:
    steps = run(tmp_path, "de")
    first = answer(steps, "Ben: /neu 11-15 Kö Lounge - Steuererklärung")
    assert "Neue Session 1: Kö Lounge, 11:00–15:00, eröffnet von Ben." in first
    assert "→ /dabei s1" in first
    earlier = answer(steps, "Carla: /neu 9-12 Café Museum")
    assert "Neue Session 2: Café Museum, 09:00–12:00" in earlier
    assert "→ /dabei s2" in earlier
    today = answer(steps, "Dana: /heute")
    assert "2. Café Museum, 09:00–12:00" in today
    assert "1. Kö Lounge, 11:00–15:00" in today
    assert "[Dabei bei 1] → /dabei s1" in today
    # the button under Ben's announcement still joins Ben's session
    assert "Anna ist dabei: Kö Lounge, 11:00–15:00." in answer(steps, "Anna: /dabei s1")


def test_de_a_duplicate_opening_points_to_the_existing_session(tmp_path: Path) -> None:
    steps = run(tmp_path, "de")
    refused = answer(steps, "Dana: /neu 13-17 Kö Lounge")
    assert "Dort gibt es zu dieser Zeit schon eine Session:" in refused
    assert "1. Kö Lounge, 11:00–15:00" in refused
    assert "Dabei sein mit /dabei 1." in refused
    assert "Neue Session" not in refused


def test_de_superscript_two_joins_session_two(tmp_path: Path) -> None:
    steps = run(tmp_path, "de")
    assert "Dana ist dabei: Café Museum, 09:00–12:00." in answer(steps, "Dana: /dabei ²")


def test_de_the_poll_winner_joins_the_planned_session(tmp_path: Path) -> None:
    steps = run(tmp_path, "de")
    closed = answer(steps, "@ 10:00")
    assert "Kö Lounge gewinnt mit 2 Stimmen" in closed
    assert "ist dort bei Session 1 dabei: 11:00–15:00, eröffnet von Ben." in closed
    assert "Neue Session" not in closed
    today = answer(steps, "Dana: /heute", 1)
    assert today.count("Kö Lounge, 11:00–15:00") == 1
    assert "Anna, Carla, Dana" in today  # (the count line is still being polished)


def test_de_a_series_ended_by_number_tells_its_joiner(tmp_path: Path) -> None:
    steps = run(tmp_path, "de")
    assert "Serie 1: jeden Dienstag" in answer(steps, "Ben: /neu jeden di 9-13 Stadtbibliothek")
    assert "1. jeden Dienstag, 09:00–13:00, Stadtbibliothek" in answer(steps, "Ben: /serien")
    ended = answer(steps, "Ben: /streichen serie 1")
    assert "Serie 1 ist beendet" in ended
    assert "Benachrichtigt: Carla." in ended
    assert "[dm Carla]\nGestrichen in Duisburg: Stadtbibliothek, 09:00–13:00." in ended
    late = answer(steps, "Dana: /dabei s3")
    assert "Session 1 (Stadtbibliothek, 09:00–13:00) wurde gestrichen." in late


def test_de_forgetting_an_opener_hands_the_session_over(tmp_path: Path) -> None:
    steps = run(tmp_path, "de")
    forgotten = answer(steps, "Dana (dm): /vergessen")
    group = next(b for b in forgotten.split("\n\n") if b.startswith("[group]"))
    assert "Ben leitet jetzt Session 1 (Café Museum, 10:00–14:00)." in group
    assert "Dana" not in group
    assert "[dm Ben]\nDu leitest jetzt Session 1 in Duisburg" in forgotten
    today = answer(steps, "Carla: /heute", 1)
    assert "1. Café Museum, 10:00–14:00\n   Königstraße 1\n   eröffnet von Ben" in today


@pytest.mark.parametrize("name", ["de", "en"])
def test_no_apology_in_the_trust_walks(tmp_path: Path, name: str) -> None:
    steps = run(tmp_path, name)
    text = "\n".join(a for _, a in steps)
    assert "Sorry, something went wrong" not in text
    assert "Entschuldige, bei mir ist etwas schiefgegangen" not in text


def test_en_the_same_week_in_english(tmp_path: Path) -> None:
    steps = run(tmp_path, "en")
    assert "Added venue 4: City Library." in answer(
        steps, "Anna: /venue add City Library | 51.4310, 6.7700"
    )
    assert "There is a venue called “Kö Lounge” already." in answer(
        steps, "Anna: /venue add Кö Lounge | 51.4331, 6.7651"
    )
    assert "[Join 1] → /join s1" in answer(steps, "Dana: /today")
    assert "Anna joins Kö Lounge" in answer(steps, "Anna: /join s1")
    duplicate = answer(steps, "Dana: /open 13-17 Kö Lounge")
    assert "There is a session there at that time already:" in duplicate
    assert "Join it with /join 1." in duplicate
    assert "Dana joins Café Museum" in answer(steps, "Dana: /join ²")
    assert "The voters join session 1 there" in answer(steps, "@ 10:00")
    ended = answer(steps, "Ben: /cancel series 1")
    assert "Told: Carla." in ended
    assert "[dm Carla]\nCancelled in Duisburg: City Library" in ended
    assert "was cancelled" in answer(steps, "Dana: /join s3")
    forgotten = answer(steps, "Dana (dm): /forget")
    assert "Ben now leads session 1 (Café Museum" in forgotten
