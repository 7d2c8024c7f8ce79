"""Logging: JSON lines with the request, event and delivery ids of what is being done.

The ids ride in context variables, so every log line written while handling a request, an event
or a delivery carries them without passing them around. Nothing here logs values a caller sent:
secrets never reach a log line because no code path formats them.
"""

from __future__ import annotations

import json
import logging
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: ContextVar[str | None] = ContextVar("nc_request_id", default=None)
EVENT_ID: ContextVar[str | None] = ContextVar("nc_event_id", default=None)
DELIVERY_ID: ContextVar[int | None] = ContextVar("nc_delivery_id", default=None)


def loggable(text: str, most: int = 300) -> str:
    """A client's text as one log line may carry it: cut short, line breaks and other control
    characters escaped (so nobody forges log lines)."""
    cut = text[:most]
    if not cut.isprintable():
        cut = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return cut + ("…" if len(text) > most else "")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, var in (("request_id", REQUEST_ID), ("event_id", EVENT_ID), ("delivery_id", DELIVERY_ID)):
            value = var.get()
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Root logging for a process: JSON lines (``fmt="json"``) or plain text."""
    handler = logging.StreamHandler()
    if fmt == "json":
        formatter = JsonFormatter()
        formatter.converter = __import__("time").gmtime
        handler.setFormatter(formatter)
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


#: Where a WebSocket's ASGI scope keeps its request id, for log lines written outside its task.
SOCKET_REQUEST_ID = "nc.request_id"


def request_id_of(scope: Scope) -> str:
    """The client's X-Request-ID (at most 64 characters), or a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and value:
            return value.decode("latin-1")[:64]
    return uuid.uuid4().hex


class RequestIds:
    """Gives each HTTP request and WebSocket connection an id (X-Request-ID, or a new one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            # A WebSocket's messages pass straight through: only an HTTP response carries the header.
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        finally:
            REQUEST_ID.reset(token)
