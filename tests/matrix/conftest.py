"""Fixtures for tests against a real Synapse homeserver (see tests/support/synapse.py).

- ``synapse``: one homeserver for the whole test session (sync fixture, so it works
  with pytest-asyncio's function-scoped event loops), stopped at session end.
- ``matrix_user``: factory registering a fresh account with a unique name per call,
  ``matrix_user("alice")`` -> ``MatrixUser(user_id, access_token, device_id)``; the
  password is ``USER_PASSWORD`` unless given.
- ``matrix_client``: async factory turning a ``MatrixUser`` into a logged-in
  ``nio.AsyncClient`` that is closed after the test.
- ``throttled_synapse``: a second session-wide homeserver with a low message rate
  limit, for provoking M_LIMIT_EXCEEDED; started only by tests that use it.
- ``default_limits_synapse``: one with Synapse's default ``rc_message`` and
  ``rc_room_creation``; started only by tests that use it.
- ``homeserver``, ``mx``: no Synapse: the fake homeserver (``FakeMatrixApi``) and a
  ``MatrixWorld`` (the real adapter, core and SQLite against it), per test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClient

from tests.fakes.matrix_api import FakeMatrixApi
from tests.matrix.world import MatrixWorld
from tests.support.synapse import MatrixUser, SynapseServer

USER_PASSWORD = "correct horse battery staple"

MakeUser = Callable[..., MatrixUser]
MakeClient = Callable[..., Awaitable[AsyncClient]]


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    server = SynapseServer(Path(tmp_path_factory.mktemp("synapse")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def throttled_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    """A second homeserver (started only if requested) with a low ``rc_message``.

    Each user may send a burst of 3 events (room creation counts as one), then one
    every 10 s; the 4th event in quick succession gets M_LIMIT_EXCEEDED.
    """
    server = SynapseServer(
        Path(tmp_path_factory.mktemp("synapse-throttled")), message_rate=(0.1, 3)
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


class DefaultLimitsSynapse(SynapseServer):
    """A homeserver with Synapse's own defaults for ``rc_message`` (0.2 events per
    second, burst 10) and ``rc_room_creation`` (burst 10): what a bot meets on a
    homeserver nobody tuned for it. Every other limit is out of reach as usual."""

    def _rate_limits(self) -> dict[str, Any]:
        limits = super()._rate_limits()
        del limits["rc_message"], limits["rc_room_creation"]
        return limits


@pytest.fixture(scope="session")
def default_limits_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    """A third homeserver (started only if requested) with Synapse's default message
    and room creation limits."""
    server = DefaultLimitsSynapse(Path(tmp_path_factory.mktemp("synapse-default-limits")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def matrix_user(synapse: SynapseServer) -> MakeUser:
    def make(
        prefix: str = "user", *, admin: bool = False, password: str = USER_PASSWORD
    ) -> MatrixUser:
        username = f"{prefix.lower()}-{uuid.uuid4().hex[:10]}"
        return synapse.register(username, password, admin=admin)

    return make


@pytest.fixture
async def matrix_client(
    synapse: SynapseServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[MakeClient]:
    """``await matrix_client(user)``; ``encrypted=True``: a client with end-to-end
    encryption (its own crypto store), as Element is."""
    clients: list[AsyncClient] = []

    async def make(user: MatrixUser, *, encrypted: bool = False) -> AsyncClient:
        store = str(tmp_path_factory.mktemp("nio-store")) if encrypted else None
        client = await synapse.new_client(*user, store_path=store)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


# --- adapter tests without Synapse: the fake homeserver (tests/fakes/matrix_api.py) ---


@pytest.fixture
async def homeserver() -> AsyncIterator[FakeMatrixApi]:
    async with FakeMatrixApi() as fake:
        yield fake


@pytest.fixture
async def mx(homeserver: FakeMatrixApi, tmp_path: Path) -> AsyncIterator[MatrixWorld]:
    """A ``MatrixWorld`` (tests/matrix/world.py), stopped after the test."""
    world = MatrixWorld(homeserver, tmp_path)
    try:
        yield world
    finally:
        await world.stop()
