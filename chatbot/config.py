"""Settings from environment variables (prefix CHATBOT_) or a .env file."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHATBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite:///chatbot.db"
    default_language: Literal["de", "en"] = "de"
    default_timezone: str = "Europe/Berlin"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str | None = None  # default: derived from telegram_api_url
    telegram_poll_timeout: int = 30  # seconds a getUpdates long poll waits
    telegram_flood_limits: bool = True  # throttle sends to Telegram's documented limits
    telegram_webhook_url: str | None = None  # public HTTPS URL: webhook mode instead of polling
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    telegram_webhook_secret: SecretStr | None = None  # X-Telegram-Bot-Api-Secret-Token

    matrix_homeserver: str | None = None
    matrix_user_id: str | None = None
    matrix_password: SecretStr | None = None
    matrix_access_token: SecretStr | None = None
    # who may invite the bot: comma-separated server names or user ids; empty: anyone
    matrix_allowed: str = ""
    # bridges (chatbot.adapters.matrix.bridges): in a room linked to a Telegram group the
    # bot serves itself, messages a bridge relays from there are ignored (answered on
    # Telegram): senders matching `ghosts`, the bridge bot of an m.bridge naming one of
    # `protocols`, bodies matching `relays` (regular expressions; empty: none)
    matrix_bridge_ghosts: str = r"^@telegram_\d+:"
    matrix_bridge_relays: str = r"^\[telegram\] <[^>]+>"
    matrix_bridge_protocols: str = "telegram"
    # end-to-end encryption: where the bot's device keys are kept (default: a folder
    # next to the database, <database>.matrix-crypto) and the passphrase they are
    # stored under (default: a fixed one; the folder is readable by the bot only)
    matrix_crypto_store: str | None = None
    matrix_crypto_key: SecretStr | None = None
    # direct messages (pings, reminders) per second the outbox sends on Matrix; replies
    # use what the homeserver allows beyond that (Synapse's default: 0.2/s, burst 10)
    matrix_pace: float = 10.0

    # the city pages and calendar feeds (chatbot.web): served when web_port is set
    web_port: int | None = None
    web_listen: str = "127.0.0.1"
    # the base URL people reach those pages at (behind a proxy): links the bot sends
    public_url: str | None = None

    @field_validator("matrix_bridge_ghosts", "matrix_bridge_relays")
    @classmethod
    def _valid_pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}, e.g. Europe/Berlin") from None
        return value

    def platforms(self) -> list[str]:
        """The platforms whose settings are present (`chatbot run` serves them)."""
        names = []
        if self.telegram_token:
            names.append("telegram")
        if self.matrix_homeserver and self.matrix_user_id:
            names.append("matrix")
        return names

    def secrets(self) -> list[str]:
        """Every secret value set, for the log filter that keeps them out of logs."""
        values = [
            self.telegram_token,
            self.telegram_webhook_secret,
            self.matrix_password,
            self.matrix_access_token,
            self.matrix_crypto_key,
        ]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
