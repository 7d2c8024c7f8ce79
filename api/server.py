"""How uvicorn serves the app: the connection-level guards, in one place for the CLI and tests.

- **Slow or partial requests**: a connection must finish its request line and headers within
  ``NC_HEADER_TIMEOUT_SECONDS`` of connecting (or of starting its next keep-alive request), and
  its body within ``NC_BODY_TIMEOUT_SECONDS`` of the headers, else it is closed. uvicorn has no
  such timeouts; ``GuardedHttpTools`` adds them to its httptools protocol. A reverse proxy in
  front (nginx's ``client_header_timeout``, ``client_body_timeout``) is still the first line in
  production; these guards keep a directly exposed process alive too.
- **WebSocket frames** larger than the request-body limit are refused by the protocol (close 1009)
  before they are buffered in full (``ws_max_size``); the app checks again for other servers.
- **Open files**: the soft ``RLIMIT_NOFILE`` is raised to the hard limit at start, so connections
  the guards have not closed yet do not exhaust the usual 1,024.
"""

from __future__ import annotations

import logging
import resource
from asyncio import TimerHandle
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.metrics import REFUSED
from api.settings import Settings

logger = logging.getLogger("nc.server")


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines: the request line and headers within
    ``header_timeout`` of connecting (or of the next keep-alive request's first byte), the body
    within ``body_timeout`` of the headers."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        self._deadline: TimerHandle | None = None
        super().connection_made(transport)
        self._arm(self.header_timeout, "header_timeout")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self.header_timeout, "header_timeout")

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._arm(self.body_timeout, "body_timeout")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the WebSocket's own limits take over (connection_init timeout, frame size)
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float, reason: str) -> None:
        self._deadline = self.loop.call_later(seconds, self._too_slow, reason)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self, reason: str) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            REFUSED.labels(reason).inc()
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config keyword arguments that carry the service's limits."""
    protocol = type(
        "GuardedHttpTools",
        (GuardedHttpTools,),
        {"header_timeout": settings.header_timeout_seconds, "body_timeout": settings.body_timeout_seconds},
    )
    return {
        "http": protocol,
        "ws_max_size": settings.limits.request_body_bytes,
        # permessage-deflate keeps ~40 KiB of zlib state per connection for small gains on small
        # messages; NC_WS_PER_MESSAGE_DEFLATE=1 turns it on.
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        "timeout_keep_alive": 5,
    }


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            logger.warning("could not raise the open-files limit from %s to %s: %s", soft, hard, exc)
    return soft
