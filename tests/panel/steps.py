"""Steps the panel's browser tests share: Chromium's flags, signing in through the demo picker,
and the API calls a test makes beside the page (publishing events, an administrator's settings)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = os.environ.get("NC_TEST_CHROMIUM", "/usr/bin/chromium")
#: Flags for Chromium in this sandbox: headless, as root, no network but loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots of the page's tabs (gitignored): the README shows one of them from docs/.
SCREENSHOTS = Path(__file__).resolve().parent / "output"


def demo_users(base: str) -> dict[str, Any]:
    """The demo picker's answer: {"users": [{"user", "role", "name", "token"}], "service": token}."""
    return httpx.get(f"{base}/panel/demo-users").json()


def token_of(demo: dict[str, Any], user: str) -> str:
    return str(next(u["token"] for u in demo["users"] if u["user"] == user))


async def gql(base: str, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The data of a GraphQL call that must succeed."""
    async with httpx.AsyncClient(timeout=15) as http:
        response = await http.post(
            f"{base}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"])


async def publish(
    base: str,
    service_token: str,
    recipient: str,
    ticket: int = 0,
    *,
    type_code: str = "ticket_created",
    data: dict | None = None,
    notifications: int | None = 1,
) -> None:
    event = {
        "id": f"browser-{uuid.uuid4().hex}",
        "type": type_code,
        "recipients": [recipient],
        "data": data if data is not None else {"ticketNumber": ticket, "subject": "Printer on fire"},
    }
    result = await gql(
        base,
        service_token,
        "mutation($i: EventInput!) { publishEvent(input: $i) { notificationCount } }",
        {"i": event},
    )
    if notifications is not None:
        assert result == {"publishEvent": {"notificationCount": notifications}}


async def signed_in(
    browser: Any, base: str, name: str, *, before: Callable[[Any], Awaitable[None]] | None = None, **context: Any
) -> tuple[Any, dict[str, Any]]:
    """A new browser context's page on /panel/, signed in through the demo picker as ``name``
    (its script errors collected in ``page.errors``); and the demo users' tokens. ``before`` is
    awaited with the page before it opens anything (to route its WebSocket, say)."""
    demo = demo_users(base)
    page = await (await browser.new_context(**context)).new_page()
    if before is not None:
        await before(page)
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.on("response", lambda r: r.status >= 400 and page.errors.append(f"{r.status} {r.url}"))
    await page.goto(f"{base}/panel/")
    await page.get_by_role("button", name=name).click()
    await page.locator("#status").filter(has_text="Live").or_(page.locator("#status", has_text="Наживо")).wait_for()
    return page, demo
