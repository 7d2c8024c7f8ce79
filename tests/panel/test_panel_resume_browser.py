"""The page survives its server: `serve --demo` stopped and started again on the same port and
data dir, the page reconnects by itself, and the bell shows what was published while it was away
(through the resume cursor), each item once; a server killed after publishing sends that call's
toasts again after the restart (at least once), and the page shows and plays them once."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cluster import CLI
from tests.panel.steps import demo_users, gql, publish, signed_in, token_of
from tests.polling import eventually
from tests.served import DemoServe, start_demo_serve

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


def killed(served: DemoServe) -> None:
    """kill -9: no graceful stop, so a publishing call's hand-off row may be left behind."""
    served.proc.kill()
    served.proc.wait(timeout=10)
    served.log.close()


def hand_off_left_behind(data_dir: Path, instance_id: str, notification_ids: list[str]) -> None:
    """The hand-off row of a publishing call whose process was killed after it sent the panel's
    messages and before it deleted the row (domain/panel.py), due now: a worker sends the
    notifications' messages again from the stored rows."""
    stamp = datetime.now(UTC)
    with sqlite3.connect(data_dir / "notification-center.sqlite3", timeout=15) as db:
        db.execute(
            "INSERT INTO nc_panel_hand_off (instance_id, notification_ids, due_at, created_at) VALUES (?, ?, ?, ?)",
            (
                instance_id,
                ",".join(sorted(notification_ids, key=int)),
                str(stamp - timedelta(seconds=1)),
                str(stamp),
            ),
        )
    db.close()


def hand_offs(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "notification-center.sqlite3", timeout=15) as db:
        [(count,)] = db.execute("SELECT COUNT(*) FROM nc_panel_hand_off").fetchall()
    db.close()
    return int(count)


async def test_a_toast_sent_again_after_a_crash_shows_no_second_banner_nor_sound_but_repeats_and_collapses_do(
    tmp_path: Path, browser: object
) -> None:
    from playwright.async_api import expect

    # A collapsing chat's banner fires again once a second has passed since it last fired.
    served = start_demo_serve(tmp_path, NC_COLLAPSE_WINDOW_SECONDS="1")
    try:
        # given Taras's panel, tickets with a banner, sound, and one repeat of the banner 2 s later
        page, demo = await signed_in(browser, served.base, "Taras Melnyk")
        taras = token_of(demo, "op-taras")
        await gql(
            served.base,
            taras,
            "mutation { updateChannelSettings(input: {channels: [{kind: SOUND, enabled: true}],"
            " banner: {repeatCount: 1, repeatIntervalSeconds: 2}}) { banner { repeatCount } } }",
        )
        await gql(
            served.base,
            taras,
            'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, BANNER, SOUND]) { code } }',
        )
        await page.locator("#status").click()  # the browser starts audio only after the user touched the page
        await page.evaluate("document.body.dataset.soundsPlayed = '0'")
        sounds = page.locator("body")

        # when a ticket comes: its banner and its melody, and 2 s later its repeat, banner and melody again
        await publish(served.base, demo["service"], "op-taras", 9101)
        ticket = page.locator(".toast", has_text="#9101")
        await expect(ticket).to_be_visible()
        await expect(sounds).to_have_attribute("data-sounds-played", "1")
        await expect(sounds).to_have_attribute("data-sounds-played", "2", timeout=10_000)
        await expect(ticket).to_be_visible()
        await ticket.get_by_role("button", name="Close: New ticket #9101").click()  # closed, still unread
        await expect(ticket).to_be_hidden()

        # and two messages in one chat, a second apart (no more repeats): one item that counts them,
        # whose banner shows again with the second (its count and time changed)
        await gql(
            served.base,
            taras,
            "mutation { updateChannelSettings(input: {banner: {repeatCount: 0}}) { banner { repeatCount } } }",
        )
        chat = {"chatId": 8802, "clientName": "Iryna"}
        await publish(
            served.base, demo["service"], "op-taras", type_code="chat_message", data={**chat, "text": "Hello"}
        )
        first = page.locator(".toast", has_text="Hello")
        await expect(first).to_be_visible()
        await first.locator(".toast-close").click()
        await expect(page.locator(".toast")).to_have_count(0)
        await page.wait_for_timeout(1_200)  # the collapse window
        await publish(
            served.base, demo["service"], "op-taras", type_code="chat_message", data={**chat, "text": "Still there?"}
        )
        second = page.locator(".toast", has_text="Still there?")
        await expect(second).to_be_visible()
        await expect(page.locator(".item", has_text="Still there?")).to_contain_text("×2")
        await second.locator(".toast-close").click()
        await expect(page.locator(".toast")).to_have_count(0)
        await page.wait_for_timeout(1_000)  # the melodies played to their ends
        played = int(await sounds.get_attribute("data-sounds-played") or 0)

        # when the server is killed with SIGKILL and comes back on its port
        killed(served)
        await expect(page.locator("#status")).to_have_text("Reconnecting…")
        served = start_demo_serve(tmp_path, port=served.port, NC_COLLAPSE_WINDOW_SECONDS="1")
        await expect(page.locator("#status")).to_have_text("Live", timeout=15_000)
        await publish(served.base, demo["service"], "op-taras", 9102)  # (the page hears toasts again)
        await expect(page.locator(".toast", has_text="#9102")).to_be_visible()
        await page.locator(".toast", has_text="#9102").locator(".toast-close").click()

        # and a worker sends the ticket's and the chat's toasts again, as after a kill between the
        # publisher's sends and its hand-off row's deletion
        edges = (await gql(served.base, taras, "{ notifications(first: 10) { edges { node { id title body } } } }"))[
            "notifications"
        ]["edges"]
        again = [e["node"]["id"] for e in edges if "#9101" in e["node"]["title"] or e["node"]["body"] == "Still there?"]
        assert len(again) == 2, edges
        hand_off_left_behind(tmp_path, "demo", again)
        assert await eventually(lambda: asyncio.to_thread(hand_offs, tmp_path), lambda n: n == 0, seconds=15) == 0

        # then neither banner shows again, nor plays (the next ticket's banner comes after them)
        await publish(served.base, demo["service"], "op-taras", 9103)
        await expect(page.locator(".toast", has_text="#9103")).to_be_visible()
        await expect(page.locator(".toast")).to_have_count(1)
        await expect(sounds).to_have_attribute("data-sounds-played", str(played + 2))
        await page.wait_for_timeout(1_000)
        await expect(page.locator(".toast")).to_have_count(1)
        await expect(sounds).to_have_attribute("data-sounds-played", str(played + 2))
        # and the bell shows each item once
        await expect(page.locator(".item", has_text="#9101")).to_have_count(1)
        await expect(page.locator(".item", has_text="Still there?")).to_have_count(1)
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


async def test_an_item_sent_again_neither_steps_the_badge_back_nor_returns_once_archived(
    tmp_path: Path, browser: object
) -> None:
    from playwright.async_api import expect

    # Every frame the server sends the page passes through here, and the bell's NotificationAdded
    # frames are kept, to send one again as a worker's fallback does after a crash (at least once,
    # with the unread count as of when it read it; under load other calls commit in between).
    added: dict[str, str] = {}
    routes: list[object] = []

    async def through(page: object) -> None:
        def route(ws: object) -> None:
            server = ws.connect_to_server()  # type: ignore[attr-defined]

            def heard(message: str | bytes) -> None:
                frame = json.loads(message)
                event = (frame.get("payload") or {}).get("data", {}).get("bell") or {}
                if event.get("__typename") == "NotificationAdded":
                    added[event["notification"]["title"]] = message  # type: ignore[assignment]
                ws.send(message)  # type: ignore[attr-defined]

            server.on_message(heard)
            routes.append(ws)

        await page.route_web_socket("**/graphql", route)  # type: ignore[attr-defined]

    served = start_demo_serve(tmp_path)
    try:
        # given Taras's panel with two unread tickets
        page, demo = await signed_in(browser, served.base, "Taras Melnyk", before=through)
        taras = token_of(demo, "op-taras")
        await publish(served.base, demo["service"], "op-taras", 9201)
        await publish(served.base, demo["service"], "op-taras", 9202)
        await expect(page.locator(".item.unread")).to_have_count(2)
        await expect(page.locator("#badge")).to_have_text("2")
        first, second = added["New ticket #9201"], added["New ticket #9202"]
        assert json.loads(first)["payload"]["data"]["bell"]["unreadCount"] == 1

        # when the first comes again, with the count it had (1)
        routes[-1].send(first)  # type: ignore[attr-defined]
        await page.wait_for_timeout(500)

        # then the badge still counts both, and the bell shows it once
        await expect(page.locator("#badge")).to_have_text("2")
        await expect(page.locator(".item", has_text="#9201")).to_have_count(1)

        # when Taras archives the second, and it comes again
        edges = (await gql(served.base, taras, "{ notifications(first: 5) { edges { node { id title } } } }"))[
            "notifications"
        ]["edges"]
        [archived] = [e["node"]["id"] for e in edges if e["node"]["title"] == "New ticket #9202"]
        await gql(
            served.base,
            taras,
            "mutation($ids: [ID!]!) { archiveNotifications(ids: $ids) { ids } }",
            {"ids": [archived]},
        )
        await expect(page.locator(".item", has_text="#9202")).to_have_count(0)
        await expect(page.locator("#badge")).to_have_text("1")
        routes[-1].send(second)  # type: ignore[attr-defined]
        await page.wait_for_timeout(500)

        # then it stays in the archive, and the badge counts the one unread item left
        await expect(page.locator(".item", has_text="#9202")).to_have_count(0)
        await expect(page.locator("#badge")).to_have_text("1")

        # and a new ticket is heard as ever
        await publish(served.base, demo["service"], "op-taras", 9203)
        await expect(page.locator(".item.unread", has_text="#9203")).to_have_count(1)
        await expect(page.locator("#badge")).to_have_text("2")
        assert [e for e in page.errors if "WebSocket" not in e] == [], "\n".join(page.errors)
    finally:
        served.stop()
