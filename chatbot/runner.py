"""`chatbot run`: every platform whose credentials are configured, in one process."""

from __future__ import annotations

import logging

from chatbot.config import Settings

log = logging.getLogger(__name__)


async def run_platforms(settings: Settings) -> int:
    platforms = []
    if settings.telegram_token:
        platforms.append("telegram")
    if settings.matrix_homeserver and settings.matrix_user_id:
        platforms.append("matrix")
    if not platforms:
        log.error(
            "no platform configured: set CHATBOT_TELEGRAM_TOKEN, or CHATBOT_MATRIX_HOMESERVER,"
            " CHATBOT_MATRIX_USER_ID and CHATBOT_MATRIX_PASSWORD (or _ACCESS_TOKEN);"
            " `chatbot console` needs none"
        )
        return 2
    log.error("platform adapters are not built yet: %s", ", ".join(platforms))
    return 2
