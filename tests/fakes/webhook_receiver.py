"""A local ECHAT/CUSTOM webhook receiver for tests, built on the recipe of docs/receiving-webhooks.md.

The signature check is the doc's own ``verify_webhook`` (its first ``python`` block is executed
here), so a test that passes also proves the published recipe verifies what the service sends.

    async with webhook_receiver(secret="s3cr3t") as hook:
        hook.url                        # http://127.0.0.1:<port>/hook
        hook.answer(500); hook.answer(429, headers={"Retry-After": "1"})   # scripted answers, in order
        await hook.wait_for(1)          # the requests that arrived, verified or not

A request whose signature or timestamp does not verify is answered 401 (and consumes no scripted
answer). A repeat of an X-NC-Delivery already answered 2xx is answered 200 and flagged duplicate.
Served by uvicorn on 127.0.0.1 in the test's event loop, like the ``live_server`` fixture.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.serve import serve_asgi

DOC = Path(__file__).resolve().parents[2] / "docs" / "receiving-webhooks.md"


def _recipe() -> Callable[..., bool]:
    """``verify_webhook`` from the doc's first Python example."""
    match = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, f"no python example in {DOC}"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)
    return namespace["verify_webhook"]


verify_webhook = _recipe()


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    raw: bytes
    verified: bool
    status: int
    duplicate: bool = False

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def delivery(self) -> str | None:
        return self.headers.get("x-nc-delivery")


@dataclass
class FakeWebhookReceiver:
    secret: str
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    _script: deque[tuple[int, dict[str, str], str | None]] = field(default_factory=deque)
    _processed: set[str] = field(default_factory=set)

    def answer(self, status: int, headers: dict[str, str] | None = None, body: str | None = None) -> None:
        """The next verified request not yet answered gets this status (one call, one request),
        with ``body`` instead of "answer <status>" when given (a receiver that echoes the request)."""
        self._script.append((status, dict(headers or {}), body))

    @property
    def verified(self) -> list[Received]:
        return [r for r in self.requests if r.verified]

    async def wait_for(self, count: int, seconds: float = 5.0) -> list[Received]:
        deadline = asyncio.get_running_loop().time() + seconds
        while len(self.requests) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return list(self.requests)

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        ok = verify_webhook(
            self.secret,
            request.headers.get("X-NC-Timestamp", ""),
            request.headers.get("X-NC-Signature", ""),
            raw,
        )
        headers = {k.lower(): v for k, v in request.headers.items()}
        received = Received(time.monotonic(), headers, raw, ok, 401)
        self.requests.append(received)
        if not ok:
            return Response("bad signature", status_code=401)
        delivery = headers.get("x-nc-delivery", "")
        if delivery in self._processed:
            received.status, received.duplicate = 200, True
            return Response(status_code=200)
        status, answer_headers, body = self._script.popleft() if self._script else (200, {}, None)
        received.status = status
        if 200 <= status < 300:
            self._processed.add(delivery)
        return Response(f"answer {status}" if body is None else body, status_code=status, headers=answer_headers)


@asynccontextmanager
async def webhook_receiver(secret: str) -> AsyncIterator[FakeWebhookReceiver]:
    receiver = FakeWebhookReceiver(secret)
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    async with serve_asgi(app, access_log=False) as base_url:
        receiver.url = f"{base_url}/hook"
        yield receiver
