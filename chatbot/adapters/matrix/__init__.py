"""The Matrix adapter (matrix-nio transport, Synapse-tested).

``build(settings, bot, repo)`` gives the ``PlatformAdapter`` that ``chatbot run``
starts when ``CHATBOT_MATRIX_HOMESERVER`` and ``CHATBOT_MATRIX_USER_ID`` are set.

Modules: ``adapter`` (login, sync loop, delivery, invites, direct rooms), ``mapping``
(Matrix JSON <-> core events and actions), ``admins`` (power levels -> admin),
``sender`` (one send queue per room, rate limits), ``rooms`` (room state from sync),
``http`` (the client-server endpoints used), ``redact`` (no secrets in logs).
"""

from __future__ import annotations

from chatbot.adapters.matrix.adapter import MatrixAdapter
from chatbot.config import Settings
from chatbot.core.bot import Bot
from chatbot.runtime import Runtime
from chatbot.storage.sqlite import SqliteRepository

__all__ = ["MatrixAdapter", "build"]


def build(
    settings: Settings, bot: Bot, repo: SqliteRepository, runtime: Runtime | None = None
) -> MatrixAdapter:
    return MatrixAdapter(settings, bot, repo, runtime=runtime)
