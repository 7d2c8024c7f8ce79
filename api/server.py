"""How uvicorn serves the app: the connection-level guards, in one place for the CLI and tests.

- **Slow or partial requests**: a connection must finish its request line and headers within
  ``NC_HEADER_TIMEOUT_SECONDS`` of connecting (or of starting its next keep-alive request), else
  it is closed. uvicorn has no such timeout; ``GuardedHttpTools`` adds it to its httptools
  protocol. A reverse proxy in front (nginx's ``client_header_timeout``) is still the first line in
  production; this guard keeps a directly exposed process alive too.
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
    """uvicorn's httptools protocol with a deadline for the request line and headers."""

    header_timeout: float = 10.0

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        self._header_deadline: TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle keep-alive connections are uvicorn's (timeout_keep_alive); the next request's
        # first byte arms the deadline again (on_message_begin).

    def _arm(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            REFUSED.labels("header_timeout").inc()
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config keyword arguments that carry the service's limits."""
    protocol = type("GuardedHttpTools", (GuardedHttpTools,), {"header_timeout": settings.header_timeout_seconds})
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
