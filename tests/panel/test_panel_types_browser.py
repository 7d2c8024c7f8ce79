"""The Notification types tab in Chromium against `serve --demo`: a read-only row says why (its
reason and each channel's decision from channelDecisions), bulk actions report the rows they
skipped and why, a melody per type is played with the type's banner, and the "temporarily
unavailable" notice follows the administrator's type policy.

This module's server has its own demo instance: an administrator changes type policies here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.panel.steps import gql, publish, signed_in, token_of
from tests.served import DemoServe, start_demo_serve

pytestmark = pytest.mark.browser

TYPE_POLICY = """mutation($input: TypePolicyInput!) { setTypePolicy(input: $input) { typeCode availability } }"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServe]:
    demo = start_demo_serve(tmp_path_factory.mktemp("panel-types"))
    try:
        yield demo
    finally:
        demo.stop()


def row(page: object, code: str) -> object:
    return page.locator(f'fieldset.type-row[data-code="{code}"]')  # type: ignore[attr-defined]


async def test_a_read_only_row_shows_its_reason_from_the_channel_decisions(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given an instance whose extended types are off (the default): csat_negative is view only
    page, _ = await signed_in(browser, served.base, "Taras Melnyk")
    await page.get_by_role("tab", name="Notification types").click()
    negative = row(page, "csat_negative")

    # then its channels cannot be changed, and the row says why, channel by channel
    await expect(negative).to_have_attribute("data-availability", "VIEW_ONLY")
    await expect(negative.get_by_label("Bell")).to_be_disabled()
    await expect(negative.locator(".reason")).to_have_text(
        "View only: extended settings for this type are off on your instance."
    )
    await expect(negative.locator('.why li[data-channel="BELL"]')).to_have_text(
        "Bell: On: a default channel for this type."
    )
    await expect(negative.locator('.why li[data-channel="SOUND"]')).to_contain_text("Sound: Off")
    # an editable row has no such note
    await expect(row(page, "ticket_created").locator(".reason, .why")).to_have_count(0)
    assert page.errors == [], "\n".join(page.errors)


async def test_a_bulk_action_sets_the_selected_rows_and_explains_the_skipped_ones(
    served: DemoServe, browser: object
) -> None:
    from playwright.async_api import expect

    # given Anna selects two editable types and a view-only one
    page, _ = await signed_in(browser, served.base, "Anna Shevchenko")
    await page.get_by_role("tab", name="Notification types").click()
    for title in ("Ticket created", "Chat created", "Negative CSAT"):
        await page.get_by_role("checkbox", name=f"Select {title}").check()
    await expect(page.locator("#bulk-count")).to_have_text("3 selected")

    # when she sets their channels to the bell only
    form = page.locator("#bulk-form")
    await form.get_by_label("Action").select_option("SET_CHANNELS")
    await form.get_by_label("Bell").check()
    await form.get_by_role("button", name="Apply").click()

    # then two rows were changed and the third was skipped, with the reason in words
    result = page.locator("#bulk-result")
    await expect(result).to_contain_text("Updated 2, skipped 1.")
    await expect(result.locator('li[data-code="csat_negative"]')).to_have_text(
        "Negative CSAT: view only on this instance (extended settings are off)"
    )
    for code in ("ticket_created", "chat_created"):
        await expect(row(page, code).get_by_label("Bell")).to_be_checked()
        await expect(row(page, code).get_by_label("Banner")).not_to_be_checked()
    await expect(row(page, "csat_negative").get_by_label("Banner")).to_be_checked()  # untouched
    await page.reload()
    await expect(row(page, "ticket_created").get_by_label("Banner")).not_to_be_checked()
    assert page.errors == [], "\n".join(page.errors)


async def test_a_melody_per_type_is_kept_and_played_with_its_banner(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Olena with sound switched on, and SOUND chosen for tickets created
    page, demo = await signed_in(browser, served.base, "Olena Kovalenko")
    sound = page.locator('#channel-list [data-kind="SOUND"] input')
    if not await sound.is_checked():
        await sound.check()
        await expect(page.locator("#channels-status")).to_have_text("Збережено")
    await page.get_by_role("tab", name="Типи сповіщень").click()
    await row(page, "ticket_created").get_by_label("Звук").check()

    # when she picks the "Marimba" melody for that type
    melody = row(page, "ticket_created").get_by_label("Мелодія")
    await melody.select_option(label="Марімба")
    await expect(row(page, "ticket_created").locator(".row-status")).to_have_text("Збережено")
    await page.reload()
    await expect(row(page, "ticket_created").get_by_label("Мелодія")).to_have_value("marimba")
    await expect(row(page, "ticket_created").get_by_label("Звук")).to_be_checked()  # the melody kept the channels

    # then a new ticket's banner plays that melody, not her default one
    await page.locator("body").click()  # the browser starts audio only after the user touched the page
    await publish(served.base, demo["service"], "op-olena", 8101)
    await expect(page.locator(".toast", has_text="8101")).to_be_visible()
    await expect(page.locator("body")).to_have_attribute("data-last-melody", "marimba")
    assert page.errors == [], "\n".join(page.errors)


async def test_a_type_the_administrator_made_unavailable_brings_the_notice(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    page, demo = await signed_in(browser, served.base, "Iryna Bondar")
    await page.get_by_role("tab", name="Типи сповіщень").click()
    await expect(page.locator("#unavailable-notice")).to_be_hidden()

    # when an administrator marks "Ticket reopened" unavailable
    admin = token_of(demo, "adm-petro")
    await gql(
        served.base, admin, TYPE_POLICY, {"input": {"typeCode": "ticket_reopened", "availability": "UNAVAILABLE"}}
    )
    try:
        await page.reload()
        # then the tab says some types are temporarily unavailable, and the row says it is one
        notice = page.locator("#unavailable-notice")
        await expect(notice).to_be_visible()
        await expect(notice).to_contain_text("тимчасово недоступні")
        reopened = row(page, "ticket_reopened")
        await expect(reopened).to_have_attribute("data-availability", "UNAVAILABLE")
        await expect(reopened.locator(".reason")).to_contain_text("Тимчасово недоступний")
        await expect(reopened.locator('.why li[data-channel="BELL"]')).to_contain_text("тимчасово недоступний")
    finally:
        await gql(
            served.base, admin, TYPE_POLICY, {"input": {"typeCode": "ticket_reopened", "availability": "AVAILABLE"}}
        )
    assert page.errors == [], "\n".join(page.errors)


async def test_a_types_row_shows_only_what_the_server_saved(served: DemoServe, browser: object) -> None:
    import asyncio

    from playwright.async_api import expect

    page, demo = await signed_in(browser, served.base, "Taras Melnyk")
    await page.get_by_role("tab", name="Notification types").click()
    ticket = row(page, "ticket_created")
    await expect(ticket.get_by_label("Sound")).not_to_be_checked()
    await expect(ticket.get_by_label("Browser")).not_to_be_checked()

    async def slow(route: object) -> None:
        if "setTypeChannels" in (route.request.post_data or ""):  # type: ignore[attr-defined]
            await asyncio.sleep(1.0)
        await route.continue_()  # type: ignore[attr-defined]

    # given a slow network, when Taras ticks Sound and then Browser at once
    await page.route("**/graphql", slow)
    await ticket.get_by_label("Sound").check()
    await ticket.get_by_label("Browser").check()

    # then the page ends up with what the server saved: both
    await expect(ticket.get_by_label("Browser")).to_be_checked(timeout=5_000)
    await expect(ticket.get_by_label("Sound")).to_be_checked()
    await expect(ticket).not_to_have_attribute("aria-busy", "true")
    types = await gql(served.base, token_of(demo, "op-taras"), "{ notificationTypes { code channels } }")
    saved = next(t["channels"] for t in types["notificationTypes"] if t["code"] == "ticket_created")
    assert "SOUND" in saved and "BROWSER" in saved, saved
    await page.unroute("**/graphql")

    # when the service cannot be reached, a change is refused and the row shows the saved state again
    await page.route("**/graphql", lambda route: route.abort())
    await ticket.get_by_label("Sound").click()
    await expect(ticket.locator(".row-status")).to_have_text("The service cannot be reached. Try again in a moment.")
    await expect(ticket.get_by_label("Sound")).to_be_checked()
    await expect(ticket.get_by_label("Sound")).to_be_enabled()
    await page.unroute("**/graphql")


async def test_the_language_switch_renders_the_apis_words_in_that_language(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Taras, whose token says English, on the Notification types tab
    page, _ = await signed_in(browser, served.base, "Taras Melnyk")
    await page.get_by_role("tab", name="Notification types").click()
    await expect(row(page, "ticket_created").locator("legend")).to_have_text("Ticket created")

    # when he switches the page to Ukrainian
    await page.locator("#locale").select_option("uk")

    # then the types' titles, the categories and the system messages come in Ukrainian
    await expect(row(page, "ticket_created").locator("legend")).to_have_text("Створено тікет")
    await expect(page.locator("#type-list h3").first).to_have_text("Створення та повідомлення")
    await expect(page.locator('#category option[value="changes"]')).to_have_text("Зміни")
    await expect(page.locator("#category option").first).to_have_text("Усі категорії")
    await page.get_by_role("tab", name="Системні повідомлення в чаті").click()
    await expect(page.locator('#system-list label[data-code="fastline_started"]')).to_have_text(
        "Fast Line розпочав діалог"
    )
    assert page.errors == [], "\n".join(page.errors)


async def test_a_row_locks_a_switched_off_or_mandatory_channel_and_says_why(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Petro with Sound switched on and chosen for new tickets
    page, demo = await signed_in(browser, served.base, "Petro Tkachenko")
    sound = page.locator('#channel-list [data-kind="SOUND"] input')
    if not await sound.is_checked():
        await sound.check()
        await expect(page.locator("#channels-status")).to_have_text("Saved")
    await page.get_by_role("tab", name="Notification types").click()
    await row(page, "ticket_created").get_by_label("Sound").check()
    await expect(row(page, "ticket_created").locator(".row-status")).to_have_text("Saved")
    await expect(row(page, "ticket_created").locator(".why")).to_have_count(0)

    # when he switches Sound off on the Channels tab
    await page.get_by_role("tab", name="Channels").click()
    await page.locator('#channel-list [data-kind="SOUND"] input').uncheck()
    await expect(page.locator("#channels-status")).to_have_text("Saved")
    await page.get_by_role("tab", name="Notification types").click()

    # then the type's Sound is locked, and the row says it is off on the Channels tab
    await expect(row(page, "ticket_created").get_by_label("Sound")).to_be_disabled()
    await expect(row(page, "ticket_created").get_by_label("Sound")).not_to_be_checked()
    await expect(row(page, "ticket_created").locator('.why li[data-channel="SOUND"]')).to_contain_text("Sound: Off")
    await expect(row(page, "ticket_created").locator('.why li[data-channel="BELL"]')).to_have_count(0)

    # and once an administrator makes "Chat closed" mandatory, its locked bell says why too
    admin = token_of(demo, "adm-petro")
    await gql(served.base, admin, TYPE_POLICY, {"input": {"typeCode": "chat_closed", "mandatory": True}})
    try:
        await page.reload()
        closed = row(page, "chat_closed")
        await expect(closed.get_by_label("Bell")).to_be_disabled()
        await expect(closed.locator('.why li[data-channel="BELL"]')).to_contain_text("Bell: On")
        await expect(closed.get_by_label("Banner")).to_be_enabled()
    finally:
        await gql(served.base, admin, TYPE_POLICY, {"input": {"typeCode": "chat_closed", "mandatory": False}})
    assert page.errors == [], "\n".join(page.errors)
