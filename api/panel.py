"""The operator panel's reference page at ``/panel/``: static files from the repository's
``panel/`` folder (HTML, CSS, an ES module and the vendored graphql-ws client; no build step).

    GET /panel/              the page (index.html)
    GET /panel/demo-users    ``serve --demo`` only: the demo users' tokens, for the page's picker:
                             {"users": [{"user", "role", "name", "token"}], "service": token}
                             (404 without --demo: the page then asks for a token instead)

On by default when embedded; ``NC_PANEL=0`` turns it off, ``NC_PANEL=1`` turns it on at scale.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

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

    async def demo_users(request: Request) -> Response:
        if not settings.demo:
            return JSONResponse({"error": "Demo sign-in is only served by `serve --demo`"}, status_code=404)
        tokens = demo_tokens(codec, ttl_seconds=DEMO_TOKEN_SECONDS)
        users = [
            {"user": user, "role": role, "name": names.get(user) or user, "token": token}
            for user, role, token in tokens
            if user != DEMO_SERVICE
        ]
        service = next(token for user, _, token in tokens if user == DEMO_SERVICE)
        return JSONResponse({"users": users, "service": service}, headers={"Cache-Control": "no-store"})

    async def slash(request: Request) -> Response:
        return RedirectResponse("/panel/", status_code=308)

    return [
        Route("/panel/demo-users", demo_users),
        Route("/panel", slash),
        Mount("/panel", app=StaticFiles(directory=PANEL_DIR, html=True), name="panel"),
    ]
