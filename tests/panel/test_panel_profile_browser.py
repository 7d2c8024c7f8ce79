"""The System messages in chat tab, and the simplified screen an instance without the Notification
Center shows (the classic browser and sound toggles), in Chromium against `serve --demo`.

This module's server has its own demo instance: an administrator turns the Notification Center off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.panel.steps import demo_users, gql, publish, signed_in, token_of
from tests.served import DemoServe, start_demo_serve

pytestmark = pytest.mark.browser

CENTER = """mutation($on: Boolean!) {
  updateInstanceSettings(input: {notificationCenterEnabled: $on}) { notificationCenterEnabled } }"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServe]:
    demo = start_demo_serve(tmp_path_factory.mktemp("panel-profile"))
    try:
        yield demo
    finally:
        demo.stop()


async def test_system_messages_in_chat_are_switched_per_user_and_kept(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    page, _ = await signed_in(browser, served.base, "Taras Melnyk")
    await page.get_by_role("tab", name="System messages in chat").click()
    rows = page.locator("#system-list label")
    await expect(rows).to_have_count(4)
    failed = page.get_by_label("Fast Line could not answer")
    await expect(failed).to_be_checked()

    await failed.uncheck()
    await expect(page.locator("#system-status")).to_have_text("Saved")
    await page.reload()
    await expect(page.get_by_role("tab", name="System messages in chat")).to_have_attribute("aria-selected", "true")
    await expect(page.get_by_label("Fast Line could not answer")).not_to_be_checked()
    await expect(page.get_by_label("Fast Line finished the dialogue")).to_be_checked()
    assert page.errors == [], "\n".join(page.errors)


async def test_the_tabs_are_keyboard_usable(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    page, _ = await signed_in(browser, served.base, "Anna Shevchenko")
    await page.get_by_role("tab", name="Channels").click()
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_role("tab", name="Notification types")).to_be_focused()
    await expect(page.get_by_role("tabpanel", name="Notification types")).to_be_visible()
    await page.keyboard.press("End")
    await expect(page.get_by_role("tabpanel", name="Reminders")).to_be_visible()
    await expect(page.get_by_role("tabpanel", name="Channels")).to_be_hidden()


async def test_without_the_notification_center_the_simplified_screen_has_the_classic_toggles(
    served: DemoServe, browser: object
) -> None:
    from playwright.async_api import expect

    # given an instance whose administrator turned the Notification Center off
    demo = demo_users(served.base)
    admin = token_of(demo, "adm-petro")
    await gql(served.base, admin, CENTER, {"on": False})
    try:
        page, _ = await signed_in(browser, served.base, "Anna Shevchenko")

        # then the profile shows the simplified screen: no tabs, the classic toggles
        simplified = page.get_by_role("region", name="Notifications (simplified)")
        await expect(simplified).to_be_visible()
        await expect(page.get_by_role("tablist")).to_be_hidden()
        await expect(simplified.locator("#browser-block")).to_be_visible()

        # when Anna turns the sound for new dialogues and messages off (it is on by default)
        sound = page.get_by_label("Sound for new dialogues and messages")
        await expect(sound).to_be_checked()
        await sound.uncheck()
        await expect(page.locator("#classic-status")).to_have_text("Saved")
        await page.reload()
        await expect(page.get_by_label("Sound for new dialogues and messages")).not_to_be_checked()

        # then a new chat reaches her bell and banner, silently
        await page.locator("body").click()  # the browser starts audio only after the user touched the page
        await publish(served.base, demo["service"], "op-anna", type_code="chat_created", data={"chatId": "c-1"})
        await expect(page.locator(".toast")).to_have_count(1)
        await expect(page.locator(".item")).to_have_count(1)
        await page.wait_for_timeout(1000)  # a melody lasts under a second
        assert await page.locator("body").get_attribute("data-sounds-played") is None

        # and once it is on again, the next chat comes with a sound
        await page.get_by_label("Sound for new dialogues and messages").check()
        await expect(page.locator("#classic-status")).to_have_text("Saved")
        await publish(served.base, demo["service"], "op-anna", type_code="chat_created", data={"chatId": "c-2"})
        await expect(page.locator(".item")).to_have_count(2)
        await expect(page.locator("body")).to_have_attribute("data-sounds-played", "1")
        assert page.errors == [], "\n".join(page.errors)
    finally:
        await gql(served.base, admin, CENTER, {"on": True})
