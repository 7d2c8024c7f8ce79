"""GraphQL over HTTP (and the WebSocket upgrade): strawberry's view with the service's gate.

What an HTTP request to /graphql goes through, in order, and what a client gets when it fails::

    body over NC_LIMIT_REQUEST_BODY_BYTES ........................ 413 BAD_USER_INPUT (api/app.py)
    GET without a query, browser ................................. GraphiQL, or 404 when it is off
    Authorization: a valid bearer token?
     ├── no:  the client address's anonymous budget ............. 429 RATE_LIMITED + Retry-After
     │        otherwise, without reading the body ............... 200 UNAUTHENTICATED
     └── yes: the token's budget (user or service) .............. 429 RATE_LIMITED + Retry-After
              its requests handled at once (concurrent_requests_*)  429 RATE_LIMITED
    body: a UTF-8 JSON object the decoder can take ............... 400 BAD_USER_INPUT
    the document admitted (resolvers/documents.py) ............... 200 with its code
    execution

Every refusal is a JSON GraphQL response with ``extensions.code`` and one log line; only server
faults log a traceback. WebSocket upgrades go to api/graphql_ws.py, counted per address until they
authenticate.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.types.unset import UNSET

from api.connections import WebSocketSlots
from api.graphql_ws import LegacyWSHandler, TransportWSHandler
from api.graphql_ws_messages import LimitedWebSocket
from api.ratelimit import RateLimits
from core.jsonenc import dumps, loads
from core.logs import loggable
from core.metrics import REFUSED
from domain.errors import ClientError, RateLimited, Unauthenticated
from models.catalog import LOCALES
from models.enums import Role
from resolvers.context import Context
from resolvers.schema import build_schema
from services.auth import Principal
from services.shared import Services

logger = logging.getLogger("nc.http")


def error_response(status: int, error: ClientError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"data": None, "errors": [{"message": error.message, "extensions": error.extensions}]},
        status_code=status,
        headers=headers,
    )


#: Where a socket not authenticated yet keeps the address it is counted under.
PENDING_ADDRESS = "nc.pending_address"


class NotificationCenterGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = LimitedWebSocket

    def __init__(self, services: Services, **kwargs: Any) -> None:
        settings = services.settings
        super().__init__(build_schema(settings.limits, introspection=settings.introspection), **kwargs)
        self.services = services
        self.rate_limits = RateLimits(settings)
        self.websocket_slots = WebSocketSlots(settings.limits.websockets_per_user, settings.redis_url)
        self.pending_websockets: Counter[str] = Counter()
        #: Requests being handled per caller (instance, user).
        self.in_flight: Counter[tuple[str, str]] = Counter()

    def encode_json(self, data: object) -> str:
        """Every GraphQL answer, over HTTP and WebSocket alike (a str: WebSocket text frames)."""
        return dumps(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            async with self._admitted(request):
                # the answer is written inside: a client that does not read its answers holds its
                # own places (concurrent_requests_*), not the process's memory
                response = await self._answer(request)
                await response(scope, receive, send)
        except RateLimited as error:  # counted in nc_requests_refused_total, not logged: floods would be
            await error_response(429, error, {"Retry-After": str(error.extensions["retryAfter"])})(scope, receive, send)
        except Unauthenticated as error:
            logger.info("client error UNAUTHENTICATED: %s", loggable(error.message))
            await error_response(200, error)(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        try:
            return await self.run(request)
        except HTTPException as exc:
            code = "NOT_FOUND" if exc.status_code == 404 else "BAD_USER_INPUT"
            logger.info("client error %s: %s", code, loggable(exc.reason))
            return error_response(exc.status_code, _coded(exc.reason, code))

    @asynccontextmanager
    async def _admitted(self, request: Request) -> AsyncIterator[None]:
        """GraphiQL's page as it is; everything else from a verified caller within budget."""
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            yield
            return
        principal = request.state.principal = await self._admit(request)
        with self._in_flight(principal):
            yield

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if isinstance(request, WebSocket):
            return await self._run_websocket(request, context, root_value)
        return await super().run(request, context, root_value)

    @contextmanager
    def _in_flight(self, principal: Principal) -> Iterator[None]:
        """One of the caller's requests being handled; past their concurrency cap, RATE_LIMITED."""
        key = (principal.instance_id, principal.user_id)
        limits = self.services.settings.limits
        service = principal.role is Role.SERVICE
        most = limits.concurrent_requests_per_service if service else limits.concurrent_requests_per_user
        if self.in_flight[key] >= most:
            REFUSED.labels("concurrent_requests").inc()
            raise RateLimited(
                f"At most {most} of your requests are handled at once: wait for one to finish", retryAfter=1
            )
        self.in_flight[key] += 1
        try:
            yield
        finally:
            self.in_flight[key] -= 1
            if self.in_flight[key] <= 0:
                del self.in_flight[key]

    async def _run_websocket(self, websocket: WebSocket, context: Any, root_value: Any) -> Any:
        """Sockets that have not authenticated yet are counted per client address: past
        ``pending_websockets_per_address`` the handshake is refused (403) before it is accepted.
        (Not by the address's anonymous budget: behind one NAT, one client's bad tokens would cut
        every operator's bell there.)"""
        address = websocket.client.host if websocket.client else "unknown"
        if self.pending_websockets[address] >= self.services.settings.limits.pending_websockets_per_address:
            REFUSED.labels("pending_websockets").inc()
            await websocket.close(code=1013)
            return websocket
        self.pending_websockets[address] += 1
        # In the scope, not ``websocket.state``: a State object would stay with every idle socket.
        websocket.scope[PENDING_ADDRESS] = address
        try:
            return await super().run(websocket, context, root_value)
        finally:
            self.settle_pending(websocket)

    def settle_pending(self, websocket: WebSocket) -> None:
        """The socket authenticated (or closed): it no longer counts as pending."""
        address = websocket.scope.get(PENDING_ADDRESS)
        if address is not None:
            websocket.scope[PENDING_ADDRESS] = None
            self.pending_websockets[address] -= 1
            if self.pending_websockets[address] <= 0:
                del self.pending_websockets[address]

    async def _admit(self, request: Request) -> Principal:
        """The caller, verified and within budget, before the body is read or parsed."""
        try:
            principal = self.services.tokens.from_header(request.headers.get("authorization"))
        except Unauthenticated:
            address = request.client.host if request.client else "unknown"
            await self.rate_limits.check_address(address)
            raise
        await self.rate_limits.check_principal(principal)
        return principal

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        if isinstance(request, Request):
            return Context(
                self.services,
                request.headers.get("authorization"),
                principal=getattr(request.state, "principal", None),
                language=asked_language(request.headers.get("x-nc-locale")),
                client=client_name(request.headers.get("x-nc-client"), request.headers.get("user-agent")),
            )
        return Context(self.services, None)

    def decode_json(self, data: str | bytes) -> object:
        """Bodies that are not UTF-8, nest deeper than the decoder goes or hold numbers past
        Python's 4,300 digits are bad JSON (400)."""
        try:
            return loads(data)
        except RecursionError:
            raise HTTPException(
                400, "The request body nests deeper than the JSON reader goes: flatten its objects and lists"
            ) from None
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise json.JSONDecodeError(f"not UTF-8 JSON ({type(exc).__name__})", "", 0) from None

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, (dict, list)):
            raise HTTPException(400, 'The request body must be a JSON object: {"query": ..., "variables": {...}}')
        return parsed

    async def close(self) -> None:
        await self.websocket_slots.close()
        await self.rate_limits.close()


def _coded(message: str, code: str) -> ClientError:
    error = ClientError(_explain(message))
    error.extensions = {"code": code}
    return error


def _explain(reason: str) -> str:
    """strawberry's terse reasons, with what to change."""
    if reason == "Unable to parse request body as JSON":
        return 'The request body is not valid UTF-8 JSON: send {"query": ..., "variables": {...}}'
    if reason.startswith("subscriptions are not allowed"):
        return "Subscriptions are served over WebSocket at /graphql (graphql-transport-ws), not over HTTP"
    if reason == "Not Found":
        return "GraphiQL is off here: send queries as POST /graphql (JSON) or GET /graphql?query=..."
    if reason == "Unsupported content type":
        return "Send the request as Content-Type: application/json (or GET with ?query=)"
    return reason


def client_name(name: str | None, user_agent: str | None) -> str | None:
    """Which client sent a request, as the audit log records it: the X-NC-Client header a host
    panel or script names itself with, else the User-Agent; printable characters, at most 200."""
    value = (name or "").strip() or (user_agent or "").strip()
    # Starlette hands headers over as Latin-1: a client's UTF-8 name ("Панель") is read as UTF-8.
    value = value.encode("latin-1", errors="ignore").decode("utf-8", errors="replace")
    shown = "".join(ch for ch in value if ch.isprintable())[:200]
    return shown or None


def asked_language(header: str | None) -> str | None:
    """The language an ``X-NC-Locale`` header names (a page's language switch; also in
    Accept-Language's form, 'uk-UA,uk;q=0.9' -> 'uk') when the service serves it, else None: the
    token's or the profile's locale then applies. Not Accept-Language itself: browsers send their
    own list with every request, which would override the platform's choice for the user."""
    if not header:
        return None
    first = header.split(",", 1)[0].split(";", 1)[0].strip()[:35]
    primary = first.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LOCALES else None
