"""The operator panel's reference page at ``/panel/``: static files from the repository's
``panel/`` folder (HTML, CSS, an ES module and the vendored graphql-ws client; no build step).

    GET /panel/              the page (index.html)
    GET /panel/demo-users    ``serve --demo`` only: the demo users' tokens, for the page's picker:
                             {"users": [{"user", "role", "name", "token"}], "service": token}
                             (404 without --demo: the page then asks for a token instead; 403
                             when the Host header is not a loopback name or NC_PUBLIC_URL's host,
                             so a DNS-rebinding page cannot read them from a developer's machine)

Every response under /panel/ carries a Content-Security-Policy (scripts, styles and connections
to this origin only; framing by this origin and NC_ALLOWED_ORIGINS), nosniff and no-referrer.

On by default when embedded; ``NC_PANEL=0`` turns it off, ``NC_PANEL=1`` turns it on at scale.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.demo import DEMO_SERVICE, DEMO_USERS, demo_tokens
from core.settings import Settings
from services.auth import TokenCodec

PANEL_DIR = Path(__file__).resolve().parent.parent / "panel"
#: How long the demo picker's tokens stay valid (seconds).
DEMO_TOKEN_SECONDS = 24 * 3600


def panel_routes(settings: Settings, codec: TokenCodec) -> list[BaseRoute]:
    """The page's routes, or none when the panel is off (or its files are not beside the code)."""
    if not settings.panel_enabled or not (PANEL_DIR / "index.html").is_file():
        return []
    names = {user.id: user.display_name for user in DEMO_USERS}
    hosts = {"127.0.0.1", "localhost", "::1"} | {
        name for name in (urlsplit(settings.public_url).hostname, urlsplit(settings.panel_url).hostname) if name
    }
    headers = _security_headers(settings)

    async def demo_users(request: Request) -> Response:
        if not settings.demo:
            return JSONResponse({"error": "Demo sign-in is only served by `serve --demo`"}, status_code=404)
        host = urlsplit(f"//{request.headers.get('host', '')}").hostname
        if host not in hosts:
            return JSONResponse(
                {"error": f"Demo tokens are only handed to {', '.join(sorted(hosts))} (NC_PUBLIC_URL's host)"},
                status_code=403,
            )
        tokens = demo_tokens(codec, ttl_seconds=DEMO_TOKEN_SECONDS)
        users = [
            {"user": user, "role": role, "name": names.get(user) or user, "token": token}
            for user, role, token in tokens
            if user != DEMO_SERVICE
        ]
        service = next(token for user, _, token in tokens if user == DEMO_SERVICE)
        return JSONResponse({"users": users, "service": service}, headers={"Cache-Control": "no-store", **headers})

    async def slash(request: Request) -> Response:
        return RedirectResponse("/panel/", status_code=308)

    return [
        Route("/panel/demo-users", demo_users),
        Route("/panel", slash),
        Mount("/panel", app=_WithHeaders(StaticFiles(directory=PANEL_DIR, html=True), headers), name="panel"),
    ]


def _security_headers(settings: Settings) -> dict[str, str]:
    ancestors = " ".join(["'self'", *settings.allowed_origins])
    return {
        "Content-Security-Policy": (
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
            f"object-src 'none'; base-uri 'none'; frame-ancestors {ancestors}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


class _WithHeaders:
    """Adds ``headers`` to every response of the wrapped ASGI app."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.raw]}
            await send(message)

        await self.app(scope, receive, with_headers)
