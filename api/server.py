"""How uvicorn serves the app: the connection-level guards, in one place for the CLI and tests.

- **Slow or partial requests**: a connection must finish its request line and headers within
  ``NC_HEADER_TIMEOUT_SECONDS`` of connecting (or of starting its next keep-alive request), and
  its body within ``NC_BODY_TIMEOUT_SECONDS`` of the headers, else it is closed. uvicorn has no
  such timeouts; ``GuardedHttpTools`` adds them to its httptools protocol. A reverse proxy in
  front (nginx's ``client_header_timeout``, ``client_body_timeout``) is still the first line in
  production; these guards keep a directly exposed process alive too.
- **Request heads** over ``NC_LIMIT_HEADER_BYTES`` get 431 (uvicorn has no limit, and builds a
  long URL in quadratic time); **pipelined requests** wait at most 16 deep per connection (uvicorn
  would queue thousands from one read); **connections per peer address** are capped
  (``NC_LIMIT_CONNECTIONS_PER_ADDRESS``; behind a reverse proxy every connection comes from it, so
  raise the cap there and let the proxy's ``limit_conn`` do the job).
- **WebSocket messages** larger than ``NC_LIMIT_WEBSOCKET_MESSAGE_BYTES`` are refused by the
  protocol (close 1009) before they are buffered in full (``ws_max_size``); the app checks again.
- **Open files**: the soft ``RLIMIT_NOFILE`` is raised to the hard limit at start, so connections
  the guards have not closed yet do not exhaust the usual 1,024.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
import sys
from asyncio import TimerHandle
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from core.broker import Mailbox
from core.cork import hold
from core.logs import REQUEST_ID, SOCKET_REQUEST_ID
from core.metrics import REFUSED
from core.settings import Settings

logger = logging.getLogger("nc.server")

#: Where a WebSocket's ASGI scope (``scope["extensions"]``) offers its LeanWebSockets protocol:
#: ``can_send_now()`` and ``send_text_now(utf8)`` for messages written outside the app's task.
DIRECT_WEBSOCKET = "nc.direct_websocket"


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines — the request line and headers within
    ``header_timeout`` of connecting (or of the next keep-alive request's first byte), the body
    within ``body_timeout`` of the headers — at most ``head_bytes`` of request line and headers
    (else 431), at most ``connections_per_address`` open connections from one peer address and
    ``max_connections`` in all, at most MAX_PIPELINED requests waiting on one connection, and
    WebSocket upgrades only without a body and with nothing else in flight on the connection."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    head_bytes: int = 65_536
    connections_per_address: int = 1_000
    max_connections: int = 16_000
    #: Open connections by peer address, shared by every connection of the process.
    open_by_address: Counter[str] = Counter()

    def connection_made(self, transport: Any) -> None:
        self._deadline: TimerHandle | None = None
        self._head_seen = 0
        self._raw_head = 0
        self._in_head = True
        self._head_too_large = False
        peer = transport.get_extra_info("peername")
        self._address = peer[0] if isinstance(peer, tuple) and peer else None
        super().connection_made(transport)
        if self._address is not None:
            self.open_by_address[self._address] += 1
            if self.connections_per_address and self.open_by_address[self._address] > self.connections_per_address:
                REFUSED.labels("connections_per_address").inc()
                transport.close()
                return
        if len(self.connections) > self.max_connections:
            # Past the process's cap (below the open-files limit, so the database, Redis and
            # providers still get sockets): closed at once instead of failing somewhere else.
            REFUSED.labels("connections").inc()
            transport.close()
            return
        self._arm(self.header_timeout, "header_timeout")

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        """llhttp hands the URL and headers over in pieces: past the limit, stop parsing (the
        parser's error path answers, see send_400_response)."""
        self._head_seen += size
        if self._head_seen > self.head_bytes:
            self._head_too_large = True
            raise _HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        if self.transport.is_closing():
            return  # refused already (pipelining); nothing more to say
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        REFUSED.labels("headers_too_large").inc()
        self._disarm()
        body = b"The request line and headers are too large.\n"
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        self.transport.close()

    def on_message_begin(self) -> None:
        if len(self.pipeline) >= MAX_PIPELINED:
            # A client sending request after request without reading the answers: each waits
            # as a ~2 KiB cycle, and one read can carry thousands. Close, stop parsing.
            REFUSED.labels("pipelined_requests").inc()
            self._disarm()
            self.transport.close()
            raise _Abort
        super().on_message_begin()
        self._head_seen = 0
        self._raw_head = 0
        self._in_head = True
        if self._deadline is None:
            self._arm(self.header_timeout, "header_timeout")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._raw_head = 0
        self._disarm()
        super().on_headers_complete()
        # Upgrades too: one that announces a body waits for it before upgrading.
        self._arm(self.body_timeout, "body_timeout")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        in_head = self._in_head
        super().data_received(data)
        if in_head and self._in_head and not self.transport.is_closing():
            # llhttp keeps a header line it has not seen the end of to itself: count the raw
            # bytes of chunks read wholly inside a head (the one that starts or ends it is not).
            self._raw_head += len(data)
            if self._raw_head > self.head_bytes:
                self._head_too_large = True
                self.send_400_response("")

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the WebSocket's own limits take over (connection_init timeout, frame size)
        if any(
            name in (b"content-length", b"transfer-encoding") and value.strip() != b"0" for name, value in self.headers
        ):
            # a handshake with a body: the WebSocket protocol would wait for the client forever
            REFUSED.labels("upgrade_with_body").inc()
            self.send_400_response("A WebSocket handshake carries no body.")
            return
        if self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
            # an upgrade behind a request still being answered: that answer would land inside
            # the WebSocket stream, written by a cycle that never learns the client left
            REFUSED.labels("upgrade_while_busy").inc()
            self.transport.close()
            return
        super().handle_websocket_upgrade()
        upgraded = self.transport.get_protocol()
        address, self._address = self._address, None
        if address is None or upgraded is self:
            return
        # The connection lives on in the WebSocket protocol: it gives the address's place back.
        counts, lost = self.open_by_address, upgraded.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            _release(counts, address)
            lost(exc)

        upgraded.connection_lost = connection_lost  # type: ignore[method-assign]  # wraps this protocol's own

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._address is not None:
            _release(self.open_by_address, self._address)
            self._address = None
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


def _release(counts: Counter[str], address: str) -> None:
    counts[address] -= 1
    if counts[address] <= 0:
        del counts[address]


class _HeadTooLarge(Exception):
    pass


class _Abort(Exception):
    pass


#: Requests one connection may have waiting behind the one being answered (HTTP pipelining).
MAX_PIPELINED = 16


class _Writable:
    """What uvicorn's WebSocket protocol uses of ``asyncio.Event`` for its write flow control
    (``set``, ``clear``, ``is_set``, ``wait``), with no deque until someone waits."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            # A writer cancelled while it waits (its operation completed) leaves no future behind.
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class LeanWebSockets(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol (websockets' sans-I/O implementation) as it is, holding less
    for each open socket: a light inbox (core.broker.Mailbox, unbounded as uvicorn's queue is)
    and write flag instead of an asyncio.Queue and Event (~1.2 KiB), and the handshake's request
    and response (their headers, ~4 KiB) let go once it is answered. Every idle panel holds one
    (bench section 5: memory per subscription at 10,000)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Mailbox(sys.maxsize)  # type: ignore[assignment]
        self.writable = _Writable()  # type: ignore[assignment]

    def send_receive_event_to_app(self) -> None:
        """A text message that is not UTF-8 is the client's mistake: closed with 1007 and one log
        line (uvicorn logs it with a traceback, which a client could repeat at will)."""
        if self.curr_msg_data_type == "text" and not self.close_sent:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            try:
                data.decode()
            except UnicodeDecodeError:
                self.frames = []
                request_id = self.scope.get(SOCKET_REQUEST_ID)
                token = REQUEST_ID.set(request_id if isinstance(request_id, str) else None)
                try:
                    logger.info("client error BAD_USER_INPUT: a WebSocket text message that is not UTF-8 (closed 1007)")
                finally:
                    REQUEST_ID.reset(token)
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][DIRECT_WEBSOCKET] = self

    def can_send_now(self) -> bool:
        """True when a text message can be written at once: the handshake answered, nothing
        closed, and the transport's buffer under its high-water mark (else the ASGI ``send``
        waits, and so must the caller)."""
        return (
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and self.writable.is_set()
            and self.conn.state is State.OPEN
            and not self.transport.is_closing()
        )

    def send_text_now(self, data: bytes) -> None:
        """Write a text message (``data``: its UTF-8 bytes) at once, outside the app's task
        (``can_send_now`` first): what ``websocket.send`` does without its awaits. One frame,
        unmasked as a server's are (RFC 6455 section 5.2); through websockets' protocol when an
        extension (permessage-deflate) is in use. Inside core.cork.corked(), while nothing waits
        in the transport's buffer, the frame joins the socket's others of that stretch in one
        write (at most core.cork.FLUSH_BYTES held: the buffer's high-water mark still bounds
        what waits here)."""
        conn = self.conn
        if conn.extensions:
            conn.send_text(data)
            frame = b"".join(conn.data_to_send())
        else:
            size = len(data)
            if size < 126:
                header = bytes((0x81, size))
            elif size < 65_536:
                header = b"\x81\x7e" + size.to_bytes(2, "big")
            else:
                header = b"\x81\x7f" + size.to_bytes(8, "big")
            frame = header + data
        # A frame behind others in the transport's buffer costs no system call: written at once.
        if self.transport.get_write_buffer_size() or not hold(self, frame):
            self.transport.write(frame)

    def write_held(self, data: bytes) -> None:
        """core.cork: frames held for this socket, written together (unless it closed meanwhile)."""
        if not self.transport.is_closing():
            self.transport.write(data)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # websockets' parser keeps the request for the socket's life: its headers go at least
            # (the app reads its own copy, ``scope["headers"]``).
            self.request.headers.clear()
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config keyword arguments that carry the service's limits."""
    protocol = type(
        "GuardedHttpTools",
        (GuardedHttpTools,),
        {
            "header_timeout": settings.header_timeout_seconds,
            "body_timeout": settings.body_timeout_seconds,
            "head_bytes": settings.limits.header_bytes,
            "connections_per_address": settings.limits.connections_per_address,
            "max_connections": min(settings.limits.connections, max(64, open_files_limit() - 256)),
            "open_by_address": Counter(),
        },
    )
    return {
        "http": protocol,
        "ws": LeanWebSockets,
        "timeout_graceful_shutdown": max(1, math.ceil(settings.shutdown_grace_seconds)),
        "ws_max_size": settings.limits.websocket_message_bytes,
        # X-Forwarded-For/-Proto only from the proxies named in NC_FORWARDED_ALLOW_IPS; otherwise a
        # client could pick its own address (and its own anonymous rate budget).
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or None,
        # permessage-deflate keeps ~40 KiB of zlib state per connection for small gains on small
        # messages; NC_WS_PER_MESSAGE_DEFLATE=1 turns it on.
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        "timeout_keep_alive": 5,
    }


def open_files_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


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
