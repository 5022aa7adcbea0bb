"""Matrix login: a configured access token, else the stored one, else the password,
reusing the stored device (no new device per start); the token of a password login is
stored for the next start. Every token and the password are redacted from the logs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from chatbot.adapters.matrix.http import MatrixApi, MatrixError, TransportError
from chatbot.adapters.matrix.mapping import PLATFORM
from chatbot.config import Settings
from chatbot.core.ports import Ledger
from chatbot.redact import protect
from chatbot.runtime.retry import RECONNECT, sleep_or_stop

log = logging.getLogger(__name__)

DEVICE_NAME = "chatbot"


class LoginStore(Protocol):
    def atomic(self) -> Any: ...
    @property
    def ledger(self) -> Ledger: ...


def secret(value: Any) -> str | None:
    """The text of a setting that may be a pydantic SecretStr (None when empty)."""
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return str(text) or None


class Login:
    def __init__(self, settings: Settings, api: MatrixApi, repo: LoginStore) -> None:
        self.settings = settings
        self.api = api
        self.repo = repo
        self.user_id = api.user_id

    async def login(self, stop: asyncio.Event) -> bool:
        """Log in (configured token, stored token, or password), waiting out outages;
        False when it cannot be done (wrong credentials) or `stop` came first."""
        failures = 0
        while not stop.is_set():
            try:
                return await self._login_once()
            except TransportError as error:
                failures += 1
                wait = RECONNECT.delay(failures)
                log.warning("Matrix login: %s; retrying in %.0f s", error, wait)
            except MatrixError as error:
                if not error.transient:
                    log.error("Matrix login failed: %s %s", error.status, error.errcode)
                    return False
                failures += 1
                wait = RECONNECT.delay(failures)
                if error.rate_limited and error.retry_after_ms:
                    wait = min(error.retry_after_ms / 1000, 60.0)
                log.warning("Matrix login: %s; retrying in %.0f s", error.errcode, wait)
            if await sleep_or_stop(wait, stop):
                break
        return False

    async def _login_once(self) -> bool:
        configured = secret(self.settings.matrix_access_token)
        password = secret(self.settings.matrix_password)
        if configured:
            self.api.access_token = configured
            if await self._token_works():
                log.info(
                    "Matrix: using the configured access token (device %s)", self.api.device_id
                )
                return True
            log.error("Matrix: the configured access token was rejected")
            if not password:
                return False
        else:
            stored = await self.repo.ledger.platform_value(PLATFORM, "access_token")
            if stored:
                protect(stored)
                self.api.access_token = stored
                if await self._token_works():
                    log.info("Matrix: logged in again with device %s", self.api.device_id)
                    return True
                log.info("Matrix: the stored access token was rejected; logging in again")
        if not password:
            log.error(
                "Matrix: no usable credentials; set CHATBOT_MATRIX_PASSWORD or"
                " CHATBOT_MATRIX_ACCESS_TOKEN"
            )
            return False
        await self._password_login(password)
        return True

    async def _password_login(self, password: str) -> None:
        """Log in with the password, reusing the stored device (no new device per start)."""
        device = self.api.device_id or await self.repo.ledger.platform_value(PLATFORM, "device_id")
        self.api.access_token = None
        token, device = await self.api.login_password(
            password, device_id=device, device_name=DEVICE_NAME
        )
        protect(token)
        async with self.repo.atomic():
            await self.repo.ledger.set_platform_value(PLATFORM, "access_token", token)
            await self.repo.ledger.set_platform_value(PLATFORM, "device_id", device)
        log.info("Matrix: logged in as %s with device %s", self.user_id, device)

    async def _token_works(self) -> bool:
        try:
            user_id, device = await self.api.whoami()
        except MatrixError as error:
            if error.unknown_token or error.status == 401:
                return False
            raise
        if user_id != self.user_id:
            log.error("Matrix: the access token belongs to %s, not %s", user_id, self.user_id)
            return False
        self.api.device_id = device
        return True

    async def relogin(self) -> bool:
        """After the homeserver revoked the token: log in with the password again."""
        password = secret(self.settings.matrix_password)
        if not password:
            log.error("Matrix: the access token was revoked and no password is configured")
            return False
        log.info("Matrix: the access token was revoked; logging in again")
        try:
            await self._password_login(password)
        except (MatrixError, TransportError) as error:
            log.error("Matrix: logging in again failed: %s", error)
            return False
        return True
