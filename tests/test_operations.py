"""Running it for real: settings, check-config, health, logs, compose.yaml, Dockerfile."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot import logs
from chatbot.config import Settings
from tests.fakes.telegram_api import ThreadedFakeTelegramServer

ROOT = Path(__file__).resolve().parent.parent


def chatbot(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **(env or {})},
    )


def test_the_readme_settings_table_matches_the_settings_class() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = dict(
        re.findall(r"^\| `CHATBOT_(\w+)`(?: / `CHATBOT_\w+`)? \| ([^|]+) \|", readme, re.M)
    )
    documented = {name.lower(): default.strip() for name, default in table.items()}
    fields = Settings.model_fields
    assert set(documented) == set(fields)
    for name, field in fields.items():
        default = field.default
        shown = documented[name]
        if default is None or default == "":
            assert shown == "–", name
        elif isinstance(default, bool):
            assert shown == f"`{str(default).lower()}`", name
        else:
            assert shown == f"`{default}`", name


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_non_root_with_translations_and_a_health_check() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    assert "COPY locales" in dockerfile and "locales_dir()" in dockerfile
    assert re.search(r'^HEALTHCHECK .*\n\s+CMD \["chatbot", "health"\]', dockerfile, re.M)
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile, re.M)


def test_run_without_any_platform_says_what_to_set(tmp_path: Path) -> None:
    result = chatbot(tmp_path, "run")
    assert result.returncode == 2
    assert (
        "CHATBOT_TELEGRAM_TOKEN" in result.stderr and "CHATBOT_MATRIX_HOMESERVER" in result.stderr
    )


def test_invalid_settings_are_named(tmp_path: Path) -> None:
    result = chatbot(tmp_path, "check-config", env={"CHATBOT_DEFAULT_TIMEZONE": "Mars/Olympus"})
    assert result.returncode == 2
    assert "CHATBOT_DEFAULT_TIMEZONE" in result.stderr


@pytest.fixture
def telegram() -> Iterator[ThreadedFakeTelegramServer]:
    with ThreadedFakeTelegramServer(bot_username="CoworkBot") as server:
        yield server


def test_check_config_reaches_telegram(
    tmp_path: Path, telegram: ThreadedFakeTelegramServer
) -> None:
    env = {"CHATBOT_TELEGRAM_TOKEN": telegram.token, "CHATBOT_TELEGRAM_API_URL": telegram.base_url}
    good = chatbot(tmp_path, "check-config", env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "ok    telegram: logged in as @CoworkBot" in good.stdout
    assert telegram.token not in good.stdout + good.stderr


def test_check_config_says_what_is_wrong(
    tmp_path: Path, telegram: ThreadedFakeTelegramServer
) -> None:
    wrong = chatbot(
        tmp_path,
        "check-config",
        env={"CHATBOT_TELEGRAM_TOKEN": "999:WRONG", "CHATBOT_TELEGRAM_API_URL": telegram.base_url},
    )
    assert wrong.returncode == 1
    assert "FAIL  telegram: Unauthorized (is the token right?)" in wrong.stdout
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = chatbot(
        tmp_path,
        "check-config",
        env={
            "CHATBOT_MATRIX_HOMESERVER": f"http://127.0.0.1:{closed_port}",
            "CHATBOT_MATRIX_USER_ID": "@bot:localhost",
            "CHATBOT_MATRIX_PASSWORD": "secret-password",
        },
    )
    assert unreachable.returncode == 1
    assert "FAIL  matrix: cannot reach" in unreachable.stdout
    assert "secret-password" not in unreachable.stdout + unreachable.stderr
    nothing = chatbot(tmp_path, "check-config")
    assert nothing.returncode == 1 and "no platform configured" in nothing.stdout


def test_health_follows_the_heartbeat(tmp_path: Path) -> None:
    assert chatbot(tmp_path, "health").returncode == 1
    import asyncio
    from datetime import UTC, datetime

    from chatbot.checks import HEARTBEAT
    from chatbot.storage.sqlite import SqliteRepository

    async def beat() -> None:
        repo = await SqliteRepository.open(f"sqlite:///{tmp_path / 'chatbot.db'}")
        await repo.ledger.set_platform_value(*HEARTBEAT, datetime.now(UTC).isoformat())
        await repo.close()

    asyncio.run(beat())
    assert chatbot(tmp_path, "health").returncode == 0


def test_health_reports_each_platform(tmp_path: Path) -> None:
    """A platform that is down is reported; the bot stays healthy while it ticks."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from chatbot.checks import CONTACT, HEARTBEAT
    from chatbot.storage.sqlite import SqliteRepository

    async def state() -> None:
        repo = await SqliteRepository.open(f"sqlite:///{tmp_path / 'chatbot.db'}")
        now = datetime.now(UTC)
        await repo.ledger.set_platform_value(*HEARTBEAT, now.isoformat())
        await repo.ledger.set_platform_value("telegram", CONTACT, now.isoformat())
        await repo.ledger.set_platform_value(
            "matrix", CONTACT, (now - timedelta(minutes=9)).isoformat()
        )
        await repo.close()

    asyncio.run(state())
    env = {
        "CHATBOT_TELEGRAM_TOKEN": "123:abc",
        "CHATBOT_MATRIX_HOMESERVER": "http://127.0.0.1:9",
        "CHATBOT_MATRIX_USER_ID": "@bot:localhost",
    }
    result = chatbot(tmp_path, "health", env=env)
    assert result.returncode == 0
    assert "core: ok" in result.stdout
    assert "telegram: ok" in result.stdout
    assert re.search(r"^matrix: DOWN, last answered 5[34]\d s ago$", result.stdout, re.M)


def test_json_logs_carry_platform_and_chat_and_no_secret() -> None:
    stream = io.StringIO()
    logs.configure("INFO", "json", ["123456:SECRET-TOKEN"], stream=stream)
    try:
        logging.getLogger("chatbot.test").info(
            "calling https://api.telegram.org/bot123456:SECRET-TOKEN/getMe",
            extra={"platform": "telegram", "chat": "-100123"},
        )
    finally:
        logs.configure("WARNING", "text", [])
    entry = json.loads(stream.getvalue().strip())
    assert (
        entry["level"] == "INFO" and entry["platform"] == "telegram" and entry["chat"] == "-100123"
    )
    assert "SECRET-TOKEN" not in stream.getvalue()
    assert "bot<redacted>/getMe" in entry["message"]


def test_every_platforms_secrets_are_scrubbed_from_every_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One redaction for all: a Matrix password logged by a library's logger, a bot
    token in a traceback, whichever handler prints them."""
    from chatbot.redact import protect

    protect("matrix-password-7f3a")
    protect("424242:TELEGRAM-TOKEN-abcdef")
    with caplog.at_level(logging.INFO):
        logging.getLogger("nio.client").info("login with %s", "matrix-password-7f3a")
        try:
            raise ValueError("bad token 424242:TELEGRAM-TOKEN-abcdef")
        except ValueError:
            logging.getLogger("telegram.ext").exception("failed")
    assert "matrix-password-7f3a" not in caplog.text
    assert "TELEGRAM-TOKEN" not in caplog.text
    assert "login with <redacted>" in caplog.text
    assert "ValueError: bad token <redacted>" in caplog.text
