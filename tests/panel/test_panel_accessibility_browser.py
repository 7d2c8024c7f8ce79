"""axe-core's checks on every screen of the panel in Chromium: the sign-in picker, each of the
operator's tabs, the administrator screen (with a field's error showing), and the supervisors' and
administrators' views: the delivery log, the policy preview and the audit log. No violation of
impact serious or critical may remain.

The page never loads axe: the test injects the vendored build (panel/vendor/axe.min.js, checked
against its npm package by test_panel_served.py) into a context that bypasses the page's CSP,
which allows no inline script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.panel.test_panel_browser import panel_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "panel" / "vendor" / "axe.min.js"
#: The operator's tabs (their sections), in the page's order.
OPERATOR_TABS = ("history", "channels", "types", "system", "reminders")
RUN_AXE = """async (selector) => {
  const result = await axe.run(selector ? { include: [selector] } : document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target, summary: n.failureSummary })) }));
}"""


async def _page(launched: Any, base: str) -> Any:
    context = await launched.new_context(bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{base}/panel/")
    return page


async def _serious_violations(page: Any, selector: str | None = None) -> list[dict[str, Any]]:
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = await page.evaluate(RUN_AXE, selector)
    return violations


async def _show(page: Any, section: str) -> None:
    """Bring a tab's section on screen: through the control that opens it when the page has one."""
    from playwright.async_api import expect

    target = page.locator(f"#{section}")
    if await target.is_hidden():
        await page.locator(f'[aria-controls="{section}"]').first.click()
    await expect(target).to_be_visible()


async def test_the_sign_in_screen_and_each_operator_tab_pass_axe(
    panel_server: str,  # noqa: F811
    browser: object,
) -> None:
    from playwright.async_api import expect

    page = await _page(browser, panel_server)
    await expect(page.get_by_role("button", name="Taras Melnyk")).to_be_visible()
    assert await _serious_violations(page) == []

    await page.get_by_role("button", name="Taras Melnyk").click()
    await expect(page.locator("#status")).to_have_text("Live")
    await expect(page.locator("fieldset.type-row").first).to_be_attached()  # the types tab has loaded
    found = {}
    for section in OPERATOR_TABS:
        await _show(page, section)
        found[section] = await _serious_violations(page, f"#{section}")
    found["page"] = await _serious_violations(page)  # the header, the bell and what surrounds the tabs
    assert found == {name: [] for name in found}, json.dumps(found, indent=1, ensure_ascii=False)

    # And in Ukrainian.
    await page.locator("#locale").select_option("uk")
    await expect(page.locator("#tab-types")).to_have_text("Типи сповіщень")
    assert await _serious_violations(page) == []


async def test_the_administrator_screen_passes_axe(
    panel_server: str,  # noqa: F811
    browser: object,
) -> None:
    from playwright.async_api import expect

    page = await _page(browser, panel_server)
    await page.get_by_role("button", name="Petro Tkachenko").click()
    await page.get_by_role("tab", name="Administration").click()
    screen = page.locator("#admin")
    instance = screen.locator('form[data-part="instance"]')
    await expect(instance).to_be_visible()
    # Open every type policy, and show a field's error and a form's, so axe sees them too.
    for summary in await screen.locator("details[data-type] summary").all():
        await summary.click()
    await instance.get_by_label("A CSAT score at or below this is negative").fill("9")
    await instance.get_by_role("button", name="Save").click()
    await expect(instance.locator('[data-field="negativeCsatThreshold"] .field-error')).to_be_visible()
    email = screen.locator('form[data-channel="EMAIL"]')
    await email.get_by_label("Port").fill("70000")
    await email.get_by_role("button", name="Save").click()
    await expect(email.locator('[data-field=""] .field-error')).to_be_visible()

    found = await _serious_violations(page, "#admin")
    assert found == [], json.dumps(found, indent=1, ensure_ascii=False)
    assert await _serious_violations(page) == []


async def test_the_delivery_log_the_policy_preview_and_the_audit_log_pass_axe(
    panel_server: str,  # noqa: F811
    browser: object,
) -> None:
    from playwright.async_api import expect

    from tests.panel.steps import demo_users, gql, token_of

    # Rows for the views: Taras's browser test send fails (he has no push subscription), and his
    # own settings change leaves an audit entry.
    demo = demo_users(panel_server)
    taras = token_of(demo, "op-taras")
    await gql(panel_server, taras, "mutation { testChannel(channel: BROWSER) { status } }")
    await gql(
        panel_server, taras, 'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL]) { code } }'
    )

    # The supervisor's delivery log, with its rows, its summary and a filter's error showing.
    page = await _page(browser, panel_server)
    await page.get_by_role("button", name="Iryna Bondar").click()
    await page.locator("#tab-deliveries").click()
    log = page.locator("#deliveries")
    await expect(log.locator('[data-part="log"] tbody tr').first).to_be_visible()
    await expect(log.locator('[data-part="summary"] table')).to_be_visible()
    await log.locator('input[name="since"]').fill("2026-01-02T10:00")
    await log.locator('input[name="until"]').fill("2026-01-01T10:00")
    await log.locator('[data-part="log-filter"] button[type="submit"]').click()
    await expect(log.locator('[data-field="filter.until"] .field-error')).to_be_visible()
    found = {"deliveries": await _serious_violations(page, "#deliveries")}

    # The administrator's policy preview (a change that turns a channel on for the operators) and
    # the audit log.
    page = await _page(browser, panel_server)
    await page.get_by_role("button", name="Petro Tkachenko").click()
    await page.get_by_role("tab", name="Administration").click()
    policy = page.locator('#admin details[data-type="sla_expired"]')
    await policy.locator("summary").click()
    await policy.locator('fieldset[data-field="mandatoryChannels"]').get_by_label("Browser").check()
    await policy.get_by_role("button", name="Preview").click()
    await expect(policy.locator("[data-preview] table")).to_be_visible()
    found["admin"] = await _serious_violations(page, "#admin")
    await page.get_by_role("tab", name="Audit log").click()
    await expect(page.locator('#audit [data-part="audit"] tbody tr').first).to_be_visible()
    found["audit"] = await _serious_violations(page, "#audit")
    found["page"] = await _serious_violations(page)
    assert found == {name: [] for name in found}, json.dumps(found, indent=1, ensure_ascii=False)
