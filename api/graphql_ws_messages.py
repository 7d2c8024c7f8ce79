"""GraphQL over WebSocket, the messages: what a client may send before a handler looks at it,
and the close codes both protocols end a socket with.

    each message      at most NC_LIMIT_WEBSOCKET_MESSAGE_BYTES characters .. else close 1009
    messages          NC_LIMIT_WEBSOCKET_MESSAGES_PER_SECOND, bursts of twice that, pings
                      included (a token bucket per socket) .................. else close 4429
    JSON              what the decoder cannot take (nesting, 4,300-digit numbers) is an invalid
                      message, as text that is not JSON is
    shape             ``operation_problem``: a JSON object with a string type; an operation's id
                      a string of 1-128 characters; its payload an object with the query as a
                      string, variables an object, operationName a string ...... else close 4400
                      (graphql-transport-ws) or an error message (graphql-ws)
    operations        at most max_subscriptions_per_connection at once ... else an error
                      (``too_many_operations``, BAD_USER_INPUT with maxOperations)

Size and rate are checked before a message is decoded, its shape before strawberry indexes into
it: an oversized, too frequent or malformed message costs a length check, not a parse or a
traceback. The close codes are final for graphql-ws clients (4401, 4403, 4429: no blind reconnect
loop) or ask for a retry with backoff (1013).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, cast

from starlette.websockets import WebSocketDisconnect, WebSocketState
from starlette.websockets import WebSocketDisconnected as StarletteWebSocketDisconnected
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected

from core.metrics import REFUSED

if TYPE_CHECKING:
    from api.graphql_http import NotificationCenterGraphQL

#: Close codes (graphql-ws clients treat 4400, 4401, 4403 and 4429 as final: no blind reconnect loop).
CLOSE_BAD_REQUEST = 4400
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

    async def send_json(self, message: Mapping[str, object]) -> None:
        """strawberry's, with one more way of saying the client left: Starlette's
        WebSocketDisconnected (a send after the socket closed, e.g. while a batch was being fanned
        out) becomes strawberry's, which the handlers take as the end of the socket, not an error."""
        try:
            await super().send_json(message)
        except StarletteWebSocketDisconnected as error:
            raise WebSocketDisconnected from error

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


def too_many_operations(most: int) -> dict[str, Any]:
    """The GraphQL error for an operation started beyond ``most`` on one connection."""
    return {
        "message": f"At most {most} operations run at once on one connection: complete one first",
        "extensions": {"code": "BAD_USER_INPUT", "maxOperations": most},
    }
