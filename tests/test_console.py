"""`chatbot console` end to end: a real process, a real SQLite file, scripts in, blocks out."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.adapters.console import DM_PREFIX, GROUP, PLATFORM, ConsoleAdapter, ConsoleClock
from chatbot.core.actions import Action, DirectMessage, SendText
from chatbot.core.bot import Bot
from chatbot.core.events import ChatRef, PersonRef
from chatbot.runtime import RetryPolicy, Runtime
from chatbot.storage.sqlite import SqliteRepository

ROOT = Path(__file__).resolve().parent.parent


def console(tmp_path: Path, script: str, *args: str, via_stdin: bool = True) -> str:
    command = [
        sys.executable,
        "-m",
        "chatbot",
        "console",
        "--database",
        f"sqlite:///{tmp_path / 'c.db'}",
    ]
    command += list(args)
    result = subprocess.run(
        command,
        input=script if via_stdin else None,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name", ["duisburg-de", "duisburg-en"])
def test_examples_print_what_the_readme_shows(tmp_path: Path, name: str) -> None:
    script = ROOT / "examples" / f"{name}.txt"
    output = console(
        tmp_path, "", "--script", str(script), "--admin", "Anna", "--echo", via_stdin=False
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.search(rf"<!-- output:{name} -->\n```text\n(.*?)```", readme, re.S)
    assert shown, f"README.md shows no output for {name}"
    assert output.strip() == shown.group(1).strip()


def test_blocks_name_the_chat_and_show_buttons(tmp_path: Path) -> None:
    output = console(
        tmp_path,
        "@ 2026-11-30 08:00\n"
        "Anna: /einrichten Duisburg\n"
        "Anna: /ort add Café Museum | 51.4344, 6.7623\n"
        "Ben: /neu 10-14 Café Museum\n"
        "Carla: /dabei\n"
        "Ben: /streichen\n"
        "Ben (dm): /heute\n",
        "--admin",
        "Anna",
    )
    blocks = output.strip().split("\n\n")
    assert blocks[2].splitlines() == [
        "[group]",
        "Neue Session 1: Café Museum, 10:00–14:00, eröffnet von Ben.",
        "Dabei sein mit /dabei 1.",
        "  [Dabei bei 1] → /dabei s1",
        "  [Wo?] → /wo s1",
    ]
    assert blocks[5].startswith("[dm Carla]\nGestrichen in Duisburg: Café Museum")
    assert blocks[6].startswith("[dm Ben]\nWelche Stadt? Öffentlich gelistet: Duisburg.")


def test_admin_commands_need_the_admin_flag(tmp_path: Path) -> None:
    output = console(tmp_path, "Ben: /einrichten Duisburg\n")
    assert "nur die Admins" in output


def test_clock_lines_are_in_the_group_timezone_and_end_sessions(tmp_path: Path) -> None:
    output = console(
        tmp_path,
        "# a group on New York time\n"
        "@ 2026-11-30 08:00\n"
        "Anna: /setup New York | America/New_York | en\n"
        "Anna: /venue add Think Coffee | 40.73, -73.99\n"
        "@ 2026-11-30 09:00\n"
        "Ben: /open 9:30-11 Think\n"
        "@ 11:00\n"
        "Ben: /today\n",
        "--admin",
        "Anna",
    )
    assert "9:30\u202fAM–11:00\u202fAM" in output  # local New York time
    assert output.strip().endswith(
        "No sessions yet. Open one:\n/open 10-14 Think Coffee - tax return"
    )


def test_a_database_file_keeps_the_group_between_runs(tmp_path: Path) -> None:
    console(tmp_path, "Anna: /einrichten Duisburg | Europe/Berlin | en\n", "--admin", "Anna")
    output = console(tmp_path, "Ben: /venues\n")
    assert "No venues yet" in output


def test_a_malformed_line_is_explained_and_the_script_goes_on(tmp_path: Path) -> None:
    output = console(tmp_path, "just some words\n@ tomorrow\nBen: /hilfe\n")
    assert "NAME: TEXT" in output
    assert "@ 2026-11-30 09:00" in output
    assert "/heute" in output


def test_a_clock_line_with_no_such_day_or_time_is_explained(tmp_path: Path) -> None:
    output = console(tmp_path, "@ 25:99\n@ 2026-13-40 10:00\n@ 2026-02-30 10:00\nBen: /hilfe\n")
    assert "! no such day or time: 25:99" in output
    assert "! no such day or time: 2026-13-40 10:00" in output
    assert "! no such day or time: 2026-02-30 10:00" in output
    assert "/heute" in output  # and the script went on


def test_a_week_of_polls_at_eight_across_the_dst_change(tmp_path: Path) -> None:
    script = ROOT / "examples" / "poll-week-de.txt"
    output = console(
        tmp_path, "", "--script", str(script), "--admin", "Anna", "--echo", via_stdin=False
    )
    scheduled = re.findall(r"^# (\S+ \S+)\n\n\[group\]\n(.*)$", output, re.M)
    polls = [when for when, first_line in scheduled if first_line.startswith("Wo arbeiten wir")]
    # every morning at 08:00 wall-clock time, before and after the 25th
    assert polls == [f"2026-10-{day} 08:00" for day in (23, 24, 25, 26, 27)]
    assert "Die Umfrage ist geschlossen: Finkenkrug gewinnt mit 2 Stimmen." in output
    # the session starts a travel margin (30 minutes) after the 10:00 close
    assert "Heutige Session 1: Finkenkrug, 10:30–14:30.\nDabei: Carla, Dana." in output
    tuesday = output.split("> Emil: /heute")[1]
    assert "1. Café Museum, 09:00–13:00" in tuesday and "jeden Dienstag" in tuesday


def test_a_restart_between_poll_and_close_closes_once(tmp_path: Path) -> None:
    first = console(
        tmp_path,
        "@ 2026-11-29 18:00\n"
        "Anna: /einrichten Duisburg\n"
        "Anna: /ort add Café Museum | 51.4344, 6.7623\n"
        "Anna: /ort add Kö Lounge | 51.4330, 6.7650\n"
        "Anna: /einstellungen umfrage 8:00\n"
        "@ 2026-11-30 08:30\n"
        "Ben: /stimme 2\n",
        "--admin",
        "Anna",
    )
    assert "Wo arbeiten wir heute?" in first and "Ben stimmt für Kö Lounge." in first
    # the process ended before the close; a new one starts at 10:30 on the same file
    second = console(tmp_path, "@ 2026-11-30 10:30\nBen: /heute\n")
    assert second.count("Die Umfrage ist geschlossen: Kö Lounge gewinnt mit 1 Stimme.") == 1
    # closed late at 10:30, so it starts a travel margin (30 minutes) after that
    assert "1. Kö Lounge, 11:00–15:00" in second
    third = console(tmp_path, "@ 2026-11-30 10:40\n")  # before Ben's reminder at 10:45
    assert third.strip() == ""


def test_a_poll_whose_close_was_missed_until_the_next_day_opens_no_session(
    tmp_path: Path,
) -> None:
    first = console(
        tmp_path,
        "@ 2026-11-29 18:00\n"
        "Anna: /einrichten Duisburg\n"
        "Anna: /ort add Café Museum | 51.4344, 6.7623\n"
        "Anna: /ort add Kö Lounge | 51.4330, 6.7650\n"
        "Anna: /einstellungen umfrage 8:00\n"
        "@ 2026-11-30 08:30\n"
        "Ben: /stimme 2\n",
        "--admin",
        "Anna",
    )
    assert "Ben stimmt für Kö Lounge." in first
    # the process ended on Monday before the close; a new one starts on Tuesday
    second = console(tmp_path, "@ 2026-12-01 10:30\nBen: /heute\n")
    assert (
        "Die Umfrage vom Montag, 30. November wird erst jetzt geschlossen, nach ihrem Tag;"
        " darum wird keine Session daraus eröffnet.\nStimmen: Kö Lounge 1, Café Museum 0"
    ) in second
    assert "Kö Lounge, " not in second  # no session from it on /heute
    assert console(tmp_path, "@ 2026-12-01 10:45\n").strip() == ""  # closed once


def test_geo_lines_are_shared_locations(tmp_path: Path) -> None:
    output = console(
        tmp_path,
        "@ 2026-11-30 08:00\n"
        "Anna: /einrichten Duisburg\n"
        "Anna: /ort add Kö Lounge | 51.4330, 6.7650\n"
        "Ben: /neu 10-14 Kö Lounge\n"
        "Gast (dm): geo:51.4297,6.7755;u=20\n"
        "Ben: geo:91,6\n",
        "--admin",
        "Anna",
    )
    blocks = output.strip().split("\n\n")
    assert blocks[3].splitlines() == [
        "[dm Gast]",
        "Heutige Sessions im Umkreis von 5 km, die nächste zuerst:",
        "1. Kö Lounge (Duisburg), 10:00–14:00 · 820 m",
        "  [Dabei bei 1] → /dabei s1",
    ]
    assert "außerhalb der Karte" in blocks[4]


def test_pings_and_reminders_are_printed_as_direct_messages(tmp_path: Path) -> None:
    output = console(
        tmp_path,
        "@ 2026-11-30 08:00\n"
        "Anna: /einrichten Duisburg\n"
        "Anna: /ort add Kö Lounge | 51.4330, 6.7650\n"
        "Carla: /abo\n"
        "Ben: /neu 10-14 Kö Lounge\n"
        "Carla: /dabei\n"
        "@ 09:50\n",
        "--admin",
        "Anna",
    )
    blocks = output.strip().split("\n\n")
    assert blocks[4].splitlines() == [
        "[dm Carla]",
        "Neue Session in Duisburg: Kö Lounge, 10:00–14:00, eröffnet von Ben.",
        "  [Dabei] → /dabei s1",
    ]
    assert blocks[-1] == "[dm Carla]\nErinnerung: Kö Lounge, 10:00–14:00 beginnt in 15 Minuten."


# --- through the runtime, in process -----------------------------------------------------


class Console:
    """One run of the console over a database file, as `chatbot console` wires it."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.out = io.StringIO()

    async def __aenter__(self) -> Console:
        self.repo = await SqliteRepository.open(f"sqlite:///{self.db}")
        clock = ConsoleClock()
        self.bot = Bot(self.repo, clock)
        self.runtime = Runtime(self.bot, self.repo, policy=RetryPolicy(first=0.01, cap=0.05))
        self.adapter = ConsoleAdapter(self.bot, clock, self.runtime, admins=["Anna"])
        self.adapter.out = self.out
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runtime.close(grace=0.1)
        await self.repo.close()

    async def rows(self, sql: str) -> list[tuple[object, ...]]:
        return [tuple(row) for row in await self.repo.db.execute_fetchall(sql)]


SETUP = ["@ 2026-11-30 08:00", "Anna: /einrichten Duisburg"]


async def test_each_line_is_an_update_of_the_runtime(tmp_path: Path) -> None:
    async with Console(tmp_path / "c.db") as c:
        await c.adapter.run([*SETUP, "Ben: /hilfe", "@ 09:00"])
        handled = await c.rows("SELECT platform, event_id FROM handled_events")
        assert [platform for platform, _ in handled] == ["console", "console"]
        assert all(str(key).startswith("line:") for _, key in handled)
        assert "Stadtgruppe Duisburg" in c.out.getvalue()
    async with Console(tmp_path / "c.db") as c:
        assert await c.rows("SELECT * FROM pending_actions") == []  # all delivered


async def test_a_failed_print_is_tried_again(tmp_path: Path) -> None:
    async with Console(tmp_path / "c.db") as c:
        render = c.adapter.render
        failures: list[Action] = []

        def fails_once(action: Action) -> str:
            if not failures:
                failures.append(action)
                raise OSError("the terminal is gone")
            return render(action)

        c.adapter.render = fails_once  # type: ignore[method-assign]
        await c.adapter.run(SETUP)
        assert failures and c.out.getvalue().count("Stadtgruppe Duisburg") == 1


async def test_what_was_decided_before_a_crash_is_printed_at_the_next_start(
    tmp_path: Path,
) -> None:
    async with Console(tmp_path / "c.db") as c:
        tried = asyncio.Event()

        def broken(action: Action) -> str:
            tried.set()
            raise OSError("the terminal is gone")

        c.adapter.render = broken  # type: ignore[method-assign]
        line = asyncio.create_task(c.adapter.run(SETUP))
        await tried.wait()  # the line is recorded, its reply not delivered: the process dies
        line.cancel()
        with pytest.raises(asyncio.CancelledError):
            await line
    async with Console(tmp_path / "c.db") as c:
        await c.adapter.run(["Ben: /hilfe"])
        blocks = c.out.getvalue().strip().split("\n\n")
        assert "Stadtgruppe Duisburg" in blocks[0]  # printed first, at the start
        assert len(await c.rows("SELECT * FROM handled_events")) == 2  # applied once
        assert len(await c.rows("SELECT * FROM city_groups")) == 1


async def test_actions_for_several_chats_are_printed_in_the_order_decided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Console(tmp_path / "c.db") as c:
        await c.adapter.run(SETUP)
        decided: list[Action] = [
            SendText(GROUP, "one"),
            DirectMessage(PersonRef(PLATFORM, "Ben"), "two"),
            SendText(GROUP, "three"),
            SendText(ChatRef(PLATFORM, DM_PREFIX + "Carla"), "four"),
        ]
        tick = c.bot.tick

        async def brings(*args: object, **kwargs: object) -> list[Action]:
            return [*decided, *await tick()]

        monkeypatch.setattr(c.bot, "tick", brings)
        start = len(c.out.getvalue())
        await c.adapter.run(["@ 08:01"])
        assert c.out.getvalue()[start:].split("\n\n")[:4] == [
            "[group]\none",
            "[dm Ben]\ntwo",
            "[group]\nthree",
            "[dm Carla]\nfour",
        ]
