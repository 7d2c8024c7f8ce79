"""The page survives its server: `serve --demo` stopped and started again on the same port and
data dir, the page reconnects by itself, and the bell shows what was published while it was away
(through the resume cursor), each item once."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from tests.cluster import CLI
from tests.panel.steps import demo_users, gql, publish, signed_in, token_of
from tests.served import start_demo_serve

pytestmark = pytest.mark.browser


async def test_after_a_restart_the_page_shows_what_was_published_meanwhile_without_duplicates(
    tmp_path: object, browser: object
) -> None:
    from playwright.async_api import expect

    data_dir = tmp_path  # type: ignore[assignment]
    served = start_demo_serve(data_dir)  # type: ignore[arg-type]
    try:
        # given Taras's panel with one item in the bell
        page, demo = await signed_in(browser, served.base, "Taras Melnyk")
        await publish(served.base, demo["service"], "op-taras", 9001)
        await expect(page.locator(".item", has_text="#9001")).to_have_count(1)

        # when the server stops, and two tickets are published while the page cannot hear
        # (through another `serve` on the same data dir, on another port)
        served.stop()
        await expect(page.locator("#status")).to_have_text("Reconnecting…")
        meanwhile = start_demo_serve(data_dir)  # type: ignore[arg-type]
        try:
            # (and Taras reads everything from another device: the bell never replays reads)
            await gql(
                meanwhile.base, token_of(demo, "op-taras"), "mutation { markAllNotificationsRead { unreadCount } }"
            )
            await publish(meanwhile.base, demo["service"], "op-taras", 9002)
            await publish(meanwhile.base, demo["service"], "op-taras", 9003)
        finally:
            meanwhile.stop()
        await expect(page.locator(".item", has_text="#9002")).to_have_count(0)

        # and the server comes back on its port
        served = start_demo_serve(data_dir, port=served.port)  # type: ignore[arg-type]

        # then the page reconnects and shows both, unread, each once, above the first, now read
        await expect(page.locator("#status")).to_have_text("Live", timeout=15_000)
        await expect(page.locator(".item.unread", has_text="#9003")).to_have_count(1)
        await expect(page.locator(".item.unread", has_text="#9002")).to_have_count(1)
        await expect(page.locator(".item", has_text="#9001")).to_have_class("item")
        await expect(page.locator("#badge")).to_have_text("2")
        titles = await page.locator(".item > span").all_text_contents()
        assert titles == ["New ticket #9003", "New ticket #9002", "New ticket #9001"]

        # and what comes next is live again, once
        await publish(served.base, demo["service"], "op-taras", 9004)
        await expect(page.locator(".item", has_text="#9004")).to_have_count(1)
        await page.wait_for_timeout(500)
        assert len(await page.locator(".item").all()) == 4
        await expect(page.locator("#badge")).to_have_text("3")
        assert [e for e in page.errors if "WebSocket" not in e] == [], "\n".join(page.errors)
    finally:
        served.stop()


async def test_a_refused_or_expired_token_brings_back_the_sign_in_with_the_reason(
    tmp_path: object, browser: object
) -> None:
    from playwright.async_api import expect

    served = start_demo_serve(tmp_path)  # type: ignore[arg-type]
    try:
        # given Taras's panel opened with a token that expires in a few seconds
        demo = demo_users(served.base)
        claims = token_of(demo, "op-taras").split(".")[1]
        instance = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["instance"]
        token = subprocess.run(
            [*CLI, "token", "--instance", instance, "--user", "op-taras", "--role", "operator", "--ttl", "4"],
            env=served.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        page = await (await browser.new_context()).new_page()  # type: ignore[attr-defined]
        await page.goto(f"{served.base}/panel/#token={token}")
        await expect(page.locator("#status")).to_have_text("Live")

        # when it expires, the page goes back to signing in and says why, visibly
        alert = page.get_by_role("alert")
        await expect(alert).to_be_visible(timeout=15_000)
        await expect(alert).to_contain_text("The token was refused")
        await expect(alert).to_contain_text("expired")
        await expect(page.get_by_role("button", name="Taras Melnyk")).to_be_visible()
        await expect(page.locator("#history")).to_be_hidden()
    finally:
        served.stop()
