"""Neutral actions that the core gives back to adapters.

Every button maps to a command with arguments, so a platform without buttons can
offer the same thing as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chatbot.core.events import ChatRef, PersonRef


@dataclass(frozen=True)
class Button:
    label: str
    command: str  # canonical command key, e.g. "join"
    args: str = ""
    command_name: str = ""  # the command's name in the chat's language, e.g. "dabei"


@dataclass(frozen=True)
class SendText:
    chat: ChatRef
    text: str
    buttons: tuple[Button, ...] = ()
    thread: str | None = None
    reply_to: str | None = None
    ask_location: bool = False  # offer a "share my location" button where the platform can
    location_label: str = ""  # that button's label, in the chat's language
    rejected: bool = False  # the answer to rejected input (a UserError): a fixed edit may retry


@dataclass(frozen=True)
class EditText:
    chat: ChatRef
    message_id: str
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class SendPoll:
    chat: ChatRef
    question: str
    options: tuple[str, ...]
    poll_key: str  # the core's id for the poll; adapters map it to the platform's
    thread: str | None = None


@dataclass(frozen=True)
class ClosePoll:
    chat: ChatRef
    poll_key: str
    text: str = ""  # what the poll's end says, where the platform shows one (Matrix)


@dataclass(frozen=True)
class SendVenue:
    chat: ChatRef
    title: str
    latitude: float
    longitude: float
    address: str = ""
    thread: str | None = None


@dataclass(frozen=True)
class DirectMessage:
    person: PersonRef
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)
    key: str | None = None  # idempotency key (outbox id) where the platform can use one


Action = SendText | EditText | SendPoll | ClosePoll | SendVenue | DirectMessage
