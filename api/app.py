"""The ASGI app: /graphql (HTTP and WebSocket), /healthz, /readyz, /metrics and the webhooks."""

from __future__ import annotations

import asyncio
import gc
import hmac
import ipaddress
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from tortoise.functions import Count, Min
from tortoise.timezone import now

from api.graphql_http import NotificationCenterGraphQL
from api.panel import panel_routes
from api.webhooks import webhook_routes
from channels.deps import ChannelDeps, http_client
from channels.registry import build_channels
from channels.runtime import Runtime
from core.broker import build_broker
from core.logs import REQUEST_ID, SOCKET_REQUEST_ID, RequestIds, request_id_of
from core.metrics import (
    BROKER_ERRORS,
    DATABASE_ERRORS,
    LIVE_SUBSCRIPTIONS,
    OLDEST_DUE_AGE,
    QUEUE_DEPTH,
    exposition,
)
from core.presence import build_presence
from core.settings import Settings
from domain.errors import Unauthenticated
from domain.keys import SecretBox
from domain.policy import POLICY_TOPIC
from models.db import close_db, db, init_db
from models.notification import Delivery
from services.auth import TokenCodec
from services.dispatch import prime_connections
from services.shared import Services


class BodySizeLimit:
    """Refuses request bodies over the configured size before anything parses them; a client
    that disconnects mid-body ends its request quietly."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)
        except ClientDisconnect:
            pass  # the client went away mid-body: nobody to answer, nothing to log

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {
                "errors": [
                    {
                        "message": f"The request body is larger than {self.max_bytes} bytes: split it",
                        "extensions": {"code": "BAD_USER_INPUT"},
                    }
                ]
            },
            status_code=413,
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


#: How long /readyz waits for its checks before it answers "not ready".
READY_SECONDS = 2.0


def create_app(settings: Settings) -> Starlette:
    settings = settings.with_jwt_secret()
    assert settings.jwt_secret is not None
    broker = build_broker(settings.redis_url)
    presence = build_presence(settings)
    services = Services(
        settings=settings,
        tokens=TokenCodec(settings),
        secret_box=SecretBox(settings.jwt_secret.reveal()),
        broker=broker,
        presence=presence,
    )
    graphql = NotificationCenterGraphQL(
        services,
        graphql_ide="graphiql" if settings.graphiql else None,
        allowed_origins=settings.allowed_origins,
        max_subscriptions_per_connection=settings.limits.subscriptions_per_connection,
        connection_init_wait_timeout=timedelta(seconds=settings.connection_init_timeout_seconds),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await init_db(settings, run_migrations=settings.embedded)
        try:
            # PostgreSQL: the first publishing calls after a start find their statements prepared.
            await prime_connections(broker, settings)
            http = http_client(allow_private=settings.allow_http_endpoints)
            deps = ChannelDeps(settings=settings, secret_box=services.secret_box, http=http, bots=services.bots)
            runtime = (
                Runtime(
                    settings,
                    broker,
                    build_channels(broker, deps),
                    concurrency=settings.worker_concurrency,
                    presence=presence,
                )
                if settings.run_workers
                else None
            )
            app.state.runtime = runtime
            if runtime is not None:
                await runtime.start()
            policy_listener = asyncio.create_task(_forget_changed_policies(services), name="nc-policy-listener")
            bots_listener = asyncio.create_task(services.bots.listen_for_changes(broker), name="nc-bots-listener")
            viewers_listener = asyncio.create_task(
                services.viewers.listen_for_changes(broker), name="nc-viewers-listener"
            )
            _tune_gc()
            try:
                yield
            finally:
                for listener in (policy_listener, bots_listener, viewers_listener):
                    listener.cancel()
                await asyncio.gather(policy_listener, bots_listener, viewers_listener, return_exceptions=True)
                if runtime is not None:
                    await runtime.stop()
                await http.aclose()
                await graphql.close()
                await presence.close()
                await broker.close()
        finally:
            # Also when the start-up fails after connecting: the checkpoints' thread stops with it.
            await close_db()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    readiness: dict[str, Any] = {"at": 0.0, "answer": None, "check": None, "checks": {}}
    checked = ("database", "redis") if settings.redis_url else ("database",)

    async def readyz(request: Request) -> Response:
        """The database (and Redis) checked at most once a second per process, however often
        it is asked: every caller within that second gets the same answer. One check at a time;
        one that takes more than ``READY_SECONDS`` (a database or Redis that stopped answering)
        is answered "not ready" then, and the next calls wait for the same check, not a new one."""
        moment = time.monotonic()
        if readiness["answer"] is None or moment - readiness["at"] >= 1.0:
            check = readiness["check"]
            if check is None or check.done():
                readiness["checks"] = {}
                check = readiness["check"] = asyncio.ensure_future(_readiness(readiness["checks"]))
            await asyncio.wait([check], timeout=READY_SECONDS)
            # Each check says what it found; one still waiting says so.
            silent = f"error: no answer within {READY_SECONDS:g} s"
            checks = {name: readiness["checks"].get(name, silent) for name in checked}
            readiness["at"], readiness["answer"] = moment, (all(v == "ok" for v in checks.values()), checks)
        ready, checks = readiness["answer"]
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    async def _readiness(checks: dict[str, str]) -> None:
        """The checks side by side, each writing its finding into ``checks`` as it ends."""

        async def database() -> None:
            try:
                await db().execute_query("SELECT 1")
                checks["database"] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                DATABASE_ERRORS.inc()
                checks["database"] = f"error: {type(exc).__name__}"

        async def redis() -> None:
            checks["redis"] = "ok" if await broker.ping() else "error: not answering"

        await asyncio.gather(database(), *([redis()] if settings.redis_url else []))

    async def metrics(request: Request) -> Response:
        if not _may_scrape(request, settings):
            return JSONResponse(
                {"error": "Scraping /metrics needs Authorization: Bearer <NC_METRICS_TOKEN> (or a loopback address)"},
                status_code=401 if settings.metrics_token else 403,
                headers={"WWW-Authenticate": "Bearer"} if settings.metrics_token else None,
            )
        await refresh(broker)
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    app = NotificationCenterApp(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *webhook_routes(services, graphql.rate_limits),
            *panel_routes(settings, services.tokens),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.add_middleware(BodySizeLimit, max_bytes=settings.limits.request_body_bytes)
    app.add_middleware(RequestIds)
    app.live = graphql
    return app


class NotificationCenterApp(Starlette):
    """Starlette, handing the panels' GraphQL WebSockets (``/graphql``) straight to the GraphQL
    app with their request id: none of the HTTP middleware, the router or the route concerns a
    socket (they pass it through), and each of their suspended frames would stay with every idle
    panel for its whole life (~3 KiB each: bench section 5). Everything else goes the usual way."""

    live: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.live is not None and scope["type"] == "websocket" and scope["path"] == "/graphql":
            scope["app"] = self
            # In the scope too: the socket's protocol logs its own client errors (api.server).
            scope[SOCKET_REQUEST_ID] = request_id = request_id_of(scope)
            token = REQUEST_ID.set(request_id)
            try:
                await self.live(scope, receive, send)
            finally:
                REQUEST_ID.reset(token)
            return
        await super().__call__(scope, receive, send)


def _may_scrape(request: Request, settings: Settings) -> bool:
    """/metrics: with NC_METRICS_TOKEN, the bearer token; without it, loopback clients only."""
    if settings.metrics_token:
        given = request.headers.get("authorization", "")
        expected = "Bearer " + settings.metrics_token.reveal()
        return hmac.compare_digest(given.encode(), expected.encode())
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tune_gc() -> None:
    """What start-up allocated lives as long as the process: move it out of the collector's way,
    and collect the young generation less often. Full collections over everything a busy process
    holds (thousands of connections) were pausing it for up to 250 ms (see bench/REPORT.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def _forget_changed_policies(services: Services) -> None:
    """Other processes announce policy changes: drop our cached copy at once."""
    async with services.broker.subscribe(POLICY_TOPIC) as changes:
        async for change in changes:
            instance_id = change.get("instance")
            if isinstance(instance_id, str):
                services.policies.invalidate(instance_id)


async def refresh(broker: Any) -> None:
    """Answer the gauges that are questions to the database or the broker (at each scrape)."""
    BROKER_ERRORS.broker = broker
    LIVE_SUBSCRIPTIONS.set(broker.subscriber_count())
    current = now()
    try:
        row = (
            # HELD ones count once their working hours opened: due, and waiting for a worker
            await Delivery.filter(status__in=("QUEUED", "RETRYING", "HELD"), next_attempt_at__lte=current)
            .annotate(depth=Count("id"), oldest=Min("next_attempt_at"))
            .values("depth", "oldest")
        )
    except Exception:  # noqa: BLE001 - a scrape must answer even when the database does not
        DATABASE_ERRORS.inc()
        return
    depth = row[0]["depth"] if row else 0
    oldest = row[0]["oldest"] if row else None
    QUEUE_DEPTH.set(depth or 0)
    if isinstance(oldest, str):
        oldest = datetime.fromisoformat(oldest)
    OLDEST_DUE_AGE.set(max(0.0, (current - oldest).total_seconds()) if oldest else 0.0)


__all__ = ["Unauthenticated", "create_app"]
