"""GraphQL over WebSocket, the session both protocols share (``LiveSession``): who is connected,
the place they hold, and when their token ends it.

    connection_init   the token from its payload (connection_params), as over HTTP
     ├── missing or bad .......................................... close 4401
     │   (it costs the address one request of the anonymous budget; once that is spent, 1013)
     ├── a role without a bell (service) ......................... close 4403
     ├── a ``tab`` that is not a tab id (Context.panel_tab) ........ close 4400
     └── the user already holds NC_LIMIT_WEBSOCKETS_PER_USER ...... close 4429
    the connection .................. one request of the caller's rate budget, else close 1013
    each operation started .......... one request of the caller's rate budget (operation_refusal)
    the token's exp ................. close 4401 at once (one timer, not a task, per socket);
                                      the handlers send nothing once it has ``expired``

``open_session`` returns the refusal (a ClientError and its close code) for the protocol handler to
send the way its protocol does; the place is released when the handler ends (``close_session``).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from typing import TYPE_CHECKING, Any, cast

from api.graphql_ws_messages import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_TOO_MANY,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHENTICATED,
)
from core.keys import key_part
from core.metrics import REFUSED
from domain.errors import BadUserInput, ClientError, Forbidden, RateLimited, Unauthenticated
from resolvers.context import Context

if TYPE_CHECKING:
    from strawberry.http.async_base_view import AsyncBaseHTTPView

    from api.graphql_http import NotificationCenterGraphQL


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
            context.panel_tab()
        except BadUserInput as error:
            return error, CLOSE_BAD_REQUEST
        except ClientError as error:
            if isinstance(error, Unauthenticated):  # a failed token costs the address, as over HTTP
                ws = self.websocket.ws
                try:
                    await self.app.rate_limits.check_address(ws.client.host if ws.client else "unknown")
                except RateLimited as limited:
                    return limited, CLOSE_TRY_AGAIN
            return error, CLOSE_FORBIDDEN if isinstance(error, Forbidden) else CLOSE_UNAUTHENTICATED
        slots = self.app.websocket_slots
        slot = await slots.acquire(f"{key_part(principal.instance_id)}:{key_part(principal.user_id)}")
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
