"""A local Telegram Bot API server for tests: ``POST /bot<token>/sendMessage``, as Telegram answers.

It records every request it receives (the method, whether the token was right, the JSON body),
answers like https://core.telegram.org/bots/api does (``{"ok": true, "result": Message}`` or
``{"ok": false, "error_code", "description", "parameters"}``) and can be scripted to fail the
next requests: ``api.fail_next(429, "Too Many Requests: retry after 1", retry_after=1)``,
``api.fail_raw(502, "<html>...")`` for an answer that is not Telegram's JSON (a proxy's page), or
to take its time (``delay``) or never answer one (``hang_next()``).

Served by uvicorn on 127.0.0.1 in the test's event loop, like the ``live_server`` fixture.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from tests.fakes.serve import serve_asgi

MAX_TEXT = 4096


@dataclass
class Received:
    method: str
    token_ok: bool
    body: dict[str, Any]
    at: float
    #: An edit that changed a message.
    applied: bool = False


@dataclass
class FakeBotApi:
    token: str
    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    _script: deque[tuple[int, dict[str, Any] | str]] = field(default_factory=deque)
    _message_id: int = 0
    #: (chat id, message id) -> the text Telegram holds now (sent, then edited).
    messages: dict[tuple[str, int], str] = field(default_factory=dict)
    #: Seconds each request takes to answer (a slow provider, for kill-mid-job tests).
    delay: float = 0.0
    _hangs: int = 0
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def hang_next(self) -> None:
        """The next request not yet answered gets no answer while the server runs."""
        self._hangs += 1

    def release(self) -> None:
        """Let hanging requests go (they answer as usual; the server stops after them)."""
        self._released.set()

    def fail_next(self, status: int, description: str, **parameters: Any) -> None:
        """The next request not yet answered gets this error (each call scripts one request)."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self._script.append((status, body))

    def fail_raw(self, status: int, text: str) -> None:
        """The next request not yet answered gets ``text`` as an HTML page with this status."""
        self._script.append((status, text))

    def edited(self) -> list[dict[str, Any]]:
        """Bodies of the editMessageText requests that carried the right token and were applied."""
        return [r.body for r in self.requests if r.method == "editMessageText" and r.token_ok and r.applied]

    def _edit(self, body: Any) -> JSONResponse:
        """editMessageText as Telegram answers it: the message must exist in that chat, and the new
        text differ from the old."""
        if not isinstance(body, dict):
            return _error(400, "Bad Request: the body is not JSON")
        message_id = body.get("message_id")
        if not isinstance(message_id, int):
            return _error(400, "Bad Request: message_id is not a number")
        key = (str(body.get("chat_id")), message_id)
        old = self.messages.get(key)
        if old is None:
            return _error(400, "Bad Request: message to edit not found")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if text == old:
            return _error(400, "Bad Request: message is not modified")
        self.messages[key] = text
        self.requests[-1].applied = True
        return JSONResponse({"ok": True, "result": {"message_id": key[1], "chat": {"id": key[0]}, "text": text}})

    def sent(self, chat_id: str | None = None) -> list[dict[str, Any]]:
        """Bodies of the sendMessage requests that carried the right token (to one chat)."""
        return [
            r.body
            for r in self.requests
            if r.method == "sendMessage" and r.token_ok and (chat_id is None or str(r.body.get("chat_id")) == chat_id)
        ]

    async def wait_for(self, count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + seconds
        while len(self.sent()) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return self.sent()

    async def handle(self, request: Request) -> JSONResponse:
        token, method = request.path_params["token"], request.path_params["method"]
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.requests.append(
            Received(method, token == self.token, body if isinstance(body, dict) else {}, time.monotonic())
        )
        if self._hangs:
            self._hangs -= 1
            await self._released.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if token != self.token:
            return _error(401, "Unauthorized")
        if method == "editMessageText":
            return self._edit(body)
        if method != "sendMessage":
            return _error(404, "Not Found: method not found")
        if not isinstance(body, dict):
            return _error(400, "Bad Request: the body is not JSON")
        if self._script:
            status, answer = self._script.popleft()
            if isinstance(answer, str):
                return HTMLResponse(answer, status_code=status)
            return JSONResponse(answer, status_code=status)
        text = body.get("text")
        if body.get("chat_id") in (None, ""):
            return _error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > MAX_TEXT:  # Bot API counts UTF-16 code units
            return _error(400, "Bad Request: message is too long")
        self._message_id += 1
        self.messages[(str(body["chat_id"]), self._message_id)] = text
        return JSONResponse(
            {
                "ok": True,
                "result": {
                    "message_id": self._message_id,
                    "chat": {"id": body["chat_id"], "type": "private"},
                    "date": 0,
                    "text": text,
                },
            }
        )


def _error(status: int, description: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error_code": status, "description": description}, status_code=status)


@asynccontextmanager
async def serve_bot_api(token: str) -> AsyncIterator[FakeBotApi]:
    """A running fake Bot API that knows one bot token; its ``base_url`` is the apiBaseUrl."""
    api = FakeBotApi(token=token)
    app = Starlette(routes=[Route("/bot{token}/{method}", api.handle, methods=["POST"])])
    async with serve_asgi(app) as base_url:
        api.base_url = base_url
        try:
            yield api
        finally:
            api.release()
