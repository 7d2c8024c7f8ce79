"""The instance's delivery log for supervisors and administrators: filters, pages, summary counts,
retries of dead letters, bounds and tenant isolation.

The deliveries are made the way production makes them: an administrator configures Telegram (the
local fake Bot API), operators link it through the webhook and choose it, the producing service
publishes tickets, the workers send them (some refused by Telegram, some to operators who never
linked). The expected numbers are counted from the rows themselves.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from models.notification import Delivery
from tests.channel_support import publish
from tests.channels.test_channel_telegram import SET_CHANNELS, configure, link
from tests.conftest import Caller, Tenant
from tests.fakes.telegram_bot_api import FakeBotApi, serve_bot_api
from tests.polling import eventually

LOG = """query($filter: DeliveryLogFilter, $first: Int!, $after: String) {
  deliveryLog(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id notificationId typeCode userId operatorName channel status attempts lastError
      createdAt updatedAt } }
    pageInfo { hasNextPage endCursor } } }"""
SUMMARY = """query($filter: DeliveryLogFilter) { deliverySummary(filter: $filter) { channel status count } }"""
RETRY = """mutation($ids: [ID!], $filter: DeliveryLogFilter) { retryDeliveries(ids: $ids, filter: $filter) { ids } }"""
TEST_SEND = "mutation { testChannel(channel: TELEGRAM) { status } }"
BLOCKED = "Forbidden: bot was blocked by the user"


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with serve_bot_api(f"123:TOKEN{uuid.uuid4().hex}") as api:
        yield api


async def settled(tenant: Tenant) -> list[Delivery]:
    """The tenant's external delivery rows once none waits for a worker."""

    async def rows() -> list[Delivery]:
        return list(await Delivery.filter(instance_id=tenant.id).exclude(channel__in=["BELL", "BANNER", "SOUND"]))

    found = await eventually(rows, lambda rs: all(r.status not in ("QUEUED", "RETRYING") for r in rs), seconds=10)
    assert all(r.status not in ("QUEUED", "RETRYING") for r in found)
    return found


async def a_day_of_tickets(http: httpx.AsyncClient, tenant: Tenant, api: FakeBotApi) -> dict[str, Caller]:
    """olena and taras linked Telegram, ivan chose it but never linked; 4 tickets to all three
    (Telegram refuses 2 sends: the bot was blocked), and olena's test send."""
    assert "errors" not in await configure(tenant, api)
    people = {name: tenant.operator(name, name=name.title()) for name in ("olena", "taras", "ivan")}
    await link(http, tenant, people["olena"], chat_id=555001)
    await link(http, tenant, people["taras"], chat_id=555002)
    for caller in people.values():
        assert "errors" not in (await caller.gql(SET_CHANNELS)).body
    api.fail_next(403, BLOCKED)
    api.fail_next(403, BLOCKED)
    service = tenant.service()
    for n in range(4):
        event = {
            "id": f"t-{n}",
            "type": "ticket_created",
            "recipients": list(people),
            "entity": {"kind": "TICKET", "id": str(n)},
            "data": {"ticketNumber": n, "subject": "Printer on fire"},
        }
        result = await service.gql(
            "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }", {"input": event}
        )
        assert result.data["publishEvent"]["notificationCount"] == 3
    await settled(tenant)
    assert (await people["olena"].gql(TEST_SEND)).data["testChannel"]["status"] == "SENT"
    return people


async def whole_log(caller: Caller, flt: dict[str, Any] | None = None, first: int = 3) -> list[dict[str, Any]]:
    """Every entry the filter matches, page by page."""
    entries: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await caller.gql(LOG, {"filter": flt, "first": first, "after": after})).data["deliveryLog"]
        entries.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return entries
        after = page["pageInfo"]["endCursor"]


async def test_the_log_pages_and_filters_exactly_what_the_rows_hold(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a day of tickets with sent, failed and skipped Telegram deliveries and a test send
    people = await a_day_of_tickets(http, tenant, bot_api)
    rows = await settled(tenant)
    users = {c.user for c in people.values()}
    owner = dict(await Delivery.filter(instance_id=tenant.id).values_list("id", "operator__user_id"))
    assert {r.status for r in rows} == {"SENT", "FAILED", "SKIPPED"}
    supervisor = tenant.caller("supervisor")

    # when the supervisor reads the whole log in pages of 3
    entries = await whole_log(supervisor)
    # then it holds every row once, newest first, each with its recipient and type
    assert [int(e["id"]) for e in entries] == sorted((r.id for r in rows), reverse=True)
    assert {e["userId"] for e in entries} == set(users)
    test_send = [e for e in entries if e["notificationId"] is None]
    assert len(test_send) == 1 and test_send[0]["typeCode"] is None and test_send[0]["userId"] == "olena"
    assert {e["operatorName"] for e in entries} == {"Olena", "Taras", "Ivan"}

    # when they filter by status, by recipient, by type and by channel
    failed = await whole_log(supervisor, {"statuses": ["FAILED"]})
    olenas = await whole_log(supervisor, {"userIds": ["olena"], "statuses": ["SENT", "FAILED"]})
    tickets = await whole_log(supervisor, {"typeCodes": ["ticket_created"]}, first=100)
    telegram = await whole_log(supervisor, {"channels": ["TELEGRAM"]}, first=100)
    # then each is exactly the rows that match
    assert sorted(int(e["id"]) for e in failed) == sorted(r.id for r in rows if r.status == "FAILED")
    assert len(failed) == 2 and all("blocked the bot" in e["lastError"] for e in failed)
    assert sorted(int(e["id"]) for e in olenas) == sorted(
        r.id for r in rows if r.status in ("SENT", "FAILED") and owner[r.id] == "olena"
    )
    assert len(tickets) == len(rows) - 1 and all(e["typeCode"] == "ticket_created" for e in tickets)
    assert len(telegram) == sum(r.channel == "TELEGRAM" for r in rows)

    # when they ask for a time range that ends before the tickets, and one that holds them all
    first_at = min(r.created_at for r in rows)
    before = await whole_log(supervisor, {"until": (first_at - timedelta(seconds=1)).isoformat()})
    around = await whole_log(
        supervisor,
        {
            "since": (first_at - timedelta(seconds=1)).isoformat(),
            "until": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        },
        first=100,
    )
    # then the first is empty and the second holds every row
    assert before == [] and len(around) == len(rows)


async def test_summary_counts_equal_the_rows_of_the_log(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a day of tickets
    await a_day_of_tickets(http, tenant, bot_api)
    rows = await settled(tenant)
    admin = tenant.admin()
    since = (min(r.created_at for r in rows) - timedelta(seconds=1)).isoformat()
    # when the administrator asks for the summary of the day, and of its failures
    summary = (await admin.gql(SUMMARY, {"filter": {"since": since}})).data["deliverySummary"]
    failed = (await admin.gql(SUMMARY, {"filter": {"since": since, "statuses": ["FAILED"]}})).data["deliverySummary"]
    # then each pair's count is the number of its rows, and they add up to the log
    expected = Counter((r.channel, r.status) for r in rows)
    assert {(s["channel"], s["status"]): s["count"] for s in summary} == dict(expected)
    assert sum(s["count"] for s in summary) == len(await whole_log(admin, {"since": since}, first=100))
    assert failed == [{"channel": "TELEGRAM", "status": "FAILED", "count": 2}]


async def test_the_log_takes_the_same_statements_for_one_entry_as_for_many(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, sql: Any
) -> None:
    # given a day of tickets
    await a_day_of_tickets(http, tenant, bot_api)
    admin = tenant.admin()
    flt = {"typeCodes": ["ticket_created"], "userIds": ["olena", "taras"]}
    await admin.gql(LOG, {"filter": flt, "first": 1})  # the policy and caches, once
    # when the log is read one entry at a time and ten at a time, and the summary
    sql.statements.clear()
    one = await admin.gql(LOG, {"filter": flt, "first": 1})
    one_count = sql.count
    sql.statements.clear()
    many = await admin.gql(LOG, {"filter": flt, "first": 10})
    many_count = sql.count
    sql.statements.clear()
    await admin.gql(SUMMARY, {"filter": flt})
    # then the statements do not grow with the entries (one for the page, one for the summary)
    assert len(one.data["deliveryLog"]["edges"]) == 1 and len(many.data["deliveryLog"]["edges"]) == 8
    assert one_count == many_count == 1, sql.statements
    assert sql.count == 1, sql.statements


async def test_an_administrator_of_another_instance_sees_and_retries_nothing(
    http: httpx.AsyncClient, tenant: Tenant, new_tenant: Any, bot_api: FakeBotApi
) -> None:
    # given a day of tickets in instance A, with failed deliveries
    await a_day_of_tickets(http, tenant, bot_api)
    failed = [str(r.id) for r in await settled(tenant) if r.status == "FAILED"]
    other = new_tenant().admin()
    # when B's administrator reads the log and the summary and retries A's failures
    log = (await other.gql(LOG, {"first": 100})).data["deliveryLog"]
    summary = (await other.gql(SUMMARY)).data["deliverySummary"]
    by_ids = await other.gql(RETRY, {"ids": failed})
    by_filter = (await other.gql(RETRY, {"filter": {"statuses": ["FAILED"]}})).data["retryDeliveries"]
    # then B sees nothing of A and A's dead letters stay as they were
    assert log == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    assert summary == [] and by_filter == {"ids": []}
    assert by_ids.error_code == "BAD_USER_INPUT"
    assert sorted(str(r.id) for r in await settled(tenant) if r.status == "FAILED") == sorted(failed)


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"first": 5, "after": "not-a-cursor"}, "after"),
        ({"first": 5, "filter": {"channels": ["BELL"]}}, "filter.channels"),
        ({"first": 5, "filter": {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}}, "filter.until"),
        ({"first": 5, "filter": {"userIds": [f"u{i}" for i in range(1001)]}}, None),
    ],
)
async def test_bad_log_inputs_are_coded_errors(tenant: Tenant, variables: dict[str, Any], field: str | None) -> None:
    # when an administrator sends an input out of bounds
    result = await tenant.admin().gql(LOG, variables)
    # then it is refused with a code and a message saying what to change
    assert result.error_code == "BAD_USER_INPUT", result.body
    if field is not None:
        assert result.errors[0]["extensions"].get("field") == field


async def test_operators_and_services_cannot_read_the_log(tenant: Tenant) -> None:
    for caller in (tenant.operator(), tenant.service()):
        assert (await caller.gql(LOG, {"first": 5})).error_code == "FORBIDDEN"
        assert (await caller.gql(SUMMARY)).error_code == "FORBIDDEN"
        assert (await caller.gql(RETRY, {"ids": ["1"]})).error_code == "FORBIDDEN"


async def test_retry_takes_ids_or_a_filter_within_bounds(tenant: Tenant) -> None:
    admin = tenant.admin()
    # when neither, both, or too many ids are sent
    neither = await admin.gql(RETRY)
    both = await admin.gql(RETRY, {"ids": ["1"], "filter": {}})
    too_many = await admin.gql(RETRY, {"ids": [str(i) for i in range(1, 1002)]})
    # then each is refused with a code
    assert [r.error_code for r in (neither, both, too_many)] == ["BAD_USER_INPUT"] * 3
    assert "at most 1000" in too_many.error_message


async def test_retrying_three_dead_letters_sends_each_once_after_telegram_recovers(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given three tickets whose Telegram deliveries failed (the bot was blocked)
    assert "errors" not in await configure(tenant, bot_api)
    olena = tenant.operator("olena")
    await link(http, tenant, olena, chat_id=555001)
    assert "errors" not in (await olena.gql(SET_CHANNELS)).body
    for n in range(3):
        bot_api.fail_next(403, BLOCKED)
        await publish(tenant, f"t-dead-{n}", "olena")
        await settled(tenant)
    admin = tenant.admin()
    dead = await whole_log(admin, {"statuses": ["FAILED"]})
    assert len(dead) == 3 and all(e["attempts"] == 1 for e in dead)
    assert len(bot_api.sent()) == 3  # the three sends Telegram refused
    # when Telegram works again and the administrator retries the first by id and the rest by filter
    first = (await admin.gql(RETRY, {"ids": [dead[0]["id"]]})).data["retryDeliveries"]
    rest = (await admin.gql(RETRY, {"filter": {"statuses": ["FAILED"], "channels": ["TELEGRAM"]}})).data[
        "retryDeliveries"
    ]
    # then each ends SENT after one fresh attempt, and the chat got one message per ticket
    assert first == {"ids": [dead[0]["id"]]}
    assert sorted(rest["ids"]) == sorted(e["id"] for e in dead[1:])
    rows = await settled(tenant)
    assert sorted((r.status, r.attempts, r.last_error) for r in rows) == [("SENT", 1, None)] * 3
    delivered = (await bot_api.wait_for(6))[3:]
    assert [m["text"].splitlines()[0] for m in delivered] == ["New ticket #42"] * 3
    assert len(bot_api.sent("555001")) == 6
    # and a retry of what is no longer FAILED is refused, changing nothing
    again = await admin.gql(RETRY, {"ids": [dead[0]["id"]]})
    assert again.error_code == "BAD_USER_INPUT" and "not FAILED" in again.error_message


async def test_filter_values_longer_than_their_columns_are_refused_with_the_field(tenant: Tenant) -> None:
    admin = tenant.admin()
    cases = [
        (LOG, {"filter": {"userIds": ["x" * 129]}, "first": 5}, "filter.userIds"),
        (SUMMARY, {"filter": {"userIds": ["y" * 500]}}, "filter.userIds"),
        (LOG, {"filter": {"typeCodes": ["x" * 10_000]}, "first": 5}, "filter.typeCodes"),
        (RETRY, {"filter": {"userIds": ["z" * 500]}}, "filter.userIds"),
    ]
    for document, variables, field in cases:
        [error] = (await admin.gql(document, variables)).errors
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"].get("field") == field and "x" * 200 not in error["message"], error
