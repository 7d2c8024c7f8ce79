"""Attention routing on the panel page in Chromium against `serve --demo`: "When to send" per
external channel on the Channels tab (a refused choice shows the service's error beside it), the
working hours (time zone and weekly spans) read back through the API, the routing badges on the
Notification types tab, the administrator's routing (the instance's modes and digest window, a
type's urgent switch and modes), and the page's activity signal, which stops quietly on a service
without it.

This module's server has its own demo instance: an administrator configures a bot and policies here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.panel.steps import demo_users, gql, signed_in, token_of
from tests.panel.test_panel_accessibility_browser import _serious_violations
from tests.served import DemoServe, start_demo_serve

pytestmark = pytest.mark.browser

BOTS = """mutation($bots: [BotChannelConfigInput!]!) {
  updateInstanceSettings(input: {botChannels: $bots}) { botChannels { channel enabled } } }"""
TELEGRAM = {"channel": "TELEGRAM", "enabled": True, "settings": {"botUsername": "nc_demo_bot"}, "secret": "123:tg"}
ROUTING = "{ channelSettings { channels { kind routingMode escalateAfterMinutes } } }"
HOURS = "{ workingHours { timezone days { day from to } } }"
INSTANCE = """{ instanceSettings { routing { channel mode escalateAfterMinutes } digestWindowSeconds
  mandatoryChannelsBypassRouting typePolicies { typeCode alwaysOn digestWindowSeconds
  routing { channel mode escalateAfterMinutes } } } }"""
PRESENCE = "{ panelPresence { panelOpen active } }"
#: Make the page hidden, or visible again, as a browser does when its tab is switched.
SHOW = """(state) => {
  Object.defineProperty(document, "visibilityState", { value: state, configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServe]:
    demo = start_demo_serve(tmp_path_factory.mktemp("panel-routing"))
    try:
        yield demo
    finally:
        demo.stop()


def _modes(data: dict[str, Any]) -> dict[str, tuple[str | None, int | None]]:
    return {
        c["kind"]: (c["routingMode"], c["escalateAfterMinutes"])
        for c in data["channelSettings"]["channels"]
        if c["routingMode"]
    }


async def test_the_channels_tab_sets_when_away_and_a_wait_without_minutes_is_refused_beside_it(
    served: DemoServe, browser: object
) -> None:
    from playwright.async_api import expect

    # given an administrator who offers Telegram, and Taras on the Channels tab
    page, demo = await signed_in(browser, served.base, "Taras Melnyk", bypass_csp=True)  # axe is injected below
    await gql(served.base, token_of(demo, "adm-petro"), BOTS, {"bots": [TELEGRAM]})
    await page.reload()
    form = page.locator("#routing-form")
    telegram = form.get_by_label("Telegram: when to send")
    await expect(telegram).to_have_value("")  # as the policy says
    await expect(form.locator(".routing-row")).to_have_count(2)  # the browser and Telegram: the others are not offered

    # when he sends Telegram only when he is away from the panel
    await telegram.select_option(label="Only when I'm away from the panel")
    await form.get_by_role("button", name="Save").click()

    # then the page says so and the API reports it
    await expect(page.locator("#routing-status")).to_have_text("Saved")
    taras = token_of(demo, "op-taras")
    assert _modes(await gql(served.base, taras, ROUTING)) == {"TELEGRAM": ("WHEN_AWAY", None)}

    # when the browser is to wait for a read that has no minutes
    browser_mode = form.get_by_label("Browser: when to send")
    await browser_mode.select_option("ESCALATE_AFTER")
    minutes = form.get_by_label("Browser: Minutes (1–10080)")
    await expect(minutes).to_be_visible()
    await form.get_by_role("button", name="Save").click()

    # then the service's message and code stand beside the browser's choice, which stays chosen
    error = form.locator('[data-field="routing.BROWSER"] .field-error')
    await expect(error).to_contain_text("needs escalateAfterMinutes between 1 and 10080")
    await expect(error).to_contain_text("BAD_USER_INPUT")
    await expect(browser_mode).to_have_attribute("aria-invalid", "true")
    await expect(browser_mode).to_have_value("ESCALATE_AFTER")
    await expect(form.locator('[data-field="routing.TELEGRAM"] .field-error')).to_be_hidden()
    assert await _serious_violations(page, "#channels") == []  # the error shown, as axe sees it
    assert _modes(await gql(served.base, taras, ROUTING)) == {"TELEGRAM": ("WHEN_AWAY", None)}

    # and with ten minutes it is saved, Telegram's choice untouched, and shown after a reload
    await minutes.fill("10")
    await form.get_by_role("button", name="Save").click()
    await expect(page.locator("#routing-status")).to_have_text("Saved")
    await expect(error).to_be_hidden()
    assert _modes(await gql(served.base, taras, ROUTING)) == {
        "BROWSER": ("ESCALATE_AFTER", 10),
        "TELEGRAM": ("WHEN_AWAY", None),
    }
    await page.reload()
    await expect(page.get_by_label("Browser: when to send")).to_have_value("ESCALATE_AFTER")
    await expect(page.get_by_label("Browser: Minutes (1–10080)")).to_have_value("10")
    await expect(page.get_by_label("Telegram: when to send")).to_have_value("WHEN_AWAY")

    # and back to the policy's
    await page.get_by_label("Telegram: when to send").select_option("")
    await page.locator("#routing-form").get_by_role("button", name="Save").click()
    await expect(page.locator("#routing-status")).to_have_text("Saved")
    assert _modes(await gql(served.base, taras, ROUTING)) == {"BROWSER": ("ESCALATE_AFTER", 10)}
    assert page.errors == [], "\n".join(page.errors)


async def test_working_hours_saved_on_the_page_are_what_the_api_reads_back(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Olena (Ukrainian) in Kyiv with no working hours: any time, this browser's time zone offered
    page, demo = await signed_in(browser, served.base, "Olena Kovalenko", timezone_id="Europe/Kyiv", bypass_csp=True)
    form = page.locator("#hours-form")
    await expect(form.get_by_label("Часовий пояс")).to_have_value("Europe/Kyiv")
    await expect(form.locator("#hours-any")).to_be_visible()
    await expect(form).to_contain_text("термінові типи надходять одразу")

    # when she adds Monday 09:00-18:00 and, the next row, Tuesday evening to midnight (00:00)
    await form.get_by_role("button", name="Додати години").click()
    await form.get_by_role("button", name="Додати години").click()
    first, second = form.locator(".span-row").nth(0), form.locator(".span-row").nth(1)
    await expect(first.get_by_label("День")).to_have_value("MONDAY")
    await expect(second.get_by_label("День")).to_have_value("TUESDAY")
    await second.get_by_label("З").fill("22:00")
    await second.get_by_label("До").fill("00:00")
    await form.get_by_role("button", name="Зберегти").click()

    # then they are saved, and the API reads them back (midnight as the day's end)
    await expect(page.locator("#hours-status")).to_have_text("Збережено")
    olena = token_of(demo, "op-olena")
    assert (await gql(served.base, olena, HOURS))["workingHours"] == {
        "timezone": "Europe/Kyiv",
        "days": [
            {"day": "MONDAY", "from": "09:00", "to": "18:00"},
            {"day": "TUESDAY", "from": "22:00", "to": "24:00"},
        ],
    }

    # when a third span ends before it starts, and the time zone is not one
    await form.get_by_role("button", name="Додати години").click()
    third = form.locator(".span-row").nth(2)
    await third.get_by_label("З").fill("18:00")
    await third.get_by_label("До").fill("09:00")
    await form.get_by_label("Часовий пояс").fill("Mars/Olympus")
    await form.get_by_role("button", name="Зберегти").click()

    # then the service's message stands beside the time zone, nothing changed
    await expect(form.locator('[data-field="timezone"] .field-error')).to_contain_text("Mars/Olympus")
    await expect(form.get_by_label("Часовий пояс")).to_have_attribute("aria-invalid", "true")
    # and with the zone put right, the span's own error stands under its row
    await form.get_by_label("Часовий пояс").fill("Europe/Kyiv")
    await form.get_by_role("button", name="Зберегти").click()
    await expect(third.locator(".field-error")).to_contain_text("09:00 is not after 18:00")
    await expect(form.locator('[data-field="timezone"] .field-error')).to_be_hidden()
    assert await _serious_violations(page, "#hours-form") == []
    assert len((await gql(served.base, olena, HOURS))["workingHours"]["days"]) == 2

    # when she removes it and reloads: the saved spans are shown (midnight as 00:00)
    await form.get_by_role("button", name="Прибрати години 3").click()
    await page.reload()
    form = page.locator("#hours-form")
    await expect(form.locator(".span-row")).to_have_count(2)
    await expect(form.locator(".span-row").nth(1).get_by_label("До")).to_have_value("00:00")

    # and removing every span is "any time" again
    await form.get_by_role("button", name="Прибрати години 2").click()
    await form.get_by_role("button", name="Прибрати години 1").click()
    await expect(form.locator("#hours-any")).to_be_visible()
    await form.get_by_role("button", name="Зберегти").click()
    await expect(page.locator("#hours-status")).to_have_text("Збережено")
    assert (await gql(served.base, olena, HOURS))["workingHours"]["days"] == []
    assert page.errors == [], "\n".join(page.errors)


async def test_the_types_tab_shows_how_each_external_channel_sends(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Anna's tickets also go to the browser, which she asks to send only when she is away,
    # and chats (also to the browser) made urgent by the administrator
    page, demo = await signed_in(browser, served.base, "Anna Shevchenko")
    anna, petro = token_of(demo, "op-anna"), token_of(demo, "adm-petro")
    for code in ("ticket_created", "chat_created"):
        await gql(
            served.base,
            anna,
            "mutation($c: ID!) { setTypeChannels(typeCode: $c, channels: [BELL, BANNER, BROWSER]) { code } }",
            {"c": code},
        )
    await gql(
        served.base,
        anna,
        "mutation { updateChannelSettings(input: {routing: [{channel: BROWSER, mode: WHEN_AWAY}]}) { banner { maxVisible } } }",
    )
    await gql(
        served.base,
        petro,
        'mutation { setTypePolicy(input: {typeCode: "chat_created", alwaysOn: true}) { typeCode } }',
    )

    # when she opens the Notification types tab
    await page.reload()
    await page.get_by_role("tab", name="Notification types").click()

    # then the browser's badge says how it sends, with the service's words as its tooltip
    ticket = page.locator('fieldset.type-row[data-code="ticket_created"]')
    badge = ticket.locator('.route-badge[data-channel="BROWSER"]')
    await expect(badge).to_have_text("when away")
    await expect(badge).to_have_attribute(
        "title", re.compile(r"Sent only when you have no active panel open \(your choice\)\.$")
    )
    await expect(
        ticket.locator('.route-badge[data-channel="BELL"], .route-badge[data-channel="BANNER"]')
    ).to_have_count(0)
    chat = page.locator('fieldset.type-row[data-code="chat_created"]')
    await expect(chat.locator('.route-badge[data-channel="BROWSER"]')).to_have_text("urgent")
    await expect(chat.locator('.route-badge[data-channel="BROWSER"]')).to_have_attribute("data-mode", "URGENT")

    # when she makes the browser wait ten minutes for a read on the Channels tab
    await page.get_by_role("tab", name="Channels").click()
    await page.get_by_label("Browser: when to send").select_option("ESCALATE_AFTER")
    await page.get_by_label("Browser: Minutes (1–10080)").fill("10")
    await page.locator("#routing-form").get_by_role("button", name="Save").click()
    await expect(page.locator("#routing-status")).to_have_text("Saved")

    # then the types tab follows, in either language
    await page.get_by_role("tab", name="Notification types").click()
    await expect(ticket.locator('.route-badge[data-channel="BROWSER"]')).to_have_text("after 10 min")
    await page.locator("#locale").select_option("uk")
    await expect(
        page.locator('fieldset.type-row[data-code="ticket_created"] .route-badge[data-channel="BROWSER"]')
    ).to_have_text("через 10 хв")
    assert page.errors == [], "\n".join(page.errors)


async def test_the_administrator_sets_routing_for_the_instance_and_a_type(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Petro on the administrator screen
    page, demo = await signed_in(browser, served.base, "Petro Tkachenko")
    await page.get_by_role("tab", name="Administration").click()
    instance = page.locator('#admin form[data-part="instance"]')
    await expect(instance).to_be_visible()
    window = instance.get_by_label("Digest window in seconds (0: off)")
    await expect(window).to_have_value("0")

    # when a digest window beyond a day is saved, the service's message stands beside it
    await window.fill("90000")
    await instance.get_by_role("button", name="Save").click()
    error = instance.locator('[data-field="digestWindowSeconds"] .field-error')
    await expect(error).to_contain_text("between 0 (no digests) and 86400")
    await expect(error).to_contain_text("BAD_USER_INPUT")

    # when a minute's window, the browser's default "only when away" and the mandatory bypass are saved
    await window.fill("60")
    await instance.get_by_label("Browser: when to send").select_option("WHEN_AWAY")
    await instance.get_by_label("Mandatory channels send at once").check()
    await instance.get_by_role("button", name="Save").click()
    await expect(page.locator("#admin .admin-status")).to_have_text("Saved")

    # and the SLA type gets its own window and Email's wait of a quarter of an hour
    policy = page.locator('#admin details[data-type="sla_expired"]')
    await policy.locator("summary").click()
    await policy.get_by_label("Digest window in seconds for this type").fill("30")
    await policy.get_by_label("Email: when to send").select_option("ESCALATE_AFTER")
    await policy.get_by_label("Email: Minutes (1–10080)").fill("15")
    await policy.get_by_role("button", name="Save").click()
    await expect(page.locator("#admin .admin-status")).to_have_text("Saved")

    # then the API reads back what was saved
    petro = token_of(demo, "adm-petro")
    settings = (await gql(served.base, petro, INSTANCE))["instanceSettings"]
    assert settings["digestWindowSeconds"] == 60 and settings["mandatoryChannelsBypassRouting"] is True
    assert settings["routing"] == [{"channel": "BROWSER", "mode": "WHEN_AWAY", "escalateAfterMinutes": None}]
    sla = next(p for p in settings["typePolicies"] if p["typeCode"] == "sla_expired")
    assert sla["alwaysOn"] is False and sla["digestWindowSeconds"] == 30, json.dumps(sla)
    assert sla["routing"] == [{"channel": "EMAIL", "mode": "ESCALATE_AFTER", "escalateAfterMinutes": 15}]

    # when the type's window is emptied: the instance's again (the page sends -1), the rest untouched
    await page.reload()
    await page.get_by_role("tab", name="Administration").click()
    policy = page.locator('#admin details[data-type="sla_expired"]')
    await policy.locator("summary").click()
    await expect(policy.get_by_label("Email: Minutes (1–10080)")).to_have_value("15")
    # made urgent (never digested), its window emptied: the instance's again (the page sends -1)
    await policy.get_by_label("Urgent: always send at once, also outside working hours").check()
    await policy.get_by_label("Digest window in seconds for this type").fill("")
    await policy.get_by_role("button", name="Save").click()
    await expect(policy.locator("summary")).to_contain_text("urgent")
    await expect(page.locator("#admin .admin-status")).to_have_text("Saved")
    settings = (await gql(served.base, petro, INSTANCE))["instanceSettings"]
    sla = next(p for p in settings["typePolicies"] if p["typeCode"] == "sla_expired")
    assert sla["digestWindowSeconds"] is None and sla["alwaysOn"] is True and len(sla["routing"]) == 1
    assert page.errors == [], "\n".join(page.errors)


async def test_the_activity_signal_says_active_on_input_and_inactive_while_hidden(
    served: DemoServe, browser: object
) -> None:
    from playwright.async_api import expect

    context = await browser.new_context()  # type: ignore[attr-defined]
    sent: list[dict[str, Any]] = []
    context.on(
        "request",
        lambda r: "reportPanelActivity" in (r.post_data or "") and sent.append(json.loads(r.post_data)["variables"]),
    )
    page = await context.new_page()
    inits: list[dict[str, Any]] = []

    def frame(payload: str | bytes) -> None:
        message = json.loads(payload)
        if message.get("type") == "connection_init":
            inits.append(message["payload"])

    page.on("websocket", lambda ws: ws.on("framesent", frame))
    token = token_of(demo_users(served.base), "sup-iryna")

    # when Iryna signs in, the page in view says she is active, and the service sees her panel active
    await page.goto(f"{served.base}/panel/")
    async with page.expect_response(lambda r: "reportPanelActivity" in (r.request.post_data or "")):
        await page.get_by_role("button", name="Iryna Bondar").click()
    await expect(page.locator("#status")).to_have_text("Наживо")
    # the page names its tab: the same id in the reports and in the WebSocket's connectionParams
    tab = sent[0]["tab"]
    assert re.fullmatch(r"[0-9a-f-]{32,36}", tab)
    assert [init["tab"] for init in inits] == [tab]
    assert sent == [{"active": True, "tab": tab}]
    assert (await gql(served.base, token, PRESENCE))["panelPresence"] == {"panelOpen": True, "active": True}

    # when she types within the minute: nothing more is sent
    await page.keyboard.press("Tab")
    await page.wait_for_timeout(300)
    assert sent == [{"active": True, "tab": tab}]

    # when the page goes hidden: inactive at once, the panel still open
    async with page.expect_response(lambda r: "reportPanelActivity" in (r.request.post_data or "")):
        await page.evaluate(SHOW, "hidden")
    assert sent[-1] == {"active": False, "tab": tab}
    assert (await gql(served.base, token, PRESENCE))["panelPresence"] == {"panelOpen": True, "active": False}

    # and when it is back in view: active again
    async with page.expect_response(lambda r: "reportPanelActivity" in (r.request.post_data or "")):
        await page.evaluate(SHOW, "visible")
    assert sent == [{"active": True, "tab": tab}, {"active": False, "tab": tab}, {"active": True, "tab": tab}]
    assert (await gql(served.base, token, PRESENCE))["panelPresence"]["active"] is True

    # a reload is a new tab, with an id of its own
    await page.reload()
    await expect(page.locator("#status")).to_have_text("Наживо")
    assert len(inits) == 2 and inits[1]["tab"] != tab
    await context.close()
