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

The two protocol handlers are here (graphql-transport-ws, and the legacy graphql-ws for
subscriptions only); what they share is in api/graphql_ws_session.py (the token, the user's place,
the expiry) and api/graphql_ws_messages.py (each message's size, rate and shape, the close codes).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing, suppress
from typing import TYPE_CHECKING, Any, cast

from graphql import OperationType, get_operation_ast
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from api.graphql_ws_messages import CLOSE_INIT_TIMEOUT, CLOSE_TOO_MANY, operation_problem, too_many_operations
from api.graphql_ws_session import LiveSession
from api.server import DIRECT_WEBSOCKET
from core.jsonenc import dumps_bytes
from domain.errors import ClientError
from resolvers.compiled_subscriptions import Compiled, compile_subscription
from resolvers.context import Context
from resolvers.documents import Documents
from resolvers.schema import NotificationCenterSchema, client_errors

if TYPE_CHECKING:
    from strawberry.schema import BaseSchema

logger = logging.getLogger("nc.websocket")


def _documents(schema: BaseSchema) -> Documents:
    """The schema's document admission: NotificationCenterGraphQL serves a NotificationCenterSchema."""
    return cast(NotificationCenterSchema, schema).admission


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
        task = self.connection_init_timeout_task
        if self.connection_acknowledged and task is not None:
            # The ack cancelled it: once finished, a task kept here would hold its CancelledError,
            # traceback and frames for the connection's whole life (~1 KiB of each idle socket).
            task.add_done_callback(self._forget_init_timeout)

    def _forget_init_timeout(self, task: asyncio.Task[None]) -> None:
        if self.connection_init_timeout_task is task:
            self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged:
            if self.expired():
                await self.close_expired()
                return
            most = self.max_subscriptions_per_connection
            if most is not None and len(self.operations) >= most and message["id"] not in self.operations:
                await self.send_message({"id": message["id"], "type": "error", "payload": [too_many_operations(most)]})
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
            async with aclosing(compiled.source(context, self._sink(operation, compiled))) as messages:
                async for message in messages:
                    await operation.send_operation_message(compiled.next_message(operation.id, message))
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except asyncio.CancelledError:
            raise
        except WebSocketDisconnected:
            return  # the client left while a message was on its way: nothing to tell anyone
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

    def _sink(self, operation: Any, compiled: Compiled) -> _SocketSink | None:
        """Where the operation's messages can be written without waking its task: the socket
        itself, when the server offers it (api.server.LeanWebSockets)."""
        ws = getattr(self.websocket, "ws", None)
        extensions = ws.scope.get("extensions") if ws is not None else None
        direct = extensions.get(DIRECT_WEBSOCKET) if extensions else None
        return _SocketSink(self, operation, compiled, direct) if direct is not None else None

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
        except (_OperationStreamClosed, WebSocketDisconnected):
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise
        finally:
            if isinstance(context, Context):
                # A mutation sent over the socket wrote the viewer's settings: every process forgets them.
                await context.viewer_written()


class _SocketSink:
    """A compiled subscription's ``next`` messages written straight to its socket in the
    publisher's step (live_sources.LiveSink): no task woken, no ASGI send; the same frame
    ``send_operation_message`` would write. Not ready once the operation is completed or its
    token has expired (the operation's own path then says so), or while the socket's buffer is
    full (the operation's task waits for it)."""

    __slots__ = ("handler", "operation", "compiled", "socket")

    def __init__(self, handler: TransportWSHandler, operation: Any, compiled: Compiled, socket: Any) -> None:
        self.handler = handler
        self.operation = operation
        self.compiled = compiled
        self.socket = socket

    def ready(self) -> bool:
        operation = self.operation
        return (
            not operation.completed
            and self.handler.operations.get(operation.id) is operation
            and not self.handler.expired()
            and self.socket.can_send_now()
        )

    def send(self, message: dict[str, Any]) -> None:
        self.socket.send_text_now(dumps_bytes(self.compiled.next_message(self.operation.id, message)))


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
                await self.send_message({"type": "error", "id": message["id"], "payload": too_many_operations(most)})
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

    async def handle_async_results(self, *args: Any, **kwargs: Any) -> None:
        """strawberry's, ended quietly when the client left while a message was on its way (its
        task's exception was otherwise never retrieved: an error line per operation)."""
        with suppress(WebSocketDisconnected):
            await super().handle_async_results(*args, **kwargs)

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


__all__ = ["LegacyWSHandler", "TransportWSHandler"]
