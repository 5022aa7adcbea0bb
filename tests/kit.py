"""A small test kit for the core: a city group chat driven by people's lines,
with the real SQLite repository, a fake clock and an admin list we own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chatbot.core.actions import Action, DirectMessage, SendText
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.events import (
    ChatRef,
    CommandEvent,
    LocationEvent,
    Origin,
    Person,
    PersonRef,
    VoteEvent,
)
from chatbot.core.model import OutboxMessage

BERLIN = ZoneInfo("Europe/Berlin")
PLATFORM = "test"


def berlin(text: str) -> datetime:
    """ "2026-11-30 09:00" in Berlin, as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


@dataclass
class FakeAdmins:
    """Who the 'platform' says is an admin; records every question it was asked."""

    names: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    async def __call__(self, chat: ChatRef, person: Person) -> bool:
        self.asked.append(person.name)
        return person.name in self.names


@dataclass
class GroupChat:
    bot: Bot
    clock: FakeClock
    admins: FakeAdmins
    chat: ChatRef = field(default_factory=lambda: ChatRef(PLATFORM, "group-1"))
    sent: list[Action] = field(default_factory=list)
    title: str | None = None  # the chat's title, as a platform gives it

    @property
    def platform(self) -> str:
        return self.chat.platform

    def person(self, name: str, language: str | None = None) -> Person:
        return Person(PersonRef(self.platform, name.lower()), name, language)

    def origin(self, name: str, *, private: bool = False) -> Origin:
        """Where NAME writes: this chat, or NAME's private chat with the bot."""
        chat = ChatRef(self.platform, f"dm-{name.lower()}") if private else self.chat
        return Origin(
            chat=chat,
            sender=self.person(name),
            is_private=private,
            command_prefix=self.bot.prefix(self.platform),
            chat_title=None if private else self.title,
        )

    async def say(self, name: str, text: str, *, private: bool = False) -> list[Action]:
        """NAME sends a command; returns the actions the bot gave back."""
        assert text.startswith("/"), "the kit sends commands"
        command, _, args = text[1:].partition(" ")
        command, at, _ = command.partition("@")  # "/cmd@bot": addressed to the bot
        origin = self.origin(name, private=private)
        event = CommandEvent(origin, command, args, addressed=bool(at))
        actions = await self.bot.handle(event, self.admins)
        self.sent.extend(actions)
        return actions

    async def reply_text(self, name: str, text: str, **kwargs: bool) -> str:
        """The text of the bot's single message in answer to NAME's command, in the chat
        NAME wrote in (news for the group from a private chat is left out)."""
        actions = await self.say(name, text, **kwargs)
        here = self.origin(name, private=kwargs.get("private", False)).chat
        texts = [a.text for a in actions if isinstance(a, SendText) and a.chat == here]
        assert len(texts) == 1, f"expected one message, got {actions!r}"
        return texts[0]

    async def vote(self, name: str, poll_key: str, *indexes: int) -> list[Action]:
        """NAME answers the native poll (0-based option indexes; none: retract)."""
        origin = self.origin(name)
        actions = await self.bot.handle(VoteEvent(origin, poll_key, tuple(indexes)), self.admins)
        self.sent.extend(actions)
        return actions

    async def share(
        self,
        name: str,
        latitude: float,
        longitude: float,
        *,
        private: bool = False,
        title: str | None = None,
        address: str | None = None,
    ) -> list[Action]:
        """NAME shares a location (a venue, with a title)."""
        origin = self.origin(name, private=private)
        event = LocationEvent(origin, latitude, longitude, title=title, address=address)
        actions = await self.bot.handle(event, self.admins)
        self.sent.extend(actions)
        return actions

    async def advance(self, when: datetime) -> list[Action]:
        """Move the clock to `when`, running everything due on the way at its own time."""
        actions: list[Action] = []
        while (due := await self.bot.next_due()) is not None and due <= when:
            self.clock.set(due)
            actions += await self.bot.tick()
        self.clock.set(when)
        actions += await self.bot.tick()
        self.sent.extend(actions)
        return actions

    async def pending(self, kind: str | None = None) -> list[OutboxMessage]:
        """Direct messages waiting in the outbox (pings, reminders, notices), by kind."""
        far = self.clock.now() + timedelta(days=400)
        due = await self.bot.repo.outbox.due_messages(
            self.platform, far, 100_000, stale_claim=self.clock.now() - timedelta(days=400)
        )
        return [m for m in due if kind is None or m.kind == kind]

    def direct_messages(self) -> list[DirectMessage]:
        return [a for a in self.sent if isinstance(a, DirectMessage)]
