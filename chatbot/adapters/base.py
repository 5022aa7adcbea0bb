"""What `chatbot run` expects of a platform adapter."""

from __future__ import annotations

import asyncio
from typing import Protocol

from chatbot.core.actions import Action, DirectMessage


class PlatformAdapter(Protocol):
    platform: str  # the name used in ChatRef/PersonRef: "telegram", "matrix", "console"

    async def run(self, stop: asyncio.Event) -> None:
        """Receive updates and hand them to the core until `stop` is set; then finish the
        updates in flight, save the delivery position and return."""
        ...

    async def perform(self, action: Action) -> None:
        """Carry out one action of the core (also ones that did not come from an update
        of this adapter, e.g. the ticker's)."""
        ...


def platform_of(action: Action) -> str:
    """Which platform an action goes to."""
    if isinstance(action, DirectMessage):
        return action.person.platform
    return action.chat.platform
