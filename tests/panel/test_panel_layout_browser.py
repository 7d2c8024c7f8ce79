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


async def test_keyboard_and_screen_reader_details_and_the_demo_samples(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Anna signed in: the keyboard starts at the history's heading
    page, demo = await signed_in(browser, served.base, "Anna Shevchenko")
    await expect(page.locator("#history-title")).to_be_focused()
    bell = page.locator("#bell")
    assert await bell.get_attribute("aria-expanded") is None and await bell.locator("svg").count() == 1
    assert await page.locator("#items").get_attribute("aria-live") is None

    # a banner closes from the keyboard, and closing it does not read its item
    await publish(served.base, demo["service"], "op-anna", 7201)
    await expect(page.locator("#announce")).to_have_text("New ticket #7201")  # the live item is announced
    close = page.get_by_role("button", name="Close: New ticket #7201")
    await close.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator(".toast")).to_have_count(0)
    await expect(page.locator(".item.unread", has_text="#7201")).to_have_count(1)

    # the demo publisher sends a CSAT and an SLA sample too
    await page.get_by_role("button", name="A CSAT rating of 2/5").click()
    await page.get_by_role("button", name="An SLA breach").click()
    # (by its whole title: an item's date on 5 December, "12/5/2026", also holds "2/5")
    await expect(page.locator(".item", has_text="Negative rating: 2/5")).to_have_count(1)
    await expect(page.locator(".item", has_text="SLA breached")).to_have_count(1)

    # a channel the instance does not offer is shown off, not ticked
    for kind in ("TELEGRAM", "VIBER", "WHATSAPP"):
        box = page.locator(f'#channel-list [data-kind="{kind}"] input')
        if await box.count():
            await expect(box).not_to_be_checked()

    # bulk actions: a search keeps the selection, "select all shown", a search with no match says so
    await page.get_by_role("tab", name="Notification types").click()
    await page.get_by_role("checkbox", name="Select Ticket created").check()
    await page.locator("#type-search").fill("chat")
    await expect(page.locator('fieldset.type-row[data-code="ticket_created"]')).to_have_count(0)
    await expect(page.locator("#bulk-count")).to_have_text("1 selected")
    await page.get_by_role("button", name="Select all shown").click()
    shown = await page.locator("fieldset.type-row").count()
    await expect(page.locator("#bulk-count")).to_have_text(f"{shown + 1} selected")
    await page.locator("#type-search").fill("zzz-no-such-type")
    await expect(page.locator(".no-match")).to_have_text("No notification type matches “zzz-no-such-type”.")

    # "Set channels" with none ticked asks first; declined, nothing changes
    await page.locator("#type-search").fill("")
    await expect(page.locator('fieldset.type-row[data-code="ticket_created"]')).to_have_count(1)
    asked: list[str] = []

    async def decline(dialog: object) -> None:
        asked.append(dialog.message)  # type: ignore[attr-defined]
        await dialog.dismiss()  # type: ignore[attr-defined]

    page.once("dialog", decline)
    await page.locator("#bulk-form").get_by_role("button", name="Apply").click()
    await expect(page.locator("#bulk-result")).to_have_text("")
    for _ in range(20):
        if asked:
            break
        await page.wait_for_timeout(100)
    assert "turn every channel off" in asked[0]
    await expect(page.locator('fieldset.type-row[data-code="ticket_created"]').get_by_label("Bell")).to_be_checked()
    assert page.errors == [], "\n".join(page.errors)


async def test_a_tall_window_still_reaches_every_older_notification(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    from tests.panel.steps import demo_users, gql, token_of

    # given Anna with 70 tickets: three and a half pages of the history
    demo = demo_users(served.base)
    events = [
        {"id": f"tall-{i}", "type": "ticket_created", "recipients": ["op-anna"], "data": {"ticketNumber": 8000 + i}}
        for i in range(70)
    ]
    many = "mutation($e: [EventInput!]!) { publishEvents(inputs: $e) { notificationCount } }"
    await gql(served.base, demo["service"], many, {"e": events})
    listed = await gql(served.base, token_of(demo, "op-anna"), "{ notifications(first: 100) { edges { cursor } } }")
    total = len(listed["notifications"]["edges"])
    assert total >= 70

    # when she opens the panel on a very tall window (the first page leaves no scrollbar)
    page, _ = await signed_in(browser, served.base, "Anna Shevchenko", viewport={"width": 1400, "height": 2400})
    items = page.locator("#items .item")
    # then the page loads on until the list can scroll, and a button loads the rest by keyboard too
    await expect(items.nth(20)).to_be_attached()
    more = page.get_by_role("button", name="Load older notifications")
    while await items.count() < total:
        await expect(more).to_be_visible()
        before = await items.count()
        await more.focus()
        await page.keyboard.press("Enter")
        await expect(items).not_to_have_count(before)
    await expect(items).to_have_count(total)
    await expect(more).to_be_hidden()


async def test_at_a_narrow_width_the_banners_leave_the_history_controls_reachable(
    served: DemoServe, browser: object
) -> None:
    from playwright.async_api import expect

    page, demo = await signed_in(browser, served.base, "Taras Melnyk", viewport={"width": 1000, "height": 800})
    for number in (7201, 7202, 7203):
        await publish(served.base, demo["service"], "op-taras", number)
    await expect(page.locator(".toast")).to_have_count(3)
    for control in ("#read-all", "#category"):
        box = await page.locator(control).bounding_box()
        assert box is not None
        under = await page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y)?.id",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert under == control[1:], f"{control} is covered by {under}"


async def test_each_user_of_a_shared_browser_keeps_their_own_language(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Taras (an English locale) who switched this browser's page to Ukrainian
    page, _ = await signed_in(browser, served.base, "Taras Melnyk")
    await page.locator("#locale").select_option("uk")
    await expect(page.locator("#tab-types")).to_have_text("Типи сповіщень")
    context = page.context

    async def sign_in_here(name: str) -> object:
        other = await context.new_page()  # same browser: same storage, a fresh sign-in
        await other.goto(f"{served.base}/panel/")
        await other.get_by_role("button", name=name).click()
        await expect(other.locator("#history")).to_be_visible()
        return other

    # when Anna (English, no choice of her own) signs in on the same browser: her own locale
    anna = await sign_in_here("Anna Shevchenko")
    await expect(anna.locator("#tab-types")).to_have_text("Notification types")
    await expect(anna.locator("#locale")).to_have_value("en")
    # and Olena (Ukrainian) gets Ukrainian, and Taras again his choice
    olena = await sign_in_here("Olena Kovalenko")
    await expect(olena.locator("#tab-types")).to_have_text("Типи сповіщень")
    taras = await sign_in_here("Taras Melnyk")
    await expect(taras.locator("#locale")).to_have_value("uk")
    await expect(taras.locator("#tab-types")).to_have_text("Типи сповіщень")


async def test_a_save_refused_because_the_center_was_switched_off_turns_the_page_simplified(
    served: DemoServe, browser: object
) -> None:
    from playwright.async_api import expect

    from tests.panel.steps import gql, token_of

    center = """mutation($on: Boolean!) {
      updateInstanceSettings(input: {notificationCenterEnabled: $on}) { notificationCenterEnabled } }"""
    # given Anna on the Notification types tab, and then the administrator switching the Center off
    page, demo = await signed_in(browser, served.base, "Anna Shevchenko")
    await page.get_by_role("tab", name="Notification types").click()
    row = page.locator('fieldset.type-row[data-code="ticket_created"]')
    await expect(row).to_be_visible()
    admin = token_of(demo, "adm-petro")
    await gql(served.base, admin, center, {"on": False})
    try:
        # when she changes the type (the page has not heard of the switch yet)
        await row.get_by_label("Banner").click()
        # then the refusal turns the page into the simplified screen, without the developers' message
        await expect(page.locator("#classic")).to_be_visible()
        await expect(page.locator("#profile")).to_be_hidden()
        await expect(page.get_by_text("use classicSettings instead")).to_have_count(0)
    finally:
        await gql(served.base, admin, center, {"on": True})


async def test_a_phone_width_keeps_the_bell_and_its_badge_on_screen(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    page, _ = await signed_in(browser, served.base, "Olena Kovalenko", viewport={"width": 320, "height": 700})
    bell = page.locator("#bell")
    await expect(bell).to_be_visible()
    box = await bell.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 320, box
    assert await page.evaluate("document.documentElement.scrollWidth") <= 320
    # and the language control is named in the page's language
    await expect(page.get_by_role("combobox", name="Мова")).to_be_visible()


async def test_the_badge_counts_every_unread_item_whatever_the_filter(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    page, demo = await signed_in(browser, served.base, "Taras Melnyk")
    await publish(served.base, demo["service"], "op-taras", 7301)
    await publish(served.base, demo["service"], "op-taras", 0, type_code="csat_received", data={"score": 5})
    badge = page.locator("#badge")
    total = await gql_unread(served.base, demo)
    await expect(badge).to_have_text(str(total))
    await page.locator("#category").select_option("csat")
    await expect(page.locator("#items .item").first).to_contain_text("New rating")
    await expect(badge).to_have_text(str(total))


async def gql_unread(base: str, demo: dict) -> int:
    from tests.panel.steps import gql, token_of

    return int((await gql(base, token_of(demo, "op-taras"), "{ unreadCount }"))["unreadCount"])


async def test_demo_users_that_cannot_be_loaded_are_reported(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    page = await (await browser.new_context()).new_page()  # type: ignore[attr-defined]
    await page.route("**/panel/demo-users", lambda route: route.fulfill(status=500, body="down"))
    await page.goto(f"{served.base}/panel/")
    await expect(page.get_by_text("The demo users could not be loaded")).to_be_visible()
    await expect(page.locator("#token-input")).to_be_visible()
