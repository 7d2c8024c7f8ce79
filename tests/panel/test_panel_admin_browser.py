"""The administrator screen (panel/admin.js) in a real browser against `serve --demo`: instance
settings and a type policy kept over a reload, a GraphQL error shown beside its field, a bot
channel's write-only secret never shown back (page nor API), and no screen for an operator, whom
the API refuses anyway. Its own server (module scope): these tests change the demo instance."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.panel.steps import signed_in as _signed_in
from tests.panel.steps import token_of
from tests.panel.test_panel_browser import panel_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

SETTINGS = """{ instanceSettings { negativeCsatThreshold defaultChannels
  botChannels { channel enabled settings hasSecret hasWebhookSecretToken }
  typePolicies { typeCode mandatory availability defaultChannels } } }"""


def _gql(base: str, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    body: dict[str, Any] = response.json()
    return body


async def _open_admin(page: Any) -> Any:
    from playwright.async_api import expect

    await page.get_by_role("tab", name="Administration").click()
    screen = page.locator("#admin")
    await expect(screen.locator('form[data-part="instance"]')).to_be_visible()
    return screen


async def test_the_administrator_changes_instance_settings_and_a_type_policy_and_they_persist(
    panel_server: str,  # noqa: F811
    browser: object,
) -> None:
    from playwright.async_api import expect

    # given: the demo administrator on the administrator screen
    page, demo = await _signed_in(browser, panel_server, "Petro Tkachenko")
    screen = await _open_admin(page)
    instance = screen.locator('form[data-part="instance"]')
    threshold = instance.get_by_label("A CSAT score at or below this is negative")
    await expect(threshold).to_have_value("2")
    defaults = instance.locator('fieldset[data-field="defaultChannels"]')
    await expect(defaults.get_by_label("Sound")).not_to_be_checked()

    # when: an out-of-range threshold is saved, the service's message and code stand beside the field
    await threshold.fill("7")
    await instance.get_by_role("button", name="Save").click()
    error = instance.locator('[data-field="negativeCsatThreshold"] .field-error')
    await expect(error).to_contain_text("between 1 and 4")
    await expect(error).to_contain_text("BAD_USER_INPUT")
    await expect(threshold).to_have_attribute("aria-invalid", "true")

    # when: a valid threshold and one more default channel are saved
    await threshold.fill("3")
    await defaults.get_by_label("Sound").check()
    await instance.get_by_role("button", name="Save").click()
    await expect(screen.locator(".admin-status")).to_have_text("Saved")
    await expect(error).to_be_hidden()

    # and: a type is made mandatory and view-only
    policy = screen.locator('details[data-type="chat_created"]')
    await policy.locator("summary").click()
    await policy.get_by_label("Availability").select_option("VIEW_ONLY")
    await policy.get_by_label("Mandatory type").check()
    await policy.get_by_role("button", name="Save").click()
    await expect(policy.locator("summary")).to_contain_text("view only")
    await expect(policy.locator("summary")).to_contain_text("mandatory")

    # then: after a reload the screen shows what was saved, and so does the API
    await page.reload()
    screen = await _open_admin(page)
    instance = screen.locator('form[data-part="instance"]')
    await expect(instance.get_by_label("A CSAT score at or below this is negative")).to_have_value("3")
    await expect(instance.locator('fieldset[data-field="defaultChannels"]').get_by_label("Sound")).to_be_checked()
    await expect(screen.locator('details[data-type="chat_created"] summary')).to_contain_text("mandatory")
    stored = _gql(panel_server, token_of(demo, "adm-petro"), SETTINGS)["data"]["instanceSettings"]
    assert stored["negativeCsatThreshold"] == 3 and "SOUND" in stored["defaultChannels"]
    chat = next(p for p in stored["typePolicies"] if p["typeCode"] == "chat_created")
    assert chat["mandatory"] is True and chat["availability"] == "VIEW_ONLY"
    # The policy's save sent only what changed: the type's default channels still follow the instance's.
    changed = _gql(
        panel_server,
        token_of(demo, "adm-petro"),
        "mutation { updateInstanceSettings(input: {defaultChannels: [BELL]}) { typePolicies { typeCode defaultChannels } } }",
    )["data"]["updateInstanceSettings"]["typePolicies"]
    assert next(p for p in changed if p["typeCode"] == "chat_created")["defaultChannels"] == ["BELL"]

    # and: in Ukrainian the screen is Ukrainian
    await page.locator("#locale").select_option("uk")
    await expect(page.locator("#admin-title")).to_have_text("Адміністрування")
    await expect(page.locator('form[data-part="instance"] button[type="submit"]')).to_have_text("Зберегти")


async def test_a_bot_secret_is_written_but_never_shown_back(
    panel_server: str,  # noqa: F811
    browser: object,
) -> None:
    from playwright.async_api import expect

    secret = f"123456:bot-token-{uuid.uuid4().hex}"
    hook = f"hook_{uuid.uuid4().hex}"
    page, demo = await _signed_in(browser, panel_server, "Petro Tkachenko")
    screen = await _open_admin(page)

    # given: enabling Viber without its secret is refused, the reason beside the secret field
    viber = screen.locator('form[data-channel="VIBER"]')
    await viber.get_by_label("On", exact=True).check()
    await viber.get_by_label("Bot URI").fill("nc-demo")
    await viber.get_by_role("button", name="Save").click()
    await expect(viber.locator('[data-field="botChannels.secret"] > .field-error')).to_contain_text("needs its secret")

    # when: Telegram is configured with a bot token and a webhook secret token
    telegram = screen.locator('form[data-channel="TELEGRAM"]')
    await expect(telegram.locator('[data-secret="secret"]')).to_contain_text("not set")
    await telegram.get_by_label("On", exact=True).check()
    await telegram.get_by_label("Bot username").fill("nc_demo_bot")
    await telegram.get_by_label("New secret").fill(secret)
    await telegram.get_by_label("New webhook secret token").fill(hook)
    async with page.expect_response(lambda r: r.url.endswith("/graphql") and r.request.method == "POST") as sent:
        await telegram.get_by_role("button", name="Save").click()
    response = await sent.value
    assert secret in (response.request.post_data or "") and hook in (response.request.post_data or "")

    # then: the page says both are set, and neither the page nor the API's answer holds them
    telegram = screen.locator('form[data-channel="TELEGRAM"]')
    await expect(telegram.locator('[data-secret="secret"]')).to_contain_text("set")
    await expect(telegram.locator('[data-secret="secret"]')).not_to_contain_text("not set")
    await expect(telegram.locator('[data-secret="webhookSecretToken"]')).not_to_contain_text("not set")
    await expect(telegram.get_by_label("New secret")).to_have_value("")
    answer = await response.text()
    assert '"hasSecret":true' in answer.replace(" ", "")
    assert secret not in answer and hook not in answer
    assert secret not in await page.content() and hook not in await page.content()

    # and: not after a reload either; the API only tells that they are set
    await page.reload()
    async with page.expect_response(
        lambda r: r.url.endswith("/graphql") and "instanceSettings" in (r.request.post_data or "")
    ) as loaded:
        screen = await _open_admin(page)
    assert secret not in await (await loaded.value).text()
    await expect(screen.locator('form[data-channel="TELEGRAM"] [data-secret="secret"]')).not_to_contain_text("not set")
    await expect(screen.locator('form[data-channel="TELEGRAM"]').get_by_label("Bot username")).to_have_value(
        "nc_demo_bot"
    )
    assert secret not in await page.content() and hook not in await page.content()
    stored = _gql(panel_server, token_of(demo, "adm-petro"), SETTINGS)
    telegram_config = next(b for b in stored["data"]["instanceSettings"]["botChannels"] if b["channel"] == "TELEGRAM")
    assert telegram_config["hasSecret"] and telegram_config["hasWebhookSecretToken"]
    assert secret not in str(stored) and hook not in str(stored)


async def test_an_operator_has_no_administrator_screen_and_the_api_refuses_them(
    panel_server: str,  # noqa: F811
    browser: object,
) -> None:
    from playwright.async_api import expect

    # given: a demo operator, signed in and live
    page, demo = await _signed_in(browser, panel_server, "Taras Melnyk")
    await expect(page.locator("#status")).to_have_text("Live")

    # then: no entry to the administrator screen
    await expect(page.get_by_role("tab", name="Administration")).to_have_count(0)
    await expect(page.locator("#admin")).to_be_hidden()

    # and: the module loaded by hand, with the operator's token, shows the API's refusal
    await page.evaluate(
        """async () => {
          const { mount } = await import("./admin.js");
          const token = sessionStorage.getItem("nc.token");
          const gql = async (query, variables) => {
            const r = await fetch("/graphql", { method: "POST", body: JSON.stringify({ query, variables }),
              headers: { "content-type": "application/json", authorization: `Bearer ${token}` } });
            const body = await r.json();
            if (body.errors) throw Object.assign(new Error(body.errors[0].message), { errors: body.errors });
            return body.data;
          };
          const box = document.getElementById("admin");
          box.hidden = false;
          await mount(box, { gql, t: (k) => k, locale: "en" });
        }"""
    )
    await expect(page.locator("#admin .admin-status")).to_contain_text("FORBIDDEN")
    await expect(page.locator('#admin form[data-part="instance"]')).to_have_count(0)

    # and: the API refuses operators and supervisors every administrator field
    for user in ("op-taras", "sup-iryna"):
        token = token_of(demo, user)
        for query, variables in (
            (SETTINGS, None),
            (
                "mutation($i: InstanceSettingsInput!) { updateInstanceSettings(input: $i) { negativeCsatThreshold } }",
                {"i": {"negativeCsatThreshold": 1}},
            ),
            (
                "mutation($i: TypePolicyInput!) { setTypePolicy(input: $i) { typeCode } }",
                {"i": {"typeCode": "ticket_created", "mandatory": True}},
            ),
        ):
            body = _gql(panel_server, token, query, variables)
            assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    stored = _gql(panel_server, token_of(demo, "adm-petro"), SETTINGS)["data"]["instanceSettings"]
    assert stored["negativeCsatThreshold"] != 1


async def test_the_administrator_who_switches_the_center_off_keeps_the_administration_tab(
    panel_server: str,  # noqa: F811
    browser: object,
) -> None:
    from playwright.async_api import expect

    # given: Petro on the administrator screen
    page, demo = await _signed_in(browser, panel_server, "Petro Tkachenko")
    screen = await _open_admin(page)
    instance = screen.locator('form[data-part="instance"]')
    try:
        # when: he switches the Notification Center off (his page becomes the other screen by itself)
        await instance.get_by_label("Notification Center on for this instance").uncheck()
        await instance.get_by_role("button", name="Save").click()

        # then: the simplified screen, and still the Administration tab, opened, to switch it on again
        await expect(page.locator("#classic")).to_be_visible()
        await expect(page.get_by_role("tab", name="Administration")).to_be_visible()
        await expect(page.get_by_role("tab", name="Notification types")).to_have_count(0)
        instance = page.locator('#admin form[data-part="instance"]')
        await expect(instance).to_be_visible()
        await instance.get_by_label("Notification Center on for this instance").check()
        await instance.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("tab", name="Notification types")).to_be_visible()
        await expect(page.locator("#classic")).to_be_hidden()
        # and a reload keeps it so
        await page.reload()
        await expect(page.get_by_role("tab", name="Notification types")).to_be_visible()
    finally:
        _gql(
            panel_server,
            token_of(demo, "adm-petro"),
            "mutation { updateInstanceSettings(input: {notificationCenterEnabled: true}) { notificationCenterEnabled } }",
        )


async def test_an_open_page_follows_the_center_switched_off_when_it_comes_back_into_view(
    panel_server: str,  # noqa: F811
    browser: object,
) -> None:
    from playwright.async_api import expect

    # given Taras's page with the full screen
    page, demo = await _signed_in(browser, panel_server, "Taras Melnyk")
    await expect(page.get_by_role("tab", name="Notification types")).to_be_visible()
    switch = "mutation($on: Boolean!) { updateInstanceSettings(input: {notificationCenterEnabled: $on}) { notificationCenterEnabled } }"
    try:
        # when an administrator switches the Notification Center off, and Taras comes back to the tab
        _gql(panel_server, token_of(demo, "adm-petro"), switch, {"on": False})
        await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")

        # then the page shows the simplified screen without a reload by hand
        await expect(page.locator("#classic")).to_be_visible()
        await expect(page.get_by_role("tab", name="Notification types")).to_be_hidden()
    finally:
        _gql(panel_server, token_of(demo, "adm-petro"), switch, {"on": True})
