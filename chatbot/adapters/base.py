"""What `chatbot run` expects of a platform adapter."""

from __future__ import annotations

import asyncio
from typing import Protocol

from chatbot.core.actions import Action, DirectMessage


class Unreachable(Exception):
    """The platform will not deliver to this person (Telegram: never started the bot, or
    blocked it). `perform` raises it for a DirectMessage."""


class RetryAfter(Exception):
    """The platform asked to wait (a 429 that the adapter did not absorb itself)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Performer(Protocol):
    """Carries out the core's actions on one platform."""

    platform: str  # the name used in ChatRef/PersonRef: "telegram", "matrix", "console"

    async def perform(self, action: Action, *, key: str | None = None) -> None:
        """Carry out one action of the core, whichever platform's update caused it (the
        runtime routes it here). A DirectMessage to someone the platform won't deliver
        to raises `Unreachable`; a wait the platform asks for raises `RetryAfter`; other
        failures that can pass (the network, 5xx) raise, and the caller retries.
        `key`: a stable idempotency key for this action, where the platform can use one
        (Matrix's transaction id)."""
        ...

    # optional: `def private_chat_link(self, start: str) -> str | None`, a link that opens
    # a private chat with the bot (Telegram deep link), shown when pings can't be delivered


class PlatformAdapter(Performer, Protocol):
    async def run(self, stop: asyncio.Event) -> None:
        """Receive updates and hand them to the core until `stop` is set; then finish the
        updates in flight, save the delivery position and return."""
        ...


def platform_of(action: Action) -> str:
    """Which platform an action goes to."""
    if isinstance(action, DirectMessage):
        return action.person.platform
    return action.chat.platform
