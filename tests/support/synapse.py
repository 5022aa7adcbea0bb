"""A real Synapse homeserver for integration tests.

``SynapseServer`` writes a minimal, loopback-only ``homeserver.yaml`` into a work
directory, runs ``python -m synapse.app.homeserver`` as a subprocess and waits until
the client API answers. Nothing leaves 127.0.0.1: there is no federation listener,
``federation_domain_whitelist`` is empty, there are no trusted key servers, no stats
reporting, no URL previews, no identity server and no presence.

Typical use (see ``tests/matrix/conftest.py`` for the pytest fixtures)::

    server = SynapseServer(tmp_path)
    server.start()                      # ~2-4 s, raises SynapseStartError with the log tail
    try:
        alice = server.register("alice", "secret")   # MatrixUser(user_id, token, device_id)
        client = await server.new_client(*alice)     # logged-in nio.AsyncClient
        ...
        await client.close()
    finally:
        server.stop()

All rate limits are raised far out of reach, except ``rc_message`` when
``message_rate=(per_second, burst_count)`` is given, so that tests can provoke
``M_LIMIT_EXCEEDED``. Note that Synapse's ``rc_message`` limiter covers every event a
user sends (messages, state events, memberships) and room creation, not only
``m.room.message``; ``exempt_from_ratelimits()`` lifts all limits for one user.

Everything is in the work directory: ``homeserver.yaml``, ``homeserver.db``
(SQLite), ``signing.key``, ``media_store/``, ``homeserver.log`` (Synapse's own log,
WARNING and above) and ``stdout.log`` (the subprocess' stdout/stderr).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import hmac
import json
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

from nio import AsyncClient, AsyncClientConfig

SERVER_NAME = "localhost"

# Far out of reach for any test; Synapse parses these as floats / ints.
_UNLIMITED = {"per_second": 100_000, "burst_count": 100_000}

# Every rate limiter this Synapse version (1.163) knows of, except rc_federation
# (no federation here) and the remote media download limit.
_RATE_LIMIT_KEYS = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_admin_redaction",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
)
_NESTED_RATE_LIMIT_KEYS = {
    "rc_login": ("address", "account", "failed_attempts"),
    "rc_joins": ("local", "remote"),
    "rc_invites": ("per_room", "per_user", "per_issuer"),
    "rc_presence": ("per_user",),
}


class SynapseStartError(RuntimeError):
    """Synapse did not come up; the message carries the tail of its logs."""


class MatrixUser(NamedTuple):
    """A registered account, as returned by ``SynapseServer.register``."""

    user_id: str
    access_token: str
    device_id: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: have the kernel SIGTERM Synapse if the pytest process dies abruptly."""
    with contextlib.suppress(Exception):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class SynapseServer:
    """One Synapse process serving the client API on ``http://127.0.0.1:<free port>``."""

    def __init__(
        self,
        workdir: Path,
        *,
        message_rate: tuple[float, int] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        """Prepare a server in ``workdir`` (created if missing); ``start()`` launches it.

        ``message_rate=(per_second, burst_count)`` sets a low ``rc_message`` limit;
        without it every rate limit is effectively disabled.
        """
        self.workdir = Path(workdir)
        self.message_rate = message_rate
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.registration_shared_secret = secrets.token_hex(16)
        self._process: subprocess.Popen[bytes] | None = None
        self._admin: MatrixUser | None = None

    # -- properties -----------------------------------------------------------------

    @property
    def server_name(self) -> str:
        return SERVER_NAME

    @property
    def url(self) -> str:
        """Base URL of the client API, e.g. ``http://127.0.0.1:41234``."""
        if self.port is None:
            raise RuntimeError("SynapseServer has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "homeserver.yaml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "homeserver.log"

    @property
    def stdout_path(self) -> Path:
        return self.workdir / "stdout.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Write the config, launch Synapse and wait until the client API answers.

        Retries with a new port if the chosen one was taken in the meantime.
        """
        if self.running:
            raise RuntimeError("SynapseServer is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_signing_key()
        for attempt in range(3):
            self.port = free_port()
            self._write_config()
            self._launch()
            try:
                self._wait_until_ready()
                return
            except SynapseStartError:
                self.stop()
                if attempt == 2 or "Address already in use" not in self._log_tail():
                    raise

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM Synapse, SIGKILL it if it is still alive after ``timeout`` s, reap it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._admin = None

    def __enter__(self) -> SynapseServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- accounts -------------------------------------------------------------------

    def register(self, username: str, password: str, admin: bool = False) -> MatrixUser:
        """Create an account via the shared-secret admin API and log it in.

        ``username`` is the localpart (Synapse lower-cases it). Returns the user id, an
        access token and the device id of that login.
        """
        nonce = self._request("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(self.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [
                    nonce.encode(),
                    username.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            )
        )
        body = {
            "nonce": nonce,
            "username": username,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        reply = self._request("POST", "/_synapse/admin/v1/register", body)
        return MatrixUser(reply["user_id"], reply["access_token"], reply["device_id"])

    def login(self, username: str, password: str) -> MatrixUser:
        """Password login (a new device) for an existing account."""
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": username},
            "password": password,
        }
        reply = self._request("POST", "/_matrix/client/v3/login", body)
        return MatrixUser(reply["user_id"], reply["access_token"], reply["device_id"])

    def exempt_from_ratelimits(self, user_id: str) -> None:
        """Lift every rate limit for ``user_id`` (Synapse's override_ratelimit admin API)."""
        self.override_message_rate(user_id, 0, 0)

    def override_message_rate(self, user_id: str, per_second: int, burst_count: int) -> None:
        """Give ``user_id`` its own ``rc_message`` limit (0, 0: no limit at all), e.g. a
        faster one than the server's on ``throttled_synapse`` so that a test can send a
        burst past the limit without waiting 10 s per message."""
        if self._admin is None:
            self._admin = self.register(
                f"fixture-admin-{secrets.token_hex(4)}", secrets.token_hex(16), admin=True
            )
        path = f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id, safe='')}/override_ratelimit"
        body = {"messages_per_second": per_second, "burst_count": burst_count}
        self._request("POST", path, body, token=self._admin.access_token)

    async def new_client(
        self, user_id: str, access_token: str, device_id: str, *, store_path: str | None = None
    ) -> AsyncClient:
        """A ``nio.AsyncClient`` logged in as the given user; ``await client.close()`` it.

        ``server.new_client(*matrix_user)`` works since ``MatrixUser`` is a tuple. The
        client gives up on the first 429 (nio's default is to sleep and retry forever)
        and after two connection timeouts instead of hanging a test. With
        ``store_path`` (an existing folder) it has end-to-end encryption: its Olm
        account and keys live there, as an Element session keeps them.
        """
        config = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=2,
            request_timeout=30,
            encryption_enabled=store_path is not None,
        )
        client = AsyncClient(
            self.url, user_id, device_id=device_id, store_path=store_path or "", config=config
        )
        client.restore_login(user_id, device_id, access_token)
        return client

    # -- HTTP -----------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """A JSON request to the server; raises RuntimeError with the reply on HTTP errors."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                result: dict[str, Any] = json.load(response)
                return result
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise RuntimeError(f"{method} {path} -> HTTP {error.code}: {detail}") from None

    # -- internals ------------------------------------------------------------------

    def _write_signing_key(self) -> None:
        path = self.workdir / "signing.key"
        if path.exists():
            return
        from signedjson.key import generate_signing_key, write_signing_keys

        with path.open("w") as file:
            write_signing_keys(file, [generate_signing_key("a_" + secrets.token_hex(2))])

    def _rate_limits(self) -> dict[str, Any]:
        limits: dict[str, Any] = {key: dict(_UNLIMITED) for key in _RATE_LIMIT_KEYS}
        for key, parts in _NESTED_RATE_LIMIT_KEYS.items():
            limits[key] = {part: dict(_UNLIMITED) for part in parts}
        if self.message_rate is not None:
            per_second, burst_count = self.message_rate
            limits["rc_message"] = {"per_second": per_second, "burst_count": burst_count}
        return limits

    def _write_config(self) -> None:
        workdir = self.workdir.resolve()
        log_config = {
            "version": 1,
            "formatters": {"precise": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path.resolve()),
                }
            },
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        config: dict[str, Any] = {
            "server_name": SERVER_NAME,
            "public_baseurl": self.url + "/",
            "pid_file": str(workdir / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(workdir / "homeserver.db")},
            },
            "log_config": str(workdir / "log.config"),
            "media_store_path": str(workdir / "media_store"),
            "signing_key_path": str(workdir / "signing.key"),
            "registration_shared_secret": self.registration_shared_secret,
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "bcrypt_rounds": 4,  # default 12 costs ~0.2 s per registration / login
            "enable_registration": True,
            "enable_registration_without_verification": True,
            # Loopback only: no federation, key servers, stats, previews or presence.
            "federation_domain_whitelist": [],
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "report_stats": False,
            "url_preview_enabled": False,
            "enable_metrics": False,
            "presence": {"enabled": False},
            "allow_public_rooms_over_federation": False,
            **self._rate_limits(),
        }
        # JSON is valid YAML; Synapse reads both files with a YAML parser.
        (workdir / "log.config").write_text(json.dumps(log_config, indent=2))
        self.config_path.write_text(json.dumps(config, indent=2))

    def _launch(self) -> None:
        with self.stdout_path.open("ab") as stdout:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise SynapseStartError(
                    f"Synapse exited with code {self._process.returncode} during startup\n"
                    + self._log_tail()
                )
            try:
                with urllib.request.urlopen(self.url + "/_matrix/client/versions", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise SynapseStartError(
                    f"Synapse did not answer on {self.url} within {self.startup_timeout:.0f} s\n"
                    + self._log_tail()
                )
            time.sleep(0.1)

    def _log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.stdout_path, self.log_path):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- last lines of {path} ---\n" + "\n".join(tail))
        return "\n".join(parts) or "(no Synapse log written)"
