"""A fake Telegram Bot API server for tests and benchmarks.

It speaks enough of https://core.telegram.org/bots/api over real HTTP on 127.0.0.1 that
python-telegram-bot (``Bot``/``Application``) can run against it unchanged, and it lets a
test script the world around the bot: chats, members, incoming updates, failures, flood
limits, and then check what the bot sent.

Usage in an async test (same event loop as the bot)::

    async with FakeTelegramServer() as tg:
        bot = Bot(tg.token, base_url=tg.base_url)
        tg.add_chat(-1001, "supergroup", title="Duisburg")
        tg.push_update(tg.message_update(-1001, 42, "/today"))
        ...  # run the bot (e.g. Application with .base_url(tg.base_url))
        call = await tg.wait_for("sendMessage", lambda c: "Café" in c.params["text"])
        assert call.chat_id == -1001

When the bot runs in another event loop, thread or process, use
``ThreadedFakeTelegramServer`` (sync ``start()``/``stop()`` or ``with``): it runs the same
server in its own thread and loop, and its control methods are thread-safe
(``wait_for`` blocks, ``wait_for_async`` awaits from any loop).

What it models: what the bot uses, no more
------------------------------------------
* ``/bot<token>/<method>`` (method names case-insensitive), GET or POST with a JSON body
  (the bot's transport) or a urlencoded one (PTB's default, the benches' echo bot); form
  values holding JSON (objects, arrays, numbers, booleans) are decoded, as Telegram does.
  Wrong token -> 401, unknown method -> 404.
* Methods: the bot's (getMe, getUpdates, setWebhook, deleteWebhook, getWebhookInfo,
  sendMessage, editMessageText, answerCallbackQuery, sendVenue, sendPoll, stopPoll,
  getChatMember, setMyCommands); any other is 404 Not Found.
* Telegram's error texts for the cases the bot handles: kicked/blocked (403),
  never-started private chats (403), migrated groups (400 + migrate_to_chat_id),
  "message is not modified", "poll has already been closed", unknown messages, too long
  texts, invalid bot commands, the General forum topic (thread 1), stale callback queries.
* Plain text only: the bot sends no ``parse_mode`` or ``entities``, and a request with
  them fails (400) rather than pass unmodelled. Texts are trimmed, as Telegram does.
* Only inline keyboards are echoed as ``reply_markup`` of a message (like Telegram).
* Chats are created on first use: id > 0 is a private chat, id < 0 a supergroup, unless
  ``add_chat`` said otherwise. Members default to "member", users to "has started the bot".
* Without an explicit ``allowed_updates`` Telegram does not deliver ``chat_member``,
  ``message_reaction`` and ``message_reaction_count`` updates; neither does this server.
* A second ``getUpdates`` ends a running long poll with 409 Conflict, as Telegram does;
  getUpdates while a webhook is set is 409 too.
* Updates the tests push: messages (commands, locations, venues, replies, topics,
  anonymous admins), edited live locations, button presses, poll answers, the bot's
  membership changes, group migrations.

Flood limits (only with ``enforce_limits=True``), sliding windows, see ``RateLimiter``:
at most 3 sends per chat within any 1 s (Telegram says "1 per second" but tolerates short
bursts), at most 20 per group chat (negative id) within any 60 s, at most 30 in total
within any 1 s. Sends are sendMessage, sendVenue, sendPoll and
editMessageText. A send over a limit gets 429 "Too Many Requests: retry after N" with
``parameters.retry_after`` = N (whole seconds >= 1 until the send would be allowed) and
is counted in ``server.too_many_requests``; it does not use up the window.

Recording: every request with the right token is recorded as a ``Call`` in
``server.arrived`` when it arrives and in ``server.calls`` when it has been answered
(including failures; ``call.ok``); ``wait_for`` waits for either. A request still in
hand (e.g. under ``delay``) is in ``arrived`` only, its ``status`` 0.
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
MEMBER_STATUSES = ("creator", "administrator", "member", "left", "kicked")
SENDING_METHODS = frozenset({"sendMessage", "sendVenue", "sendPoll", "editMessageText"})
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
    is_forum: bool = False
    migrated_to: int | None = None
    next_message_id: int = 1
    members: dict[int, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- parameters

# Parameters that are strings even when they look like JSON ("42", "true", "[x]").
_STRING_PARAMS = frozenset(
    {
        "text", "question", "title", "address", "url", "callback_query_id", "language_code",
        "secret_token",
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
    """All parameters of a request: query string plus a JSON or form body (no uploads)."""
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


def _inline_markup(markup: Any) -> JSON | None:
    """The markup Telegram stores on a message: only non-empty inline keyboards."""
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        return markup
    return None


# --------------------------------------------------------------------------- texts


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def plain_text(params: JSON) -> str:
    """The text of a sendMessage/editMessageText as Telegram stores it: trimmed.

    The bot sends plain text only; formatting (``parse_mode``, ``entities``) is not
    modelled, so a request with it fails loudly instead of passing untested.
    """
    for unmodelled in ("parse_mode", "entities"):
        if params.get(unmodelled):
            raise bad_request(f"{unmodelled} is not modelled by the fake server")
    text = str(params.get("text") or "").strip()
    if not text:
        raise bad_request("message text is empty")
    return text


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
        self.calls: list[Call] = []  # answered
        self.arrived: list[Call] = []  # arrived, answered or not
        self.chats: dict[int, ChatState] = {}
        self.users: dict[int, JSON] = {}
        self.messages: dict[tuple[int, int], JSON] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.webhook: JSON | None = None
        self.allowed_updates: list[str] | None = None
        self.drop_pending_updates_requests: list[bool] = []
        self.never_started: set[int] = set()
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

    # ----------------------------------------------------------------- chat state

    def add_chat(
        self,
        chat_id: int,
        type: str | None = None,  # noqa: A002 - the Bot API's name
        *,
        title: str | None = None,
        is_forum: bool = False,
    ) -> ChatState:
        """Create or update a chat ("private", "group", "supergroup", "channel")."""
        chat = self._chat(chat_id, type)
        if type is not None:
            chat.type = type
        if title is not None:
            chat.title = title
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

    def kick_bot(self, chat_id: int) -> None:
        """Remove the bot from a group (or: the user blocked it, for a private chat).

        Sends to the chat then fail with 403 (no update is pushed: see
        ``my_chat_member_update``).
        """
        self.set_member(chat_id, self.bot_id, "kicked")

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
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (to ``chat_id`` if given) with an error.

        ``description`` defaults to Telegram's text for the code, e.g. "Too Many Requests:
        retry after N" for 429 or "Bad Gateway" for 502.
        """
        failure = _Failure(
            error_code=error_code,
            description=description or _default_description(error_code, retry_after),
            parameters=None if retry_after is None else {"retry_after": retry_after},
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
        self.arrived.clear()

    async def wait_for(  # noqa: ASYNC109 - a plain timeout keeps test code short
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
        count: int = 1,
        *,
        arrived: bool = False,
    ) -> Any:
        """Wait until ``count`` recorded calls of ``method`` match ``predicate``: answered
        ones, or with ``arrived=True`` ones that reached the server (answered or not).

        Returns the call for ``count == 1``, else the list of the first ``count`` matches.
        Already recorded calls count too (see ``clear_calls``). On timeout raises an
        AssertionError listing what was received.
        """
        name = self._canonical(method)
        deadline = time.monotonic() + timeout
        while True:
            recorded = self.arrived if arrived else self.calls
            matches = [c for c in recorded if c.method == name and (not predicate or predicate(c))]
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
        a callback query can be answered once.
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
        """Updates not yet confirmed by a getUpdates offset (none: the bot has handled
        every pushed update and said so)."""
        return list(self._updates)

    def _apply_update(self, update: JSON) -> None:
        for key in ("message", "edited_message"):
            if key in update:
                self._remember_message(update[key])
        if "callback_query" in update:
            self._callback_ids.add(str(update["callback_query"]["id"]))
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
        user = self.user_json(user_id, first_name=first_name, language_code=language_code)
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
        **message_kwargs: Any,
    ) -> JSON:
        """A message with a location (a live location when ``live_period`` is given).

        ``message_kwargs`` are those of ``message_update`` (chat_type, first_name, ...).
        """
        location = _location_json(
            (latitude, longitude), live_period=live_period, horizontal_accuracy=horizontal_accuracy
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
    ) -> JSON:
        """``{"edited_message": ...}``: a moved live location of message ``message_id``."""
        original = self.messages.get((chat_id, message_id))
        if original is not None:
            message = copy.deepcopy(original)
        else:
            message = self._incoming_message(chat_id, self.user_json(user_id), None)
            message["message_id"] = message_id
        message["edit_date"] = int(time.time())
        message["location"] = _location_json((latitude, longitude), live_period=live_period)
        return {"edited_message": message}

    def callback_query_update(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
    ) -> JSON:
        """``{"callback_query": ...}``: a user pressed a button of message ``message_id``."""
        user = self.user_json(user_id)
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

    def poll_answer_update(self, poll_id: str, user_id: int, option_ids: Iterable[int]) -> JSON:
        """``{"poll_answer": ...}``: a vote (empty ``option_ids``: vote retracted)."""
        options = list(option_ids)
        answer = {
            "poll_id": str(poll_id),
            "user": self.user_json(user_id),
            "option_ids": options,
            "option_persistent_ids": [_persistent_id(str(poll_id), i) for i in options],
        }
        return {"poll_answer": answer}

    def my_chat_member_update(
        self,
        chat_id: int,
        old_status: str,
        new_status: str,
        *,
        from_user_id: int = 1,
    ) -> JSON:
        """``{"my_chat_member": ...}``: the bot's status changed (pushing it applies it)."""
        return {
            "my_chat_member": {
                "chat": self.chat_json(chat_id),
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
        # the methods the bot (and the benches' PTB echo bot) call; any other is 404
        handlers: dict[str, MethodHandler] = {
            "getMe": lambda params: dict(self.bot_user),
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "answerCallbackQuery": self._answer_callback_query,
            "sendVenue": self._send_venue,
            "sendPoll": self._send_poll,
            "stopPoll": self._stop_poll,
            "getChatMember": self._get_chat_member,
            "setMyCommands": self._set_my_commands,
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
        self.arrived.append(call)
        self._wake(self._calls_changed)
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
        if isinstance(chat_id, str):  # "@channelusername": the bot never sends to one
            raise bad_request("chat not found")
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

    def _sendable_chat(self, params: JSON, method: str) -> ChatState:
        chat = self._find_chat(params)
        if chat.type == "private" and chat.id in self.never_started:
            raise forbidden("bot can't initiate conversation with a user")
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
        return message

    def _attach_reply(self, message: JSON, chat: ChatState, params: JSON) -> None:
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict) or reply.get("message_id") is None:
            return
        replied = self.messages.get((chat.id, int(reply["message_id"])))
        if replied is not None:
            message["reply_to_message"] = _without_reply(replied)
        elif reply.get("allow_sending_without_reply") is not True:
            raise bad_request("message to be replied not found")

    def _store(self, message: JSON) -> JSON:
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        return message

    def _send_message(self, params: JSON) -> JSON:
        text = plain_text(params)
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        chat = self._sendable_chat(params, "sendMessage")
        message = self._new_message(chat, params)
        message["text"] = text
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
        chat = self._sendable_chat(params, "sendVenue")
        message = self._new_message(chat, params)
        message.update(venue=venue, location=location)
        return self._store(message)

    def _send_poll(self, params: JSON) -> JSON:
        poll = self._build_poll(params)
        chat = self._sendable_chat(params, "sendPoll")
        message = self._new_message(chat, params)
        message["poll"] = poll
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
        return {
            "id": poll_id,
            "question": question,
            "options": [
                {"text": text, "voter_count": 0, "persistent_id": _persistent_id(poll_id, index)}
                for index, text in enumerate(options)
            ],
            "total_voter_count": 0,  # votes are not counted: the bot counts its own
            "is_closed": False,
            "is_anonymous": bool(params.get("is_anonymous", True)),
            "type": params.get("type") or "regular",
            "allows_multiple_answers": bool(params.get("allows_multiple_answers", False)),
            "allows_revoting": True,  # PTB requires these two (Bot API 9.6, 10.0)
            "members_only": False,
        }

    def _stop_poll(self, params: JSON) -> JSON:
        message = self._stored_message(params, "message with poll to stop not found")
        poll = message.get("poll")
        if poll is None:
            raise bad_request("message with poll to stop not found")
        if poll["is_closed"]:
            raise bad_request("poll has already been closed")
        poll["is_closed"] = True
        return poll

    # ----------------------------------------------------------------- editing

    def _edit_message_text(self, params: JSON) -> JSON:
        text = plain_text(params)
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        message = self._stored_message(params, "message to edit not found")
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        markup = _inline_markup(params.get("reply_markup"))
        if message["text"] == text and message.get("reply_markup") == markup:
            raise bad_request(NOT_MODIFIED)
        self._check_flood("editMessageText", message["chat"]["id"])
        message["text"] = text
        if markup is None:  # no reply_markup: Telegram removes the keyboard
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    def _answer_callback_query(self, params: JSON) -> bool:
        query_id = str(_require(params, "callback_query_id"))
        if query_id not in self._callback_ids:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._callback_ids.discard(query_id)
        return True

    # ----------------------------------------------------------------- members

    def _get_chat_member(self, params: JSON) -> JSON:
        chat = self._find_chat(params)
        user_id = _as_int(params, "user_id")
        if user_id is None:
            raise bad_request("user not found")
        user = self.bot_user if user_id == self.bot_id else self.user_json(user_id)
        return self.chat_member_json(user, self.member_status(chat.id, user_id))

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
        self.webhook = {"url": url}  # what the bot sent is in calls_to("setWebhook")
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
        return info


# --------------------------------------------------------------------------- object helpers

_ADMIN_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
    "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
    "can_edit_stories", "can_delete_stories", "can_pin_messages", "can_manage_topics",
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


def _persistent_id(poll_id: str, index: int) -> str:
    return f"{poll_id}-{index}"


def _option_text(option: Any) -> str:
    return str(option.get("text", "")) if isinstance(option, dict) else str(option)


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

    @property
    def token(self) -> str:
        return self.server.token

    @property
    def base_url(self) -> str:
        return self.server.base_url

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
        *,
        arrived: bool = False,
    ) -> Any:
        """Blocking ``FakeTelegramServer.wait_for`` (do not call it from the bot's loop)."""
        waiting = self.server.wait_for(method, predicate, timeout, count, arrived=arrived)
        return self._submit(waiting).result(timeout=timeout + 5)

    async def wait_for_async(  # noqa: ASYNC109
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
        count: int = 1,
        *,
        arrived: bool = False,
    ) -> Any:
        """``wait_for`` awaitable from any event loop."""
        waiting = self.server.wait_for(method, predicate, timeout, count, arrived=arrived)
        return await asyncio.wrap_future(self._submit(waiting))

    # ----------------------------------------------------------------- state (snapshots)

    @property
    def calls(self) -> list[Call]:
        """A snapshot of the recorded calls."""
        return self.call(lambda: list(self.server.calls))

    @property
    def too_many_requests(self) -> int:
        return self.call(lambda: self.server.too_many_requests)

    @property
    def pending_updates(self) -> list[JSON]:
        return self.call(lambda: self.server.pending_updates)

    def calls_to(self, method: str) -> list[Call]:
        return self.call(self.server.calls_to, method)

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        return self.call(self.server.sent_texts, chat_id)

    def clear_calls(self) -> None:
        self.call(self.server.clear_calls)

    # ----------------------------------------------------------------- control (proxies)

    def push_update(self, update: JSON) -> int:
        return self.call(self.server.push_update, update)

    def add_chat(self, chat_id: int, type: str | None = None, **kwargs: Any) -> None:  # noqa: A002
        self.call(self.server.add_chat, chat_id, type, **kwargs)

    def set_user(self, user_id: int, **kwargs: Any) -> JSON:
        return self.call(self.server.set_user, user_id, **kwargs)

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        self.call(self.server.set_member, chat_id, user_id, status)

    def fail_next(self, method: str, **kwargs: Any) -> None:
        self.call(self.server.fail_next, method, **kwargs)

    def delay(self, method: str, seconds: float, *, times: int | None = None) -> None:
        self.call(self.server.delay, method, seconds, times=times)

    # ----------------------------------------------------------------- builders (proxies)

    def message_update(
        self, chat_id: int, user_id: int, text: str | None = None, **kw: Any
    ) -> JSON:
        return self.call(self.server.message_update, chat_id, user_id, text, **kw)

    def poll_answer_update(self, poll_id: str, user_id: int, option_ids: Iterable[int]) -> JSON:
        return self.call(self.server.poll_answer_update, poll_id, user_id, list(option_ids))
