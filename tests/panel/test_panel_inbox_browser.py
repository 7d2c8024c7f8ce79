"""The bell's inbox actions in a real browser against `serve --demo`: mark unread, archive and back,
snooze from the page, and a snoozed item coming back with a banner, live in two tabs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.panel.steps import SCREENSHOTS, gql, publish, signed_in, token_of
from tests.served import start_demo_serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def panel_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    demo = start_demo_serve(tmp_path_factory.mktemp("inbox"), NC_POLL_SECONDS="0.2")
    try:
        yield demo.base
    finally:
        demo.stop()


async def test_mark_unread_archive_and_snooze_from_the_bell_reach_both_tabs(panel_server: str, browser: object) -> None:
    from playwright.async_api import expect

    first, demo = await signed_in(browser, panel_server, "Taras Melnyk")
    second, _ = await signed_in(browser, panel_server, "Taras Melnyk")
    for ticket in (5101, 5102, 5103):
        await publish(panel_server, demo["service"], "op-taras", ticket)
    for page in (first, second):
        await expect(page.locator("#badge")).to_have_text("3")
    row = first.locator("#items > li", has_text="5101")

    # read, then unread again: both tabs follow, and the badge with them
    await row.locator(".item").click()
    await expect(second.locator(".item", has_text="5101")).to_have_class("item")
    await expect(second.locator("#badge")).to_have_text("2")
    await row.get_by_role("button", name="Mark unread: New ticket #5101").click()
    for page in (first, second):
        await expect(page.locator(".item", has_text="5101")).to_have_class("item unread")
        await expect(page.locator("#badge")).to_have_text("3")

    # archive: the item leaves the bell in both tabs; the archive view lists it and brings it back
    await row.get_by_role("button", name="Archive: New ticket #5101").click()
    for page in (first, second):
        await expect(page.locator(".item", has_text="5101")).to_have_count(0)
        await expect(page.locator("#badge")).to_have_text("2")
    await second.locator("#view").select_option("archived")
    archived = second.locator("#items > li", has_text="5101")
    await expect(archived).to_be_visible()
    await archived.get_by_role("button", name="Back to the bell: New ticket #5101").click()
    await expect(second.locator(".item", has_text="5101")).to_have_count(0)  # gone from the archive
    await expect(first.locator("#items > li").nth(2)).to_contain_text("5101")  # back in its place, oldest
    await expect(first.locator("#badge")).to_have_text("3")
    await second.locator("#view").select_option("")

    # snooze from the page: it leaves both tabs and the badge; the snoozed view shows until when
    await (
        first.locator("#items > li", has_text="5102").get_by_role("button", name="Snooze 1 h: New ticket #5102").click()
    )
    for page in (first, second):
        await expect(page.locator(".item", has_text="5102")).to_have_count(0)
        await expect(page.locator("#badge")).to_have_text("2")
    await second.locator("#view").select_option("snoozed")
    await expect(second.locator("#items > li", has_text="5102")).to_contain_text("Snoozed until")
    await second.locator("#view").select_option("")

    # a snooze that ends (2 s, set by another client) brings the item back unread, with a banner
    [edge] = (
        await gql(
            panel_server,
            token_of(demo, "op-taras"),
            "{ notifications(first: 1, filter: {snoozed: true}) { edges { node { id } } } }",
        )
    )["notifications"]["edges"]
    until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    await gql(
        panel_server,
        token_of(demo, "op-taras"),
        "mutation($ids: [ID!]!, $until: DateTime!) { snoozeNotifications(ids: $ids, until: $until) { ids } }",
        {"ids": [edge["node"]["id"]], "until": until},
    )
    for page in (first, second):
        await expect(page.locator(".item.unread", has_text="5102")).to_be_visible(timeout=8000)
        await expect(page.locator(".toast", has_text="5102")).to_be_visible()
        await expect(page.locator("#badge")).to_have_text("3")
    await expect(first.locator("#items > li").nth(1)).to_contain_text("5102")  # in its place
    assert first.errors == [] and second.errors == []
    SCREENSHOTS.mkdir(exist_ok=True)
    await first.locator("#history").screenshot(path=str(SCREENSHOTS / "en-0-bell-inbox.png"))
