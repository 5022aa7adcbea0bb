"""python-telegram-bot's HTTP layer on aiohttp instead of httpx, and the adapter's Bot.

PTB sends every Bot API call through a `telegram.request.BaseRequest`; its default,
`HTTPXRequest`, costs about 0.75-0.95 ms of CPU per call on this kind of machine
(httpx, httpcore and anyio in between), aiohttp about 0.15-0.25 ms (measured in the
same run against the fake Bot API server; bench/telegram_e2e.py shows the effect end
to end). A busy bot is CPU-bound in exactly this loop, and aiohttp is already ours (the
webhook server), so the adapter plugs it in through PTB's documented extension point
(`ApplicationBuilder.request` / `.get_updates_request`). Everything above the transport
(the Bot methods, the rate limiter, error parsing into `RetryAfter`, `BadRequest`,
`Forbidden`, ...) stays PTB's.

Parameters go as one JSON body (`application/json`, which the Bot API accepts for every
method) instead of a form with JSON-encoded fields: no percent-encoding of a long text
and keyboard. Uploads, which the bot does not make today, go as multipart like PTB's.

As with PTB's default, TLS trusts certifi's CA bundle and HTTP(S)_PROXY/NO_PROXY from
the environment are honoured (read once per host).

Timeouts map to aiohttp's: `connect` (waiting for a pooled connection plus
connecting), `sock_connect`, `sock_read`, and a `total` cap of connect + write + read
so that a stalled upload cannot hang. Timeouts raise PTB's
`TimedOut`, other transport failures `NetworkError`; neither message contains the URL
(it holds the token).

`AdapterBot` is PTB's `ExtBot` (with its rate limiter) plus `call_json`: a Bot API call
with JSON parameters whose result stays JSON, for the hottest call, sendMessage of
/heute (see `Sender.send_text`).
"""

from __future__ import annotations

import json
import logging
import ssl
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import certifi
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

from chatbot.redact import redact

log = logging.getLogger(__name__)

JSON_HEADERS = {"Content-Type": "application/json"}
# PTB passes "no value given" as a DefaultValue; its class, reached through the public
# BaseRequest.DEFAULT_NONE instead of PTB's private telegram._utils
DEFAULT = type(BaseRequest.DEFAULT_NONE)
Timeout = float | None | object  # a number of seconds, None (no limit) or a DefaultValue


def _seconds(given: Timeout, default: float | None) -> float | None:
    if isinstance(given, DEFAULT):
        return default
    return float(given) if isinstance(given, int | float) else None


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` on one `aiohttp.ClientSession` (created at `initialize`, in the
    running loop) with at most `pool_size` connections."""

    def __init__(
        self,
        *,
        pool_size: int = 256,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 15.0,
        write_timeout: float | None = 15.0,
        pool_timeout: float | None = 10.0,
    ) -> None:
        self.pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # as PTB's httpx did: certifi's CA bundle
            tls = ssl.create_default_context(cafile=certifi.where())
            connector = aiohttp.TCPConnector(limit=self.pool_size, limit_per_host=0, ssl=tls)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )
        self._proxies.clear()

    def _proxy_for(self, url: str) -> str | None:
        """The proxy for this URL from HTTP(S)_PROXY and NO_PROXY, read once per host
        (aiohttp's trust_env reads the whole environment on every request, which costs
        more than the request)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            proxy = urllib.request.getproxies().get(parts.scheme)
            if proxy and urllib.request.proxy_bypass(parts.hostname or ""):
                proxy = None
            self._proxies[key] = proxy
        return self._proxies[key]

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(
        self,
        read: Timeout,
        write: Timeout,
        connect: Timeout,
        pool: Timeout,
    ) -> aiohttp.ClientTimeout:
        read_s = _seconds(read, self._read_timeout)
        write_s = _seconds(write, self._write_timeout)
        connect_s = _seconds(connect, self._connect_timeout)
        pool_s = _seconds(pool, self._pool_timeout)
        waiting = None if pool_s is None or connect_s is None else pool_s + connect_s
        parts = (connect_s, write_s, read_s)
        total = None if any(p is None for p in parts) else sum(p for p in parts if p)
        return aiohttp.ClientTimeout(
            total=total, connect=waiting, sock_connect=connect_s, sock_read=read_s
        )

    @staticmethod
    def _body(request_data: RequestData | None) -> dict[str, Any]:
        if request_data is None:
            return {}
        if not request_data.contains_files:
            return {"data": json.dumps(request_data.parameters), "headers": JSON_HEADERS}
        form = aiohttp.FormData()
        for name, value in request_data.json_parameters.items():
            form.add_field(name, value)
        for name, upload in request_data.multipart_data.items():
            filename, content, *rest = upload
            form.add_field(name, content, filename=filename, content_type=rest[0] if rest else None)
        return {"data": form}

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        write_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        connect_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        pool_timeout: Timeout = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, pool_timeout)
        try:
            async with self._session.request(
                method,
                url,
                timeout=timeout,
                proxy=self._proxy_for(url),
                **self._body(request_data),
            ) as response:
                payload = await response.read()
        except TimeoutError as error:
            raise TimedOut(f"Timed out ({type(error).__name__})") from None
        except aiohttp.ClientError as error:
            raise NetworkError(redact(f"aiohttp.{type(error).__name__}: {error}")) from None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s: %s", method, url, response.status)  # the token is redacted
        return response.status, payload


class AdapterBot(ExtBot[Any]):
    async def call_json(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """`method` with parameters that are JSON already; its result as JSON, not as a
        PTB object. It goes the way every typed method goes (`_post`: defaults, the rate
        limiter, the same errors), minus building objects for the parameters and parsing
        the answer into one (a message with 20 buttons costs more to parse back than to
        send)."""
        result = await self._post(method, params)
        if not isinstance(result, dict):
            raise TelegramError(f"{method}: unexpected result {type(result).__name__}")
        return result
