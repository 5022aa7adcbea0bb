"""The console adapter: a local group chat in the terminal.

Script lines (also typed interactively):
  NAME: TEXT          NAME writes TEXT in the group chat
  NAME (dm): TEXT     NAME writes TEXT to the bot in a private chat
  geo:LAT,LON[;u=M]   as TEXT: a shared location
  @ YYYY-MM-DD HH:MM  set the simulated clock (group's timezone); `@ HH:MM` keeps the day
  # comment, blank   ignored
Every bot message is printed as a block: `[group]` or `[dm NAME]`, then the text,
buttons as `  [LABEL] → /COMMAND ARGS`, poll options as numbered lines.

The console goes through the shared runtime (`chatbot.runtime`) as Telegram and Matrix
do: each line is one update, recorded once with its effects and its actions; the actions
(and the clock's, `Bot.tick`) come back through the router and the chat's queue to
`perform`. After each line the console waits until that line's actions are delivered,
and prints them in the order the core decided them, so a transcript reads as the
conversation went.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import TextIO
from zoneinfo import ZoneInfo

from chatbot.core.actions import (
    Action,
    Button,
    ClosePoll,
    DirectMessage,
    EditText,
    SendPoll,
    SendText,
    SendVenue,
)
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock, SystemClock, wall_clock_instant
from chatbot.core.events import (
    ChatRef,
    CommandEvent,
    Event,
    LocationEvent,
    Origin,
    Person,
    PersonRef,
    TextEvent,
)
from chatbot.delivery import OutboxSender
from chatbot.runtime import Runtime

PLATFORM = "console"
GROUP = ChatRef(PLATFORM, "group")
DM_PREFIX = "dm:"

_LINE_RE = re.compile(r"^(?P<name>[^:()]+?)\s*(?P<dm>\(dm\))?\s*:\s?(?P<text>.*)$")
_GEO_RE = re.compile(
    r"^geo:(?P<lat>[-+]?\d+(?:\.\d+)?),(?P<lon>[-+]?\d+(?:\.\d+)?)(?:;u=(?P<u>[\d.]+))?",
    re.IGNORECASE,
)
_CLOCK_RE = re.compile(r"^@\s*(?:(?P<date>\d{4}-\d{2}-\d{2})\s+)?(?P<time>\d{1,2}:\d{2})\s*$")
# the key the runtime gives an action it delivers: its row in pending_actions, "a<id>";
# the ids rise in the order the core decided the actions
_ROW_KEY_RE = re.compile(r"^a(?P<id>\d+)$")


class ConsoleClock:
    """The real clock until the first `@` line; from then on a simulated one."""

    def __init__(self) -> None:
        self.simulated: FakeClock | None = None
        self._real = SystemClock()

    def now(self) -> datetime:
        return self.simulated.now() if self.simulated else self._real.now()

    def set(self, instant: datetime) -> None:
        if self.simulated is None:
            self.simulated = FakeClock(instant)
        else:
            self.simulated.set(instant)


class ConsoleAdapter:
    def __init__(
        self,
        bot: Bot,
        clock: ConsoleClock,
        runtime: Runtime,
        *,
        admins: Iterable[str] = (),
        out: TextIO = sys.stdout,
        echo: bool = False,
        default_sender: str | None = None,
    ) -> None:
        self.bot = bot
        self.clock = clock
        self.admins = {a.casefold() for a in admins}
        self.out = out
        self.echo = echo
        self.default_sender = default_sender
        self.platform = PLATFORM
        self.runtime = runtime
        runtime.register(self)
        self.sender = OutboxSender(bot, self, rate=0)
        self._stamp: str | None = None  # the time of scheduled output, in --echo mode
        self._run = uuid.uuid4().hex[:12]  # a line's update key: this run's, and its number
        self._lines = 0
        self._held: list[tuple[int, str]] = []  # delivered, not printed yet: (row id, block)
        self._started = False

    async def perform(self, action: Action, *, key: str | None = None) -> None:
        """Carry out an action. The runtime's queues deliver the core's actions here (one
        queue per chat, so not in the order the core decided them across chats): each is
        held until the line's actions are all delivered, then printed in that order
        (`_show`). The outbox sender's pings and reminders are printed at once."""
        block = self.render(action)
        row = _ROW_KEY_RE.match(key or "")
        if row is None:
            self._print(block)
        else:
            self._held.append((int(row.group("id")), block))

    async def start(self) -> None:
        """Print what an earlier run decided and did not deliver (it stopped first). Once:
        a sent action's row is deleted a moment later, and must not be queued again."""
        if self._started:
            return
        self._started = True
        await self.runtime.resume(PLATFORM)
        await self._show()

    async def _show(self) -> None:
        """Wait until the actions queued so far are delivered; print them in order."""
        await self.runtime.delivered(PLATFORM)
        held, self._held = sorted(self._held), []
        for _, block in held:
            self._print(block)

    async def is_admin(self, chat: ChatRef, person: Person) -> bool:
        if chat != GROUP:
            return chat.id == DM_PREFIX + person.ref.id
        return person.name.casefold() in self.admins

    async def run(self, lines: Iterable[str]) -> None:
        await self.start()
        for line in lines:
            await self.handle_line(line)

    async def handle_line(self, raw: str) -> None:
        line = raw.strip()
        if not line or line.startswith("#"):
            return
        if self.echo:
            self._print(f"> {line}")
        clock_match = _CLOCK_RE.match(line)
        if clock_match:
            await self._set_clock(clock_match.group("date"), clock_match.group("time"))
            return
        if line.startswith("@"):
            self._print("! " + "clock lines look like `@ 2026-11-30 09:00` or `@ 09:00`")
            return
        match = _LINE_RE.match(line)
        if match and not line.lower().startswith("geo:"):
            name, private, text = (
                match.group("name").strip(),
                bool(match.group("dm")),
                match.group("text"),
            )
        elif self.default_sender:
            name, private, text = self.default_sender, False, line
        else:
            self._print("! " + "lines look like `NAME: TEXT` or `NAME (dm): TEXT`")
            return
        await self._tick()
        event = self._event(name, private, text.strip())
        if event is not None:
            self._lines += 1
            key = f"line:{self._run}:{self._lines}"
            await self.runtime.handle(PLATFORM, key, event, self.is_admin)
            await self._show()
        await self.sender.drain()

    def _event(self, name: str, private: bool, text: str) -> Event | None:
        person = Person(PersonRef(PLATFORM, name), name)
        chat = ChatRef(PLATFORM, DM_PREFIX + name) if private else GROUP
        origin = Origin(chat=chat, sender=person, is_private=private)
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            name, at, _ = command.partition("@")  # "/cmd@bot": addressed to the bot
            return CommandEvent(origin, name, args.strip(), addressed=bool(at))
        geo = _GEO_RE.match(text)
        if geo:
            # the core checks the range and answers bad coordinates itself
            accuracy = geo.group("u")
            return LocationEvent(
                origin,
                float(geo.group("lat")),
                float(geo.group("lon")),
                float(accuracy) if accuracy else None,
            )
        return TextEvent(origin, text)

    async def _set_clock(self, day: str | None, clock_time: str) -> None:
        zone = await self._zone()
        hour, minute = (int(x) for x in clock_time.split(":"))
        try:
            local_day = date.fromisoformat(day) if day else self.clock.now().astimezone(zone).date()
            wall_time = time(hour, minute)
        except ValueError:  # 2026-13-40, 25:99
            when = f"{day} {clock_time}" if day else clock_time
            self._print("! " + f"no such day or time: {when}")
            return
        target = wall_clock_instant(local_day, wall_time, zone)
        if self.clock.simulated is None:
            self.clock.set(target)
        # everything scheduled up to the target runs, in order, each at its own time
        while (due := await self.bot.next_due()) is not None and due <= target:
            self.clock.set(due)
            await self._tick()
        self.clock.set(target)
        await self._tick()

    async def _tick(self) -> None:
        if self.echo:
            # printed before the first block this tick brings, if it brings any
            self._stamp = f"# {self.clock.now().astimezone(await self._zone()):%Y-%m-%d %H:%M}"
        await self.runtime.deliver(await self.bot.tick())
        await self._show()
        await self.sender.drain()
        self._stamp = None

    async def _zone(self) -> ZoneInfo:
        """The console group's timezone (the default until /setup)."""
        group = await self.bot.repo.cities.group_for_chat(GROUP)
        return ZoneInfo(group.settings.timezone if group else self.bot.default_timezone)

    # --- output ---------------------------------------------------------------------------

    def _print(self, block: str) -> None:
        if self._stamp is not None:
            stamp, self._stamp = self._stamp, None
            self._print(stamp)
        self.out.write(block + "\n\n")
        self.out.flush()

    @staticmethod
    def _where(chat: ChatRef) -> str:
        if chat.id.startswith(DM_PREFIX):
            return f"[dm {chat.id[len(DM_PREFIX) :]}]"
        return "[group]"

    def render(self, action: Action) -> str:
        if isinstance(action, SendText | EditText):
            head = self._where(action.chat) + (" (edited)" if isinstance(action, EditText) else "")
            return "\n".join([head, action.text, *self._buttons(action.buttons)])
        if isinstance(action, DirectMessage):
            return "\n".join(
                [f"[dm {action.person.id}]", action.text, *self._buttons(action.buttons)]
            )
        if isinstance(action, SendPoll):
            # the options are labelled by the core ("3. Café Museum": /vote 3)
            options = [f"  {option}" for option in action.options]
            return "\n".join([self._where(action.chat), action.question, *options])
        if isinstance(action, ClosePoll):
            return "\n".join([self._where(action.chat), "(poll closed)"])
        if isinstance(action, SendVenue):
            return "\n".join(
                [
                    self._where(action.chat),
                    f"📍 {action.title}",
                    *([action.address] if action.address else []),
                    f"geo:{action.latitude:.5f},{action.longitude:.5f}",
                ]
            )
        raise TypeError(f"the console cannot show {type(action).__name__}")

    @staticmethod
    def _buttons(buttons: Iterable[Button]) -> list[str]:
        lines = []
        for button in buttons:
            command = "/" + (button.command_name or button.command)
            lines.append(
                f"  [{button.label}] → {command}" + (f" {button.args}" if button.args else "")
            )
        return lines
