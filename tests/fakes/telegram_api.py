"""A fake Telegram Bot API server for tests and benchmarks.

It speaks enough of https://core.telegram.org/bots/api over real HTTP on 127.0.0.1 that
python-telegram-bot (``Bot``/``Application``) can run against it unchanged, and it lets a
test script the world around the bot: chats, members, incoming updates, failures, flood
limits, and then check what the bot sent.

Usage in an async test (same event loop as the bot)::

    async with FakeTelegramServer() as tg:
        bot = Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)
        tg.add_chat(-1001, "supergroup", title="Duisburg")
        tg.push_update(tg.message_update(-1001, 42, "/today"))
        ...  # run the bot (e.g. Application with .base_url(tg.base_url))
        call = await tg.wait_for("sendMessage", lambda c: "Café" in c.params["text"])
        assert call.chat_id == -1001

When the bot runs in another event loop, thread or process, use
``ThreadedFakeTelegramServer`` (sync ``start()``/``stop()`` or ``with``): it runs the same
server in its own thread and loop, and its control methods are thread-safe
(``wait_for`` blocks, ``wait_for_async`` awaits from any loop).

What it models
--------------
* ``/bot<token>/<method>`` (method names case-insensitive), GET or POST with JSON,
  urlencoded or multipart bodies; form values holding JSON (objects, arrays, numbers,
  booleans) are decoded, as Telegram does. Wrong token -> 401, unknown method -> 404.
* Methods: getMe, logOut, close, getUpdates (offset/limit/long polling/allowed_updates),
  setWebhook, deleteWebhook, getWebhookInfo, sendMessage, editMessageText,
  editMessageReplyMarkup, deleteMessage, answerCallbackQuery, sendVenue, sendLocation,
  sendPoll, stopPoll, getChatMember, getChatAdministrators, getChat, setMyCommands,
  getMyCommands, deleteMyCommands, sendChatAction.
* Telegram's error texts for the cases bots must handle: kicked/blocked (403),
  never-started private chats (403), migrated groups (400 + migrate_to_chat_id),
  "message is not modified", unknown messages, bad HTML/MarkdownV2, too long texts,
  invalid bot commands, the General forum topic (thread 1), stale callback queries.
* ``parse_mode`` HTML, MarkdownV2 and Markdown are parsed: the returned/stored message
  carries the plain ``text`` plus ``entities``, as Telegram returns it.
* Only inline keyboards are echoed as ``reply_markup`` of a message (like Telegram).
* Chats are created on first use: id > 0 is a private chat, id < 0 a supergroup, unless
  ``add_chat`` said otherwise. Members default to "member", users to "has started the bot".
* Without an explicit ``allowed_updates`` Telegram does not deliver ``chat_member``,
  ``message_reaction`` and ``message_reaction_count`` updates; neither does this server.
* A second ``getUpdates`` ends a running long poll with 409 Conflict, as Telegram does.

Flood limits (only with ``enforce_limits=True``), sliding windows, see ``RateLimiter``:
at most 3 sends per chat within any 1 s (Telegram says "1 per second" but tolerates short
bursts), at most 20 per group chat (negative id) within any 60 s, at most 30 in total
within any 1 s. Sends are sendMessage, sendVenue, sendLocation, sendPoll and
editMessageText. A send over a limit gets 429 "Too Many Requests: retry after N" with
``parameters.retry_after`` = N (whole seconds >= 1 until the send would be allowed) and
is counted in ``server.too_many_requests``; it does not use up the window.

Recording: every request with the right token is recorded as a ``Call`` in
``server.calls`` when it has been answered (including failures; ``call.ok``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import itertools
import json
import math
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

JSON = dict[str, Any]

DEFAULT_TOKEN = "123456:TEST-TOKEN"
ANONYMOUS_ADMIN_ID = 1087968824  # Telegram's @GroupAnonymousBot

# Update types Telegram leaves out unless they are listed in allowed_updates.
OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
SENDING_METHODS = frozenset(
    {"sendMessage", "sendVenue", "sendLocation", "sendPoll", "editMessageText"}
)
MAX_TEXT_LENGTH = 4096
_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")


# --------------------------------------------------------------------------- errors


class ApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": ..., ...}``."""

    def __init__(self, error_code: int, description: str, parameters: JSON | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(text: str, parameters: JSON | None = None) -> ApiError:
    return ApiError(400, f"Bad Request: {text}", parameters)


def forbidden(text: str) -> ApiError:
    return ApiError(403, f"Forbidden: {text}")


def _default_description(error_code: int, retry_after: int | None) -> str:
    if error_code == 429:
        return f"Too Many Requests: retry after {retry_after or 1}"
    texts = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }
    return texts.get(error_code, "Error")


# --------------------------------------------------------------------------- records


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Call:
    """One answered request. ``time`` is ``time.monotonic()`` at arrival."""

    method: str
    params: JSON
    chat_id: int | str | None
    time: float
    status: int = 0
    response: JSON | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        """The ``result`` of a successful call (None for failed ones)."""
        return self.response.get("result") if self.response else None

    @property
    def description(self) -> str | None:
        """The error description of a failed call."""
        return self.response.get("description") if self.response else None

    def summary(self) -> str:
        outcome = "ok" if self.ok else f"{self.status} {self.description}"
        params = json.dumps(self.params, ensure_ascii=False, default=str)
        if len(params) > 200:
            params = params[:197] + "..."
        return f"{self.method}(chat_id={self.chat_id!r}) -> {outcome}; params={params}"


@dataclass
class _Failure:
    error_code: int
    description: str
    parameters: JSON | None
    times: int
    chat_id: int | str | None


@dataclass
class _Delay:
    seconds: float
    times: int | None


@dataclass
class ChatState:
    """What the server knows about a chat. ``members`` maps user id -> status."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    is_forum: bool = False
    migrated_to: int | None = None
    next_message_id: int = 1
    members: dict[int, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- parameters

# Parameters that are strings even when they look like JSON ("42", "true", "[x]").
_STRING_PARAMS = frozenset(
    {
        "text", "caption", "question", "title", "address", "data", "url", "description",
        "short_description", "name", "explanation", "callback_query_id", "inline_message_id",
        "parse_mode", "action", "language_code", "secret_token", "ip_address", "custom_title",
        "foursquare_id", "foursquare_type", "google_place_id", "google_place_type",
        "business_connection_id", "message_effect_id", "emoji", "query", "switch_pm_text",
    }
)  # fmt: skip
_JSON_SCALAR_RE = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false")


def decode_form_value(name: str, value: str) -> Any:
    """Decode a form field value the way Telegram does (JSON where it fits the value)."""
    if name in _STRING_PARAMS:
        return value
    stripped = value.strip()
    if stripped[:1] in ("{", "[") or _JSON_SCALAR_RE.fullmatch(stripped):
        try:
            return json.loads(stripped)
        except ValueError:
            return value
    return value


async def read_params(request: web.Request) -> JSON:
    """All parameters of a request: query string plus JSON, urlencoded or multipart body."""
    params: JSON = {k: decode_form_value(k, v) for k, v in request.query.items()}
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
        return params
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            params[key] = UploadedFile(value.filename, value.content_type, value.file.read())
        else:
            params[key] = decode_form_value(key, str(value))
    return params


def _as_chat_id(value: Any) -> int | str | None:
    if value is None or isinstance(value, int):
        return value
    text = str(value)
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def _as_int(params: JSON, name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _require(params: JSON, name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise bad_request(f"{name} is empty")
    return value


def _reply_to_id(params: JSON) -> int | None:
    reply = params.get("reply_parameters")
    if isinstance(reply, dict) and reply.get("message_id") is not None:
        return int(reply["message_id"])
    return _as_int(params, "reply_to_message_id")


def _inline_markup(markup: Any) -> JSON | None:
    """The markup Telegram stores on a message: only non-empty inline keyboards."""
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        return markup
    return None


# --------------------------------------------------------------------------- formatting


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _cant_parse(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


class _TextBuilder:
    """Collects plain text and entities with UTF-16 offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.entities: list[JSON] = []

    def add_text(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def add_entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.length > start:
            entity = {"type": kind, "offset": start, "length": self.length - start, **extra}
            self.entities.append(entity)

    def finish(self) -> tuple[str, list[JSON]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), entities


_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link",
    "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}  # fmt: skip


class _TelegramHtmlParser(HTMLParser):
    """Telegram's HTML subset: supported tags only, properly nested."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._out = _TextBuilder()
        self._open: list[tuple[str, str, int, JSON]] = []

    def parse(self) -> tuple[str, list[JSON]]:
        self.feed(self._source)
        self.close()
        if self._open:
            raise _cant_parse(
                f'Can\'t find end tag corresponding to start tag "{self._open[-1][0]}"'
            )
        return self._out.finish()

    def _offset(self) -> int:
        line, column = self.getpos()
        lines = self._source.split("\n")
        index = sum(len(text) + 1 for text in lines[: line - 1]) + column
        return _byte_offset(self._source, index)

    def handle_data(self, data: str) -> None:
        self._out.add_text(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        kind = _HTML_TAGS.get(tag)
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            kind = None
        if kind is None:
            raise _cant_parse(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')
        extra: JSON = {}
        if tag == "a":
            extra["url"] = attributes.get("href") or ""
        elif tag == "tg-emoji":
            extra["custom_emoji_id"] = attributes.get("emoji-id") or ""
        elif tag == "blockquote" and "expandable" in attributes:
            kind = "expandable_blockquote"
        self._open.append((tag, kind, self._out.length, extra))

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1][0] != tag:
            expected = self._open[-1][0] if self._open else ""
            raise _cant_parse(
                f'Unmatched end tag at byte offset {self._offset()}, expected "</{expected}>", '
                f'found "</{tag}>"'
            )
        _, kind, start, extra = self._open.pop()
        self._out.add_entity(kind, start, **extra)


_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_MARKERS = {
    "||": "spoiler",
    "__": "underline",
    "*": "bold",
    "_": "italic",
    "~": "strikethrough",
}
_MD_LEGACY_MARKERS = {"*": "bold", "_": "italic"}
_ENTITY_NAMES = {
    "bold": "Bold", "italic": "Italic", "underline": "Underline",
    "strikethrough": "Strikethrough", "spoiler": "Spoiler", "text_link": "TextUrl",
}  # fmt: skip


class _MarkdownParser:
    """MarkdownV2 (``legacy=False``) or the old Markdown (``legacy=True``) of Telegram."""

    def __init__(self, source: str, *, legacy: bool) -> None:
        self.source = source
        self.legacy = legacy
        self.markers = _MD_LEGACY_MARKERS if legacy else _MD2_MARKERS
        self.out = _TextBuilder()
        self.open: list[tuple[str, str, int, int]] = []  # marker, kind, start, source index
        self.pos = 0

    def parse(self) -> tuple[str, list[JSON]]:
        while self.pos < len(self.source):
            self._step()
        if self.open:
            _, kind, _, index = self.open[0]
            raise self._unclosed(kind, index)
        return self.out.finish()

    def _unclosed(self, kind: str, index: int) -> ApiError:
        offset = _byte_offset(self.source, index)
        if self.legacy:
            return _cant_parse(f"Can't find end of the entity starting at byte offset {offset}")
        name = _ENTITY_NAMES.get(kind, kind.capitalize())
        return _cant_parse(f"Can't find end of {name} entity at byte offset {offset}")

    def _step(self) -> None:
        source, i = self.source, self.pos
        char = source[i]
        if char == "\\" and i + 1 < len(source) and self._escapable(source[i + 1]):
            self.out.add_text(source[i + 1])
            self.pos += 2
        elif char == "`":
            self._code()
        elif marker := self._marker_at(i):
            self._toggle(marker)
        elif char == "[":
            self.open.append(("[", "text_link", self.out.length, i))
            self.pos += 1
        elif char == "]" and self.open and self.open[-1][0] == "[":
            self._link_end()
        elif not self.legacy and char == ">" and (i == 0 or source[i - 1] == "\n"):
            self.pos += 1  # block quote marker; accepted, no entity produced
        elif not self.legacy and char in _MD2_RESERVED:
            raise _cant_parse(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            self.out.add_text(char)
            self.pos += 1

    def _escapable(self, char: str) -> bool:
        return char in "_*`[" if self.legacy else 0 < ord(char) < 127

    def _marker_at(self, index: int) -> str | None:
        for marker in self.markers:
            if self.source.startswith(marker, index):
                return marker
        return None

    def _toggle(self, marker: str) -> None:
        for position in range(len(self.open) - 1, -1, -1):
            if self.open[position][0] == marker:
                _, kind, start, _ = self.open.pop(position)
                self.out.add_entity(kind, start)
                break
        else:
            self.open.append((marker, self.markers[marker], self.out.length, self.pos))
        self.pos += len(marker)

    def _link_end(self) -> None:
        source, i = self.source, self.pos
        if not source.startswith("(", i + 1):
            if self.legacy:
                self.out.add_text("]")
                self.pos += 1
                return
            raise _cant_parse(
                "Character ']' is reserved and must be escaped with the preceding '\\'"
            )
        close = source.find(")", i + 2)
        if close < 0:
            raise self._unclosed("text_link", i)
        _, kind, start, _ = self.open.pop()
        self.out.add_entity(kind, start, url=source[i + 2 : close].replace("\\", ""))
        self.pos = close + 1

    def _code(self) -> None:
        source, i = self.source, self.pos
        fence = "```" if source.startswith("```", i) else "`"
        end = self._find_unescaped(fence, i + len(fence))
        if end < 0:
            raise self._unclosed("pre" if fence == "```" else "code", i)
        body = source[i + len(fence) : end]
        extra: JSON = {}
        if fence == "```" and "\n" in body:
            language, body = body.split("\n", 1)
            if language.strip():
                extra["language"] = language.strip()
        start = self.out.length
        self.out.add_text(re.sub(r"\\([\\`])", r"\1", body))
        self.out.add_entity("pre" if fence == "```" else "code", start, **extra)
        self.pos = end + len(fence)

    def _find_unescaped(self, fence: str, start: int) -> int:
        index = start
        while index < len(self.source):
            if self.source[index] == "\\":
                index += 2
                continue
            if self.source.startswith(fence, index):
                return index
            index += 1
        return -1


def _strip_text(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Trim surrounding whitespace like Telegram, keeping entities aligned."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    limit = utf16_len(stripped)
    result = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return stripped, result


def parse_formatted(text: str, parse_mode: str | None, entities: Any = None) -> tuple[str, list]:
    """Plain text and entities of a formatted text, or the Bot API error Telegram gives."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        plain, found = _TelegramHtmlParser(text).parse()
    elif mode == "markdownv2":
        plain, found = _MarkdownParser(text, legacy=False).parse()
    elif mode == "markdown":
        plain, found = _MarkdownParser(text, legacy=True).parse()
    elif mode:
        raise bad_request(f"unsupported parse_mode {parse_mode}")
    else:
        plain, found = text, list(entities or [])
    return _strip_text(plain, found)


def command_entities(text: str) -> list[JSON]:
    """``bot_command`` entities, as Telegram adds them to incoming messages."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m[0])}
        for m in _COMMAND_RE.finditer(text)
    ]


# --------------------------------------------------------------------------- flood limits


class RateLimiter:
    """Telegram's documented flood limits as sliding windows.

    * ``per_chat``: at most 3 sends per chat within any 1 s (bursts over "1/s" tolerated),
    * ``per_group``: at most 20 sends per group chat (negative id) within any 60 s,
    * ``overall``: at most 30 sends in total within any 1 s.

    ``clock`` can be replaced (e.g. by a fake clock) to test minute limits quickly.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        per_chat: tuple[int, float] = (3, 1.0),
        per_group: tuple[int, float] = (20, 60.0),
        overall: tuple[int, float] = (30, 1.0),
    ) -> None:
        self.clock = clock
        self.per_chat = per_chat
        self.per_group = per_group
        self.overall = overall
        self._windows: dict[tuple[str, Any], deque[float]] = defaultdict(deque)

    def _rules(self, chat_id: int | str | None) -> list[tuple[tuple[str, Any], int, float]]:
        rules = [(("all", None), *self.overall)]
        if chat_id is not None:
            rules.append((("chat", chat_id), *self.per_chat))
            if isinstance(chat_id, int) and chat_id < 0:
                rules.append((("group", chat_id), *self.per_group))
        return rules

    def acquire(self, chat_id: int | str | None) -> int | None:
        """Record a send and return None, or return retry_after (s) if over a limit."""
        now = self.clock()
        retry_after = 0.0
        rules = self._rules(chat_id)
        for key, limit, window in rules:
            stamps = self._windows[key]
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if len(stamps) >= limit:
                retry_after = max(retry_after, stamps[-limit] + window - now)
        if retry_after > 0:
            return max(1, math.ceil(retry_after))
        for key, _, _ in rules:
            self._windows[key].append(now)
        return None


# --------------------------------------------------------------------------- server

MethodHandler = Callable[[JSON], Any]


class FakeTelegramServer:
    """In-process fake of the Telegram Bot API (see the module docstring)."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "CoworkBot",
        *,
        enforce_limits: bool = False,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.enforce_limits = enforce_limits
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 123456
        self.bot_user: JSON = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_username,
            "username": bot_username,
        }
        self.rate_limiter = RateLimiter()
        self.too_many_requests = 0
        self.calls: list[Call] = []
        self.chats: dict[int, ChatState] = {}
        self.users: dict[int, JSON] = {}
        self.messages: dict[tuple[int, int], JSON] = {}
        self.polls: dict[str, JSON] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.webhook: JSON | None = None
        self.allowed_updates: list[str] | None = None
        self.drop_pending_updates_requests: list[bool] = []
        self.never_started: set[int] = set()
        self._poll_votes: dict[str, dict[int, list[int]]] = defaultdict(dict)
        self._callback_ids: set[str] = set()
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1000)
        self._ids = itertools.count(1)
        self._failures: dict[str, list[_Failure]] = defaultdict(list)
        self._delays: dict[str, _Delay] = {}
        self._poll_generation = 0
        self._updates_changed = asyncio.Event()
        self._calls_changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._handlers: dict[str, tuple[str, MethodHandler]] = self._method_table()

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> FakeTelegramServer:
        """Serve on 127.0.0.1 on a free port, in the running event loop."""
        self._closing.clear()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Stop serving; pending long polls and delays end at once."""
        self._closing.set()
        self._wake(self._updates_changed)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegramServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegramServer is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``Bot(token, base_url=...)``; python-telegram-bot appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ----------------------------------------------------------------- chat state

    def add_chat(
        self,
        chat_id: int,
        type: str | None = None,  # noqa: A002 - the Bot API's name
        *,
        title: str | None = None,
        is_forum: bool = False,
        username: str | None = None,
    ) -> ChatState:
        """Create or update a chat ("private", "group", "supergroup", "channel")."""
        chat = self._chat(chat_id, type)
        if type is not None:
            chat.type = type
        if title is not None:
            chat.title = title
        if username is not None:
            chat.username = username
        chat.is_forum = is_forum
        return chat

    def set_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JSON:
        """Create or update a user; builders and getChatMember use these details."""
        user = self.users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        )
        details = {
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
        }
        user.update({key: value for key, value in details.items() if value is not None})
        return user

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        """Set a user's (or the bot's, ``server.bot_id``) status in a chat."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"status must be one of {MEMBER_STATUSES}, not {status!r}")
        self._chat(chat_id).members[user_id] = status

    def member_status(self, chat_id: int, user_id: int) -> str:
        return self._chat(chat_id).members.get(user_id, "member")

    def kick_bot(self, chat_id: int, *, notify: bool = False) -> None:
        """Remove the bot from a group (or: the user blocked it, for a private chat).

        Sends to the chat then fail with 403. ``notify=True`` also pushes the
        ``my_chat_member`` update Telegram would send.
        """
        old_status = self.member_status(chat_id, self.bot_id)
        self.set_member(chat_id, self.bot_id, "kicked")
        if notify:
            self.push_update(self.my_chat_member_update(chat_id, old_status, "kicked"))

    def user_never_started(self, user_id: int) -> None:
        """The bot may not open a private chat with this user (403 on sends)."""
        self.never_started.add(user_id)

    def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        """The group ``old_chat_id`` became the supergroup ``new_chat_id``."""
        old = self._chat(old_chat_id, "group")
        old.migrated_to = new_chat_id
        new = self.add_chat(new_chat_id, "supergroup", title=old.title)
        for user_id, status in old.members.items():
            new.members.setdefault(user_id, status)

    def commands_for(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The commands the bot set for a scope (default scope) and language."""
        return list(self.commands.get(_commands_key(scope, language_code), []))

    # ----------------------------------------------------------------- failures

    def fail_next(
        self,
        method: str,
        *,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (to ``chat_id`` if given) with an error.

        ``description`` defaults to Telegram's text for the code, e.g. "Too Many Requests:
        retry after N" for 429 or "Bad Gateway" for 502.
        """
        parameters: JSON = {}
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        if migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = migrate_to_chat_id
        failure = _Failure(
            error_code=error_code,
            description=description or _default_description(error_code, retry_after),
            parameters=parameters or None,
            times=times,
            chat_id=_as_chat_id(chat_id),
        )
        self._failures[self._canonical(method)].append(failure)

    def delay(self, method: str, seconds: float, *, times: int | None = None) -> None:
        """Answer ``method`` only after ``seconds`` (all calls, or the next ``times``).

        ``delay(method, 0)`` removes the delay.
        """
        name = self._canonical(method)
        if seconds <= 0:
            self._delays.pop(name, None)
        else:
            self._delays[name] = _Delay(seconds, times)

    # ----------------------------------------------------------------- recording

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of one method (name case-insensitive)."""
        name = self._canonical(method)
        return [call for call in self.calls if call.method == name]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of successful sendMessage calls (to one chat if given), as sent."""
        return [
            call.params.get("text", "")
            for call in self.calls_to("sendMessage")
            if call.ok and (chat_id is None or call.chat_id == chat_id)
        ]

    def clear_calls(self) -> None:
        self.calls.clear()

    async def wait_for(  # noqa: ASYNC109 - a plain timeout keeps test code short
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
        count: int = 1,
    ) -> Any:
        """Wait until ``count`` recorded calls of ``method`` match ``predicate``.

        Returns the call for ``count == 1``, else the list of the first ``count`` matches.
        Already recorded calls count too (see ``clear_calls``). On timeout raises an
        AssertionError listing what was received.
        """
        name = self._canonical(method)
        deadline = time.monotonic() + timeout
        while True:
            matches = [
                c for c in self.calls if c.method == name and (not predicate or predicate(c))
            ]
            if len(matches) >= count:
                return matches[0] if count == 1 else matches[:count]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(self._wait_failure(name, count, len(matches), timeout))
            await self._wait_event(self._calls_changed, remaining)

    def _wait_failure(self, name: str, count: int, matched: int, timeout: float) -> str:
        lines = [
            f"timed out after {timeout}s waiting for {count} {name} call(s); {matched} matched."
        ]
        lines.append(f"Received {len(self.calls)} call(s):")
        lines += [f"  {call.summary()}" for call in self.calls[-30:]] or ["  (none)"]
        return "\n".join(lines)

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._wake(self._calls_changed)

    # ----------------------------------------------------------------- updates

    def push_update(self, update: JSON) -> int:
        """Queue an update for getUpdates; returns its update_id and wakes long polls.

        Messages in it are remembered (so replies and edits find them); a my_chat_member
        update about the bot and a migrate message change the chat state like on Telegram;
        a poll_answer counts the vote.
        """
        update = copy.deepcopy(update)
        update_id = next(self._update_ids)
        update["update_id"] = update_id
        self._apply_update(update)
        self._updates.append(update)
        self._wake(self._updates_changed)
        return update_id

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    def _apply_update(self, update: JSON) -> None:
        for key in ("message", "edited_message", "channel_post"):
            if key in update:
                self._remember_message(update[key])
        if "callback_query" in update:
            self._callback_ids.add(str(update["callback_query"]["id"]))
        if "poll_answer" in update:
            self._count_vote(update["poll_answer"])
        member_update = update.get("my_chat_member")
        if member_update and member_update["new_chat_member"]["user"]["id"] == self.bot_id:
            chat = member_update["chat"]
            self.set_member(chat["id"], self.bot_id, member_update["new_chat_member"]["status"])

    def _remember_message(self, message: JSON) -> None:
        chat = self._chat(message["chat"]["id"], message["chat"].get("type"))
        chat.next_message_id = max(chat.next_message_id, message["message_id"] + 1)
        self.messages[(chat.id, message["message_id"])] = message
        if message.get("migrate_to_chat_id"):
            self.migrate(chat.id, message["migrate_to_chat_id"])

    def _count_vote(self, answer: JSON) -> None:
        poll = self.polls.get(str(answer["poll_id"]))
        if poll is None:
            return
        voter = (answer.get("user") or answer.get("voter_chat") or {}).get("id", 0)
        votes = self._poll_votes[poll["id"]]
        votes[voter] = list(answer.get("option_ids", []))
        for index, option in enumerate(poll["options"]):
            option["voter_count"] = sum(index in chosen for chosen in votes.values())
        poll["total_voter_count"] = sum(1 for chosen in votes.values() if chosen)

    # ----------------------------------------------------------------- update builders

    def user_json(self, user_id: int, **details: Any) -> JSON:
        """A User object for ``user_id`` (details as for ``set_user``)."""
        if "language_code" not in details and user_id not in self.users:
            details["language_code"] = "de"
        return dict(self.set_user(user_id, **details))

    def chat_json(self, chat_id: int, chat_type: str | None = None) -> JSON:
        """A Chat object as it appears in messages."""
        chat = self._chat(chat_id, chat_type)
        result: JSON = {"id": chat.id, "type": chat.type}
        if chat.type == "private":
            user = self.users.get(chat.id) or self.set_user(chat.id)
            for key in ("first_name", "last_name", "username"):
                if key in user:
                    result[key] = user[key]
            return result
        result["title"] = chat.title or f"Group {abs(chat.id)}"
        if chat.username:
            result["username"] = chat.username
        if chat.is_forum:
            result["is_forum"] = True
        return result

    def message_update(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        *,
        chat_type: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "de",
        message_thread_id: int | None = None,
        is_topic_message: bool | None = None,
        sender_chat: int | JSON | None = None,
        reply_to_message: int | JSON | None = None,
        location: tuple[float, float] | JSON | None = None,
        venue: JSON | None = None,
    ) -> JSON:
        """``{"message": ...}`` from a user, as Telegram delivers it.

        ``chat_type`` defaults to what the chat is (``add_chat``) or: private for
        ``chat_id > 0``, supergroup otherwise. A text starting with "/" gets bot_command
        entities. ``sender_chat``: a channel id/Chat object; the chat's own id means an
        anonymous group admin. ``reply_to_message``: a message id of a known message in
        this chat, or a Message object. ``location``: (lat, lon) or a Location object.
        ``venue``: a Venue object ({"location", "title", "address"}).
        """
        user = self.user_json(
            user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        message = self._incoming_message(chat_id, user, chat_type)
        self._add_thread(message, message_thread_id, is_topic_message)
        if text is not None:
            message["text"] = text
            if entities := command_entities(text):
                message["entities"] = entities
        if sender_chat is not None:
            self._add_sender_chat(message, chat_id, sender_chat)
        if reply_to_message is not None:
            message["reply_to_message"] = self._lookup_reply(chat_id, reply_to_message)
        if venue is not None:
            message["venue"] = venue
            message["location"] = venue["location"]
        elif location is not None:
            message["location"] = _location_json(location)
        return {"message": message}

    def location_update(
        self,
        chat_id: int,
        user_id: int,
        latitude: float,
        longitude: float,
        *,
        live_period: int | None = None,
        horizontal_accuracy: float | None = None,
        heading: int | None = None,
        **message_kwargs: Any,
    ) -> JSON:
        """A message with a location (a live location when ``live_period`` is given).

        ``message_kwargs`` are those of ``message_update`` (chat_type, first_name, ...).
        """
        location = _location_json(
            (latitude, longitude),
            live_period=live_period,
            horizontal_accuracy=horizontal_accuracy,
            heading=heading,
        )
        return self.message_update(chat_id, user_id, location=location, **message_kwargs)

    def edited_location_update(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        latitude: float,
        longitude: float,
        *,
        live_period: int = 900,
        horizontal_accuracy: float | None = None,
        heading: int | None = None,
    ) -> JSON:
        """``{"edited_message": ...}``: a moved live location of message ``message_id``."""
        original = self.messages.get((chat_id, message_id))
        if original is not None:
            message = copy.deepcopy(original)
        else:
            message = self._incoming_message(chat_id, self.user_json(user_id), None)
            message["message_id"] = message_id
        message["edit_date"] = int(time.time())
        message["location"] = _location_json(
            (latitude, longitude),
            live_period=live_period,
            horizontal_accuracy=horizontal_accuracy,
            heading=heading,
        )
        return {"edited_message": message}

    def callback_query_update(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        *,
        first_name: str | None = None,
        language_code: str | None = "de",
    ) -> JSON:
        """``{"callback_query": ...}``: a user pressed a button of message ``message_id``."""
        user = self.user_json(user_id, first_name=first_name, language_code=language_code)
        message = self.messages.get((chat_id, message_id))
        if message is None:
            message = {
                "message_id": message_id,
                "from": dict(self.bot_user),
                "chat": self.chat_json(chat_id),
                "date": int(time.time()),
                "text": "",
            }
        query = {
            "id": str(next(self._ids) * 1_000_003 + 4_000_000_000_000),
            "from": user,
            "message": copy.deepcopy(message),
            "chat_instance": str(abs(chat_id) * 7 + 1_000_000_000),
            "data": data,
        }
        return {"callback_query": query}

    def poll_answer_update(
        self,
        poll_id: str,
        user_id: int,
        option_ids: Iterable[int],
        *,
        first_name: str | None = None,
    ) -> JSON:
        """``{"poll_answer": ...}``: a vote (empty ``option_ids``: vote retracted)."""
        options = list(option_ids)
        poll = self.polls.get(str(poll_id))
        persistent = [poll["options"][i]["persistent_id"] for i in options] if poll else []
        answer = {
            "poll_id": str(poll_id),
            "user": self.user_json(user_id, first_name=first_name),
            "option_ids": options,
            "option_persistent_ids": persistent or [str(i) for i in options],
        }
        return {"poll_answer": answer}

    def poll_update(self, poll_id: str) -> JSON:
        """``{"poll": ...}``: the current state of a poll the bot sent."""
        return {"poll": copy.deepcopy(self.polls[str(poll_id)])}

    def my_chat_member_update(
        self,
        chat_id: int,
        old_status: str,
        new_status: str,
        *,
        from_user_id: int = 1,
        chat_type: str | None = None,
    ) -> JSON:
        """``{"my_chat_member": ...}``: the bot's status changed (pushing it applies it)."""
        return {
            "my_chat_member": {
                "chat": self.chat_json(chat_id, chat_type),
                "from": self.user_json(from_user_id),
                "date": int(time.time()),
                "old_chat_member": self.chat_member_json(self.bot_user, old_status),
                "new_chat_member": self.chat_member_json(self.bot_user, new_status),
            }
        }

    def migrate_update(self, old_chat_id: int, new_chat_id: int, *, user_id: int = 1) -> JSON:
        """The service message in the old group: ``migrate_to_chat_id`` (pushing applies it)."""
        message = self._incoming_message(old_chat_id, self.user_json(user_id), "group")
        message["migrate_to_chat_id"] = new_chat_id
        return {"message": message}

    def migrate_from_update(self, old_chat_id: int, new_chat_id: int, *, user_id: int = 1) -> JSON:
        """The service message in the new supergroup: ``migrate_from_chat_id``."""
        message = self._incoming_message(new_chat_id, self.user_json(user_id), "supergroup")
        message["migrate_from_chat_id"] = old_chat_id
        return {"message": message}

    def chat_member_json(self, user: JSON, status: str) -> JSON:
        """A ChatMember object of the right subtype for ``status``."""
        member: JSON = {"status": status, "user": dict(user)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(dict.fromkeys(_ADMIN_RIGHTS, True))
            member["can_be_edited"] = False
            member["is_anonymous"] = False
        elif status == "restricted":
            member.update(dict.fromkeys(_RESTRICTED_RIGHTS, False))
            member.update(is_member=True, until_date=0)
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _incoming_message(self, chat_id: int, user: JSON, chat_type: str | None) -> JSON:
        chat = self._chat(chat_id, chat_type)
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return {
            "message_id": message_id,
            "from": user,
            "chat": self.chat_json(chat_id),
            "date": int(time.time()),
        }

    def _add_thread(self, message: JSON, thread_id: int | None, is_topic: bool | None) -> None:
        if thread_id is None:
            return
        message["message_thread_id"] = thread_id
        if is_topic is None:
            is_topic = self._chat(message["chat"]["id"]).is_forum
        if is_topic:
            message["is_topic_message"] = True

    def _add_sender_chat(self, message: JSON, chat_id: int, sender_chat: int | JSON) -> None:
        if isinstance(sender_chat, dict):
            message["sender_chat"] = sender_chat
        elif sender_chat == chat_id:
            message["sender_chat"] = self.chat_json(chat_id)
        else:
            message["sender_chat"] = self.chat_json(sender_chat, "channel")
        if message["sender_chat"]["id"] == chat_id:
            message["from"] = {
                "id": ANONYMOUS_ADMIN_ID,
                "is_bot": True,
                "first_name": "Group",
                "username": "GroupAnonymousBot",
            }

    def _lookup_reply(self, chat_id: int, reply: int | JSON) -> JSON:
        if isinstance(reply, dict):
            return reply
        stored = self.messages.get((chat_id, reply))
        if stored is None:
            raise KeyError(f"no message {reply} in chat {chat_id} to reply to")
        return _without_reply(stored)

    # ----------------------------------------------------------------- HTTP plumbing

    def _method_table(self) -> dict[str, tuple[str, MethodHandler]]:
        handlers: dict[str, MethodHandler] = {
            "getMe": lambda params: dict(self.bot_user, **_GET_ME_EXTRAS),
            "logOut": lambda params: True,
            "close": lambda params: True,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendVenue": self._send_venue,
            "sendLocation": self._send_location,
            "sendPoll": self._send_poll,
            "stopPoll": self._stop_poll,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChat": self._get_chat,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendChatAction": self._send_chat_action,
        }
        return {name.lower(): (name, handler) for name, handler in handlers.items()}

    def _canonical(self, method: str) -> str:
        entry = self._handlers.get(method.lower())
        return entry[0] if entry else method

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(body, status=401)
        started = time.monotonic()
        params = await read_params(request)
        name = self._canonical(request.match_info["method"])
        call = Call(name, params, _as_chat_id(params.get("chat_id")), started)
        try:
            status, body = await self._answer(name, params)
        except BaseException:
            call.status = 500
            self._record(call)
            raise
        call.status, call.response = status, body
        self._record(call)
        return web.json_response(body, status=status, dumps=_dumps)

    async def _answer(self, name: str, params: JSON) -> tuple[int, JSON]:
        try:
            await self._apply_delay(name)
            self._raise_injected_failure(name, _as_chat_id(params.get("chat_id")))
            entry = self._handlers.get(name.lower())
            if entry is None:
                raise ApiError(404, "Not Found")
            result = entry[1](params)
            if isinstance(result, Awaitable):
                result = await result
        except ApiError as error:
            return error.error_code, error.to_json()
        return 200, {"ok": True, "result": copy.deepcopy(result)}

    async def _handle_file(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _apply_delay(self, name: str) -> None:
        delay = self._delays.get(name)
        if delay is None:
            return
        if delay.times is not None:
            delay.times -= 1
            if delay.times <= 0:
                del self._delays[name]
        await self._wait_event(self._closing, delay.seconds)

    def _raise_injected_failure(self, name: str, chat_id: int | str | None) -> None:
        queue = self._failures.get(name, [])
        for failure in queue:
            if failure.chat_id is None or failure.chat_id == chat_id:
                failure.times -= 1
                if failure.times <= 0:
                    queue.remove(failure)
                raise ApiError(failure.error_code, failure.description, failure.parameters)

    @staticmethod
    def _wake(event: asyncio.Event) -> None:
        event.set()
        event.clear()

    @staticmethod
    async def _wait_event(event: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
        # `asyncio.timeout`, not `wait_for`: wait_for runs event.wait() as a new task that
        # starts one loop turn later, and a `_wake` (set, then clear) in that turn went
        # unseen: a long poll slept its whole timeout with an update waiting
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            pass

    # ----------------------------------------------------------------- chat access

    def _chat(self, chat_id: int, chat_type: str | None = None) -> ChatState:
        chat = self.chats.get(chat_id)
        if chat is None:
            inferred = "private" if chat_id > 0 else "supergroup"
            chat = ChatState(id=chat_id, type=chat_type or inferred)
            self.chats[chat_id] = chat
        return chat

    def _find_chat(self, params: JSON) -> ChatState:
        """The chat of ``chat_id``, if the bot may access it (else the Bot API error)."""
        chat_id = _as_chat_id(_require(params, "chat_id"))
        if isinstance(chat_id, str):
            chat_id = self._chat_by_username(chat_id)
        chat = self._chat(chat_id)
        if chat.migrated_to is not None:
            raise bad_request(
                "group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        bot_status = chat.members.get(self.bot_id, "member")
        if chat.type == "private":
            if bot_status == "kicked":
                raise forbidden("bot was blocked by the user")
        elif bot_status == "kicked":
            raise forbidden(f"bot was kicked from the {chat.type} chat")
        elif bot_status == "left":
            raise forbidden(f"bot is not a member of the {chat.type} chat")
        return chat

    def _chat_by_username(self, username: str) -> int:
        for chat in self.chats.values():
            if chat.username and f"@{chat.username}".lower() == username.lower():
                return chat.id
        raise bad_request("chat not found")

    def _sendable_chat(self, params: JSON, method: str) -> ChatState:
        chat = self._find_chat(params)
        if chat.type == "private" and chat.id in self.never_started:
            raise forbidden("bot can't initiate conversation with a user")
        if chat.members.get(self.bot_id) == "restricted":
            raise bad_request("not enough rights to send text messages to the chat")
        thread_id = _as_int(params, "message_thread_id")
        if thread_id is not None and chat.is_forum and thread_id == 1:
            raise bad_request("message thread not found")  # General topic: omit the id
        self._check_flood(method, chat.id)
        return chat

    def _check_flood(self, method: str, chat_id: int) -> None:
        if not self.enforce_limits or method not in SENDING_METHODS:
            return
        retry_after = self.rate_limiter.acquire(chat_id)
        if retry_after is not None:
            self.too_many_requests += 1
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )

    def _stored_message(self, params: JSON, missing: str) -> JSON:
        chat = self._find_chat(params)
        message_id = _as_int(params, "message_id")
        message = self.messages.get((chat.id, message_id or 0))
        if message is None:
            raise bad_request(missing)
        return message

    # ----------------------------------------------------------------- sending

    def _new_message(self, chat: ChatState, params: JSON) -> JSON:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        message: JSON = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": self.chat_json(chat.id),
            "date": int(time.time()),
        }
        thread_id = _as_int(params, "message_thread_id")
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if chat.is_forum:
                message["is_topic_message"] = True
        self._attach_reply(message, chat, params)
        if markup := _inline_markup(params.get("reply_markup")):
            message["reply_markup"] = markup
        if params.get("protect_content") is True:
            message["has_protected_content"] = True
        return message

    def _attach_reply(self, message: JSON, chat: ChatState, params: JSON) -> None:
        reply_id = _reply_to_id(params)
        if reply_id is None:
            return
        replied = self.messages.get((chat.id, reply_id))
        if replied is not None:
            message["reply_to_message"] = _without_reply(replied)
            return
        reply = params.get("reply_parameters")
        tolerant = params.get("allow_sending_without_reply") is True or (
            isinstance(reply, dict) and reply.get("allow_sending_without_reply") is True
        )
        if not tolerant:
            raise bad_request("message to be replied not found")

    def _store(self, message: JSON) -> JSON:
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        return message

    def _send_message(self, params: JSON) -> JSON:
        raw = str(params.get("text") or "")
        text, entities = parse_formatted(raw, params.get("parse_mode"), params.get("entities"))
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        chat = self._sendable_chat(params, "sendMessage")
        message = self._new_message(chat, params)
        message["text"] = text
        if entities:
            message["entities"] = entities
        return self._store(message)

    def _send_location(self, params: JSON) -> JSON:
        latitude = float(_require(params, "latitude"))
        longitude = float(_require(params, "longitude"))
        chat = self._sendable_chat(params, "sendLocation")
        message = self._new_message(chat, params)
        message["location"] = _location_json(
            (latitude, longitude),
            live_period=_as_int(params, "live_period"),
            horizontal_accuracy=params.get("horizontal_accuracy"),
            heading=_as_int(params, "heading"),
        )
        return self._store(message)

    def _send_venue(self, params: JSON) -> JSON:
        location = _location_json(
            (float(_require(params, "latitude")), float(_require(params, "longitude")))
        )
        venue: JSON = {
            "location": location,
            "title": str(_require(params, "title")),
            "address": str(_require(params, "address")),
        }
        for key in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
            if params.get(key):
                venue[key] = params[key]
        chat = self._sendable_chat(params, "sendVenue")
        message = self._new_message(chat, params)
        message.update(venue=venue, location=location)
        return self._store(message)

    def _send_poll(self, params: JSON) -> JSON:
        poll = self._build_poll(params)
        chat = self._sendable_chat(params, "sendPoll")
        message = self._new_message(chat, params)
        message["poll"] = poll
        self.polls[poll["id"]] = poll
        return self._store(message)

    def _build_poll(self, params: JSON) -> JSON:
        question = str(_require(params, "question"))
        if len(question) > 300:
            raise bad_request("poll question length must not exceed 300")
        options = [_option_text(option) for option in params.get("options") or []]
        if not options:
            raise bad_request("poll must have at least 1 option")
        if len(options) > 12:
            raise bad_request("poll can't have more than 12 options")
        if any(not text or len(text) > 100 for text in options):
            raise bad_request("poll options length must not exceed 100")
        poll_id = str(5_000_000_000_000_000_000 + next(self._ids))
        poll_type = params.get("type") or "regular"
        return {
            "id": poll_id,
            "question": question,
            "options": [
                {"text": text, "voter_count": 0, "persistent_id": f"{poll_id}-{index}"}
                for index, text in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": bool(params.get("is_closed", False)),
            "is_anonymous": bool(params.get("is_anonymous", True)),
            "type": poll_type,
            "allows_multiple_answers": bool(params.get("allows_multiple_answers", False)),
            "allows_revoting": bool(params.get("allows_revoting", poll_type == "regular")),
            "members_only": bool(params.get("members_only", False)),
        }

    def _stop_poll(self, params: JSON) -> JSON:
        message = self._stored_message(params, "message with poll to stop not found")
        poll = message.get("poll")
        if poll is None:
            raise bad_request("message with poll to stop not found")
        if poll["is_closed"]:
            raise bad_request("poll has already been closed")
        poll["is_closed"] = True
        if "reply_markup" in params:
            _set_markup(message, params.get("reply_markup"))
        return poll

    # ----------------------------------------------------------------- editing

    def _edit_message_text(self, params: JSON) -> Any:
        raw = str(params.get("text") or "")
        text, entities = parse_formatted(raw, params.get("parse_mode"), params.get("entities"))
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        if params.get("inline_message_id"):
            return True
        message = self._stored_message(params, "message to edit not found")
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        markup = _inline_markup(params.get("reply_markup"))
        same = (
            message["text"] == text
            and message.get("entities", []) == entities
            and message.get("reply_markup") == markup
        )
        if same:
            raise bad_request(NOT_MODIFIED)
        self._check_flood("editMessageText", message["chat"]["id"])
        message["text"] = text
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    def _edit_message_reply_markup(self, params: JSON) -> Any:
        if params.get("inline_message_id"):
            return True
        message = self._stored_message(params, "message to edit not found")
        markup = _inline_markup(params.get("reply_markup"))
        if message.get("reply_markup") == markup:
            raise bad_request(NOT_MODIFIED)
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    def _delete_message(self, params: JSON) -> bool:
        message = self._stored_message(params, "message to delete not found")
        del self.messages[(message["chat"]["id"], message["message_id"])]
        return True

    def _answer_callback_query(self, params: JSON) -> bool:
        query_id = str(_require(params, "callback_query_id"))
        if query_id not in self._callback_ids:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._callback_ids.discard(query_id)
        return True

    def _send_chat_action(self, params: JSON) -> bool:
        _require(params, "action")
        chat = self._find_chat(params)
        if chat.type == "private" and chat.id in self.never_started:
            raise forbidden("bot can't initiate conversation with a user")
        return True

    # ----------------------------------------------------------------- chats and members

    def _get_chat(self, params: JSON) -> JSON:
        chat = self._find_chat(params)
        info = self.chat_json(chat.id)
        info.update(_CHAT_FULL_INFO_EXTRAS)
        return info

    def _get_chat_member(self, params: JSON) -> JSON:
        chat = self._find_chat(params)
        user_id = _as_int(params, "user_id")
        if user_id is None:
            raise bad_request("user not found")
        user = self.bot_user if user_id == self.bot_id else self.user_json(user_id)
        return self.chat_member_json(user, self.member_status(chat.id, user_id))

    def _get_chat_administrators(self, params: JSON) -> list[JSON]:
        chat = self._find_chat(params)
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        admins = []
        for user_id, status in chat.members.items():
            if status in ("creator", "administrator"):
                user = self.bot_user if user_id == self.bot_id else self.user_json(user_id)
                admins.append(self.chat_member_json(user, status))
        return admins

    # ----------------------------------------------------------------- commands

    def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not _BOT_COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = _commands_key(params.get("scope"), params.get("language_code") or "")
        self.commands[key] = [
            {"command": str(c["command"]), "description": str(c["description"])} for c in commands
        ]
        return True

    def _get_my_commands(self, params: JSON) -> list[JSON]:
        return self.commands_for(params.get("scope"), params.get("language_code") or "")

    def _delete_my_commands(self, params: JSON) -> bool:
        key = _commands_key(params.get("scope"), params.get("language_code") or "")
        self.commands.pop(key, None)
        return True

    # ----------------------------------------------------------------- updates and webhooks

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        limit = min(max(_as_int(params, "limit", 100) or 100, 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if isinstance(params.get("allowed_updates"), list):
            self.allowed_updates = [str(kind) for kind in params["allowed_updates"]]
        self._confirm(_as_int(params, "offset", 0) or 0)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake(self._updates_changed)  # ends an older long poll with 409
        deadline = time.monotonic() + timeout
        while True:
            self._drop_unwanted_updates()
            if self._updates:
                return self._updates[:limit]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closing.is_set():
                return []
            await self._wait_event(self._updates_changed, remaining)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _drop_unwanted_updates(self) -> None:
        wanted = set(self.allowed_updates or []) or None
        self._updates = [u for u in self._updates if _update_is_wanted(u, wanted)]

    def _set_webhook(self, params: JSON) -> bool:
        url = str(params.get("url") or "")
        self._maybe_drop_pending(params)
        if not url:
            self.webhook = None
            return True
        self.webhook = {
            "url": url,
            "max_connections": _as_int(params, "max_connections", 40),
            "allowed_updates": params.get("allowed_updates"),
            "secret_token": params.get("secret_token"),
        }
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        self._maybe_drop_pending(params)
        self.webhook = None
        return True

    def _maybe_drop_pending(self, params: JSON) -> None:
        drop = params.get("drop_pending_updates") is True
        self.drop_pending_updates_requests.append(drop)
        if drop:
            self._updates.clear()

    def _get_webhook_info(self, params: JSON) -> JSON:
        info: JSON = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook is not None:
            info["url"] = self.webhook["url"]
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook["allowed_updates"]:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info


# --------------------------------------------------------------------------- object helpers

_GET_ME_EXTRAS = {
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}
_CHAT_FULL_INFO_EXTRAS = {
    "accent_color_id": 0,
    "max_reaction_count": 11,
    "accepted_gift_types": {
        "unlimited_gifts": False,
        "limited_gifts": False,
        "unique_gifts": False,
        "premium_subscription": False,
        "gifts_from_channels": False,
    },
}
_ADMIN_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
    "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
    "can_edit_stories", "can_delete_stories", "can_pin_messages", "can_manage_topics",
)  # fmt: skip
_RESTRICTED_RIGHTS = (
    "can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos",
    "can_send_videos", "can_send_video_notes", "can_send_voice_notes", "can_send_polls",
    "can_send_other_messages", "can_add_web_page_previews", "can_change_info",
    "can_invite_users", "can_pin_messages", "can_manage_topics", "can_edit_tag",
    "can_react_to_messages",
)  # fmt: skip


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _location_json(location: tuple[float, float] | JSON, **extra: Any) -> JSON:
    if isinstance(location, dict):
        result = dict(location)
    else:
        result = {"latitude": float(location[0]), "longitude": float(location[1])}
    result.update({key: value for key, value in extra.items() if value is not None})
    return result


def _option_text(option: Any) -> str:
    return str(option.get("text", "")) if isinstance(option, dict) else str(option)


def _set_markup(message: JSON, markup: Any) -> None:
    markup = _inline_markup(markup)
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup


def _without_reply(message: JSON) -> JSON:
    """A copy for ``reply_to_message`` (Telegram does not nest replies further)."""
    result = copy.deepcopy(message)
    result.pop("reply_to_message", None)
    return result


def _commands_key(scope: Any, language_code: str) -> tuple[str, str]:
    scope = scope if isinstance(scope, dict) and scope else {"type": "default"}
    return json.dumps(scope, sort_keys=True), language_code


def _update_is_wanted(update: JSON, wanted: set[str] | None) -> bool:
    kinds = [key for key in update if key != "update_id"]
    kind = kinds[0] if kinds else ""
    if wanted is None:
        return kind not in OPT_IN_UPDATE_TYPES
    return kind in wanted


# --------------------------------------------------------------------------- threaded variant


class ThreadedFakeTelegramServer:
    """A ``FakeTelegramServer`` running in its own thread and event loop.

    For bots running in another loop, thread or a subprocess. All methods are thread-safe:
    they run in the server's loop and return the result. ``server`` is the inner
    ``FakeTelegramServer``; touch it directly only through ``call(fn, ...)``.

        with ThreadedFakeTelegramServer() as tg:
            subprocess.Popen([..., "--telegram-base-url", tg.base_url])
            tg.push_update(tg.message_update(-1001, 42, "/today"))
            call = tg.wait_for("sendMessage", timeout=10)
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "CoworkBot",
        *,
        enforce_limits: bool = False,
    ) -> None:
        self.server = FakeTelegramServer(token, bot_username, enforce_limits=enforce_limits)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> ThreadedFakeTelegramServer:
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="fake-telegram", daemon=True
        )
        self._thread.start()
        started.result(timeout=10)
        return self

    def _run(self, started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.server.start())
        except BaseException as error:
            started.set_exception(error)
            loop.close()
            return
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.server.stop())
            loop.close()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> ThreadedFakeTelegramServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> ThreadedFakeTelegramServer:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def token(self) -> str:
        return self.server.token

    @property
    def bot_id(self) -> int:
        return self.server.bot_id

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def base_file_url(self) -> str:
        return self.server.base_file_url

    # ----------------------------------------------------------------- thread hopping

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in the server's loop and return its result."""
        if self._loop is None:
            raise RuntimeError("ThreadedFakeTelegramServer is not started")

        async def run() -> Any:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def _submit(self, coroutine: Any) -> concurrent.futures.Future[Any]:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("ThreadedFakeTelegramServer is not started")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
        count: int = 1,
    ) -> Any:
        """Blocking ``FakeTelegramServer.wait_for`` (do not call it from the bot's loop)."""
        future = self._submit(self.server.wait_for(method, predicate, timeout, count))
        return future.result(timeout=timeout + 5)

    async def wait_for_async(  # noqa: ASYNC109
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
        count: int = 1,
    ) -> Any:
        """``wait_for`` awaitable from any event loop."""
        future = self._submit(self.server.wait_for(method, predicate, timeout, count))
        return await asyncio.wrap_future(future)

    # ----------------------------------------------------------------- state (snapshots)

    @property
    def calls(self) -> list[Call]:
        """A snapshot of the recorded calls."""
        return self.call(lambda: list(self.server.calls))

    @property
    def too_many_requests(self) -> int:
        return self.call(lambda: self.server.too_many_requests)

    @property
    def drop_pending_updates_requests(self) -> list[bool]:
        return self.call(lambda: list(self.server.drop_pending_updates_requests))

    def calls_to(self, method: str) -> list[Call]:
        return self.call(self.server.calls_to, method)

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        return self.call(self.server.sent_texts, chat_id)

    def clear_calls(self) -> None:
        self.call(self.server.clear_calls)

    def commands_for(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        return self.call(self.server.commands_for, scope, language_code)

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """A copy of a stored message."""
        return self.call(lambda: copy.deepcopy(self.server.messages.get((chat_id, message_id))))

    # ----------------------------------------------------------------- control (proxies)

    def push_update(self, update: JSON) -> int:
        return self.call(self.server.push_update, update)

    def add_chat(self, chat_id: int, type: str | None = None, **kwargs: Any) -> None:  # noqa: A002
        self.call(self.server.add_chat, chat_id, type, **kwargs)

    def set_user(self, user_id: int, **kwargs: Any) -> JSON:
        return self.call(self.server.set_user, user_id, **kwargs)

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        self.call(self.server.set_member, chat_id, user_id, status)

    def kick_bot(self, chat_id: int, *, notify: bool = False) -> None:
        self.call(self.server.kick_bot, chat_id, notify=notify)

    def user_never_started(self, user_id: int) -> None:
        self.call(self.server.user_never_started, user_id)

    def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        self.call(self.server.migrate, old_chat_id, new_chat_id)

    def fail_next(self, method: str, **kwargs: Any) -> None:
        self.call(self.server.fail_next, method, **kwargs)

    def delay(self, method: str, seconds: float, *, times: int | None = None) -> None:
        self.call(self.server.delay, method, seconds, times=times)

    def set_rate_clock(self, clock: Callable[[], float]) -> None:
        """Replace the flood-limit clock (called from the server thread)."""
        self.call(setattr, self.server.rate_limiter, "clock", clock)

    # ----------------------------------------------------------------- builders (proxies)

    def message_update(
        self, chat_id: int, user_id: int, text: str | None = None, **kw: Any
    ) -> JSON:
        return self.call(self.server.message_update, chat_id, user_id, text, **kw)

    def location_update(
        self, chat_id: int, user_id: int, latitude: float, longitude: float, **kw: Any
    ) -> JSON:
        return self.call(self.server.location_update, chat_id, user_id, latitude, longitude, **kw)

    def edited_location_update(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        latitude: float,
        longitude: float,
        **kw: Any,
    ) -> JSON:
        return self.call(
            self.server.edited_location_update,
            chat_id, user_id, message_id, latitude, longitude, **kw,
        )  # fmt: skip

    def callback_query_update(
        self, chat_id: int, user_id: int, message_id: int, data: str, **kw: Any
    ) -> JSON:
        return self.call(
            self.server.callback_query_update, chat_id, user_id, message_id, data, **kw
        )

    def poll_answer_update(
        self, poll_id: str, user_id: int, option_ids: Iterable[int], **kw: Any
    ) -> JSON:
        return self.call(self.server.poll_answer_update, poll_id, user_id, list(option_ids), **kw)

    def poll_update(self, poll_id: str) -> JSON:
        return self.call(self.server.poll_update, poll_id)

    def my_chat_member_update(
        self, chat_id: int, old_status: str, new_status: str, **kw: Any
    ) -> JSON:
        return self.call(self.server.my_chat_member_update, chat_id, old_status, new_status, **kw)

    def migrate_update(self, old_chat_id: int, new_chat_id: int, **kw: Any) -> JSON:
        return self.call(self.server.migrate_update, old_chat_id, new_chat_id, **kw)

    def migrate_from_update(self, old_chat_id: int, new_chat_id: int, **kw: Any) -> JSON:
        return self.call(self.server.migrate_from_update, old_chat_id, new_chat_id, **kw)


def run_in_thread(
    token: str = DEFAULT_TOKEN, bot_username: str = "CoworkBot", *, enforce_limits: bool = False
) -> ThreadedFakeTelegramServer:
    """Start a ``ThreadedFakeTelegramServer``; call ``stop()`` (or use ``with``) when done."""
    return ThreadedFakeTelegramServer(token, bot_username, enforce_limits=enforce_limits).start()
