"""`chatbot check-config` and `chatbot health`: verdicts an operator can act on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp

from chatbot.config import Settings
from chatbot.runtime.runtime import CONTACT
from chatbot.storage.sqlite import SqliteRepository

HEARTBEAT = ("core", "heartbeat")  # written by `chatbot run` on every tick
HEALTHY_WITHIN = timedelta(minutes=2)


async def check_config(settings: Settings, out: list[str]) -> bool:
    """Check the database and reach every configured platform; append verdict lines."""
    ok = True
    try:
        repo = await SqliteRepository.open(settings.database_url)
        await repo.close()
        out.append(f"ok    database {settings.database_url}")
    except Exception as error:  # noqa: BLE001 - any failure is the verdict
        out.append(f"FAIL  database {settings.database_url}: {error}")
        ok = False
    configured = settings.platforms()
    if not configured:
        out.append(
            "FAIL  no platform configured: set CHATBOT_TELEGRAM_TOKEN, or"
            " CHATBOT_MATRIX_HOMESERVER, CHATBOT_MATRIX_USER_ID and a password or access token"
        )
        return False
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        if "telegram" in configured:
            ok = await _check_telegram(settings, http, out) and ok
        if "matrix" in configured:
            ok = await _check_matrix(settings, http, out) and ok
    return ok


async def _check_telegram(settings: Settings, http: aiohttp.ClientSession, out: list[str]) -> bool:
    assert settings.telegram_token is not None
    url = (
        f"{settings.telegram_api_url.rstrip('/')}{settings.telegram_token.get_secret_value()}/getMe"
    )
    try:
        async with http.get(url) as response:
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        out.append(f"FAIL  telegram: cannot reach the Bot API ({type(error).__name__})")
        return False
    if not body.get("ok"):
        out.append(f"FAIL  telegram: {body.get('description', 'rejected')} (is the token right?)")
        return False
    out.append(f"ok    telegram: logged in as @{body['result'].get('username')}")
    return True


async def _check_matrix(settings: Settings, http: aiohttp.ClientSession, out: list[str]) -> bool:
    base = (settings.matrix_homeserver or "").rstrip("/")
    try:
        async with http.get(f"{base}/_matrix/client/versions") as response:
            if response.status != 200:
                out.append(f"FAIL  matrix: {base} answered {response.status}, not a homeserver?")
                return False
        if settings.matrix_access_token:
            token = settings.matrix_access_token.get_secret_value()
            headers = {"Authorization": f"Bearer {token}"}
            async with http.get(f"{base}/_matrix/client/v3/account/whoami", headers=headers) as r:
                body = await r.json(content_type=None)
            if r.status != 200:
                out.append(f"FAIL  matrix: the access token was refused ({body.get('errcode')})")
                return False
            out.append(f"ok    matrix: logged in as {body.get('user_id')}")
            return True
        if settings.matrix_password:
            login = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": settings.matrix_user_id},
                "password": settings.matrix_password.get_secret_value(),
                "initial_device_display_name": "chatbot check-config",
            }
            async with http.post(f"{base}/_matrix/client/v3/login", json=login) as r:
                body = await r.json(content_type=None)
            if r.status != 200:
                out.append(f"FAIL  matrix: login refused ({body.get('errcode')})")
                return False
            headers = {"Authorization": f"Bearer {body['access_token']}"}
            async with http.post(f"{base}/_matrix/client/v3/logout", headers=headers, json={}):
                pass  # the check's own device goes again
            out.append(f"ok    matrix: logged in as {body.get('user_id')}")
            return True
        out.append("FAIL  matrix: set CHATBOT_MATRIX_PASSWORD or CHATBOT_MATRIX_ACCESS_TOKEN")
        return False
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        out.append(f"FAIL  matrix: cannot reach {base} ({type(error).__name__})")
        return False


async def healthy(settings: Settings, out: list[str] | None = None) -> bool:
    """Did `chatbot run` tick within the last two minutes? Also reports, per configured
    platform, when it last answered (a platform that is down is reported, but the bot
    is healthy as long as it ticks: the other platforms go on)."""
    repo = await SqliteRepository.open(settings.database_url)
    now = datetime.now(UTC)
    lines = out if out is not None else []
    try:
        beat = await repo.ledger.platform_value(*HEARTBEAT)
        for platform in settings.platforms():
            contact = await repo.ledger.platform_value(platform, CONTACT)
            if contact is None:
                lines.append(f"{platform}: no contact yet")
                continue
            ago = now - datetime.fromisoformat(contact)
            verdict = "ok" if ago <= HEALTHY_WITHIN else "DOWN"
            lines.append(f"{platform}: {verdict}, last answered {int(ago.total_seconds())} s ago")
    finally:
        await repo.close()
    if beat is None:
        lines.insert(0, "core: not running (no heartbeat)")
        return False
    ago = now - datetime.fromisoformat(beat)
    ok = ago <= HEALTHY_WITHIN
    lines.insert(0, f"core: {'ok' if ok else 'STALE'}, ticked {int(ago.total_seconds())} s ago")
    return ok


def run_check(settings: Settings) -> int:
    lines: list[str] = []
    ok = asyncio.run(check_config(settings, lines))
    print("\n".join(lines))
    print("configuration ok" if ok else "configuration has problems")
    return 0 if ok else 1
