"""The supervisors' and administrators' views in Chromium against `serve --demo`: the delivery log
(filters, pages, the summary counts, FAILED deliveries retried from the page), channel health, the
administrator's policy preview before saving, the audit log that shows the change once saved, and
no such views for an operator, whom the API refuses anyway; axe on each view with rows in it.

The deliveries are made the way production makes them: the administrator configures Telegram with
a local fake Bot API as its provider, two demo operators link it through the bot's webhook and
choose it for new tickets, the demo producer publishes tickets and the embedded workers send them;
the fake refuses the first sends ("bot was blocked"), which makes them FAILED. This module's server
has its own demo instance."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.telegram_bot_api import FakeBotApi, serve_bot_api
from tests.panel.steps import SCREENSHOTS, demo_users, gql, signed_in, token_of
from tests.panel.test_panel_accessibility_browser import _serious_violations
from tests.served import DemoServe, start_demo_serve

pytestmark = pytest.mark.browser

HOOK_SECRET = "hook-secret"
BLOCKED = "Forbidden: bot was blocked by the user"
CONFIGURE = """mutation($bots: [BotChannelConfigInput!]!) {
  updateInstanceSettings(input: {botChannels: $bots}) { botChannels { channel enabled } } }"""
START_LINK = "mutation { startChannelLink(channel: TELEGRAM) { code } }"
SET_CHANNELS = 'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, TELEGRAM]) { code } }'
PUBLISH = "mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { notificationCount } }"
LOG = """query($filter: DeliveryLogFilter, $after: String) { deliveryLog(filter: $filter, first: 100, after: $after) {
  edges { node { id userId channel status } } pageInfo { hasNextPage endCursor } } }"""
CHAT = {"op-taras": 880001, "op-anna": 880002}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServe]:
    demo = start_demo_serve(tmp_path_factory.mktemp("panel-logs"), NC_ALLOW_HTTP_ENDPOINTS="1")
    try:
        yield demo
    finally:
        demo.stop()


@pytest.fixture(scope="module")
async def telegram(served: DemoServe) -> AsyncIterator[FakeBotApi]:
    """Telegram configured on the demo instance (the fake Bot API as its provider), linked and chosen
    for new tickets by Taras and Anna."""
    async with serve_bot_api(f"123:TOKEN{uuid.uuid4().hex}") as api:
        demo = demo_users(served.base)
        bot = {
            "channel": "TELEGRAM",
            "enabled": True,
            "settings": {"botUsername": "nc_demo_bot", "apiBaseUrl": api.base_url, "webhookSecretToken": HOOK_SECRET},
            "secret": api.token,
        }
        await gql(served.base, token_of(demo, "adm-petro"), CONFIGURE, {"bots": [bot]})
        async with httpx.AsyncClient(base_url=served.base, timeout=10) as http:
            for user, chat in CHAT.items():
                code = (await gql(served.base, token_of(demo, user), START_LINK))["startChannelLink"]["code"]
                update = {
                    "update_id": chat,
                    "message": {
                        "message_id": 1,
                        "text": f"/start {code}",
                        "chat": {"id": chat, "type": "private"},
                        "from": {"id": chat, "username": user.replace("-", "_")},
                    },
                }
                answer = await http.post(
                    "/webhooks/telegram/demo", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET}
                )
                assert answer.json()["text"].startswith("Linked"), answer.text
                await gql(served.base, token_of(demo, user), SET_CHANNELS)
        yield api


async def tickets(base: str, demo: dict[str, Any], recipients: list[str], count: int) -> None:
    events = [
        {
            "id": f"logs-{uuid.uuid4().hex}",
            "type": "ticket_created",
            "recipients": recipients,
            "data": {"ticketNumber": 9000 + n, "subject": "Printer on fire"},
        }
        for n in range(count)
    ]
    await gql(base, demo["service"], PUBLISH, {"inputs": events})


async def whole_log(base: str, token: str, flt: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await gql(base, token, LOG, {"filter": flt, "after": after}))["deliveryLog"]
        entries.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return entries
        after = page["pageInfo"]["endCursor"]


async def settled(base: str, token: str) -> list[dict[str, Any]]:
    """The whole log once no delivery waits for a worker (10 s at most)."""
    for _ in range(100):
        entries = await whole_log(base, token)
        if all(e["status"] not in ("QUEUED", "RETRYING") for e in entries):
            return entries
        await asyncio.sleep(0.1)
    raise AssertionError(f"deliveries still waiting: {entries}")


async def test_a_supervisor_filters_the_log_reads_its_summary_and_retries_the_failed_deliveries(
    served: DemoServe, telegram: FakeBotApi, browser: object
) -> None:
    from playwright.async_api import expect

    # given: Telegram refused the first ticket to Taras and Anna (FAILED), then 24 more reached Taras
    demo = demo_users(served.base)
    supervisor = token_of(demo, "sup-iryna")
    telegram.fail_next(403, BLOCKED)
    telegram.fail_next(403, BLOCKED)
    await tickets(served.base, demo, ["op-taras", "op-anna"], 1)
    await settled(served.base, supervisor)
    await tickets(served.base, demo, ["op-taras"], 24)
    rows = await settled(served.base, supervisor)
    failed = [e for e in rows if e["status"] == "FAILED"]
    assert len(failed) == 2 and len(rows) > 25, rows

    # when: Iryna (a supervisor) opens the delivery log, in English
    page, _ = await signed_in(browser, served.base, "Iryna Bondar", bypass_csp=True)
    await page.locator("#locale").select_option("en")
    await expect(page.get_by_role("tab", name="Administration")).to_have_count(0)
    await expect(page.get_by_role("tab", name="Audit log")).to_have_count(0)
    await page.get_by_role("tab", name="Delivery log").click()
    log = page.locator("#deliveries")
    table = log.locator('[data-part="log"] tbody')

    # then: a first page of the whole log and "Load more" for the rest; the summary counts them all
    await expect(table.locator("tr")).to_have_count(25, timeout=15_000)
    summary = log.locator('[data-part="summary"]')
    await expect(summary.locator("[data-total]")).to_have_attribute("data-total", str(len(rows)), timeout=15_000)
    await log.get_by_role("button", name="Load more").click()
    await expect(table.locator("tr")).to_have_count(len(rows))
    await expect(log.get_by_role("button", name="Load more")).to_be_hidden()
    sent = sum(e["status"] == "SENT" for e in rows)
    await expect(summary.locator('tr[data-channel="TELEGRAM"] td[data-status="SENT"]')).to_have_text(str(sent))

    # when: she filters by status FAILED
    await log.locator('fieldset[data-field="filter.statuses"]').get_by_label("failed").check()
    await log.get_by_role("button", name="Show", exact=True).click()

    # then: exactly the failed rows, and the summary's numbers equal the rows shown
    await expect(table.locator("tr")).to_have_count(2)
    await expect(table.locator('tr[data-status="FAILED"]')).to_have_count(2)
    await expect(summary.locator("[data-total]")).to_have_attribute("data-total", "2")
    await expect(summary.locator('tr[data-channel="TELEGRAM"] td[data-status="FAILED"]')).to_have_text("2")
    await expect(table).to_contain_text("the operator blocked the bot")
    assert {await r.get_attribute("data-id") for r in await table.locator("tr").all()} == {e["id"] for e in failed}

    # and: channel health names Anna, whose last Telegram send failed (Taras's got through since)
    health = log.locator('[data-part="health"] tbody')
    await expect(health.locator('tr[data-user="op-anna"][data-channel="TELEGRAM"]')).to_have_attribute(
        "data-status", "ERROR"
    )
    await expect(health.locator('tr[data-user="op-taras"]')).to_have_count(0)

    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "delivery-log-en.png", full_page=True)

    # and: axe finds nothing serious in the view with its rows and a filter's error
    await log.get_by_label("From").fill("2026-01-02T10:00")
    await log.get_by_label("Until").fill("2026-01-01T10:00")
    await log.get_by_role("button", name="Show", exact=True).click()
    until_error = log.locator('[data-field="filter.until"] .field-error')
    await expect(until_error).to_contain_text("later than filter.since")
    await expect(until_error).to_contain_text("BAD_USER_INPUT")
    found = await _serious_violations(page, "#deliveries")
    assert found == [], json.dumps(found, indent=1, ensure_ascii=False)
    await log.get_by_label("From").fill("")
    await log.get_by_label("Until").fill("")
    await log.get_by_role("button", name="Show", exact=True).click()
    await expect(until_error).to_be_hidden()
    await expect(table.locator("tr")).to_have_count(2)

    # when: Telegram works again and she retries every failed delivery shown
    await log.get_by_role("button", name="Retry the selected").click()
    result = log.locator(".retry-result")
    await expect(result).to_have_text("Select some failed deliveries first.")
    await log.get_by_label(f"Select delivery {failed[0]['id']} to").check()
    await log.get_by_role("button", name="Select all failed shown").click()
    await expect(log.locator("[data-selected]")).to_have_text("Selected to retry: 2")
    await log.get_by_role("button", name="Retry the selected").click()

    # then: both are queued again and end SENT, one more message in Anna's chat
    await expect(result).to_contain_text("Queued again: 2")
    await expect(result.locator('li[data-status="SENT"]')).to_have_count(2, timeout=20_000)
    assert len(telegram.sent(str(CHAT["op-anna"]))) == 2  # the send Telegram refused, and the retry's
    await expect(table.locator("tr")).to_have_count(0)  # the filter (FAILED) matches none now
    await expect(log.locator("[data-empty]")).to_be_visible()
    await expect(summary.locator("[data-total]")).to_have_attribute("data-total", "0")
    stored = await whole_log(served.base, supervisor, {"statuses": ["FAILED"]})
    assert stored == []
    # and Anna's channel is healthy again
    await log.locator('[data-part="health"]').get_by_role("button", name="Refresh").click()
    await expect(health.locator('tr[data-user="op-anna"]')).to_have_count(0)
    assert page.errors == [], "\n".join(page.errors)


async def test_an_administrator_previews_a_type_policy_then_finds_the_change_in_the_audit_log(
    served: DemoServe, telegram: FakeBotApi, browser: object
) -> None:
    from playwright.async_api import expect

    demo = demo_users(served.base)
    admin = token_of(demo, "adm-petro")
    expected = (
        await gql(
            served.base,
            admin,
            """query { previewTypePolicy(input: {typeCode: "sla_expired", mandatoryChannels: [TELEGRAM]}) {
              operators changes { typeCode channel turnedOn turnedOff turnedOnSample } } }""",
        )
    )["previewTypePolicy"]
    assert expected["changes"], expected
    change = next(c for c in expected["changes"] if c["channel"] == "TELEGRAM")

    # given: Petro on the administrator screen, with the SLA breach policy open
    page, _ = await signed_in(browser, served.base, "Petro Tkachenko", bypass_csp=True)
    await page.get_by_role("tab", name="Administration").click()
    screen = page.locator("#admin")
    policy = screen.locator('details[data-type="sla_expired"]')
    await policy.locator("summary").click()

    # when: he ticks Telegram among its mandatory channels and asks for a preview
    await policy.locator('fieldset[data-field="mandatoryChannels"]').get_by_label("Telegram").check()
    await policy.get_by_role("button", name="Preview").click()

    # then: per type and channel, how many operators' Telegram turns on, and who
    preview = policy.locator("[data-preview]")
    row = preview.locator('tr[data-type="sla_expired"][data-channel="TELEGRAM"]')
    await expect(row.locator('[data-turned="on"]')).to_have_text(str(change["turnedOn"]))
    await expect(row.locator('[data-turned="off"]')).to_have_text(str(change["turnedOff"]))
    for user in change["turnedOnSample"]:
        await expect(row.locator(".sample-on")).to_contain_text(user)
    await expect(preview.locator(".preview-summary")).to_contain_text(f"among {expected['operators']} operators")
    # and nothing was saved
    before = await gql(served.base, admin, "{ instanceSettings { typePolicies { typeCode mandatoryChannels } } }")
    sla = next(p for p in before["instanceSettings"]["typePolicies"] if p["typeCode"] == "sla_expired")
    assert "TELEGRAM" not in sla["mandatoryChannels"]
    found = await _serious_violations(page, "#admin")
    assert found == [], json.dumps(found, indent=1, ensure_ascii=False)
    SCREENSHOTS.mkdir(exist_ok=True)
    await policy.screenshot(path=SCREENSHOTS / "policy-preview-en.png")

    # and: an instance preview the service refuses shows its error beside the field, as saving does
    instance = screen.locator('form[data-part="instance"]')
    await instance.get_by_label("A CSAT score at or below this is negative").fill("9")
    await instance.get_by_role("button", name="Preview").click()
    error = instance.locator('[data-field="negativeCsatThreshold"] .field-error')
    await expect(error).to_contain_text("BAD_USER_INPUT")
    await instance.get_by_label("A CSAT score at or below this is negative").fill("2")

    # when: he saves the policy
    await policy.get_by_role("button", name="Save").click()
    await expect(screen.locator(".admin-status")).to_have_text("Saved")

    # then: the audit log shows it: who, from this page, what, before and after
    await page.get_by_role("tab", name="Audit log").click()
    audit = page.locator("#audit")
    await audit.get_by_label("Subject").fill("type:sla_expired")
    await audit.get_by_role("button", name="Show", exact=True).click()
    entries = audit.locator('[data-part="audit"] tbody tr')
    await expect(entries).to_have_count(1)
    entry = entries.first
    await expect(entry).to_have_attribute("data-action", "setTypePolicy")
    await expect(entry).to_contain_text("adm-petro")
    await expect(entry.locator(".client")).to_have_text("notification-center-panel")
    await expect(entry.locator(".after")).to_contain_text("TELEGRAM")
    await expect(entry.locator(".before")).not_to_contain_text("TELEGRAM")
    # and the action filter, with the whole log's Telegram configuration among updateInstanceSettings
    await audit.get_by_label("Subject").fill("")
    await audit.get_by_label("Action").select_option("updateInstanceSettings")
    await audit.get_by_role("button", name="Show", exact=True).click()
    await expect(entries.first).to_have_attribute("data-action", "updateInstanceSettings")
    await expect(audit.locator('[data-part="audit"] tbody')).to_contain_text("changed")  # the bot's secret
    assert telegram.token not in await page.content()
    await page.screenshot(path=SCREENSHOTS / "audit-log-en.png", full_page=True)
    found = await _serious_violations(page, "#audit")
    assert found == [], json.dumps(found, indent=1, ensure_ascii=False)

    # and in Ukrainian the views are Ukrainian
    await page.locator("#locale").select_option("uk")
    await expect(page.locator("#audit-title")).to_have_text("Журнал змін")
    await expect(page.locator("#tab-deliveries")).to_have_text("Журнал доставок")
    assert page.errors == [], "\n".join(page.errors)


async def test_an_operator_sees_no_logs_and_the_api_refuses_them(served: DemoServe, browser: object) -> None:
    from playwright.async_api import expect

    page, demo = await signed_in(browser, served.base, "Taras Melnyk")
    await expect(page.locator("#status")).to_have_text("Live")
    for name in ("Delivery log", "Administration", "Audit log"):
        await expect(page.get_by_role("tab", name=name)).to_have_count(0)
    await expect(page.locator("#deliveries")).to_be_hidden()
    await expect(page.locator("#audit")).to_be_hidden()
    async with httpx.AsyncClient(timeout=10) as http:
        for query in (
            "{ deliveryLog { edges { cursor } } }",
            "{ deliverySummary { count } }",
            "{ channelHealth { edges { cursor } } }",
            "{ auditLog { edges { cursor } } }",
            'mutation { retryDeliveries(ids: ["1"]) { ids } }',
        ):
            body = (
                await http.post(
                    f"{served.base}/graphql",
                    json={"query": query},
                    headers={"Authorization": f"Bearer {token_of(demo, 'op-taras')}"},
                )
            ).json()
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
