"""The runtime's delivery rule (chatbot/runtime/runtime.py, ARCHITECTURE.md "Delivery") as
a property: random walks of one city group's updates, with the process killed at random
moments and the performer failing for a while, against a reference run of the same
updates, each applied exactly once, with no crash and no failure.

A walk is a list of steps: an update (a command of one of four people, with its platform
update key), a replay of an update handled before, a spell of failures of the performer
(temporary errors, or "retry after"), and a crash: the process dies while an update is
handled (at its k-th trip to the database, before the last trip of its unit of work, in
it before COMMIT, or after it), or after the commit with its replies not sent yet (the
chat is blocked; the reply in flight has not reached the platform, or has and its
answer did not come back). A new process then opens the same file, sends what was left,
and the platform brings again what was not confirmed: some updates handled before the
crash (replays), and the one that was being handled.

After every step, and at the end:
1. the database (every session with its state and joiners, the outbox, the marks) equals
   the reference run's;
2. every action the reference run decided was delivered, per chat in the same order, and
   none twice but the one in flight at a crash;
3. nothing is left in `pending_actions` once the queues are drained;
4. a replayed update changes nothing and sends nothing.

Each walk runs on fresh SQLite files in a temporary directory of its own (Hypothesis
runs many walks in one test call). The queues are drained after each step, but not in
the window of a crash after the commit. The process dies by `Runtime.close(grace=0)`
(nothing more is sent) and closing the file (an open transaction is lost); as the
queues were drained, no action was sent whose row waits to be deleted (a crash in
that window, `FINISH_EVERY` after a send, sends it again: not covered here). That
window is shortened to keep the walks fast."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatbot.adapters.base import RetryAfter
from chatbot.core.actions import Action
from chatbot.core.clock import FakeClock
from chatbot.core.events import CommandEvent, Person, PersonRef
from chatbot.runtime import runtime as runtime_module
from chatbot.runtime.runtime import lane_of
from chatbot.storage import base
from tests.kit import berlin
from tests.test_runtime import (
    ANNA,
    BEN,
    GROUP,
    Killed,
    KilledInTheDatabaseThread,
    Process,
    T,
    command,
    set_up,
)

START = berlin("2026-11-30 08:30")  # a Monday
# not "Carla": tests/test_pings.py checks that no Person named Carla outlives /forget, and
# these live as long as the module
PEOPLE = [ANNA, BEN, Person(PersonRef(T, "cleo"), "Cleo"), Person(PersonRef(T, "dana"), "Dana")]
TIMES = ["10-14", "9-12", "13-17", "18-22", "11:30-15"]
TIMEOUT = 10  # seconds: a runtime that hangs fails

# --- the walk --------------------------------------------------------------------------


@dataclass(frozen=True)
class Update:
    person: int
    text: str


@dataclass(frozen=True)
class Replay:
    which: int  # of the updates handled so far (modulo)


@dataclass(frozen=True)
class Fail:
    kind: str  # "error" or "retry after"
    times: int  # the next calls of the performer that fail


@dataclass(frozen=True)
class Crash:
    # "at a trip", "before the last trip", "in the last trip" (before its COMMIT), "after
    # the last trip" (before `handle` returns), or "after the commit" (its replies queued)
    moment: str
    updates: tuple[Update, ...]  # one, or (after the commit) those handled while blocked
    # "at a trip": the trips to the database that succeed before the process dies (with
    # fewer trips, the update is handled, and the process dies before confirming it)
    trips: int
    # "after the commit": when the process dies, the first reply is "queued" (the process
    # dies at once, the performer may have it or not), "in flight" (given to the
    # performer, no answer yet) or "reached" (the platform got it, no answer came back)
    sending: str
    replays: int  # how many of the last updates handled the platform brings again


texts = st.one_of(
    st.sampled_from(TIMES).map(lambda t: f"/open {t} Café Museum"),
    st.builds(
        lambda verb, n: f"/{verb} {n}",
        st.sampled_from(["join", "join", "leave", "cancel"]),
        st.integers(1, 3),
    ),
    st.just("/today"),
)
updates = st.builds(Update, st.integers(0, len(PEOPLE) - 1), texts)
crashes = st.one_of(
    st.builds(
        Crash,
        st.sampled_from(
            ["at a trip", "before the last trip", "in the last trip", "after the last trip"]
        ),
        st.tuples(updates),
        st.integers(0, 8),
        st.just("queued"),
        st.integers(0, 3),
    ),
    st.builds(
        Crash,
        st.just("after the commit"),
        st.lists(updates, min_size=1, max_size=3).map(tuple),
        st.just(0),
        st.sampled_from(["queued", "in flight", "reached"]),
        st.integers(0, 3),
    ),
)
steps = st.lists(
    st.one_of(
        updates,
        updates,
        updates,
        st.builds(Replay, st.integers(0, 99)),
        st.builds(Fail, st.sampled_from(["error", "retry after"]), st.integers(1, 3)),
        crashes,
        crashes,
    ),
    min_size=1,
    max_size=20,
)

# --- the platform's troubles -----------------------------------------------------------


@dataclass
class Trouble:
    """What the performer of the process under test suffers now (until the next crash)."""

    errors: int = 0  # the next calls fail with a temporary error
    waits: int = 0  # the next calls are answered with "retry after"
    blocked: bool = False  # the group chat's sends never come back
    reached: bool = False  # ... but the platform got them
    in_flight: Action | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # one is in flight


def troubled(p: Process) -> Trouble:
    """The troubles of this process's Telegram performer, to be set by the walk."""
    trouble = Trouble()
    plain = p.tg._perform

    async def perform(action: Action) -> None:
        if trouble.errors:
            trouble.errors -= 1
            raise ConnectionError("the platform is unreachable")
        if trouble.waits:
            trouble.waits -= 1
            raise RetryAfter(0.01)
        if trouble.blocked and getattr(action, "chat", None) == GROUP:
            if trouble.reached:
                p.tg.sent.append(action)
            trouble.in_flight = action
            trouble.arrived.set()
            await asyncio.Event().wait()  # the answer never comes: the process dies
        await plain(action)

    p.tg._perform = perform  # type: ignore[method-assign]
    return trouble


def dies_in_the_last_trip(
    connection: sqlite3.Connection, statements: Callable[[sqlite3.Connection], Any], begin: bool
) -> Any:
    """`base._commit` of a process that dies after the last statements, before COMMIT."""
    if begin:
        connection.execute("BEGIN IMMEDIATE")
    statements(connection)
    raise KilledInTheDatabaseThread


async def dies(*args: Any, **kwargs: Any) -> Any:
    raise Killed


def dying_trips(p: Process, survive: int | None) -> ExitStack:
    """The process dies at its trip to the database (a writing statement, or the last
    trip of a unit: its actions, its mark, COMMIT) after `survive` trips; with `survive`
    None, at the first trip after the last trip of the unit."""
    trips, ended = [0], [False]

    def dying(trip: Callable[..., Awaitable[Any]], last: bool) -> Callable[..., Awaitable[Any]]:
        async def dies_then(*args: Any, **kwargs: Any) -> Any:
            trips[0] += 1
            if ended[0] or (survive is not None and trips[0] > survive):
                raise Killed
            result = await trip(*args, **kwargs)
            ended[0] = last
            return result

        return dies_then

    stack = ExitStack()
    for name, last in (("_write", False), ("commit_unit", True)):
        trip = getattr(p.repo.base, name)
        stack.enter_context(mock.patch.object(p.repo.base, name, dying(trip, last)))
    return stack


# --- what is compared ------------------------------------------------------------------


async def stored(p: Process) -> tuple[Any, ...]:
    """What the updates left in the database: the sessions (every state, with their
    joiners), the outbox's messages, and which updates are marked handled."""
    repo = p.repo
    ids = await repo.db.execute_fetchall("SELECT id FROM sessions ORDER BY id")
    sessions = [await repo.sessions.session(row[0]) for row in ids]
    far = START + timedelta(days=400)
    outbox = await repo.outbox.due_messages(T, far, 1000, stale_claim=far)
    marks = await repo.db.execute_fetchall(
        "SELECT event_id FROM handled_events WHERE platform = ? ORDER BY event_id", (T,)
    )
    return tuple(sessions), tuple(outbox), tuple(row[0] for row in marks)


def by_lane(actions: list[Action]) -> dict[str, list[Action]]:
    lanes: dict[str, list[Action]] = {}
    for action in actions:
        lanes.setdefault(lane_of(action), []).append(action)
    return lanes


@dataclass
class Walk:
    """The process under test (killed and started again) and the reference run."""

    db: Path
    clock: FakeClock
    ref: Process
    p: Process = field(init=False)
    trouble: Trouble = field(init=False)
    sent_before: list[Action] = field(default_factory=list)  # by the processes killed
    repeats: list[tuple[str, int]] = field(default_factory=list)  # (lane, index) in flight
    handled: list[tuple[str, CommandEvent]] = field(default_factory=list)
    keys: int = 0

    async def start(self) -> None:
        self.p = await Process(self.db, self.clock).__aenter__()
        self.trouble = troubled(self.p)

    async def kill(self) -> None:
        """The process dies: nothing more is sent, what is in the queues stays recorded."""
        in_flight = self.trouble.in_flight if self.trouble.reached else None
        await self.p.runtime.close(grace=0)
        await self.p.repo.close()
        self.sent_before += self.p.tg.sent
        if in_flight is not None:
            lane = lane_of(in_flight)
            self.repeats.append((lane, len(by_lane(self.sent_before)[lane]) - 1))

    def delivered(self) -> dict[str, list[Action]]:
        """What the platform got, per chat, with the repeat of each action in flight at a
        crash taken out (if it was repeated)."""
        lanes = by_lane(self.sent_before + self.p.tg.sent)
        for lane, index in sorted(self.repeats, reverse=True):
            sent = lanes[lane]
            if index + 1 < len(sent) and sent[index + 1] == sent[index]:
                del sent[index]
        return lanes

    def next_update(self, update: Update) -> tuple[str, CommandEvent]:
        self.keys += 1
        return f"k{self.keys}", command(GROUP, PEOPLE[update.person], update.text)

    async def update(self, update: Update) -> None:
        key, event = self.next_update(update)
        assert await asyncio.wait_for(self.p.handle(key, event), TIMEOUT)
        self.handled.append((key, event))
        await self.apply_to_reference(key, event)

    async def apply_to_reference(self, key: str, event: CommandEvent) -> None:
        assert await self.ref.handle(key, event)
        await self.ref.runtime.drain()

    async def check(self) -> None:
        """The invariants, with every queue drained."""
        await asyncio.wait_for(self.p.runtime.drain(), TIMEOUT)
        assert await stored(self.p) == await stored(self.ref)  # 1
        assert self.delivered() == by_lane(self.ref.tg.sent)  # 2
        assert await self.p.repo.ledger.pending_of(T) == []  # 3
        assert await self.ref.repo.ledger.pending_of(T) == []

    async def replay(self, key: str, event: CommandEvent) -> None:
        """4: a replay is skipped: nothing changes, nothing is sent."""
        before, sent = await stored(self.p), len(self.p.tg.sent)
        assert not await asyncio.wait_for(self.p.handle(key, event), TIMEOUT)
        await asyncio.wait_for(self.p.runtime.drain(), TIMEOUT)
        assert await stored(self.p) == before
        assert len(self.p.tg.sent) == sent

    async def step(self, step: Update | Replay | Fail | Crash) -> None:
        if isinstance(step, Update):
            await self.update(step)
        elif isinstance(step, Replay):
            if self.handled:
                await self.replay(*self.handled[step.which % len(self.handled)])
        elif isinstance(step, Fail):
            if step.kind == "error":
                self.trouble.errors += step.times
            else:
                self.trouble.waits += step.times
        else:
            await self.crash(step)

    async def crash(self, crash: Crash) -> None:
        brought_again: list[tuple[str, CommandEvent]] = []  # unhandled, brought again
        replayed = self.handled[len(self.handled) - crash.replays :] if crash.replays else []
        if crash.moment == "after the commit":
            self.trouble.blocked = True
            self.trouble.reached = crash.sending == "reached"
            for update in crash.updates:
                await self.update(update)  # committed, confirmed or not
            if crash.sending != "queued":  # every update here has a reply
                await asyncio.wait_for(self.trouble.arrived.wait(), TIMEOUT)
        else:
            key, event = self.next_update(crash.updates[0])
            if crash.moment in ("at a trip", "after the last trip"):
                survive = crash.trips if crash.moment == "at a trip" else None
                dying: Any = dying_trips(self.p, survive)
                death: type[BaseException] = Killed
            elif crash.moment == "before the last trip":
                dying = mock.patch.object(self.p.repo.base, "commit_unit", dies)
                death = Killed
            else:
                dying = mock.patch.object(base, "_commit", dies_in_the_last_trip)
                death = KilledInTheDatabaseThread
            try:
                with dying:
                    assert await asyncio.wait_for(self.p.handle(key, event), TIMEOUT)
            except death:
                brought_again.append((key, event))
            else:  # handled before it died: not confirmed, so brought again
                self.handled.append((key, event))
                await self.apply_to_reference(key, event)
                replayed.append((key, event))
        await self.kill()
        await self.start()
        await asyncio.wait_for(self.p.runtime.drain(), TIMEOUT)  # what was left, sent
        for key, _ in brought_again:
            assert not await self.p.repo.ledger.is_handled(T, key)  # no trace of it
        for key, event in replayed:
            await self.replay(key, event)
        for key, event in brought_again:
            assert await asyncio.wait_for(self.p.handle(key, event), TIMEOUT)
            self.handled.append((key, event))
            await self.apply_to_reference(key, event)


async def walk(tmp: Path, walk_steps: list[Update | Replay | Fail | Crash]) -> None:
    clock = FakeClock(START)
    async with AsyncExitStack() as stack:
        ref = await stack.enter_async_context(Process(tmp / "reference.db", clock))
        await set_up(ref)
        await ref.runtime.drain()
        w = Walk(tmp / "bot.db", clock, ref)
        await w.start()
        try:
            await set_up(w.p)
            await w.check()
            for step in walk_steps:
                await w.step(step)
                await w.check()
            # what the walk opened is all there: the sessions of the day, by the core's read
            group = await w.p.repo.cities.group_for_chat(GROUP)
            assert group is not None
            day: date = START.date()
            assert await w.p.repo.sessions.sessions_on(
                group.id, day
            ) == await ref.repo.sessions.sessions_on(group.id, day)
        finally:
            await w.p.__aexit__(None, None, None)


@settings(
    max_examples=int(os.environ.get("RUNTIME_EXAMPLES", "25")),  # more to hunt locally
    derandomize=bool(os.environ.get("CI")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps)
def test_every_update_is_applied_once_and_every_reply_delivered_through_crashes(
    walk_steps: list[Update | Replay | Fail | Crash],
) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.object(runtime_module, "FINISH_EVERY", 0.001),
    ):
        asyncio.run(walk(Path(tmp), walk_steps))
