"""A local Web Push service for tests: ``POST /push/<browser>``, checked like a real one checks.

Each request must carry (RFC 8030, 8291, 8292):
  * ``Authorization: vapid t=<JWT>, k=<key>``: ``k`` is the server's ``webPushPublicKey``, the JWT
    is ES256 and verifies with it, ``aud`` is this service's origin, ``exp`` is in the next 24 h
    and ``sub`` is a ``mailto:`` or ``https:`` contact (else 401 or 403);
  * ``Content-Encoding: aes128gcm``, a ``TTL`` and a body of at most 4096 bytes that the browser's
    private key and auth secret decrypt (else 400, 413 or 415).

What passed is recorded (decrypted JSON, TTL, Urgency, claims) and answered 201, or what the test
scripted for that browser: ``push.answer("laptop", 410)``, ``push.answer("pc", 307, location=...)``,
or a sequence, one answer a push and the last one kept: ``push.script("pc", Answer(429,
retry_after="1"), 201)``. An ``Answer(hold=event)`` is recorded at once but answered only once the
test sets the event (a slow push service). An unknown browser gets 404; ``renew`` gives a browser
new keys on the same endpoint (it subscribed again).
Served by uvicorn on 127.0.0.1 in the test's event loop, like the ``live_server`` fixture.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.serve import serve_asgi

MAX_BODY = 4096
MAX_EXP_SECONDS = 24 * 3600


class Refused(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A browser's push subscription: what the panel registers, and the keys to read pushes."""

    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @property
    def subscription(self) -> dict[str, str]:
        """The PushSubscriptionInput for registerPushSubscription."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "p256dh": b64url(public), "auth": b64url(self.auth_secret)}


@dataclass(frozen=True)
class Answer:
    """One scripted answer to a push that passed every check."""

    status: int = 201
    retry_after: str | None = None
    location: str | None = None
    #: Held (the push already recorded) until the test sets this event.
    hold: asyncio.Event | None = None

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Retry-After": self.retry_after, "Location": self.location}
        return {k: v for k, v in headers.items() if v}


@dataclass
class Push:
    """One request that passed every check, whatever it was answered."""

    browser: str
    status: int
    message: dict[str, Any]
    size: int
    ttl: int
    urgency: str | None
    claims: dict[str, Any]
    #: The Topic header (RFC 8030 §5.4), if any: a newer push with the same topic replaces this one.
    topic: str | None = None
    at: float = field(default_factory=time.monotonic)


@dataclass
class FakePushService:
    base_url: str = ""
    #: The key pushes must be signed with: the server's webPushPublicKey.
    vapid_public_key: str | None = None
    browsers: dict[str, Browser] = field(default_factory=dict)
    pushes: list[Push] = field(default_factory=list)
    #: Why requests were refused before reaching a browser (bad VAPID, bad encryption ...).
    refusals: list[str] = field(default_factory=list)
    _answers: dict[str, list[Answer]] = field(default_factory=dict)

    def new_browser(self, name: str) -> Browser:
        browser = Browser(
            name=name,
            endpoint=f"{self.base_url}/push/{name}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
        )
        self.browsers[name] = browser
        return browser

    def renew(self, name: str) -> Browser:
        """The browser subscribed again: new keys, the same endpoint (pushes now decrypt with these)."""
        return self.new_browser(name)

    def answer(self, name: str, status: int, *, retry_after: str | None = None, location: str | None = None) -> None:
        """Answer this browser's pushes with ``status`` from now on (201 is the default)."""
        self.script(name, Answer(status, retry_after, location))

    def script(self, name: str, *answers: Answer | int) -> None:
        """Answer this browser's next pushes in this order, one each; the last answer is kept."""
        self._answers[name] = [a if isinstance(a, Answer) else Answer(a) for a in answers]

    def received(self, name: str | None = None) -> list[Push]:
        """Pushes accepted (201) for one browser, or for all."""
        return [p for p in self.pushes if p.status == 201 and (name is None or p.browser == name)]

    def attempts(self, name: str) -> list[Push]:
        return [p for p in self.pushes if p.browser == name]

    async def wait_for(self, name: str, count: int = 1, seconds: float = 5.0, *, accepted: bool = True) -> list[Push]:
        """Wait for ``count`` accepted pushes to the browser (or pushes whatever their answer)."""
        pushes = self.received if accepted else self.attempts
        deadline = asyncio.get_running_loop().time() + seconds
        while len(pushes(name)) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return pushes(name)

    async def handle(self, request: Request) -> Response:
        browser = self.browsers.get(request.path_params["name"])
        if browser is None:
            return self._refuse(404, "no such subscription")
        try:
            claims = self._verify_vapid(request.headers.get("authorization", ""))
        except Refused as exc:
            return self._refuse(exc.status, str(exc))
        if request.headers.get("content-encoding") != "aes128gcm":
            return self._refuse(415, f"content encoding {request.headers.get('content-encoding')!r}")
        ttl = request.headers.get("ttl", "")
        if not ttl.isdigit():
            return self._refuse(400, "TTL header missing")
        topic = request.headers.get("topic")
        if topic is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", topic):
            return self._refuse(400, "Topic must be at most 32 characters of the URL-safe base64 alphabet")
        body = await request.body()
        if len(body) > MAX_BODY:
            return self._refuse(413, f"payload of {len(body)} bytes")
        try:
            plain = http_ece.decrypt(
                body, private_key=browser.private_key, auth_secret=browser.auth_secret, version="aes128gcm"
            )
            message = json.loads(plain)
        except (http_ece.ECEException, ValueError) as exc:
            return self._refuse(400, f"could not decrypt: {type(exc).__name__}")
        script = self._answers.get(browser.name) or [Answer()]
        answer = script.pop(0) if len(script) > 1 else script[0]
        self.pushes.append(
            Push(
                browser.name,
                answer.status,
                message,
                len(plain),
                int(ttl),
                request.headers.get("urgency"),
                claims,
                topic,
            )
        )
        number = len(self.pushes)
        if answer.hold is not None:
            await answer.hold.wait()
        if answer.status == 201:
            return Response(status_code=201, headers={"Location": f"{self.base_url}/message/{number}"})
        return JSONResponse(
            {"code": answer.status, "error": "scripted"}, status_code=answer.status, headers=answer.headers
        )

    def _verify_vapid(self, authorization: str) -> dict[str, Any]:
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise Refused(401, f"not a vapid authorization: {scheme!r}")
        parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        token, key = parts.get("t", ""), parts.get("k", "")
        if not self.vapid_public_key or key != self.vapid_public_key:
            raise Refused(403, "the k= key is not the server's webPushPublicKey")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        try:
            claims = jwt.decode(
                token,
                public,
                algorithms=["ES256"],
                audience=self.base_url,
                options={"require": ["exp", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Refused(401, f"bad VAPID JWT: {exc}") from None
        if claims["exp"] > time.time() + MAX_EXP_SECONDS:
            raise Refused(401, "VAPID JWT expires more than 24 h ahead")
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            raise Refused(401, f"VAPID sub is not a contact URI: {claims['sub']!r}")
        return claims

    def _refuse(self, status: int, why: str) -> Response:
        self.refusals.append(why)
        return JSONResponse({"code": status, "error": why}, status_code=status)


@asynccontextmanager
async def serve_push_service() -> AsyncIterator[FakePushService]:
    """A running fake push service; ``new_browser`` makes subscriptions whose endpoints point at it."""
    service = FakePushService()
    app = Starlette(routes=[Route("/push/{name}", service.handle, methods=["POST"])])
    async with serve_asgi(app) as base_url:
        service.base_url = base_url
        yield service
