"""Neutral events that adapters hand to the core.

Chats and people are referenced by (platform, id) pairs, so one city group can
later be reached through a Telegram group and a Matrix room alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ChatRef:
    platform: str
    id: str


@dataclass(frozen=True)
class PersonRef:
    platform: str
    id: str


@dataclass(frozen=True)
class Person:
    ref: PersonRef
    name: str
    language: str | None = None  # what the platform says about the person, if anything


@dataclass(frozen=True)
class Origin:
    """Where an event came from and who caused it."""

    chat: ChatRef
    sender: Person
    is_private: bool
    thread: str | None = None  # forum topic (Telegram) or thread, answers go there
    message_id: str | None = None
    command_prefix: str = "/"  # what this platform's users type before a command
    chat_title: str | None = None  # the group's or room's name, where the platform gives one
    # when the person sent it, where the platform says (not for button presses): a
    # command that arrives much later (the bot was down) is not applied as if new
    sent_at: datetime | None = None


@dataclass(frozen=True)
class CommandEvent:
    origin: Origin
    name: str  # without prefix and without @botname, any case
    args: str = ""
    # meant for this bot for sure: "/cmd@botname", a reply to the bot, a mention of it.
    # In a group, an unknown command that is not addressed gets no answer (another
    # bot's command, e.g. "!remind" or "/poll new")
    addressed: bool = False


@dataclass(frozen=True)
class TextEvent:
    origin: Origin
    text: str


@dataclass(frozen=True)
class LocationEvent:
    origin: Origin
    latitude: float
    longitude: float
    accuracy_m: float | None = None
    live: bool = False
    title: str | None = None  # a shared venue's name, if the platform sends one
    address: str | None = None


@dataclass(frozen=True)
class VoteEvent:
    origin: Origin
    poll_id: str
    option_indexes: tuple[int, ...] = field(default_factory=tuple)  # empty: vote retracted


@dataclass(frozen=True)
class ButtonPress:
    """A button maps to a command: pressing it is the same as sending the command."""

    origin: Origin
    command: str
    args: str = ""


@dataclass(frozen=True)
class MemberJoined:
    origin: Origin
    member: Person
    is_the_bot: bool = False


@dataclass(frozen=True)
class MemberLeft:
    origin: Origin
    member: Person
    is_the_bot: bool = False


Event = (
    CommandEvent | TextEvent | LocationEvent | VoteEvent | ButtonPress | MemberJoined | MemberLeft
)
