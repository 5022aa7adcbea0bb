"""A small Matrix client-server API client on matrix-nio's HTTP transport.

Why not nio's high-level calls for everything: nio's ``sync`` validates each response
against a JSON schema (one odd event fails the whole sync), keeps its own room state,
retries 429 inside the call (blocking the caller) and logs the parsed login response,
access token included, at DEBUG. The adapter needs raw events, its own retry policy
and no secret in any log, so it speaks the few endpoints it uses directly, through
``nio.AsyncClient.send`` (nio's aiohttp session, proxy and timeout settings).

Every call raises ``MatrixError`` for an error answer of the homeserver and
``TransportError`` when the homeserver could not be reached (or did not answer in
time). Neither message ever contains the access token or a password.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from nio import AsyncClient, AsyncClientConfig

log = logging.getLogger(__name__)

API_PREFIX = "/_matrix/client/v3/"

# (room id, event type, content) -> the (event type, content) to PUT: end-to-end
# encryption (crypto.py) hooks in here, where every room event goes out
BeforeSend = Callable[[str, str, Mapping[str, Any]], Awaitable[tuple[str, Mapping[str, Any]]]]


class MatrixError(Exception):
    """The homeserver answered with an error."""

    def __init__(
        self, status: int, errcode: str, error: str = "", retry_after_ms: int | None = None
    ) -> None:
        super().__init__(f"HTTP {status} {errcode}: {error}")
        self.status = status
        self.errcode = errcode
        self.error = error
        self.retry_after_ms = retry_after_ms

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.errcode == "M_LIMIT_EXCEEDED"

    @property
    def unknown_token(self) -> bool:
        return self.errcode == "M_UNKNOWN_TOKEN"

    @property
    def transient(self) -> bool:
        """Worth retrying as is: rate limits and server-side failures."""
        return self.rate_limited or self.status >= 500


class TransportError(Exception):
    """The homeserver could not be reached or did not answer in time."""


def server_of(user_or_room_id: str) -> str:
    """ "@anna:example.org" -> "example.org" ("" for a v12 room id without server part)."""
    return user_or_room_id.partition(":")[2]


class MatrixApi:
    """The client-server endpoints the adapter uses, as plain JSON in and out."""

    def __init__(self, homeserver: str, user_id: str, *, request_timeout: float = 30.0) -> None:
        self.user_id = user_id
        self.access_token: str | None = None
        self.device_id: str | None = None
        self.request_timeout = request_timeout
        self.before_send: BeforeSend | None = None  # set by the adapter (encryption)
        config = AsyncClientConfig(
            max_limit_exceeded=0,  # nio must not sleep on 429 itself: we retry per room
            max_timeouts=0,
            request_timeout=request_timeout,
            encryption_enabled=False,
            store_sync_tokens=False,
        )
        self._client = AsyncClient(homeserver.rstrip("/"), user_id, config=config)

    async def close(self) -> None:
        await self._client.close()

    # --- transport -------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: Sequence[str],
        *,
        query: Mapping[str, str | int] | Sequence[tuple[str, str | int]] | None = None,
        body: Mapping[str, Any] | None = None,
        http_timeout: float | None = None,
        auth: bool = True,
    ) -> Any:
        """One request; the decoded JSON answer (any JSON type)."""
        url = API_PREFIX + "/".join(quote(part, safe="") for part in path)
        if query:
            url += "?" + urlencode(query)
        headers = {"Content-Type": "application/json"}
        if auth:
            if self.access_token is None:
                raise MatrixError(401, "M_MISSING_TOKEN", "not logged in")
            headers["Authorization"] = "Bearer " + self.access_token
        data = None if body is None else json.dumps(body)
        try:
            response = await self._client.send(
                method, url, data, headers, timeout=http_timeout or self.request_timeout
            )
            try:
                payload = await response.json(content_type=None)
            except ValueError:
                payload = None
            finally:
                response.release()
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            # aiohttp's messages may contain the URL (never the token, which travels in
            # a header); name the error type only.
            raise TransportError(f"{method} /{path[0]}: {type(error).__name__}") from None
        if response.status >= 400:
            details = payload if isinstance(payload, dict) else {}
            retry_after = details.get("retry_after_ms")
            if not isinstance(retry_after, int):
                header = response.headers.get("Retry-After", "")
                retry_after = int(header) * 1000 if header.isdigit() else None
            raise MatrixError(
                response.status,
                str(details.get("errcode", "M_UNKNOWN")),
                str(details.get("error", "")),
                retry_after,
            )
        return payload

    async def request(
        self,
        method: str,
        path: Sequence[str],
        *,
        query: Mapping[str, str | int] | Sequence[tuple[str, str | int]] | None = None,
        body: Mapping[str, Any] | None = None,
        http_timeout: float | None = None,
        auth: bool = True,
    ) -> dict[str, Any]:
        """One request whose answer is a JSON object."""
        payload = await self.call(
            method, path, query=query, body=body, http_timeout=http_timeout, auth=auth
        )
        return payload if isinstance(payload, dict) else {}

    # --- account ---------------------------------------------------------------------

    async def login_password(
        self, password: str, *, device_id: str | None, device_name: str
    ) -> tuple[str, str]:
        """Log in; reuse ``device_id`` if given. Returns (access token, device id)."""
        body: dict[str, Any] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": self.user_id},
            "password": password,
            "initial_device_display_name": device_name,
        }
        if device_id:
            body["device_id"] = device_id
        reply = await self.request("POST", ["login"], body=body, auth=False)
        token, device = str(reply["access_token"]), str(reply["device_id"])
        self.access_token, self.device_id = token, device
        return token, device

    async def whoami(self) -> tuple[str, str | None]:
        reply = await self.request("GET", ["account", "whoami"])
        device = reply.get("device_id")
        return str(reply["user_id"]), str(device) if device else None

    async def account_data(self, event_type: str) -> dict[str, Any] | None:
        try:
            return await self.request("GET", ["user", self.user_id, "account_data", event_type])
        except MatrixError as error:
            if error.status == 404:
                return None
            raise

    async def set_account_data(self, event_type: str, content: Mapping[str, Any]) -> None:
        await self.request("PUT", ["user", self.user_id, "account_data", event_type], body=content)

    # --- sync and history ------------------------------------------------------------

    async def sync(
        self,
        since: str | None,
        *,
        sync_filter: Mapping[str, Any],
        timeout_ms: int,
        full_state: bool = False,
    ) -> dict[str, Any]:
        query: dict[str, str | int] = {
            "filter": json.dumps(sync_filter, separators=(",", ":")),
            "timeout": timeout_ms,
        }
        if since:
            query["since"] = since
        if full_state:
            query["full_state"] = "true"
        # the server holds a long poll up to timeout_ms; give it room to answer
        http_timeout = timeout_ms / 1000 + self.request_timeout
        return await self.request("GET", ["sync"], query=query, http_timeout=http_timeout)

    async def messages(
        self,
        room_id: str,
        *,
        start: str,
        end: str | None = None,
        direction: str = "b",
        limit: int = 50,
    ) -> dict[str, Any]:
        query: dict[str, str | int] = {"from": start, "dir": direction, "limit": limit}
        if end:
            query["to"] = end
        return await self.request("GET", ["rooms", room_id, "messages"], query=query)

    # --- rooms -----------------------------------------------------------------------

    async def send_event(
        self, room_id: str, event_type: str, content: Mapping[str, Any], txn_id: str
    ) -> str:
        """PUT one room event; in an encrypted room ``before_send`` encrypts it first
        (the transaction id stays the same through retries: no double posts)."""
        if self.before_send is not None:  # --- hook: end-to-end encryption (crypto.py)
            event_type, content = await self.before_send(room_id, event_type, content)
        reply = await self.request(
            "PUT", ["rooms", room_id, "send", event_type, txn_id], body=content
        )
        return str(reply["event_id"])

    async def join(self, room_id: str, via: Sequence[str] = ()) -> str:
        """Join a room by id or alias; ``via``: servers that know it (v12 room ids have no
        server part, so a remote room needs them)."""
        query = [("server_name", server) for server in dict.fromkeys(via) if server]
        reply = await self.request("POST", ["join", room_id], query=query or None, body={})
        return str(reply.get("room_id", room_id))

    async def leave(self, room_id: str) -> None:
        await self.request("POST", ["rooms", room_id, "leave"], body={})

    async def forget(self, room_id: str) -> None:
        """Drop a left room from the account (it no longer shows in any sync)."""
        await self.request("POST", ["rooms", room_id, "forget"], body={})

    async def invite(self, room_id: str, user_id: str, *, is_direct: bool = False) -> None:
        """Invite a person. A direct chat's invite carries ``is_direct`` in the member
        event (what Element reads to show it as a direct chat), which the /invite
        endpoint cannot set, so the invite is PUT as the member state event."""
        content: dict[str, Any] = {"membership": "invite"}
        if is_direct:
            content["is_direct"] = True
        await self.request(
            "PUT", ["rooms", room_id, "state", "m.room.member", user_id], body=content
        )

    async def joined_rooms(self) -> list[str]:
        reply = await self.request("GET", ["joined_rooms"])
        rooms = reply.get("joined_rooms")
        return [r for r in rooms if isinstance(r, str)] if isinstance(rooms, list) else []

    async def create_room(self, body: Mapping[str, Any]) -> str:
        reply = await self.request("POST", ["createRoom"], body=body)
        return str(reply["room_id"])

    async def state_event(
        self, room_id: str, event_type: str, state_key: str = ""
    ) -> dict[str, Any] | None:
        """The content of one state event, None if the room has none of that type."""
        try:
            return await self.request("GET", ["rooms", room_id, "state", event_type, state_key])
        except MatrixError as error:
            if error.status == 404 and error.errcode == "M_NOT_FOUND":
                return None
            raise

    async def room_state(self, room_id: str) -> list[dict[str, Any]]:
        """All current state events of a room (full events, with sender)."""
        payload = await self.call("GET", ["rooms", room_id, "state"])
        return [e for e in payload if isinstance(e, dict)] if isinstance(payload, list) else []
