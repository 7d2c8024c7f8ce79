"""The Channels tab in Chromium against `serve --demo`: the default melody and the sound a banner
plays through the Web Audio API, the per-channel "Test", and the bot channels' linking (the deep
link, its QR code, the link completed by the bot's webhook, unlinking), and browser notifications
(the service worker shows the browser channel's test push).

This module's server has its own demo instance: an administrator configures bot channels here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.push_service import serve_push_service
from tests.panel.steps import gql, publish, signed_in, token_of
from tests.served import DemoServe, start_demo_serve

pytestmark = pytest.mark.browser

BOTS = """mutation($bots: [BotChannelConfigInput!]!) {
  updateInstanceSettings(input: {botChannels: $bots}) { botChannels { channel enabled } } }"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServe]:
    demo = start_demo_serve(tmp_path_factory.mktemp("panel-channels"), NC_ALLOW_HTTP_ENDPOINTS="1")
    try:
        yield demo
    finally:
        demo.stop()


async def test_the_default_melody_is_saved_and_a_banner_with_sound_plays_it(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    # given Anna on the Channels tab, with sound switched on
    page, demo = await signed_in(browser, served.base, "Anna Shevchenko")
    melody = page.get_by_label("Default melody")
    await expect(melody).to_have_value("default")
    sound = page.locator('#channel-list [data-kind="SOUND"] input')
    if not await sound.is_checked():
        await sound.check()
        await expect(page.locator("#channels-status")).to_have_text("Saved")

    # when she picks "Chime" (the page plays it as a preview) and it is saved
    await melody.select_option(label="Chime")
    await expect(page.locator("#sound-status")).to_have_text("Saved")
    await expect(page.locator("body")).to_have_attribute("data-last-melody", "chime")
    await page.reload()
    await expect(page.get_by_label("Default melody")).to_have_value("chime")

    # and a ticket type of hers goes to SOUND too
    await page.get_by_role("tab", name="Notification types").click()
    row = page.locator('fieldset.type-row[data-code="ticket_created"]')
    await row.get_by_label("Sound").check()
    await expect(page.locator('fieldset.type-row[data-code="ticket_created"]').get_by_label("Sound")).to_be_checked()
    await page.locator("body").click()  # the browser starts audio only after the user touched the page
    await page.evaluate("document.body.dataset.soundsPlayed = '0'; delete document.body.dataset.lastMelody")

    # then the next ticket's banner comes with her melody, and the page has played it to its end
    await publish(served.base, demo["service"], "op-anna", 7101)
    await expect(page.locator(".toast", has_text="7101")).to_be_visible()
    await expect(page.locator("body")).to_have_attribute("data-sounds-played", "1")
    await expect(page.locator("body")).to_have_attribute("data-last-melody", "chime")
    assert page.errors == [], "\n".join(page.errors)


async def test_each_channel_has_a_test_that_reports_what_it_came_to(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    page, _ = await signed_in(browser, served.base, "Taras Melnyk")
    # The bell needs no test; the banner's test shows a banner.
    await expect(page.locator('#channel-list [data-kind="BELL"] button.test')).to_have_count(0)
    await page.get_by_role("button", name="Test Banner").click()
    banner = page.locator('#channel-list [data-kind="BANNER"] .test-result')
    await expect(banner).to_have_text("Banner: test sent")
    await expect(page.locator('.toast[data-id="test"]')).to_be_visible()

    # The browser's test fails, and says why: Taras has no push subscription.
    await page.get_by_role("button", name="Test Browser").click()
    browser_result = page.locator('#channel-list [data-kind="BROWSER"] .test-result')
    await expect(browser_result).to_have_attribute("data-status", "FAILED")
    await expect(browser_result).to_contain_text("subscription")
    assert page.errors == [], "\n".join(page.errors)


async def test_bot_channels_link_with_a_deep_link_and_its_qr_code_then_unlink(
    served: DemoServe, browser: object
) -> None:
    from playwright.async_api import expect

    # given an administrator who configured Telegram, Viber and WhatsApp for notifications
    demo = httpx.get(f"{served.base}/panel/demo-users").json()
    bots = [
        {
            "channel": "TELEGRAM",
            "enabled": True,
            "settings": {"botUsername": "nc_demo_bot", "webhookSecretToken": "hook-secret"},
            "secret": "123:telegram-token",
        },
        {"channel": "VIBER", "enabled": True, "settings": {"botUri": "ncdemo"}, "secret": "viber-token"},
        {
            "channel": "WHATSAPP",
            "enabled": True,
            "settings": {"phoneNumberId": "10001", "businessPhone": "+380 44 000 0000"},
            "secret": "whatsapp-token",
        },
    ]
    await gql(served.base, token_of(demo, "adm-petro"), BOTS, {"bots": bots})

    # when Olena opens the Channels tab and starts linking Telegram
    page, _ = await signed_in(browser, served.base, "Olena Kovalenko")
    telegram = page.locator('.bot-row[data-kind="TELEGRAM"]')
    await expect(telegram).to_contain_text("не підключено")
    await telegram.get_by_role("button", name="Підключити: Telegram").click()

    # then the page shows the t.me deep link and a QR code of it
    link = telegram.locator(".link-box a")
    await expect(link).to_have_attribute("href", re.compile(r"^https://t\.me/nc_demo_bot\?start=[\w-]{22}$"))
    qr = telegram.get_by_role("img", name="QR-код посилання Telegram")
    await expect(qr).to_be_visible()
    assert await qr.evaluate("img => img.complete && img.naturalWidth >= 100 && img.src.startsWith('data:image/gif')")
    await expect(telegram).to_have_attribute("data-status", "PENDING")

    # Viber and WhatsApp link the same way, each with its own deep link
    await page.locator('.bot-row[data-kind="VIBER"]').get_by_role("button", name="Підключити: Viber").click()
    await expect(page.locator('.bot-row[data-kind="VIBER"] .link-box a')).to_have_attribute(
        "href", re.compile(r"^viber://pa\?chatURI=ncdemo&context=[\w-]{22}$")
    )
    await page.locator('.bot-row[data-kind="WHATSAPP"]').get_by_role("button", name="Підключити: WhatsApp").click()
    await expect(page.locator('.bot-row[data-kind="WHATSAPP"] .link-box a')).to_have_attribute(
        "href", re.compile(r"^https://wa\.me/380440000000\?text=[\w-]{22}$")
    )
    await expect(page.locator('.bot-row[data-kind="WHATSAPP"] img.qr')).to_be_visible()

    # when Olena's Telegram sends the code to the bot (Telegram calls the webhook)
    code = (await link.get_attribute("href") or "").rsplit("=", 1)[1]
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "text": f"/start {code}",
            "chat": {"id": 777001, "type": "private"},
            "from": {"id": 777001, "username": "olena_tg", "language_code": "uk"},
        },
    }
    answer = httpx.post(
        f"{served.base}/webhooks/telegram/demo",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"},
    )
    assert answer.json()["method"] == "sendMessage"

    # then, back on the tab, Telegram is linked to her chat, and unlinking undoes it
    await page.reload()
    telegram = page.locator('.bot-row[data-kind="TELEGRAM"]')
    await expect(telegram).to_have_attribute("data-status", "READY")
    await expect(telegram).to_contain_text("@olena_tg")
    await telegram.get_by_role("button", name="Відключити: Telegram").click()
    await expect(page.locator('.bot-row[data-kind="TELEGRAM"]')).to_have_attribute("data-status", "NOT_LINKED")
    await expect(page.locator("#bots-status")).to_have_text("Telegram відключено")
    assert page.errors == [], "\n".join(page.errors)


REGISTER = "mutation($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) { id } }"
NOTIFICATIONS = "async () => (await (await navigator.serviceWorker.ready).getNotifications()).map(n => n.title)"


async def test_the_service_worker_shows_the_browser_channels_test_push_as_a_notification(
    served: DemoServe, browser: object
) -> None:
    from playwright.async_api import expect

    async with serve_push_service() as push:
        # given Iryna's panel with the browser's permission to notify
        page, demo = await signed_in(browser, served.base, "Iryna Bondar", permissions=["notifications"])
        token = token_of(demo, "sup-iryna")
        block = page.locator("#browser-block")
        await expect(block.locator("#push-permission")).to_have_attribute("data-permission", "granted")
        await expect(block.locator("#push-here")).to_have_text("Цей браузер не підписано.")

        # when she subscribes this browser
        await block.get_by_role("button", name="Підписати цей браузер").click()
        # Chromium refuses PushManager.subscribe in Playwright's contexts (incognito-like: "Chrome
        # does not support the Push API in incognito mode"), and has no push service to reach here
        # (no internet) anyway: the page says that subscribing failed. The browser's subscription is then registered the API's way,
        # with an endpoint at a local push service that checks VAPID and decrypts like a real one.
        await expect(page.locator("#push-result")).to_contain_text("Не вдалося підписатися")
        push.vapid_public_key = (await gql(served.base, token, "{ webPushPublicKey }"))["webPushPublicKey"]
        subscription = {**push.new_browser("iryna-chromium").subscription, "userAgent": "Chromium (test)"}
        await gql(served.base, token, REGISTER, {"input": subscription})
        await page.reload()
        await expect(page.locator("#push-count")).to_have_text("Підписаних браузерів: 1")

        # and sends the browser channel's test from the Channels tab
        await page.get_by_role("button", name="Перевірити: Браузер").click()
        result = page.locator('#channel-list [data-kind="BROWSER"] .test-result')
        await expect(result).to_have_attribute("data-status", "SENT")
        [received] = await push.wait_for("iryna-chromium")

        # then that push, delivered to the page's service worker (through the DevTools protocol,
        # as the push service would), shows as a browser notification with its title
        cdp = await page.context.new_cdp_session(page)
        registrations: list[dict] = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
        await cdp.send("ServiceWorker.enable")
        for _ in range(100):
            if any(r["scopeURL"] == f"{served.base}/panel/" and not r["isDeleted"] for r in registrations):
                break
            await page.wait_for_timeout(50)
        registration = next(r for r in registrations if r["scopeURL"] == f"{served.base}/panel/")
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": served.base,
                "registrationId": registration["registrationId"],
                "data": json.dumps(received.message),
            },
        )
        titles: list[str] = []
        for _ in range(100):
            titles = await page.evaluate(NOTIFICATIONS)
            if titles:
                break
            await page.wait_for_timeout(50)
        assert received.message["title"] and titles == [received.message["title"]]

        # and the subscribed browser can be removed from the list
        await block.get_by_role("button", name="Прибрати: Chromium (test)").click()
        await expect(page.locator("#push-count")).to_have_text("Підписаних браузерів: 0")
        assert [e for e in page.errors if "Push API in incognito mode" not in e] == []


async def test_an_unread_banner_is_shown_again_as_many_times_as_saved_and_reading_it_stops_that(
    served: DemoServe, browser: object
) -> None:
    from playwright.async_api import expect

    # given Petro's banners: shown for a second, repeated twice every 2 seconds while unread
    page, demo = await signed_in(browser, served.base, "Petro Tkachenko")
    form = page.locator("#banner-form")
    await expect(form.get_by_label("Shown for (seconds)")).not_to_have_value("")  # the tab has loaded
    await form.get_by_label("Shown for (seconds)").fill("1")
    await form.get_by_label("Repeats while unread").fill("2")
    await form.get_by_label("Repeat every (seconds)").fill("2")
    await form.get_by_role("button", name="Save").click()
    await expect(page.locator("#banner-status")).to_have_text("Saved")
    await page.evaluate(
        """() => { window.shown = [];
        new MutationObserver((changes) => changes.forEach((c) => c.addedNodes.forEach((n) => window.shown.push(n.textContent))))
          .observe(document.getElementById("toasts"), { childList: true }); }"""
    )

    # when two tickets come and he reads the second at once
    await publish(served.base, demo["service"], "adm-petro", 6601)
    await publish(served.base, demo["service"], "adm-petro", 6602)
    await page.locator(".item", has_text="#6602").click()

    # then the unread one's banner came three times (once and two repeats), the read one's once
    await page.wait_for_timeout(7_000)
    shown = await page.evaluate("window.shown")
    assert sum("#6601" in text for text in shown) == 3, shown
    assert sum("#6602" in text for text in shown) == 1, shown
