"""A fake Matrix homeserver for tests and benchmarks: the client-server endpoints the
Matrix adapter calls (grep ``chatbot/adapters/matrix`` for ``api.``), over real HTTP on
127.0.0.1, without Synapse.

Shaped like maubot's ``testing/bot.py``: a test scripts what people do (their events
come back to the bot in ``/sync``), and reads what the bot did in ``sent`` (every event
it put into a room) and ``calls`` (every request)::

    async with FakeMatrixApi() as hs:
        room = hs.add_room("@anna:fake.test", name="Coworking Duisburg")
        hs.invite_bot(room, "@anna:fake.test")
        ...  # run the adapter with CHATBOT_MATRIX_HOMESERVER=hs.base_url
        event_id = hs.say(room, "@anna:fake.test", "!heute")
        answer = await hs.wait_sent(room, reply_to=event_id)

What it models
--------------
* One stream of everything that happens (room events, account data, to-device events),
  numbered; a sync token ``s<n>`` is a position in it. ``/sync`` without ``since`` gives
  the joined rooms' state and pending invites; with ``since`` whatever came after it,
  long-polling (up to ``timeout``) until something does. ``full_state=true`` adds the
  whole current state. A room's timeline holds at most the filter's
  ``room.timeline.limit`` events (``limited`` and ``prev_batch`` beyond that, which
  ``/rooms/{id}/messages`` pages back from); a room the bot joined in the range shows
  its history before the join too, as Synapse does.
* Rooms: ``m.room.create`` (version, predecessor, additional creators), power levels,
  join rules, members (``unsigned.prev_content`` on a membership change), name, any
  other state. ``join`` needs an invite or a public room; ``send`` and ``invite`` need
  the bot in the room; otherwise 403 M_FORBIDDEN, as a homeserver answers.
* ``PUT /rooms/{id}/send/{type}/{txnId}`` is idempotent per device and transaction id:
  a retry gets the first answer's event id and adds nothing. The bot's own events come
  back in its sync, as on a real homeserver.
* Login by password (any device id kept), ``whoami``, revoking the access token
  (``revoke_tokens``: M_UNKNOWN_TOKEN until the bot logs in again), account data
  (``m.direct``), ``createRoom`` (preset, ``is_direct``, ``invite``,
  ``creation_content``), ``joined_rooms``, room state reads, leave and forget.
* Not encryption: ``/keys/*`` and ``sendToDevice`` only answer as a homeserver does
  (key counts, nothing to query or claim), so the adapter's crypto starts quietly.

Failures, scripted per endpoint (and room): ``fail("send", room, status=500)``,
``fail("join", room, status=403, errcode="M_FORBIDDEN")``, a delay before answering
(``delay=``; the work is done after it, as by a server that answered late) and
``limit_sends(messages, per)``: at most that many sends per room within any ``per``
seconds (a sliding window), beyond it 429 M_LIMIT_EXCEEDED with ``retry_after_ms``
until a send would be allowed (a rejected send uses up nothing).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote

from aiohttp import web

JSON = dict[str, Any]
T = TypeVar("T")

SERVER_NAME = "fake.test"
BOT_USER = f"@bot:{SERVER_NAME}"
PASSWORD = "fake-password"
API = "/_matrix/client/v3"
DEFAULT_TIMELINE_LIMIT = 10
INVITE_STATE_TYPES = ("m.room.create", "m.room.name", "m.room.join_rules", "m.room.encryption")


class MatrixFailure(Exception):
    """An error answer: ``{"errcode": ..., "error": ...}`` with an HTTP status."""

    def __init__(
        self, status: int, errcode: str, error: str = "", retry_after_ms: int | None = None
    ) -> None:
        super().__init__(f"{status} {errcode}")
        self.status, self.errcode, self.error = status, errcode, error or errcode
        self.retry_after_ms = retry_after_ms

    def body(self) -> JSON:
        body: JSON = {"errcode": self.errcode, "error": self.error}
        if self.retry_after_ms is not None:
            body["retry_after_ms"] = self.retry_after_ms
        return body


def forbidden(error: str) -> MatrixFailure:
    return MatrixFailure(403, "M_FORBIDDEN", error)


# --------------------------------------------------------------------------- records


@dataclass
class Call:
    """One answered request. ``endpoint`` is its short name (see ``FakeMatrixApi.fail``)."""

    method: str
    endpoint: str
    room_id: str | None
    query: dict[str, str]
    body: Any
    status: int
    answer: Any
    time: float  # time.monotonic() when answered

    @property
    def ok(self) -> bool:
        return self.status < 400


@dataclass
class Sent:
    """An event the bot put into a room (once per transaction id)."""

    room_id: str
    type: str
    content: JSON
    txn_id: str
    event_id: str
    time: float  # time.monotonic() when accepted

    @property
    def body(self) -> str:
        return str(self.content.get("body", ""))

    @property
    def reply_to(self) -> str | None:
        relates = self.content.get("m.relates_to") or {}
        return (relates.get("m.in_reply_to") or {}).get("event_id")

    @property
    def relates_to(self) -> JSON:
        return dict(self.content.get("m.relates_to") or {})


@dataclass
class Fault:
    endpoint: str
    room_id: str | None
    failure: MatrixFailure | None
    times: int | None  # None: until cleared
    delay: float
    lose_answer: bool = False  # carried out first, then the delay and the failure

    async def strike(self, server: FakeMatrixApi) -> None:
        if self.delay:
            await server._sleep(self.delay)
        if self.failure is not None:
            raise self.failure


@dataclass
class Room:
    room_id: str
    events: list[tuple[int, JSON]] = field(default_factory=list)  # (position, event)
    state: dict[tuple[str, str], tuple[int, JSON]] = field(default_factory=dict)
    forgotten: bool = False

    def membership(self, user_id: str) -> str | None:
        found = self.state.get(("m.room.member", user_id))
        return found[1]["content"].get("membership") if found else None

    def member_position(self, user_id: str) -> int:
        found = self.state.get(("m.room.member", user_id))
        return found[0] if found else 0

    def state_event(self, kind: str, key: str = "") -> JSON | None:
        found = self.state.get((kind, key))
        return found[1] if found else None


# --------------------------------------------------------------------------- the server


class FakeMatrixApi:
    """The fake homeserver; its bot account is ``bot_user`` with ``password``.

    ``now_ms``: the clock of ``origin_server_ts`` (a test on a fake clock passes its
    own, so that a command is not "sent long ago")."""

    def __init__(
        self,
        bot_user: str = BOT_USER,
        password: str = PASSWORD,
        *,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.bot_user = bot_user
        self.password = password
        self.server_name = bot_user.partition(":")[2]
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.rooms: dict[str, Room] = {}
        self.names: dict[str, str] = {}  # user id -> display name
        self.account_data: dict[str, tuple[int, JSON]] = {}
        self.to_device: list[tuple[int, JSON]] = []
        self.calls: list[Call] = []
        self.sent: list[Sent] = []
        self.position = 0
        self.tokens: dict[str, str] = {}  # valid access token -> device id
        self.rate_limited = 0  # 429s answered to sends
        self.handled_up_to = 0  # the newest position the bot asked to sync from
        self.one_time_keys = 0
        self._faults: list[Fault] = []
        self._txns: dict[tuple[str, str, str], str] = {}  # (device, room, txn) -> event id
        self._limit: tuple[int, float, frozenset[str] | None] | None = None
        self._windows: dict[str, deque[float]] = defaultdict(deque)
        self._ids = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> FakeMatrixApi:
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", API + "/{tail:.*}", self._dispatch)
        app.router.add_get("/_matrix/client/versions", self._versions)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._closing.set()
        await self._wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeMatrixApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------- scripting rooms

    def _new_id(self, sigil: str) -> str:
        return f"{sigil}{next(self._ids)}:{self.server_name}"

    def name_of(self, user_id: str) -> str:
        return self.names.get(user_id) or user_id[1:].partition(":")[0].capitalize()

    def add_room(
        self,
        creator: str,
        *,
        members: Iterable[str] = (),
        name: str | None = None,
        version: str = "10",
        public: bool = False,
        admins: Iterable[str] = (),
        predecessor: str | None = None,
        additional_creators: Iterable[str] = (),
        room_id: str | None = None,
    ) -> str:
        """A room as its creator makes it (the creator at power 100, ``admins`` at 50),
        with ``members`` joined. The bot is not in it until invited (``invite_bot``) or
        it joins a public one."""
        room_id = room_id or self._new_id("!")
        self.rooms[room_id] = Room(room_id)
        create: JSON = {"room_version": version}
        if version.isdigit() and int(version) < 11:
            create["creator"] = creator  # from version 11 on, the sender is the creator
        if predecessor:
            create["predecessor"] = {"room_id": predecessor}
        extra = list(additional_creators)
        if extra:
            create["additional_creators"] = extra
        self.emit(room_id, creator, "m.room.create", create, state_key="")
        self.emit(room_id, creator, "m.room.member", self._member("join", creator), creator)
        users = {creator: 100, **{user: 50 for user in admins}}
        levels = {"users": users, "users_default": 0, "state_default": 50, "events_default": 0}
        self.emit(room_id, creator, "m.room.power_levels", levels, state_key="")
        rule = "public" if public else "invite"
        self.emit(room_id, creator, "m.room.join_rules", {"join_rule": rule}, state_key="")
        if name:
            self.emit(room_id, creator, "m.room.name", {"name": name}, state_key="")
        for user in members:
            self.join(room_id, user)
        return room_id

    def _member(self, membership: str, user_id: str, **extra: Any) -> JSON:
        content: JSON = {"membership": membership}
        if membership in ("join", "invite"):
            content["displayname"] = self.name_of(user_id)
        content.update(extra)
        return content

    def invite_bot(self, room_id: str, inviter: str, *, is_direct: bool = False) -> str:
        extra = {"is_direct": True} if is_direct else {}
        content = self._member("invite", self.bot_user, **extra)
        return self.emit(room_id, inviter, "m.room.member", content, self.bot_user)

    def join(self, room_id: str, user_id: str) -> str:
        content = self._member("join", user_id)
        return self.emit(room_id, user_id, "m.room.member", content, user_id)

    def leave(self, room_id: str, user_id: str, *, by: str | None = None, ban: bool = False) -> str:
        """``user_id`` leaves (or is kicked, or banned, ``by`` someone)."""
        membership = "ban" if ban else "leave"
        return self.emit(
            room_id, by or user_id, "m.room.member", {"membership": membership}, user_id
        )

    def set_state(self, room_id: str, sender: str, kind: str, content: JSON, key: str = "") -> str:
        return self.emit(room_id, sender, kind, content, state_key=key)

    def upgrade(self, room_id: str, by: str, *, public: bool = False, version: str = "12") -> str:
        """``by`` upgrades the room as Synapse does: a new room whose m.room.create names
        the old one, then a tombstone in the old one. The bot is not in the new room."""
        old = self.rooms[room_id]
        members = [
            user
            for (kind, user), (_, event) in old.state.items()
            if kind == "m.room.member"
            and event["content"].get("membership") == "join"
            and user not in (by, self.bot_user)
        ]
        new = self.add_room(
            by, members=members, version=version, public=public, predecessor=room_id
        )
        content = {"body": "This room has been replaced", "replacement_room": new}
        self.emit(room_id, by, "m.room.tombstone", content, state_key="")
        return new

    # ----------------------------------------------------------------- scripting events

    def emit(
        self,
        room_id: str,
        sender: str,
        kind: str,
        content: JSON,
        state_key: str | None = None,
    ) -> str:
        """Any event in a room (a state event with ``state_key``); its id."""
        room = self.rooms[room_id]
        self.position += 1
        event: JSON = {
            "type": kind,
            "event_id": self._new_id("$"),
            "sender": sender,
            "room_id": room_id,
            "origin_server_ts": self.now_ms(),
            "content": copy.deepcopy(content),
            "unsigned": {},
        }
        if state_key is not None:
            event["state_key"] = state_key
            before = room.state.get((kind, state_key))
            if before is not None:
                event["unsigned"]["prev_content"] = copy.deepcopy(before[1]["content"])
                event["unsigned"]["replaces_state"] = before[1]["event_id"]
            room.state[(kind, state_key)] = (self.position, event)
        room.events.append((self.position, event))
        self._notify()
        return str(event["event_id"])

    def message(
        self,
        sender: str,
        body: str,
        *,
        html: str | None = None,
        mentions: Iterable[str] | None = None,
        reply_to: str | None = None,
        thread: str | None = None,
        msgtype: str = "m.text",
    ) -> JSON:
        """The content of a message as Element composes it."""
        content: JSON = {"msgtype": msgtype, "body": body}
        if html is not None:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = html
        if mentions is not None:
            content["m.mentions"] = {"user_ids": list(mentions)}
        relates: JSON = {}
        if reply_to:
            relates["m.in_reply_to"] = {"event_id": reply_to}
        if thread:
            relates.update(rel_type="m.thread", event_id=thread, is_falling_back=not reply_to)
            relates.setdefault("m.in_reply_to", {"event_id": thread})
        if relates:
            content["m.relates_to"] = relates
        return content

    def say(self, room_id: str, sender: str, body: str, **kwargs: Any) -> str:
        """A person writes a message (see ``message`` for the options); its event id."""
        return self.emit(room_id, sender, "m.room.message", self.message(sender, body, **kwargs))

    def edit(self, room_id: str, sender: str, original: str, body: str) -> str:
        """An edit as Element sends it: "* " + new text, m.new_content, m.replace."""
        content = {
            "msgtype": "m.text",
            "body": "* " + body,
            "m.new_content": {"msgtype": "m.text", "body": body},
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        }
        return self.emit(room_id, sender, "m.room.message", content)

    def set_account_data(self, kind: str, content: JSON) -> None:
        """The bot's account data as another of its clients would change it."""
        self.position += 1
        self.account_data[kind] = (self.position, copy.deepcopy(content))
        self._notify()

    def send_to_device(self, event: JSON) -> None:
        """A to-device event for the bot (as a dict: type, sender, content)."""
        self.position += 1
        self.to_device.append((self.position, copy.deepcopy(event)))
        self._notify()

    def revoke_tokens(self) -> None:
        """Every access token stops working (M_UNKNOWN_TOKEN): the bot must log in."""
        self.tokens.clear()

    # ----------------------------------------------------------------- failures

    def fail(
        self,
        endpoint: str,
        room_id: str | None = None,
        *,
        status: int = 500,
        errcode: str | None = None,
        error: str = "",
        retry_after_ms: int | None = None,
        times: int | None = 1,
        delay: float = 0.0,
        lose_answer: bool = False,
    ) -> Fault:
        """The next ``times`` requests to ``endpoint`` (in ``room_id``, if given) fail so
        (``times=None``: until ``clear``); ``status=0``: no failure, only the ``delay``
        before the request is carried out. ``lose_answer``: the request is carried out
        first, then the delay and the failure come (an answer lost on the way).

        Endpoints: login, whoami, account_data, sync, messages, send, join, leave,
        forget, state (reads and writes), invite (an m.room.member invite),
        joined_rooms, createRoom, keys, sendToDevice."""
        if status and errcode is None:
            errcode = {403: "M_FORBIDDEN", 404: "M_NOT_FOUND", 429: "M_LIMIT_EXCEEDED"}.get(
                status, "M_UNKNOWN"
            )
        failure = MatrixFailure(status, errcode or "", error, retry_after_ms) if status else None
        fault = Fault(endpoint, room_id, failure, times, delay, lose_answer)
        self._faults.append(fault)
        return fault

    def clear(self, fault: Fault | None = None) -> None:
        """Stop one scripted failure (or all)."""
        self._faults = [] if fault is None else [f for f in self._faults if f is not fault]

    def limit_sends(self, messages: int, per: float, rooms: Iterable[str] | None = None) -> None:
        """At most ``messages`` sends per room within any ``per`` seconds (in ``rooms``,
        or every room)."""
        self._limit = (messages, per, frozenset(rooms) if rooms is not None else None)

    def _fault_for(self, endpoint: str, room_id: str | None) -> Fault | None:
        for fault in self._faults:
            if fault.endpoint == endpoint and fault.room_id in (None, room_id):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _rate_limit(self, room_id: str) -> None:
        if self._limit is None:
            return
        messages, per, rooms = self._limit
        if rooms is not None and room_id not in rooms:
            return
        window, now = self._windows[room_id], time.monotonic()
        while window and window[0] <= now - per:
            window.popleft()
        if len(window) >= messages:
            self.rate_limited += 1
            wait_ms = max(1, math.ceil((window[0] + per - now) * 1000))
            raise MatrixFailure(429, "M_LIMIT_EXCEEDED", "Too Many Requests", wait_ms)
        window.append(now)

    # ----------------------------------------------------------------- reading results

    def sent_in(self, room_id: str, kind: str | None = "m.room.message") -> list[Sent]:
        return [s for s in self.sent if s.room_id == room_id and kind in (None, s.type)]

    def replies_to(self, event_id: str) -> list[Sent]:
        """What the bot sent in reply to that event."""
        return [s for s in self.sent if s.reply_to == event_id]

    def texts(self, room_id: str) -> list[str]:
        return [s.body for s in self.sent_in(room_id)]

    def calls_to(self, endpoint: str, room_id: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint and room_id in (None, c.room_id)]

    async def until(self, check: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until ``check()`` (run after every request and scripted event) is true;
        its value."""
        assert self._changed is not None, "not started"
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while True:
                result = check()
                if result:
                    return result
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise AssertionError(f"condition not met within {timeout} s")
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    pass

    async def wait_sent(
        self,
        room_id: str,
        contains: str = "",
        *,
        reply_to: str | None = None,
        kind: str = "m.room.message",
        after: int = 0,
        timeout: float = 5.0,
    ) -> Sent:
        """The first event the bot sent into the room (from ``sent[after:]``) that
        contains ``contains`` and replies to ``reply_to``, if given."""

        def find() -> Sent | None:
            for sent in self.sent[after:]:
                if sent.room_id != room_id or sent.type != kind or contains not in sent.body:
                    continue
                if reply_to is None or sent.reply_to == reply_to:
                    return sent
            return None

        return await self.until(find, timeout)

    async def wait_synced(self, position: int | None = None, timeout: float = 5.0) -> None:
        """Wait until the bot has handled everything up to ``position`` (default: all
        there is now): it asked for the sync after it."""
        target = self.position if position is None else position
        await self.until(lambda: self.handled_up_to >= target, timeout)

    # ----------------------------------------------------------------- HTTP

    def _notify(self) -> None:
        if self._changed is not None:
            asyncio.get_running_loop().create_task(self._wake())

    async def _wake(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def _versions(self, request: web.Request) -> web.Response:
        return web.json_response({"versions": ["v1.11", "v1.12"]})

    ROUTES: tuple[tuple[str, str, str], ...] = (
        # (method, path pattern, endpoint); {name} is one path segment
        ("POST", "login", "login"),
        ("POST", "logout", "logout"),
        ("GET", "account/whoami", "whoami"),
        ("GET", "user/{user}/account_data/{type}", "account_data"),
        ("PUT", "user/{user}/account_data/{type}", "account_data"),
        ("GET", "sync", "sync"),
        ("GET", "joined_rooms", "joined_rooms"),
        ("POST", "createRoom", "createRoom"),
        ("POST", "join/{room}", "join"),
        ("POST", "rooms/{room}/leave", "leave"),
        ("POST", "rooms/{room}/forget", "forget"),
        ("GET", "rooms/{room}/messages", "messages"),
        ("PUT", "rooms/{room}/send/{type}/{txn}", "send"),
        ("GET", "rooms/{room}/state", "state"),
        ("GET", "rooms/{room}/state/{type}", "state"),
        ("GET", "rooms/{room}/state/{type}/{key}", "state"),
        ("PUT", "rooms/{room}/state/{type}", "state"),
        ("PUT", "rooms/{room}/state/{type}/{key}", "state"),
        ("POST", "keys/upload", "keys"),
        ("POST", "keys/query", "keys"),
        ("POST", "keys/claim", "keys"),
        ("PUT", "sendToDevice/{type}/{txn}", "sendToDevice"),
    )

    def _route(self, method: str, segments: list[str]) -> tuple[str, str, dict[str, str]] | None:
        for route_method, pattern, endpoint in self.ROUTES:
            parts = pattern.split("/")
            if route_method != method or len(parts) != len(segments):
                continue
            params: dict[str, str] = {}
            for part, segment in zip(parts, segments, strict=True):
                if part.startswith("{"):
                    params[part[1:-1]] = segment
                elif part != segment:
                    break
            else:
                return pattern, endpoint, params
        return None

    async def _dispatch(self, request: web.Request) -> web.Response:
        tail = request.rel_url.raw_path.removeprefix(API + "/")
        segments = [unquote(s) for s in tail.split("/")]
        found = self._route(request.method, segments)
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        query = dict(request.query)
        if found is None:
            return web.json_response({"errcode": "M_UNRECOGNIZED", "error": "?"}, status=404)
        pattern, endpoint, params = found
        room_id = params.get("room")
        if endpoint == "state" and params.get("type") == "m.room.member":
            if request.method == "PUT" and (body or {}).get("membership") == "invite":
                endpoint = "invite"
        status, answer = 200, None
        try:
            device = self._authorize(request, endpoint)
            fault = self._fault_for(endpoint, room_id)
            if fault is not None and not fault.lose_answer:
                await fault.strike(self)
            handler = getattr(self, "_on_" + pattern.split("/")[0])
            answer = await handler(request.method, pattern, params, query, body, device)
            if fault is not None and fault.lose_answer:
                await fault.strike(self)
        except MatrixFailure as failure:
            status, answer = failure.status, failure.body()
        call = Call(
            request.method, endpoint, room_id, query, body, status, answer, time.monotonic()
        )
        self.calls.append(call)
        await self._wake()
        return web.json_response(answer, status=status)

    def _authorize(self, request: web.Request, endpoint: str) -> str:
        if endpoint == "login":
            return ""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise MatrixFailure(401, "M_MISSING_TOKEN", "Missing access token")
        device = self.tokens.get(header.removeprefix("Bearer "))
        if device is None:
            raise MatrixFailure(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.")
        return device

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            pass

    # ----------------------------------------------------------------- endpoints

    async def _on_login(self, method: str, pattern: str, p: Any, q: Any, body: Any, _: str) -> JSON:
        if pattern == "logout":
            return {}
        body = body or {}
        user = (body.get("identifier") or {}).get("user") or body.get("user")
        if user not in (self.bot_user, self.bot_user[1:].partition(":")[0]):
            raise forbidden("Invalid username or password")
        if body.get("password") != self.password:
            raise forbidden("Invalid username or password")
        device = body.get("device_id") or f"DEVICE{next(self._ids)}"
        token = f"token-{next(self._ids)}"
        self.tokens[token] = device
        return {"user_id": self.bot_user, "access_token": token, "device_id": device}

    _on_logout = _on_login

    async def _on_account(
        self, method: str, pattern: str, p: Any, q: Any, b: Any, device: str
    ) -> JSON:
        return {"user_id": self.bot_user, "device_id": device}

    async def _on_user(self, method: str, pattern: str, p: Any, q: Any, body: Any, _: str) -> JSON:
        if p["user"] != self.bot_user:
            raise forbidden("Cannot access another user's account data")
        if method == "PUT":
            self.set_account_data(p["type"], body or {})
            return {}
        found = self.account_data.get(p["type"])
        if found is None:
            raise MatrixFailure(404, "M_NOT_FOUND", "Account data not found")
        return copy.deepcopy(found[1])

    async def _on_joined_rooms(self, *_: Any) -> JSON:
        joined = [r for r, room in self.rooms.items() if room.membership(self.bot_user) == "join"]
        return {"joined_rooms": joined}

    async def _on_createRoom(
        self, method: str, pattern: str, p: Any, q: Any, body: Any, _: str
    ) -> JSON:  # noqa: N802
        body = body or {}
        creation = body.get("creation_content") or {}
        version = str(body.get("room_version") or "12")
        preset = body.get("preset") or "private_chat"
        room_id = self.add_room(
            self.bot_user,
            name=body.get("name"),
            version=version,
            public=preset == "public_chat",
            additional_creators=creation.get("additional_creators") or (),
        )
        for user in body.get("invite") or []:
            extra = {"is_direct": True} if body.get("is_direct") else {}
            self.emit(
                room_id, self.bot_user, "m.room.member", self._member("invite", user, **extra), user
            )
        return {"room_id": room_id}

    def _room(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            raise MatrixFailure(404, "M_NOT_FOUND", "Unknown room")
        return room

    def _joined(self, room_id: str) -> Room:
        room = self._room(room_id)
        if room.membership(self.bot_user) != "join":
            raise forbidden(f"User {self.bot_user} not in room {room_id}")
        return room

    async def _on_join(self, method: str, pattern: str, p: Any, q: Any, b: Any, _: str) -> JSON:
        room = self._room(p["room"])
        membership = room.membership(self.bot_user)
        rule = (room.state_event("m.room.join_rules") or {}).get("content", {}).get("join_rule")
        if membership in ("ban",) or (membership not in ("invite", "join") and rule != "public"):
            raise forbidden("You are not invited to this room.")
        if membership != "join":
            self.join(room.room_id, self.bot_user)
        return {"room_id": room.room_id}

    async def _on_rooms(
        self, method: str, pattern: str, p: Any, query: dict[str, str], body: Any, device: str
    ) -> Any:
        action = pattern.split("/")[2]
        if action == "leave":
            room = self._room(p["room"])
            if room.membership(self.bot_user) in ("join", "invite"):
                self.leave(room.room_id, self.bot_user)
            return {}
        if action == "forget":
            room = self._room(p["room"])
            if room.membership(self.bot_user) in ("join", "invite"):
                raise MatrixFailure(400, "M_UNKNOWN", "User is in room")
            room.forgotten = True
            return {}
        if action == "messages":
            return self._messages(self._joined(p["room"]), query)
        if action == "send":
            return self._send(p["room"], p["type"], p["txn"], body or {}, device)
        return self._state(method, p, body or {})

    def _send(self, room_id: str, kind: str, txn: str, content: JSON, device: str) -> JSON:
        done = self._txns.get((device, room_id, txn))
        if done is not None:
            return {"event_id": done}
        self._joined(room_id)
        self._rate_limit(room_id)
        event_id = self.emit(room_id, self.bot_user, kind, content)
        self._txns[(device, room_id, txn)] = event_id
        self.sent.append(
            Sent(room_id, kind, copy.deepcopy(content), txn, event_id, time.monotonic())
        )
        return {"event_id": event_id}

    def _state(self, method: str, p: dict[str, str], body: JSON) -> Any:
        room_id, kind, key = p["room"], p.get("type"), p.get("key", "")
        if method == "PUT":
            assert kind is not None
            room = self._joined(room_id)
            if kind == "m.room.member" and body.get("membership") == "invite":
                if room.membership(key) in ("join", "ban"):
                    raise forbidden(f"{key} is already in the room.")
                body = {**self._member("invite", key), **body}
            event_id = self.emit(room_id, self.bot_user, kind, body, state_key=key)
            return {"event_id": event_id}
        room = self._room(room_id)
        if room.membership(self.bot_user) not in ("join", "leave"):
            raise forbidden(f"User {self.bot_user} not in room {room_id}")
        if kind is None:
            return [copy.deepcopy(event) for _, event in room.state.values()]
        event = room.state_event(kind, key)
        if event is None:
            raise MatrixFailure(404, "M_NOT_FOUND", "Event not found.")
        return copy.deepcopy(event["content"])

    def _messages(self, room: Room, query: dict[str, str]) -> JSON:
        start = int(query.get("from", f"s{self.position}")[1:])
        end = int(query["to"][1:]) if "to" in query else 0
        limit = int(query.get("limit", "10"))
        if query.get("dir", "b") != "b":
            raise MatrixFailure(400, "M_INVALID_PARAM", "only dir=b here")
        chunk = [(p, e) for p, e in reversed(room.events) if end < p <= start][:limit]
        answer: JSON = {"chunk": [copy.deepcopy(e) for _, e in chunk], "start": f"s{start}"}
        if chunk and chunk[-1][0] - 1 > end:
            answer["end"] = f"s{chunk[-1][0] - 1}"
        return answer

    async def _on_keys(self, method: str, pattern: str, p: Any, q: Any, body: Any, _: str) -> JSON:
        kind = pattern.split("/")[1]
        if kind == "upload":
            self.one_time_keys += len((body or {}).get("one_time_keys") or {})
            return {"one_time_key_counts": {"signed_curve25519": self.one_time_keys}}
        if kind == "query":
            return {"device_keys": {}, "failures": {}}
        return {"one_time_keys": {}, "failures": {}}

    async def _on_sendToDevice(self, *_: Any) -> JSON:  # noqa: N802
        return {}

    # ----------------------------------------------------------------- /sync

    async def _on_sync(
        self, method: str, pattern: str, p: Any, query: dict[str, str], b: Any, _: str
    ) -> JSON:
        since = query.get("since")
        since_pos = int(since[1:]) if since else 0
        full_state = query.get("full_state") == "true"
        try:
            sync_filter = json.loads(query.get("filter") or "{}")
        except ValueError:
            sync_filter = {}
        timeline = ((sync_filter.get("room") or {}).get("timeline") or {}).get("limit")
        limit = int(timeline) if isinstance(timeline, int) else DEFAULT_TIMELINE_LIMIT
        timeout = int(query.get("timeout", "0")) / 1000
        if since is not None and since_pos > self.handled_up_to:
            self.handled_up_to = since_pos  # the bot asks past it: all before is handled
            await self._wake()
        if since is not None and not full_state and timeout > 0 and self.position <= since_pos:
            assert self._changed is not None
            deadline = asyncio.get_running_loop().time() + timeout
            async with self._changed:
                while self.position <= since_pos and not self._closing.is_set():
                    left = deadline - asyncio.get_running_loop().time()
                    if left <= 0:
                        break
                    try:
                        await asyncio.wait_for(self._changed.wait(), left)
                    except TimeoutError:
                        break
        return self._sync_body(since_pos, since is None, full_state, limit)

    def _sync_body(self, since: int, initial: bool, full_state: bool, limit: int) -> JSON:
        join: JSON = {}
        invite: JSON = {}
        leave: JSON = {}
        for room_id, room in self.rooms.items():
            membership = room.membership(self.bot_user)
            changed_at = room.member_position(self.bot_user)
            if membership == "join":
                section = self._joined_section(room, since, initial, full_state, limit)
                if section is not None:
                    join[room_id] = section
            elif membership == "invite" and (initial or changed_at > since):
                invite[room_id] = {"invite_state": {"events": self._invite_state(room)}}
            elif membership in ("leave", "ban") and not initial and changed_at > since:
                if room.forgotten:
                    continue
                events = [e for p, e in room.events if since < p <= changed_at][-limit:]
                leave[room_id] = {"timeline": {"events": events}, "state": {"events": []}}
        body: JSON = {
            "next_batch": f"s{self.position}",
            "rooms": {"join": join, "invite": invite, "leave": leave},
            "account_data": {
                "events": [
                    {"type": kind, "content": content}
                    for kind, (p, content) in self.account_data.items()
                    if initial or p > since
                ]
            },
            "to_device": {"events": [e for p, e in self.to_device if p > since]},
            "device_one_time_keys_count": {"signed_curve25519": self.one_time_keys},
        }
        return copy.deepcopy(body)

    def _joined_section(
        self, room: Room, since: int, initial: bool, full_state: bool, limit: int
    ) -> JSON | None:
        joined_now = initial or room.member_position(self.bot_user) > since
        new = [(p, e) for p, e in room.events if p > since]
        if not new and not (full_state or joined_now):
            return None
        candidates = room.events if joined_now else new
        shown = candidates[-limit:] if limit > 0 else []
        first = shown[0][0] if shown else self.position + 1
        ids = {e["event_id"] for _, e in shown}
        whole = full_state or joined_now
        state = [
            e
            for p, e in sorted(room.state.values(), key=lambda pe: pe[0])
            if e["event_id"] not in ids and (whole or since < p < first)
        ]
        return {
            "timeline": {
                "events": [e for _, e in shown],
                "limited": len(candidates) > len(shown),
                "prev_batch": f"s{first - 1}",
            },
            "state": {"events": state},
        }

    def _invite_state(self, room: Room) -> list[JSON]:
        stripped = [
            {k: e[k] for k in ("type", "state_key", "sender", "content")}
            for kind in INVITE_STATE_TYPES
            if (e := room.state_event(kind)) is not None
        ]
        mine = room.state_event("m.room.member", self.bot_user)
        if mine is not None:
            stripped.append({k: mine[k] for k in ("type", "state_key", "sender", "content")})
        return stripped
