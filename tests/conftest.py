"""Test harness: the real app over HTTP (httpx's ASGI transport), on SQLite or PostgreSQL.

The database is chosen like the service chooses it: NC_DATABASE_URL unset means an embedded SQLite
file, a postgres:// URL means PostgreSQL (whose schema the session resets first). Each test works
in an instance of its own, so tests share one migrated database without seeing each other.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from channels.runtime import IN_RUNTIME
from core.settings import Secret, Settings
from services.auth import TokenCodec

DATABASE_URL = os.environ.get("NC_DATABASE_URL") or None
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_unreachable(url: str) -> str | None:
    import asyncio

    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1), timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at NC_DATABASE_URL is not reachable ({type(exc).__name__}: {exc})"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not DATABASE_URL:
        # Races between concurrent transactions need PostgreSQL: its pass runs them.
        postgres_only = [item for item in items if item.get_closest_marker("postgres_only") is not None]
        if postgres_only:
            config.hook.pytest_deselected(items=postgres_only)
            items[:] = [item for item in items if item.get_closest_marker("postgres_only") is None]
        return

    # The multi-process tests bring their own PostgreSQL database, and the abuse tests serve the
    # embedded default: one pass runs them (as it does what only SQLite has: group commit).
    def once(item: pytest.Item) -> bool:
        return (
            any(item.get_closest_marker(m) is not None for m in ("scaled", "browser", "sqlite_only"))
            or "abuse" in item.path.parts
        )

    scaled = [item for item in items if once(item)]
    if scaled:
        config.hook.pytest_deselected(items=scaled)
        items[:] = [item for item in items if not once(item)]
    reason = _postgres_unreachable(DATABASE_URL)
    if reason is None:
        return
    if IN_CI:
        raise pytest.UsageError(f"{reason}; under CI=true a skipped PostgreSQL run is a failure")
    for item in items:
        item.add_marker(pytest.mark.skip(reason=reason))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI=true a skipped test is a failure: PostgreSQL, Redis and node are on the machine."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if IN_CI and skipped and exitstatus == 0:
        reporter.write_line(f"CI=true: {len(skipped)} test(s) were skipped; that fails the run", red=True)
        session.exitstatus = 1


async def _reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("nc-data")
    if DATABASE_URL:
        await _reset_postgres(DATABASE_URL)
    return Settings(
        data_dir=Path(data_dir),
        database_url=DATABASE_URL,
        jwt_secret=Secret("test-secret-" + uuid.uuid4().hex),
        graphiql=False,
        # Local provider servers the channel tests start are plain http on 127.0.0.1.
        allow_http_endpoints=True,
        # The local SMTP server (tests/fakes/smtp_server.py) is the private relay EMAIL may reach.
        smtp_allowed_hosts=("127.0.0.1",),
        # Short clocks so live tests run in a second: a reminder "minute" is 0.2 s.
        reminder_minute_seconds=0.2,
        # A collapsed item's banner and external channels fire again after 1 s, not a minute.
        collapse_window_seconds=1.0,
        # An ESCALATE_AFTER "minute" is half a second.
        routing_minute_seconds=0.5,
        # A WHEN_AWAY delivery waiting for its operator to leave the panel looks again every 0.5 s.
        away_recheck_seconds=0.5,
        poll_seconds=0.1,
        retry_base_seconds=0.05,
        test_send_timeout_seconds=10.0,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Any]:
    if DATABASE_URL:
        from models.db import apply_migrations, close_db

        await apply_migrations(settings)
        await close_db()
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nc.test") as client:
        yield client


@pytest.fixture(scope="session")
async def live_server(app: Any) -> AsyncIterator[str]:
    """The same app served by uvicorn on a free port, in the test's event loop, for WebSocket
    clients. Its lifespan (database, broker, workers) is the one the `app` fixture entered."""
    from api.server import uvicorn_options
    from tests.fakes.serve import serve_asgi

    async with serve_asgi(app, ws_ping_interval=None, **uvicorn_options(app.state.services.settings)) as base_url:
        yield base_url.removeprefix("http://")


@pytest.fixture(scope="session")
def codec(settings: Settings) -> TokenCodec:
    return TokenCodec(settings)


@dataclass
class GraphQLResult:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        assert not self.body.get("errors"), self.body.get("errors")
        return self.body["data"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.body.get("errors") or []

    @property
    def error_code(self) -> str | None:
        errors = self.errors
        assert errors, f"expected an error, got {self.body}"
        return errors[0].get("extensions", {}).get("code")

    @property
    def error_message(self) -> str:
        return self.errors[0]["message"]


@dataclass
class Caller:
    """A user (or service) of one instance, sending GraphQL over HTTP with their token."""

    http: httpx.AsyncClient
    token: str
    instance: str
    user: str
    role: str

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> GraphQLResult:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        return GraphQLResult(response.status_code, response.json())


@dataclass
class Tenant:
    """A fresh instance for one test, with factories for its callers."""

    http: httpx.AsyncClient
    codec: TokenCodec
    id: str = field(default_factory=lambda: "inst-" + uuid.uuid4().hex[:12])

    def caller(self, role: str = "operator", user: str | None = None, **claims: Any) -> Caller:
        user = user or f"{role}-{uuid.uuid4().hex[:8]}"
        token = self.codec.issue(instance=self.id, user=user, role=role, **claims)
        return Caller(self.http, token, self.id, user, role)

    def operator(self, user: str | None = None, **claims: Any) -> Caller:
        return self.caller("operator", user, **claims)

    def admin(self) -> Caller:
        return self.caller("administrator")

    def service(self) -> Caller:
        return self.caller("service")


@pytest.fixture
def tenant(http: httpx.AsyncClient, codec: TokenCodec) -> Tenant:
    return Tenant(http, codec)


@pytest.fixture
def new_tenant(http: httpx.AsyncClient, codec: TokenCodec) -> Callable[[], Tenant]:
    return lambda: Tenant(http, codec)


class SqlCounter(logging.Handler):
    """Counts the SQL statements tortoise-orm sends (its db_client logger, at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if IN_RUNTIME.get():
            return  # the workers' and schedulers' own queries, not the request's
        message = record.getMessage()
        if message.startswith(("Created connection", "Closed connection")):
            return
        self.statements.append(message)

    @property
    def count(self) -> int:
        return len(self.statements)

    async def settled(self, instance_id: str) -> list[str]:
        """The statements so far, once the instance's publishing calls have deleted their
        hand-off rows (each does so just after it is answered, so the delete may come after the
        answer), without the statements of this wait."""
        from models.notification import PanelHandOff
        from tests import polling

        await polling.eventually(lambda: PanelHandOff.filter(instance_id=instance_id).count(), lambda n: n == 0)
        return [s for s in self.statements if not s.startswith(_HAND_OFF_WAIT)]


#: How ``SqlCounter.settled``'s own reads begin.
_HAND_OFF_WAIT = 'SELECT COUNT(*) FROM "nc_panel_hand_off"'


@pytest.fixture
def sql() -> Any:
    logger = logging.getLogger("tortoise.db_client")
    counter = SqlCounter()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(old_level)
