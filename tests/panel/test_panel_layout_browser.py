"""The panel's layout holds with what publishers send: a banner and a bell item stay a few lines
high and inside their box for a very long or unbroken subject, and the banners' column does not
cover the history's controls at a common laptop width. Its own server (module scope)."""

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
