"""GraphQL over WebSocket: both protocols, with the live session's limits.

A socket's life (SPEC section 1, and what keeps one client from hurting the others)::

    upgrade ── origin refused .................................... 403 (strawberry)
    connection_init within NC_CONNECTION_INIT_TIMEOUT_SECONDS ..... else close 4408
     ├── token missing or bad .................................... close 4401
     ├── role without a bell (service) ........................... close 4403
     └── the user already holds NC_LIMIT_WEBSOCKETS_PER_USER ...... close 4429
    not authenticated yet: NC_LIMIT_PENDING_WEBSOCKETS_PER_ADDRESS . else 403 at the handshake
    each message: at most NC_LIMIT_WEBSOCKET_MESSAGE_BYTES ........ else close 1009
    messages: NC_LIMIT_WEBSOCKET_MESSAGES_PER_SECOND (pings too) .. else close 4429
    the connection itself: one request of the caller's rate budget  else close 1013 (retry later)
    a failed token: one request of the address's anonymous budget;
    once that is spent, failed tokens close with 1013 (valid ones from the address still connect)
    each operation started: the caller's rate budget .............. error RATE_LIMITED (retryAfter)
    the token's exp ............................................... close 4401; nothing is sent after it
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing, suppress
from typing import TYPE_CHECKING, Any, cast

from graphql import OperationType, get_operation_ast
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from core.metrics import REFUSED
from domain.errors import ClientError, Forbidden, RateLimited, Unauthenticated
from resolvers.compiled_subscriptions import compile_subscription
from resolvers.context import Context
from resolvers.documents import Documents
from resolvers.schema import NotificationCenterSchema, client_errors

if TYPE_CHECKING:
    from strawberry.http.async_base_view import AsyncBaseHTTPView
    from strawberry.schema import BaseSchema

    from api.graphql_http import NotificationCenterGraphQL

logger = logging.getLogger("nc.websocket")

#: Close codes (graphql-ws clients treat 4401, 4403 and 4429 as final: no blind reconnect loop).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_INIT_TIMEOUT = 4408
CLOSE_TOO_MANY = 4429
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013


class LimitedWebSocket(ASGIWebSocketAdapter):
    """Messages over ``websocket_message_bytes`` close the socket (1009) before they are decoded;
    more than ``websocket_messages_per_second`` (bursts of twice that, pings included) close it
    with 4429; JSON the decoder cannot take (nesting, 4,300-digit numbers) is an invalid message."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        limits = cast("NotificationCenterGraphQL", self.view).services.settings.limits
        max_chars, rate = limits.websocket_message_bytes, float(limits.websocket_messages_per_second)
        allowance, last = 2 * rate, time.monotonic()
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > max_chars:
                    REFUSED.labels("message_too_big").inc()
                    await self.ws.close(CLOSE_TOO_BIG, f"Messages are at most {max_chars} bytes")
                    return
                now = time.monotonic()
                allowance = min(2 * rate, allowance + (now - last) * rate) - 1
                last = now
                if allowance < 0:
                    REFUSED.labels("websocket_messages").inc()
                    await self.ws.close(CLOSE_TOO_MANY, f"More than {int(rate)} messages per second: slow down")
                    return
                try:
                    yield json.loads(text)
                except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from None
        except KeyError as e:
            raise NonTextMessageReceived from e
        except (WebSocketDisconnect, RuntimeError):
            pass


def operation_problem(message: Any, kind: str, stop: str) -> str | None:
    """What is wrong with a protocol message's shape, before strawberry indexes into it (``kind``
    starts an operation, ``stop`` ends one)."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "Every message must be a JSON object with a string type"
    if message["type"] not in (kind, stop):
        return None
    operation_id = message.get("id")
    if not isinstance(operation_id, str) or not 0 < len(operation_id) <= 128:
        return f"{message['type']} needs an id: a string of 1-128 characters"
    if message["type"] == stop:
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return f"{kind} needs a payload object with the query as a string"
    if not isinstance(payload.get("variables"), (dict, type(None))):
        return f"{kind}'s variables must be an object"
    if not isinstance(payload.get("operationName"), (str, type(None))):
        return f"{kind}'s operationName must be a string"
    return None


def _documents(schema: BaseSchema) -> Documents:
    """The schema's document admission: NotificationCenterGraphQL serves a NotificationCenterSchema."""
    return cast(NotificationCenterSchema, schema).admission


def _too_many_operations(most: int) -> dict[str, Any]:
    return {
        "message": f"At most {most} operations run at once on one connection: complete one first",
        "extensions": {"code": "BAD_USER_INPUT", "maxOperations": most},
    }


class LiveSession:
    """What both protocols share: authenticate, hold one of the user's places, end with the token."""

    view: AsyncBaseHTTPView[Any, Any, Any, Any, Any, Context, None]
    context: Any
    websocket: Any

    @property
    def app(self) -> NotificationCenterGraphQL:
        """The view these handlers belong to: only NotificationCenterGraphQL creates them."""
        return cast("NotificationCenterGraphQL", self.view)

    def _session_init(self) -> None:
        self._slot: str | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Future[None]] = set()  # the close at expiry, kept referenced
        self._expires_at: float | None = None
        self._closed = False

    async def open_session(self, payload: Any) -> tuple[ClientError, int] | None:
        """Authenticate from connection_init's payload and take a place; the refusal otherwise."""
        context = self.context
        if not isinstance(context, Context):
            return None
        context.connection_params = payload if isinstance(payload, dict) else {}
        try:
            principal = context.authenticate_connection()
            context.require_user()
        except ClientError as error:
            if isinstance(error, Unauthenticated):  # a failed token costs the address, as over HTTP
                ws = self.websocket.ws
                try:
                    await self.app.rate_limits.check_address(ws.client.host if ws.client else "unknown")
                except RateLimited as limited:
                    return limited, CLOSE_TRY_AGAIN
            return error, CLOSE_FORBIDDEN if isinstance(error, Forbidden) else CLOSE_UNAUTHENTICATED
        slots = self.app.websocket_slots
        slot = await slots.acquire(f"{principal.instance_id}:{principal.user_id}")
        if slot is None:
            REFUSED.labels("websockets_per_user").inc()
            return (
                RateLimited(
                    f"You already have {slots.cap} live connections open: close a tab (or reuse one "
                    "connection for several subscriptions)"
                ),
                CLOSE_TOO_MANY,
            )
        self._slot = slot
        self.app.settle_pending(self.websocket.ws)
        try:  # each connection costs its caller one request of their rate budget
            await self.app.rate_limits.check_principal(principal)
        except RateLimited as error:
            return error, CLOSE_TRY_AGAIN  # 1013: graphql-ws clients retry it, with backoff
        if principal.expires_at is not None:
            # A timer, not a task per socket: ~0.2 KiB instead of a few KiB for each idle session.
            self._expires_at = principal.expires_at
            loop = asyncio.get_running_loop()
            delay = max(0.0, principal.expires_at - time.time())
            self._expiry = loop.call_later(delay, lambda: self._tasks.add(asyncio.ensure_future(self.close_expired())))
        return None

    async def close_session(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self._slot is not None:
            slot, self._slot = self._slot, None
            await self.app.websocket_slots.release(slot)

    def expired(self) -> bool:
        return self._expires_at is not None and time.time() >= self._expires_at

    async def close_expired(self) -> None:
        if not self._closed:
            self._closed = True
            REFUSED.labels("token_expired").inc()
            with suppress(Exception):
                await self.websocket.close(CLOSE_UNAUTHENTICATED, "The token has expired: reconnect with a fresh one")

    async def operation_refusal(self) -> ClientError | None:
        """Checked before each operation starts: the caller's rate budget."""
        context = self.context
        if not isinstance(context, Context):
            return None
        try:
            await self.app.rate_limits.check_principal(context.principal)
        except RateLimited as error:
            return error
        return None


class TransportWSHandler(LiveSession, BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws; subscriptions the compiler covers are answered without per-message
    GraphQL execution."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_init()

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            await self.close_session()

    async def handle_message(self, message: Any) -> None:
        problem = operation_problem(message, "subscribe", "complete")
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        if not self.connection_init_received:
            refusal = await self.open_session(message.get("payload"))
            if refusal is not None:
                error, code = refusal
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                await self.websocket.close(code=code, reason=error.message[:120])
                return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged:
            if self.expired():
                await self.close_expired()
                return
            most = self.max_subscriptions_per_connection
            if most is not None and len(self.operations) >= most and message["id"] not in self.operations:
                await self.send_message({"id": message["id"], "type": "error", "payload": [_too_many_operations(most)]})
                return
            error = await self.operation_refusal()
            if error is not None:
                await self.send_message(
                    {
                        "id": message.get("id"),
                        "type": "error",
                        "payload": [{"message": error.message, "extensions": error.extensions}],
                    }
                )
                return
        await super().handle_subscribe(message)

    async def send_message(self, message: Any) -> None:
        if self.expired():
            await self.close_expired()
            return
        await super().send_message(message)

    async def run_operation(self, operation: Any) -> None:
        context = self.context.for_operation() if isinstance(self.context, Context) else self.context
        compiled = None
        if isinstance(context, Context) and context.settings.compiled_subscriptions:
            try:
                admitted = _documents(self.schema).admit(operation.query, operation.variables, operation.operation_name)
            except ClientError as error:
                await operation.send_initial_errors(client_errors(error))
                return
            compiled = compile_subscription(
                admitted, operation.variables, operation.operation_name, context.settings.limits
            )
        if compiled is None:
            await self._execute(operation, context)
            return
        try:
            async with aclosing(compiled.source(context)) as messages:
                async for message in messages:
                    await operation.send_operation_message(
                        {"id": operation.id, "type": "next", "payload": {"data": compiled.shape(message)}}
                    )
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except asyncio.CancelledError:
            raise
        except ClientError as error:
            await operation.send_operation_message(
                {
                    "id": operation.id,
                    "type": "error",
                    "payload": [{"message": error.message, "extensions": error.extensions}],
                }
            )
        except Exception as error:  # noqa: BLE001 - as strawberry's own path does: log, complete
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})

    async def _execute(self, operation: Any, context: Any) -> None:
        """strawberry's run_operation, with this operation's own context."""
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except _OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise


class LegacyWSHandler(LiveSession, BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol: connection_error with the reason, then the close code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_init()

    async def handle(self) -> None:
        # The legacy protocol has no connection_init timeout of its own: the same as the other's.
        timeout = asyncio.create_task(self._init_deadline(), name="nc-ws-init-deadline")
        try:
            await super().handle()
        finally:
            timeout.cancel()
            await self.close_session()

    async def _init_deadline(self) -> None:
        await asyncio.sleep(self.app.services.settings.connection_init_timeout_seconds)
        if not self.connection_acknowledged:
            with suppress(Exception):
                await self.websocket.close(code=CLOSE_INIT_TIMEOUT, reason="Connection initialisation timeout")

    async def handle_connection_init(self, message: Any) -> None:
        if self.connection_acknowledged:
            await self.websocket.close(code=CLOSE_TOO_MANY, reason="Too many initialisation requests")
            return
        refusal = await self.open_session(message.get("payload"))
        if refusal is not None:
            error, code = refusal
            await self.send_message(
                {"type": "connection_error", "payload": {"message": error.message, "extensions": error.extensions}}
            )
            await self.websocket.close(code=code, reason=error.message[:120])
            return
        await super().handle_connection_init(message)

    async def handle_message(self, message: Any) -> None:
        problem = operation_problem(message, "start", "stop")
        if problem is not None:
            operation_id = message.get("id") if isinstance(message, dict) else None
            await self._send_error(operation_id if isinstance(operation_id, str) else None, problem, "BAD_USER_INPUT")
            return
        await super().handle_message(message)

    async def handle_start(self, message: Any) -> None:
        if self.connection_acknowledged:
            if self.expired():
                await self.close_expired()
                return
            most = self.max_subscriptions_per_connection
            if most is not None and len(self.tasks) >= most and message["id"] not in self.tasks:
                await self.send_message({"type": "error", "id": message["id"], "payload": _too_many_operations(most)})
                return
            error = await self.operation_refusal()
            if error is not None:
                await self._send_error(message["id"], error.message, error.code, error.extensions)
                return
            payload = message["payload"]
            try:
                admitted = _documents(self.schema).admit(
                    payload["query"], payload.get("variables"), payload.get("operationName")
                )
            except ClientError as refused:
                first = client_errors(refused)[0]
                await self._send_error(message["id"], first.message, "", first.extensions)
                return
            operation = get_operation_ast(admitted.document, payload.get("operationName"))
            if operation is not None and operation.operation is not OperationType.SUBSCRIPTION:
                await self._send_error(
                    message["id"],
                    "The legacy graphql-ws protocol runs subscriptions only: send queries and mutations over "
                    "HTTP, or use graphql-transport-ws",
                    "BAD_USER_INPUT",
                )
                return
        await super().handle_start(message)

    async def _send_error(
        self, operation_id: str | None, text: str, code: str, extensions: dict[str, Any] | None = None
    ) -> None:
        await self.send_message(
            {
                "type": "error",
                "id": operation_id,
                "payload": {"message": text, "extensions": extensions or {"code": code}},
            }
        )

    async def send_message(self, message: Any) -> None:
        if self.expired():
            await self.close_expired()
            return
        await super().send_message(message)


__all__ = ["LegacyWSHandler", "LimitedWebSocket", "TransportWSHandler", "Unauthenticated"]
