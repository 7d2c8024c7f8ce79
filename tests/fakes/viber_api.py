"""A local Viber REST bot API for tests: ``POST /pa/send_message``, answered as Viber answers.

It records every request (whether ``X-Viber-Auth-Token`` was right, the JSON body) and answers
like https://developers.viber.com/docs/api/rest-bot-api/ does: HTTP 200 with ``{"status": 0,
"status_message": "ok", "message_token": ...}``, or a non-zero ``status`` (2 invalidAuthToken for
a wrong token, 3 badData for a malformed message). ``api.fail_next(6, "notSubscribed")`` scripts
a Viber error for the next request, ``api.fail_http(500)`` an HTTP-level failure.

The Viber side of the webhook is here too: ``conversation_started(...)`` builds the callback's body
and ``signed(raw, token)`` its ``X-Viber-Content-Signature`` header, as Viber computes it.

Served by uvicorn on 127.0.0.1 in the test's event loop, like the ``live_server`` fixture.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.serve import serve_asgi

SENDER_NAME_MAX = 28
TEXT_MAX = 7000


@dataclass
class Received:
    token_ok: bool
    body: dict[str, Any]


@dataclass
class FakeViberApi:
    token: str
    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    _script: deque[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=deque)
    _message_token: int = 5_000_000_000_000_000_000

    def fail_next(self, status: int, status_message: str) -> None:
        """The next request not yet answered gets this Viber error (HTTP 200, non-zero status)."""
        self._script.append((200, {"status": status, "status_message": status_message}, {}))

    def fail_http(self, http_status: int, text: str = "Internal Server Error", **headers: str) -> None:
        self._script.append((http_status, {"error": text}, headers))

    def sent(self, receiver: str | None = None) -> list[dict[str, Any]]:
        """Bodies of the send_message requests that carried the right token (to one receiver)."""
        return [
            r.body for r in self.requests if r.token_ok and (receiver is None or r.body.get("receiver") == receiver)
        ]

    async def wait_for(self, count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + seconds
        while len(self.sent()) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return self.sent()

    async def send_message(self, request: Request) -> JSONResponse:
        token_ok = hmac.compare_digest(request.headers.get("x-viber-auth-token", ""), self.token)
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.requests.append(Received(token_ok, body if isinstance(body, dict) else {}))
        if not token_ok:
            return _status(2, "invalidAuthToken")
        if self._script:
            http_status, answer, headers = self._script.popleft()
            return JSONResponse(answer, status_code=http_status, headers=headers)
        if not isinstance(body, dict) or not body.get("receiver") or body.get("type") != "text":
            return _status(3, "badData")
        sender = body.get("sender")
        name = sender.get("name") if isinstance(sender, dict) else None
        if not isinstance(name, str) or not name or len(name) > SENDER_NAME_MAX:
            return _status(3, "badData")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > TEXT_MAX:
            return _status(3, "badData")
        self._message_token += 1
        return JSONResponse(
            {"status": 0, "status_message": "ok", "message_token": self._message_token, "chat_hostname": "SN-1"}
        )


def _status(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": status, "status_message": message})


def conversation_started(code: str | None, user_id: str, name: str, *, subscribed: bool = False) -> bytes:
    """The callback Viber posts when a user opens ``viber://pa?chatURI=...&context=<code>``."""
    body: dict[str, Any] = {
        "event": "conversation_started",
        "timestamp": 1_457_764_197_627,
        "message_token": 4_912_661_846_655_238_145,
        "type": "open",
        "user": {"id": user_id, "name": name, "avatar": "", "language": "en", "country": "UA", "api_version": 8},
        "subscribed": subscribed,
    }
    if code is not None:
        body["context"] = code
    return json.dumps(body).encode()


def signed(raw: bytes, token: str) -> dict[str, str]:
    """Headers Viber sends with a callback: the hex HMAC-SHA256 of the body, keyed by the token."""
    return {
        "X-Viber-Content-Signature": hmac.new(token.encode(), raw, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json",
    }


@asynccontextmanager
async def serve_viber_api(token: str) -> AsyncIterator[FakeViberApi]:
    """A running fake Viber API that knows one auth token; its ``base_url`` is the apiBaseUrl."""
    api = FakeViberApi(token=token)
    app = Starlette(routes=[Route("/pa/send_message", api.send_message, methods=["POST"])])
    async with serve_asgi(app) as base_url:
        api.base_url = base_url
        yield api
