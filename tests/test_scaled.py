"""Scale-out (SPEC 7): two API processes and worker processes on PostgreSQL and Redis.

Real subprocesses of the `notification-center` command. A subscriber on one API process receives
what is published through the other; a worker killed with SIGKILL in the middle of deliveries loses
nothing; a Redis restart loses nothing published after it and subscribers resume.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.cluster import Cluster, deployment
from tests.fakes.telegram_bot_api import FakeBotApi, serve_bot_api
from tests.wsclient import GraphQLWS

pytestmark = pytest.mark.scaled
INSTANCE = "acme"
BOT_TOKEN = "4242:SCALED-TOKEN"
BELL = """subscription($after: String) { bell(after: $after) { __typename
  ... on NotificationAdded { unreadCount notification { id title } } ... on NotificationsRead { ids unreadCount } } }"""
TOASTS = "subscription { toasts { durationSeconds notification { id title } } }"


@pytest.fixture
async def cluster(tmp_path) -> AsyncIterator[Cluster]:
    async with deployment(tmp_path) as c:
        yield c


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with serve_bot_api(BOT_TOKEN) as api:
        yield api


async def gql(base: str, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            f"{base}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


async def setup_telegram(c: Cluster, api_base: str, bot_api: FakeBotApi, user: str) -> str:
    """Configure the bot, link the user's chat through the webhook; returns the user's token."""
    tokens = c.tokens()
    admin = tokens.issue(instance=INSTANCE, user="admin", role="administrator")
    operator = tokens.issue(instance=INSTANCE, user=user, role="operator")
    await gql(
        api_base,
        admin,
        """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) {
        notificationCenterEnabled } }""",
        {
            "input": {
                "botChannels": [
                    {
                        "channel": "TELEGRAM",
                        "enabled": True,
                        "secret": BOT_TOKEN,
                        "settings": {
                            "botUsername": "acme_bot",
                            "apiBaseUrl": bot_api.base_url,
                            "webhookSecretToken": "hook",
                        },
                    }
                ]
            }
        },
    )
    code = (await gql(api_base, operator, "mutation { startChannelLink(channel: TELEGRAM) { code } }"))[
        "startChannelLink"
    ]["code"]
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{api_base}/webhooks/telegram/{INSTANCE}",
            headers={"X-Telegram-Bot-Api-Secret-Token": "hook"},
            json={
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "text": f"/start {code}",
                    "chat": {"id": 777, "type": "private"},
                    "from": {"id": 777, "username": user},
                },
            },
        )
    assert answer.status_code == 200 and answer.json()["method"] == "sendMessage"
    await gql(
        api_base,
        operator,
        'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, BANNER, TELEGRAM]) { code } }',
    )
    return operator


def event(event_id: str, user: str) -> dict[str, Any]:
    return {"id": event_id, "type": "ticket_created", "recipients": [user], "data": {"ticketNumber": event_id}}


PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"


async def test_live_items_cross_api_processes_and_telegram_goes_out_once(cluster: Cluster, bot_api: FakeBotApi) -> None:
    # given two API processes, a worker, and an operator with Telegram linked
    api_a, api_b = await cluster.serve("api-a"), await cluster.serve("api-b")
    await cluster.worker("worker-1")
    operator = await setup_telegram(cluster, api_b, bot_api, "olena")
    service = cluster.tokens().issue(instance=INSTANCE, user="platform", role="service")
    host_a = api_a.removeprefix("http://")
    async with GraphQLWS(host_a, operator) as bell, GraphQLWS(host_a, operator) as toasts:
        await bell.subscribe(BELL)
        await toasts.subscribe(TOASTS)
        await asyncio.sleep(0.5)
        # when the platform publishes through the other API process
        await gql(api_b, service, PUBLISH, {"input": event("t-1", "olena")})
        # then the subscriber on the first gets the bell item and the toast
        added = (await bell.next(timeout=10))["bell"]
        toast = (await toasts.next(timeout=10))["toasts"]
        assert added["__typename"] == "NotificationAdded" and added["unreadCount"] == 1
        assert toast["notification"]["id"] == added["notification"]["id"]
        # and marking read through the second reaches the first
        await gql(
            api_b,
            operator,
            "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { unreadCount } }",
            {"ids": [added["notification"]["id"]]},
        )
        read = (await bell.next(timeout=10))["bell"]
        assert read == {"__typename": "NotificationsRead", "ids": [added["notification"]["id"]], "unreadCount": 0}
    # and the Telegram message went out exactly once (the confirmation of linking is the webhook's answer)
    sent = await bot_api.wait_for(1, seconds=10)
    await asyncio.sleep(0.5)
    assert [m["chat_id"] for m in bot_api.sent()] == ["777"] == [m["chat_id"] for m in sent]


async def test_a_worker_killed_mid_delivery_loses_nothing(cluster: Cluster, bot_api: FakeBotApi) -> None:
    # given a slow provider and a worker busy with 20 deliveries
    api = await cluster.serve("api")
    await cluster.worker("worker-1")
    operator = await setup_telegram(cluster, api, bot_api, "taras")
    service = cluster.tokens().issue(instance=INSTANCE, user="platform", role="service")
    bot_api.delay = 0.3
    for i in range(20):
        await gql(api, service, PUBLISH, {"input": event(f"k-{i}", "taras")})
    while len(bot_api.requests) < 3:
        await asyncio.sleep(0.05)
    # when it is killed with SIGKILL and another worker starts
    cluster.kill("worker-1")
    await cluster.worker("worker-2")
    # then every delivery ends SENT, each notification exactly once in the bell
    for _ in range(300):
        rows = await cluster.query("SELECT channel, status FROM nc_delivery WHERE channel = 'TELEGRAM'")
        if len(rows) == 20 and all(r["status"] == "SENT" for r in rows):
            break
        await asyncio.sleep(0.1)
    assert [r["status"] for r in rows] == ["SENT"] * 20
    bell = await gql(api, operator, "{ notifications(first: 50) { edges { node { title } } } unreadCount }")
    titles = [e["node"]["title"] for e in bell["notifications"]["edges"]]
    assert len(titles) == len(set(titles)) == 20
    # and the provider saw each message at least once; a request in flight when the worker died
    # may have reached it once more (the new worker could not know it was delivered)
    texts = [m["text"].split("\n")[0] for m in bot_api.sent()]
    assert set(texts) == set(titles)
    duplicates = len(texts) - len(set(texts))
    assert duplicates <= 8, f"{duplicates} repeated sends: more than the killed worker had in flight"


async def test_a_redis_restart_loses_nothing_published_after_it(cluster: Cluster, bot_api: FakeBotApi) -> None:
    # given a subscriber on one API process and events flowing through the other
    api_a, api_b = await cluster.serve("api-a"), await cluster.serve("api-b")
    await cluster.worker("worker-1")
    tokens = cluster.tokens()
    operator = tokens.issue(instance=INSTANCE, user="anna", role="operator")
    service = tokens.issue(instance=INSTANCE, user="platform", role="service")
    received: list[str] = []
    async with GraphQLWS(api_a.removeprefix("http://"), operator) as bell:
        await bell.subscribe(BELL)
        await asyncio.sleep(0.5)

        async def listen() -> None:
            while True:
                data = (await bell.next(timeout=30))["bell"]
                if data["__typename"] == "NotificationAdded":
                    received.append(data["notification"]["title"])

        listener = asyncio.create_task(listen())
        for i in range(5):
            await gql(api_b, service, PUBLISH, {"input": event(f"before-{i}", "anna")})
        # when Redis is killed and restarted while the platform goes on publishing
        cluster.kill_redis()
        down = httpx.get(f"{api_a}/readyz")
        assert down.status_code == 503 and down.json()["checks"]["redis"] != "ok"
        for i in range(3):
            await gql(api_b, service, PUBLISH, {"input": event(f"during-{i}", "anna")})
        await cluster.start_redis()
        await asyncio.sleep(1.0)
        for i in range(5):
            await gql(api_b, service, PUBLISH, {"input": event(f"after-{i}", "anna")})
        # then everything published after the restart arrives (and the bell resynced the gap)
        for _ in range(200):
            if all(f"New ticket #after-{i}" in received for i in range(5)):
                break
            await asyncio.sleep(0.1)
        listener.cancel()
    assert {f"New ticket #after-{i}" for i in range(5)} <= set(received)
    assert {f"New ticket #during-{i}" for i in range(3)} <= set(received), received
    assert len(received) == len(set(received)), "a bell item arrived twice"
    ready = httpx.get(f"{api_a}/readyz").json()
    assert ready["checks"]["redis"] == "ok"


async def test_a_worker_process_uses_a_bot_setting_changed_a_moment_ago(cluster: Cluster) -> None:
    # given an API process that runs no workers, a worker process, and CUSTOM pointed at one receiver
    from tests.fakes.webhook_receiver import webhook_receiver

    cluster.overrides["NC_RUN_WORKERS"] = "0"
    api = await cluster.serve("api")
    await cluster.worker("worker-1")
    tokens = cluster.tokens()
    admin = tokens.issue(instance=INSTANCE, user="admin", role="administrator")
    operator = tokens.issue(instance=INSTANCE, user="ivan", role="operator")
    configure = """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) {
      notificationCenterEnabled } }"""
    test = "mutation { testChannel(channel: CUSTOM) { status lastError } }"

    def custom(url: str) -> dict[str, Any]:
        bot = {"channel": "CUSTOM", "enabled": True, "settings": {"url": url}, "secret": "whsec-scaled"}
        return {"input": {"botChannels": [bot]}}

    async with webhook_receiver("whsec-scaled") as old, webhook_receiver("whsec-scaled") as new:
        await gql(api, admin, configure, custom(old.url))
        assert (await gql(api, operator, test))["testChannel"]["status"] == "SENT"  # the worker caches it
        # when the administrator points it elsewhere and the operator tests at once
        await gql(api, admin, configure, custom(new.url))
        second = (await gql(api, operator, test))["testChannel"]
    # then the worker process forgot the old settings when the API process announced the change
    assert second == {"status": "SENT", "lastError": None}
    assert (len(old.requests), len(new.requests)) == (1, 1)


async def test_a_setting_saved_through_one_api_process_is_read_at_once_through_the_other(cluster: Cluster) -> None:
    # given two API processes, and an operator whose types tab each has read (and keeps a copy of)
    api_a, api_b = await cluster.serve("api-a"), await cluster.serve("api-b")
    operator = cluster.tokens().issue(instance=INSTANCE, user="taras", role="operator")
    tab = '{ notificationTypes(search: "ticket_created") { code channels } }'
    before = (await gql(api_b, operator, tab))["notificationTypes"]
    assert before == [{"code": "ticket_created", "channels": ["BELL", "BANNER"]}]
    assert (await gql(api_a, operator, tab))["notificationTypes"] == before
    # when they choose other channels through the first process
    await gql(api_a, operator, 'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL]) { code } }')
    # then both processes answer with the new choice right away
    for api in (api_a, api_b):
        after = (await gql(api, operator, tab))["notificationTypes"]
        assert after == [{"code": "ticket_created", "channels": ["BELL"]}], api


async def test_a_setting_saved_over_the_websocket_is_read_at_once_through_the_other_process(cluster: Cluster) -> None:
    # given two API processes, and an operator whose types tab each has read (and keeps a copy of)
    api_a, api_b = await cluster.serve("api-a"), await cluster.serve("api-b")
    operator = cluster.tokens().issue(instance=INSTANCE, user="taras", role="operator")
    tab = '{ notificationTypes(search: "ticket_created") { code channels } }'
    before = (await gql(api_b, operator, tab))["notificationTypes"]
    assert before == [{"code": "ticket_created", "channels": ["BELL", "BANNER"]}]
    # when they choose other channels through the first process, over the panel's WebSocket
    async with GraphQLWS(api_a.removeprefix("http://"), operator) as ws:
        await ws.subscribe('mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL]) { code } }')
        assert await ws.next() == {"setTypeChannels": {"code": "ticket_created"}}
    await asyncio.sleep(0.3)  # far more than a Redis round trip
    # then the other process answers with the new choice
    after = (await gql(api_b, operator, tab))["notificationTypes"]
    assert after == [{"code": "ticket_created", "channels": ["BELL"]}]


async def test_when_away_follows_a_panel_open_on_the_other_api_process(cluster: Cluster, bot_api: FakeBotApi) -> None:
    # given two API processes, a worker, and an operator who wants Telegram only when away
    api_a, api_b = await cluster.serve("api-a"), await cluster.serve("api-b")
    await cluster.worker("worker-1")
    operator = await setup_telegram(cluster, api_b, bot_api, "olena")
    routing = """mutation { updateChannelSettings(input: {routing: [{channel: TELEGRAM, mode: WHEN_AWAY}]}) {
      channels { kind routingMode } } }"""
    await gql(api_b, operator, routing)
    service = cluster.tokens().issue(instance=INSTANCE, user="platform", role="service")
    # when her panel is open on the first process and the platform publishes through the second
    async with GraphQLWS(api_a.removeprefix("http://"), operator) as bell:
        await bell.subscribe(BELL)
        await asyncio.sleep(0.5)
        await gql(api_b, service, PUBLISH, {"input": event("away-1", "olena")})
        assert (await bell.next(timeout=10))["bell"]["__typename"] == "NotificationAdded"
        await asyncio.sleep(1.0)
        # then she sees it there and Telegram stays quiet
        assert bot_api.sent() == []
    # and once that panel is closed, the next one reaches Telegram, once
    await asyncio.sleep(0.5)
    await gql(api_b, service, PUBLISH, {"input": event("away-2", "olena")})
    [message] = await bot_api.wait_for(1, seconds=10)
    assert "away-2" in message["text"]
    await asyncio.sleep(0.5)
    assert len(bot_api.sent()) == 1
