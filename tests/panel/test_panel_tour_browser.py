"""A walk through every tab in Chromium against `serve --demo`, in Ukrainian and in English: the
Ukrainian locale renders Ukrainian titles (the page's own words and the API's), and each tab's
screenshot is saved under tests/panel/output/ (gitignored; docs/panel.png is one of them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.panel.steps import SCREENSHOTS, publish, signed_in
from tests.served import DemoServe, start_demo_serve

pytestmark = pytest.mark.browser

TABS = {
    "en": ["Channels", "Notification types", "System messages in chat", "Reminders"],
    "uk": ["Канали", "Типи сповіщень", "Системні повідомлення в чаті", "Нагадування"],
}

PANELS = ["channels", "types", "system", "reminders"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServe]:
    demo = start_demo_serve(tmp_path_factory.mktemp("panel-tour"))
    try:
        yield demo
    finally:
        demo.stop()


async def _screenshot_each_tab(page: object, locale: str) -> list[str]:
    """Open each tab and save its screenshot; the files' names."""
    SCREENSHOTS.mkdir(exist_ok=True)
    names = []
    for number, (tab, panel) in enumerate(zip(TABS[locale], PANELS, strict=True), start=1):
        await page.get_by_role("tab", name=tab).click()  # type: ignore[attr-defined]
        await page.get_by_role("tabpanel", name=tab).wait_for()  # type: ignore[attr-defined]
        name = f"{locale}-{number}-{panel}.png"
        await page.screenshot(path=SCREENSHOTS / name, full_page=True)  # type: ignore[attr-defined]
        names.append(name)
    return names


async def test_the_ukrainian_locale_renders_ukrainian_titles(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Olena, whose locale is Ukrainian, with a new ticket in her bell
    page, demo = await signed_in(browser, served.base, "Olena Kovalenko", viewport={"width": 1200, "height": 900})
    await publish(served.base, demo["service"], "op-olena", 3101, data={"ticketNumber": 3101, "subject": "Принтер"})

    # then the page's words, the type titles and the notification's title are Ukrainian
    await expect(page.locator("html")).to_have_attribute("lang", "uk")
    await expect(page.get_by_role("heading", name="Профіль → Сповіщення")).to_be_visible()
    await expect(page.locator(".item", has_text="Новий тікет #3101")).to_be_visible()
    await expect(page.locator(".toast", has_text="Новий тікет #3101")).to_be_visible()
    await page.get_by_role("tab", name="Типи сповіщень").click()
    await expect(page.locator('fieldset.type-row[data-code="ticket_created"] legend')).to_have_text("Створено тікет")
    await expect(page.locator("#type-list h3").first).to_have_text("Створення та повідомлення")
    await page.get_by_role("tab", name="Системні повідомлення в чаті").click()
    await expect(page.locator("#system-list")).to_contain_text("Fast Line")

    saved = await _screenshot_each_tab(page, "uk")
    assert all((SCREENSHOTS / name).stat().st_size > 10_000 for name in saved)
    assert page.errors == [], "\n".join(page.errors)


async def test_every_tab_in_english_with_a_banner_on_screen(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    page, demo = await signed_in(browser, served.base, "Taras Melnyk", viewport={"width": 1200, "height": 900})
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    for ticket in (4101, 4102):
        await publish(served.base, demo["service"], "op-taras", ticket)
    await page.locator(".item", has_text="#4101").click()  # read: its banner goes
    await expect(page.locator(".toast", has_text="#4101")).to_have_count(0)
    await expect(page.locator(".toast", has_text="#4102")).to_be_visible()

    saved = await _screenshot_each_tab(page, "en")
    assert all((SCREENSHOTS / name).stat().st_size > 10_000 for name in saved)
    assert page.errors == [], "\n".join(page.errors)
