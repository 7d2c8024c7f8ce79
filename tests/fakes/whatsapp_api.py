"""A local WhatsApp Cloud API (Meta Graph API) for tests: ``POST /{phoneNumberId}/messages``.

It records every request (whether ``Authorization: Bearer <token>`` was right, the JSON body) and
answers like https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages does:
``{"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id": "wamid..."}]}``, or
``{"error": {"message", "type", "code", "fbtrace_id"}}`` with a 4xx/5xx status (401 code 190 for
a wrong token). ``api.fail_next(429, "Rate limit hit", 130429, retry_after=1)`` scripts an error.

The Meta side of the webhook is here too: ``inbound_text(...)`` builds the ``messages`` callback
for a text a user sent to the business number, and ``signed(raw, key)`` its
``X-Hub-Signature-256`` header, as Meta computes it.

Served by uvicorn on 127.0.0.1 in the test's event loop, like the ``live_server`` fixture.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
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

TEXT_MAX = 4096


@dataclass
class Received:
    phone_number_id: str
    token_ok: bool
    body: dict[str, Any]
    at: float


@dataclass
class FakeWhatsAppApi:
    token: str
    phone_number_id: str
    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    _script: deque[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=deque)
    _message_id: int = 0

    def fail_next(
        self, status: int, message: str, code: int, *, retry_after: int | None = None, title: str | None = None
    ) -> None:
        """The next request not yet answered gets this Graph API error (with ``error_user_title``)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = _error_body(message, code)
        if title is not None:
            body["error"]["error_user_title"] = title
        self._script.append((status, body, headers))

    def sent(self, to: str | None = None) -> list[dict[str, Any]]:
        """Bodies of the messages requests that carried the right token (to one number)."""
        return [r.body for r in self.requests if r.token_ok and (to is None or r.body.get("to") == to)]

    async def wait_for(self, count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + seconds
        while len(self.sent()) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return self.sent()

    async def messages(self, request: Request) -> JSONResponse:
        phone_number_id = request.path_params["phone_number_id"]
        token_ok = hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {self.token}")
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.requests.append(
            Received(phone_number_id, token_ok, body if isinstance(body, dict) else {}, time.monotonic())
        )
        if not token_ok:
            return _error(401, "Invalid OAuth access token - Cannot parse access token", 190, "OAuthException")
        if phone_number_id != self.phone_number_id:
            return _error(
                400,
                f"Unsupported post request. Object with ID '{phone_number_id}' does not exist",
                100,
                "GraphMethodException",
            )
        if self._script:
            status, answer, headers = self._script.popleft()
            return JSONResponse(answer, status_code=status, headers=headers)
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return _error(400, "(#100) The parameter messaging_product is required.", 100)
        to = body.get("to")
        if not isinstance(to, str) or not to:
            return _error(400, "(#100) The parameter to is required.", 100)
        content = body.get("text")
        text = content.get("body") if isinstance(content, dict) else None
        if body.get("type") != "text" or not isinstance(text, str) or not text.strip() or len(text) > TEXT_MAX:
            return _error(400, "(#100) Invalid parameter", 100)
        self._message_id += 1
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": f"wamid.TEST{self._message_id:08d}"}],
            }
        )


def _error_body(message: str, code: int, kind: str = "OAuthException") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf123"}}


def _error(status: int, message: str, code: int, kind: str = "OAuthException") -> JSONResponse:
    return JSONResponse(_error_body(message, code, kind), status_code=status)


def inbound_text(phone_number_id: str, sender: str, text: str, *, name: str = "Olena") -> bytes:
    """The ``messages`` webhook Meta posts when ``sender`` writes ``text`` to the business number."""
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
                                "contacts": [{"profile": {"name": name}, "wa_id": sender}],
                                "messages": [
                                    {
                                        "from": sender,
                                        "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                                        "timestamp": "1712595443",
                                        "type": "text",
                                        "text": {"body": text},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def signed(raw: bytes, key: str) -> dict[str, str]:
    """Headers Meta sends with a callback: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return {
        "X-Hub-Signature-256": "sha256=" + hmac.new(key.encode(), raw, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json",
    }


@asynccontextmanager
async def serve_whatsapp_api(token: str, phone_number_id: str) -> AsyncIterator[FakeWhatsAppApi]:
    """A running fake Cloud API for one business number; its ``base_url`` is the apiBaseUrl."""
    api = FakeWhatsAppApi(token=token, phone_number_id=phone_number_id)
    app = Starlette(routes=[Route("/{phone_number_id}/messages", api.messages, methods=["POST"])])
    async with serve_asgi(app) as base_url:
        api.base_url = base_url
        yield api
