"""Per-operator channel health for supervisors and administrators: whose Telegram stopped working,
whose browser push subscriptions are all gone — from what the workers recorded when they settled."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.channel_support import publish
from tests.channels.test_channel_telegram import SET_CHANNELS, configure, link
from tests.channels.test_channel_webpush import CHOOSE, browser_delivery, subscribe, until
from tests.channels.test_channel_webpush import publish as publish_to
from tests.conftest import Tenant
from tests.fakes.push_service import FakePushService, serve_push_service
from tests.fakes.telegram_bot_api import FakeBotApi, serve_bot_api
from tests.polling import eventually

HEALTH = """query($channels: [ChannelKind!], $first: Int!, $after: String) {
  channelHealth(channels: $channels, first: $first, after: $after) {
    edges { cursor node { userId operatorName problems { channel status lastError lastTestAt pushSubscriptions } } }
    pageInfo { hasNextPage endCursor } } }"""
TEST_SEND = "mutation { testChannel(channel: TELEGRAM) { status } }"


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with serve_bot_api(f"123:TOKEN{uuid.uuid4().hex}") as api:
        yield api


@pytest.fixture
async def push(tenant: Tenant) -> AsyncIterator[FakePushService]:
    async with serve_push_service() as service:
        service.vapid_public_key = (await tenant.operator().gql("{ webPushPublicKey }")).data["webPushPublicKey"]
        yield service


async def health(caller: Any, **variables: Any) -> dict[str, Any]:
    return (await caller.gql(HEALTH, {"first": 50, **variables})).data["channelHealth"]


async def blocked_and_working(http: httpx.AsyncClient, tenant: Tenant, api: FakeBotApi) -> None:
    """olena's chat blocked the bot (her ticket's send was refused), taras's Telegram works."""
    assert "errors" not in await configure(tenant, api)
    for name, chat in (("olena", 555001), ("taras", 555002)):
        operator = tenant.operator(name, name=name.title())
        await link(http, tenant, operator, chat_id=chat)
        assert "errors" not in (await operator.gql(SET_CHANNELS)).body
    api.fail_next(403, "Forbidden: bot was blocked by the user")
    await publish(tenant, "t-blocked", "olena")
    await api.wait_for(1)
    await publish(tenant, "t-fine", "taras")
    await api.wait_for(2)


async def test_an_operator_whose_chat_blocked_the_bot_is_listed_until_a_send_gets_through(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given olena's chat blocked the bot and taras's works
    await blocked_and_working(http, tenant, bot_api)
    supervisor = tenant.caller("supervisor")
    # when the supervisor reads the channel health
    page = await eventually(lambda: health(supervisor), lambda p: p["edges"])
    # then only olena is listed, her Telegram in ERROR with Telegram's reason
    [edge] = page["edges"]
    assert (edge["node"]["userId"], edge["node"]["operatorName"]) == ("olena", "Olena")
    [problem] = edge["node"]["problems"]
    assert (problem["channel"], problem["status"], problem["pushSubscriptions"]) == ("TELEGRAM", "ERROR", None)
    assert "blocked the bot" in problem["lastError"]
    assert (await health(supervisor, channels=["EMAIL"]))["edges"] == []

    # when she unblocks the bot and her test send gets through
    assert (await tenant.operator("olena").gql(TEST_SEND)).data["testChannel"]["status"] == "SENT"
    # then nobody is listed any more
    assert (await health(supervisor))["edges"] == []


async def test_an_operator_whose_push_subscriptions_all_expired_is_listed_with_none_left(
    tenant: Tenant, push: FakePushService
) -> None:
    # given an operator whose only browser's push service says it is gone
    dan = tenant.operator("dan")
    laptop = await subscribe(dan, push, "laptop")
    push.answer(laptop.name, 410)
    await dan.gql(CHOOSE, {"type": "ticket_created"})
    # when a ticket is pushed to it
    nid = await publish_to(tenant, dan)
    delivery = await until(browser_delivery(dan, nid), lambda d: d["status"] not in ("QUEUED", "RETRYING"))
    assert delivery["status"] == "FAILED"
    # then the administrator sees that dan's browser pushes have nowhere left to go
    [edge] = (await health(tenant.admin()))["edges"]
    [problem] = edge["node"]["problems"]
    assert edge["node"]["userId"] == "dan"
    assert (problem["channel"], problem["status"], problem["pushSubscriptions"]) == ("BROWSER", "NOT_LINKED", 0)
    assert "expired" in problem["lastError"]


async def test_health_pages_with_the_same_statements_for_one_operator_as_for_many(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, sql: Any
) -> None:
    # given four operators whose chats blocked the bot
    assert "errors" not in await configure(tenant, bot_api)
    for n in range(4):
        operator = tenant.operator(f"op{n}")
        await link(http, tenant, operator, chat_id=556000 + n)
        assert "errors" not in (await operator.gql(SET_CHANNELS)).body
        bot_api.fail_next(403, "Forbidden: bot was blocked by the user")
        await publish(tenant, f"t-{n}", f"op{n}")
        await bot_api.wait_for(n + 1)
    admin = tenant.admin()
    await eventually(lambda: health(admin), lambda p: len(p["edges"]) == 4)
    # when the health is read one operator at a time, and all at once
    sql.statements.clear()
    first = await health(admin, first=1)
    one = sql.count
    sql.statements.clear()
    everyone = await health(admin, first=10)
    many = sql.count
    rest = await health(admin, first=10, after=first["pageInfo"]["endCursor"])
    # then the pages hold every operator once, and the statements do not grow with them
    assert [e["node"]["userId"] for e in everyone["edges"]] == ["op0", "op1", "op2", "op3"]
    assert first["pageInfo"]["hasNextPage"] and not everyone["pageInfo"]["hasNextPage"]
    assert [e["node"]["userId"] for e in rest["edges"]] == ["op1", "op2", "op3"]
    assert one == many <= 5, sql.statements


async def test_another_instances_administrator_sees_no_health_and_bad_inputs_are_coded(
    http: httpx.AsyncClient, tenant: Tenant, new_tenant: Any, bot_api: FakeBotApi
) -> None:
    # given an instance with a blocked chat
    await blocked_and_working(http, tenant, bot_api)
    await eventually(lambda: health(tenant.admin()), lambda p: p["edges"])
    # when another instance's administrator asks
    other = new_tenant().admin()
    # then they see nothing of it
    assert (await health(other))["edges"] == []
    # and inputs out of bounds, operators and services are refused with codes
    for variables in ({"first": 0}, {"first": 101}, {"first": 5, "after": "x"}, {"first": 5, "channels": ["BELL"]}):
        assert (await other.gql(HEALTH, variables)).error_code == "BAD_USER_INPUT"
    assert (await tenant.operator().gql(HEALTH, {"first": 5})).error_code == "FORBIDDEN"
