"""The Matrix adapter (matrix-nio transport, Synapse-tested).

``build(settings, bot, repo)`` gives the ``PlatformAdapter`` that ``chatbot run``
starts when ``CHATBOT_MATRIX_HOMESERVER`` and ``CHATBOT_MATRIX_USER_ID`` are set.

Modules: ``adapter`` (the ``MatrixAdapter``: login, delivery, admins, composing the
parts), ``sync`` (the sync loop, back-fill, the saved sync token), ``timeline`` (a room's
timeline events: encrypted ones and late keys, edits, origins), ``membership`` (members,
the bot joining and leaving, invites, room upgrades, gone rooms), ``direct`` (m.direct,
direct rooms and messages), ``polls`` (MSC3381 polls, the poll registry), ``login``,
``mapping`` (Matrix JSON <-> core events and actions), ``crypto`` (end-to-end
encryption: decrypting and encrypting room events), ``keys`` (the device's keys: its
store, key upload, query and claim, to-device events), ``admins`` (power levels ->
admin), ``rooms`` (room state from sync), ``bridges`` (what a bridge relays is
ignored), ``http`` (the client-server endpoints used), ``redact`` (no secrets in logs).
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
