"""The adapter's HTTP layer (transport.py): PTB over aiohttp, JSON bodies, PTB's errors
for timeouts and broken connections (without the token in them), uploads as multipart,
and `AdapterBot.call_json` with PTB's error mapping."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import InputFile
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from chatbot.adapters.telegram.ratelimit import FloodLimiter
from chatbot.adapters.telegram.transport import AdapterBot, AiohttpRequest
from tests.fakes.telegram_api import FakeTelegramServer

TOKEN = "123456:TRANSPORT-TEST-TOKEN-abcdef"
GROUP = -1001234567890


class Recorder:
    """A bare HTTP server that keeps what it was sent and answers like the Bot API."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.pause = 0.0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        entry: dict[str, Any] = {
            "host": request.headers.get("Host", ""),
            "path": request.path,
            "content_type": request.content_type,
            "agent": request.headers.get("User-Agent", ""),
        }
        if request.content_type == "application/json":
            entry["json"] = await request.json()
        elif request.content_type.startswith("multipart/"):
            form = await request.post()
            entry["form"] = {
                key: (value.filename, value.file.read())
                if isinstance(value, web.FileField)
                else value
                for key, value in form.items()
            }
        self.requests.append(entry)
        await asyncio.sleep(self.pause)
        if request.path.endswith("/getMe"):
            result: dict[str, Any] = {"id": 1, "is_bot": True, "first_name": "Bot", "username": "B"}
        else:
            result = {"message_id": 5, "date": 0, "chat": {"id": GROUP, "type": "supergroup"}}
        return web.json_response({"ok": True, "result": result})

    async def __aenter__(self) -> Recorder:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def url(self, method: str) -> str:
        return f"http://127.0.0.1:{self.port}/bot{TOKEN}/{method}"


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    async with Recorder() as server:
        yield server


@pytest.fixture
async def request_() -> AsyncIterator[AiohttpRequest]:
    transport = AiohttpRequest(read_timeout=5.0)
    await transport.initialize()
    yield transport
    await transport.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_parameters_go_as_one_json_body(recorder: Recorder) -> None:
    bot = AdapterBot(
        TOKEN,
        base_url=f"http://127.0.0.1:{recorder.port}/bot",
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(pool_size=1),
    )
    async with bot:
        keyboard = {"inline_keyboard": [[{"text": "Dabei", "callback_data": "b:x"}]]}
        result = await bot.call_json(
            "sendMessage", {"chat_id": GROUP, "text": "Heute: ä & %", "reply_markup": keyboard}
        )
    assert result["message_id"] == 5
    sent = recorder.requests[-1]
    assert sent["path"].endswith("/sendMessage")
    assert sent["content_type"] == "application/json"
    assert sent["json"] == {"chat_id": GROUP, "text": "Heute: ä & %", "reply_markup": keyboard}
    assert sent["agent"].startswith("python-telegram-bot")


async def test_uploads_go_as_multipart(recorder: Recorder, request_: AiohttpRequest) -> None:
    bot = AdapterBot(
        TOKEN,
        base_url=f"http://127.0.0.1:{recorder.port}/bot",
        request=request_,
        get_updates_request=AiohttpRequest(pool_size=1),
    )
    async with bot:
        await bot.send_document(
            GROUP, InputFile(b"a,b\n1,2\n", filename="plan.csv"), caption="Plan"
        )
    sent = recorder.requests[-1]
    assert sent["content_type"] == "multipart/form-data"
    assert sent["form"]["caption"] == "Plan"
    assert json.loads(sent["form"]["chat_id"]) == GROUP
    files = [v for v in sent["form"].values() if isinstance(v, tuple)]
    assert files == [("plan.csv", b"a,b\n1,2\n")]


async def test_a_slow_answer_is_a_timeout(recorder: Recorder, request_: AiohttpRequest) -> None:
    recorder.pause = 1.0
    with pytest.raises(TimedOut):
        await request_.post(recorder.url("getMe"), read_timeout=0.2)


async def test_a_refused_connection_is_a_network_error_without_the_token(
    request_: AiohttpRequest,
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/bot{TOKEN}/getMe"
    with pytest.raises(NetworkError) as raised:
        await request_.post(url)
    assert not isinstance(raised.value, TimedOut)
    assert TOKEN not in str(raised.value) and "TRANSPORT-TEST" not in str(raised.value)


async def test_call_json_raises_ptbs_errors() -> None:
    async with FakeTelegramServer() as server:
        server.add_chat(GROUP, "supergroup", title="Coworking")
        bot = AdapterBot(
            server.token,
            base_url=server.base_url,
            request=AiohttpRequest(),
            get_updates_request=AiohttpRequest(pool_size=1),
            rate_limiter=FloodLimiter(enabled=False, max_retries=0),
        )
        async with bot:
            sent = await bot.call_json("sendMessage", {"chat_id": GROUP, "text": "Hallo"})
            assert sent["text"] == "Hallo" and sent["chat"]["id"] == GROUP
            server.fail_next("sendMessage", error_code=429, retry_after=3)
            with pytest.raises(RetryAfter):
                await bot.call_json("sendMessage", {"chat_id": GROUP, "text": "zu schnell"})
            with pytest.raises(BadRequest):
                await bot.call_json("sendMessage", {"chat_id": GROUP, "text": ""})


async def test_the_proxy_from_the_environment_is_used_unless_no_proxy_says_otherwise(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the recorder plays an HTTP proxy: it gets the request meant for another host
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{recorder.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for name in ("http_proxy", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    transport = AiohttpRequest(read_timeout=5.0)
    await transport.initialize()
    try:
        await transport.post(f"http://api.telegram.example/bot{TOKEN}/getMe")
        assert recorder.requests[-1]["host"] == "api.telegram.example"
        assert recorder.requests[-1]["path"] == f"/bot{TOKEN}/getMe"
        seen = len(recorder.requests)
        with pytest.raises(NetworkError):  # NO_PROXY: straight to a closed port
            await transport.post(f"http://127.0.0.1:{_free_port()}/bot{TOKEN}/getMe")
        assert len(recorder.requests) == seen
    finally:
        await transport.shutdown()
