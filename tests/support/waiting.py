"""Waiting in tests for a state, never for a fixed time.

A test that needs the bot to have done something waits for a fact that proves it: a
reply the server received, a row in the ledger, the outbox rows all 'sent', the
pending_actions table empty. ``eventually`` polls such a check until it holds, with a
deadline that only a failing test reaches; a slow machine makes it wait longer, not
fail, and a fast one does not wait at all.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

POLL = 0.02  # seconds between two checks


async def eventually(
    check: Callable[[], Any | Awaitable[Any]],
    what: str = "the condition",
    timeout: float = 20.0,
) -> Any:
    """Wait until ``check()`` (sync or async) returns something true, and return it.
    AssertionError naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() >= deadline:
            raise AssertionError(f"no {what} within {timeout:g} s")
        await asyncio.sleep(POLL)


def undelivered(db_path: Path, now: datetime | None = None) -> int:
    """What a bot's database (e.g. of a `chatbot run` process) holds that is decided, due
    and not delivered yet: the runtime's pending_actions rows and the outbox rows being
    sent or due (by ``now``, the machine's clock unless given; a reminder for later does
    not count). 0: everything due so far went out (or was given up)."""
    due = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    with sqlite3.connect(db_path) as db:
        actions = db.execute("SELECT count(*) FROM pending_actions").fetchone()[0]
        outbox = db.execute(
            "SELECT count(*) FROM outbox"
            " WHERE state = 'sending' OR (state = 'pending' AND due_at <= ?)",
            (due,),
        ).fetchone()[0]
    return int(actions) + int(outbox)
