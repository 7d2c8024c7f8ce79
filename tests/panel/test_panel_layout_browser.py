"""The panel's layout holds with what publishers send: a banner and a bell item stay a few lines
high and inside their box for a very long or unbroken subject, and the banners' column does not
cover the history's controls at a common laptop width; a tab's message stands beside its form, in the
page's language. Its own server (module scope)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.panel.steps import publish, signed_in
from tests.served import DemoServe, start_demo_serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServe]:
    demo = start_demo_serve(tmp_path_factory.mktemp("panel-layout"))
    try:
        yield demo
    finally:
        demo.stop()


async def test_a_long_subject_keeps_the_banner_and_the_bell_item_small(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Taras's page at a laptop's width
    page, demo = await signed_in(browser, served.base, "Taras Melnyk", viewport={"width": 1280, "height": 800})

    # when a ticket comes with a 14,000-character subject of words, then one unbroken string
    words = " ".join(["printer on fire"] * 900)[:14_000]
    await publish(served.base, demo["service"], "op-taras", 7101, data={"ticketNumber": 7101, "subject": words})
    await publish(served.base, demo["service"], "op-taras", 7102, data={"ticketNumber": 7102, "subject": "W" * 3000})

    # then each banner is at most a few lines high and nothing runs out of it sideways
    for number in (7101, 7102):
        toast = page.locator(".toast", has_text=f"#{number}")
        await expect(toast).to_be_visible()
        box = await toast.bounding_box()
        assert box is not None and box["height"] <= 200, box
        assert box["x"] + box["width"] <= 1280, box
        overflow = await toast.evaluate("t => [...t.querySelectorAll('*')].some(e => e.scrollWidth > t.clientWidth)")
        assert overflow is False
        item = page.locator(".item", has_text=f"#{number}")
        item_box = await item.bounding_box()
        assert item_box is not None and item_box["height"] <= 150, item_box
        assert await item.evaluate("i => i.scrollWidth <= i.clientWidth")

    # and the banners leave "Mark all read" reachable: the button is what is under its centre
    read_all = page.locator("#read-all")
    middle = await read_all.bounding_box()
    assert middle is not None
    under = await page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.id",
        [middle["x"] + middle["width"] / 2, middle["y"] + middle["height"] / 2],
    )
    assert under == "read-all"
    await read_all.click(trial=True)  # no other element would receive the click
    assert page.errors == [], "\n".join(page.errors)


async def test_a_tabs_message_stands_beside_its_form_in_the_pages_language(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Olena (Ukrainian) on the Reminders tab
    page, _ = await signed_in(browser, served.base, "Olena Kovalenko")
    await page.get_by_role("tab", name="Нагадування").click()
    after = page.get_by_label("Через (хвилин)")
    await expect(after).not_to_have_value("")  # the tab has loaded
    saved = page.locator("#reminder-form").get_by_role("status")

    # when she asks for more than the service allows, the form says so before sending anything
    await after.fill("481")
    sent: list[str] = []
    page.on("request", lambda r: "updateReminderSettings" in (r.post_data or "") and sent.append(r.url))
    await page.locator("#reminder-form button[type=submit]").click()
    assert await after.evaluate("i => i.validity.rangeOverflow")
    await page.wait_for_timeout(300)
    assert sent == []

    # when the service cannot be reached, the form says so beside itself, in Ukrainian
    await after.fill("5")
    await page.route("**/graphql", lambda route: route.abort())
    await page.locator("#reminder-form button[type=submit]").click()
    await expect(saved).to_have_text("Сервіс недоступний. Спробуйте ще раз за мить.")
    await expect(saved).to_be_visible()
    await expect(page.locator("#status")).not_to_contain_text("Сервіс")

    # and the next save that succeeds replaces the error
    await page.unroute("**/graphql")
    await page.locator("#reminder-form button[type=submit]").click()
    await expect(saved).to_have_text("Збережено")
    await expect(saved).not_to_have_class("tab-status error")
