"""The operator panel page in a real browser (Chromium through Playwright) against the real
command, `notification-center serve --demo`: demo sign-in, the bell's history and badge, a banner
and the bell live from publishEvent, and read state carried to a second tab of the same operator."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.panel.steps import gql as _gql
from tests.panel.steps import publish as _publish
from tests.panel.steps import signed_in as _signed_in
from tests.served import start_demo_serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def panel_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A reminder "minute" of half a second, so the not-ready prompt comes within the test.
    demo = start_demo_serve(tmp_path_factory.mktemp("panel"), NC_REMINDER_MINUTE_SECONDS="0.5")
    try:
        yield demo.base
    finally:
        demo.stop()


async def test_demo_operator_sees_the_bell_and_banner_live_and_read_state_crosses_tabs(
    panel_server: str, browser: object
) -> None:
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    demo = httpx.get(f"{panel_server}/panel/demo-users").json()
    olena = next(u for u in demo["users"] if u["user"] == "op-olena")
    context = await browser.new_context()
    first = await context.new_page()
    await first.goto(f"{panel_server}/panel/")
    # The demo picker signs in; Olena's locale is Ukrainian, so the page follows it.
    await first.get_by_role("button", name="Olena Kovalenko").click()
    await expect(first.locator("#history")).to_be_visible()
    await expect(first.locator("html")).to_have_attribute("lang", "uk")
    await expect(first.locator("#status")).to_have_text("Наживо")
    await expect(first.locator("#badge")).to_have_attribute("data-count", "0")
    # the connection's state follows the language switch, and back
    await first.locator("#locale").select_option("en")
    await expect(first.locator("#status")).to_have_text("Live")
    await first.locator("#locale").select_option("uk")
    await expect(first.locator("#status")).to_have_text("Наживо")

    await _publish(panel_server, demo["service"], "op-olena", 4711)
    item = first.locator(".item", has_text="4711")
    await expect(item).to_have_class("item unread")
    await expect(first.locator("#badge")).to_have_text("1")
    await expect(first.locator(".toast", has_text="4711")).to_be_visible()

    # A second tab of the same operator (the host panel passes the token in the fragment).
    second = await context.new_page()
    await second.goto(f"{panel_server}/panel/#token={olena['token']}")
    await expect(second.locator(".item.unread", has_text="4711")).to_be_visible()
    assert olena["token"] not in second.url  # read from the fragment, then taken out of the address bar
    await expect(second.locator("#badge")).to_have_text("1")

    # Read in the second tab: the first tab hears it live.
    await second.locator(".item", has_text="4711").click()
    await expect(first.locator(".item", has_text="4711")).to_have_class("item")
    await expect(first.locator("#badge")).to_have_attribute("data-count", "0")

    # Two more, then "mark all read" in the first tab clears both tabs.
    await _publish(panel_server, demo["service"], "op-olena", 4712)
    await _publish(panel_server, demo["service"], "op-olena", 4713)
    await expect(second.locator("#badge")).to_have_text("2")
    await first.locator("#read-all").click()
    await expect(second.locator("#badge")).to_have_attribute("data-count", "0")
    await expect(second.locator(".item.unread")).to_have_count(0)
    await context.close()


async def test_the_english_switch_and_a_refused_token(panel_server: str, browser: object) -> None:
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{panel_server}/panel/#token=not-a-token")
    # Demo mode offers the picker again after a refused token, and says why, on the sign-in screen.
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("The token was refused")
    await expect(page.get_by_role("button", name="Taras Melnyk")).to_be_visible()
    await page.locator("#locale").select_option("uk")
    await expect(page.locator("#signin h1")).to_have_text("Вхід")


async def test_the_types_tab_turns_the_banner_off_and_it_stays_off(panel_server: str, browser: object) -> None:
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    page, demo = await _signed_in(browser, panel_server, "Taras Melnyk")
    await page.get_by_role("tab", name="Notification types").click()
    row = page.locator('fieldset.type-row[data-code="ticket_created"]')
    banner = row.get_by_label("Banner")
    await expect(banner).to_be_checked()
    await banner.uncheck()
    await expect(
        page.locator('fieldset.type-row[data-code="ticket_created"]').get_by_label("Banner")
    ).not_to_be_checked()
    await expect(page.locator('fieldset.type-row[data-code="ticket_created"]').get_by_label("Bell")).to_be_checked()

    # The service now sends Taras the bell item and no banner.
    await _publish(panel_server, demo["service"], "op-taras", 5150)
    await expect(page.locator(".item", has_text="5150")).to_be_visible()
    await page.wait_for_timeout(500)  # a banner would have come with the bell item
    await expect(page.locator(".toast")).to_have_count(0)

    # Saved: a reload shows the same choice; the search narrows the list.
    await page.reload()
    await expect(
        page.locator('fieldset.type-row[data-code="ticket_created"]').get_by_label("Banner")
    ).not_to_be_checked()
    await page.locator("#type-search").fill("zzz-no-such-type")
    await expect(page.locator("fieldset.type-row")).to_have_count(0)


async def test_the_channels_tab_limits_banners_on_screen_and_switches_banners_off(
    panel_server: str, browser: object
) -> None:
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    page, demo = await _signed_in(browser, panel_server, "Anna Shevchenko")
    await expect(page.get_by_label("At most on screen")).to_have_value("3")  # the tab has loaded
    await page.get_by_label("At most on screen").fill("1")
    await page.get_by_label("Shown for (seconds)").fill("30")
    await page.locator("#banner-form button[type=submit]").click()
    await expect(page.locator("#banner-status")).to_have_text("Saved")

    # Two banners in a row, at most one on screen: the newer one stays.
    await _publish(panel_server, demo["service"], "op-anna", 6001)
    await expect(page.locator(".toast", has_text="6001")).to_be_visible()
    await _publish(panel_server, demo["service"], "op-anna", 6002)
    await expect(page.locator(".toast", has_text="6002")).to_be_visible()
    await expect(page.locator(".toast")).to_have_count(1)

    # The BANNER channel switched off: the next item reaches the bell only.
    await page.locator('#channel-list [data-kind="BANNER"] input').uncheck()
    await expect(page.locator("#channels-status")).to_have_text("Saved")
    await page.locator(".toast").first.click()  # read and dismissed
    await _publish(panel_server, demo["service"], "op-anna", 6003)
    await expect(page.locator(".item", has_text="6003")).to_be_visible()
    await page.wait_for_timeout(500)  # a banner would have come with the bell item
    await expect(page.locator(".toast")).to_have_count(0)
    await page.reload()
    await expect(page.locator('#channel-list [data-kind="BANNER"] input')).not_to_be_checked()


async def test_the_reminders_tab_and_the_live_not_ready_prompt(panel_server: str, browser: object) -> None:
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    page, demo = await _signed_in(browser, panel_server, "Petro Tkachenko")
    await page.get_by_role("tab", name="Reminders").click()
    after = page.get_by_label("After (minutes)")
    await expect(after).not_to_have_value("")  # the tab has loaded
    await after.fill("1")
    await page.get_by_label("Then every (minutes, 0: once)").fill("0")
    await page.locator("#reminder-form button[type=submit]").click()
    await expect(page.locator("#reminders-status")).to_have_text("Saved")
    await page.reload()
    await expect(page.get_by_label("After (minutes)")).to_have_value("1")

    # The platform says Petro went on a break; a "minute" later the panel prompts him.
    await _publish(
        panel_server,
        demo["service"],
        "adm-petro",
        type_code="operator_status_changed",
        data={"status": "break"},
        notifications=None,
    )
    prompt = page.get_by_role("alertdialog")
    await expect(prompt).to_be_visible(timeout=15_000)
    await expect(prompt).not_to_have_text("")
    await page.get_by_role("button", name="OK").click()
    await expect(prompt).to_be_hidden()


async def test_a_banner_comes_within_a_second_and_leaves_after_its_duration(panel_server: str, browser: object) -> None:
    from playwright.async_api import expect

    # given Iryna's banners shown for 2 seconds
    page, demo = await _signed_in(browser, panel_server, "Iryna Bondar")
    await expect(page.get_by_label("Показувати (секунд)")).not_to_have_value("")  # the tab has loaded
    await page.get_by_label("Показувати (секунд)").fill("2")
    await page.locator("#banner-form button[type=submit]").click()
    await expect(page.locator("#banner-status")).to_have_text("Збережено")

    # when a ticket is published for her
    await _publish(panel_server, demo["service"], "sup-iryna", 6501)
    started = time.monotonic()

    # then its banner is on screen within a second, stays, and is gone after its 2 seconds
    banner = page.locator(".toast", has_text="6501")
    await expect(banner).to_be_visible(timeout=1_000)
    await page.wait_for_timeout(1_000)
    assert await banner.is_visible()  # a second later, still there
    await expect(banner).to_be_hidden(timeout=3_000)
    assert 1.9 <= time.monotonic() - started <= 3.5


async def test_messages_in_one_chat_are_one_counting_item_and_reading_the_chat_takes_its_banner_back(
    panel_server: str, browser: object
) -> None:
    from playwright.async_api import expect

    page, demo = await _signed_in(browser, panel_server, "Taras Melnyk")
    await expect(page.locator("#badge")).to_have_attribute("data-count", re.compile(r"\d+"))
    unread = int(await page.locator("#badge").get_attribute("data-count") or 0)  # earlier tests' items
    chat = {"chatId": 8801, "clientName": "Iryna", "text": "Hello"}
    # when three messages arrive in one chat
    for text in ("Hello", "Are you there?", "Printer still on fire"):
        await _publish(panel_server, demo["service"], "op-taras", type_code="chat_message", data={**chat, "text": text})
    # then the bell shows one item that counts them, with the latest message, and one banner
    item = page.locator(".item", has_text="Printer still on fire")
    await expect(item).to_contain_text("×3")
    await expect(page.locator(".item", has_text="Hello")).to_have_count(0)
    await expect(page.locator("#badge")).to_have_text(str(unread + 1))
    await expect(page.locator(".toast")).to_have_count(1)
    # when the chat is handled in another tab (markEntityRead through the API with her token)
    taras = next(u for u in demo["users"] if u["user"] == "op-taras")
    await _gql(
        panel_server,
        taras["token"],
        'mutation { markEntityRead(entity: {kind: "CHAT", id: "8801"}) { ids } }',
    )
    # then the banner is taken back and the item is read here too
    await expect(page.locator(".toast")).to_have_count(0)
    await expect(item).to_have_class("item")
    await expect(page.locator("#badge")).to_have_attribute("data-count", str(unread))
    assert page.errors == []
