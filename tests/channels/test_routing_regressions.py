"""Attention routing's regressions (issue 15), from a reviewer's attack: collapsed items counted once
in a digest, a short digest window never stretched, held messages following a changed schedule,
archived and snoozed items not escalated, a reconnecting hidden tab still away, a digested message
outside working hours shown HELD, a digest retried after a 429 still one message."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.channel_support import LATEST, PUBLISH
from tests.channels.test_attention_routing import (
    BELL,
    HOURS,
    INSTANCE,
    PUBLISH_MANY,
    ROUTE,
    TOASTS,
    TYPE_POLICY,
    at_panel,
    olena,
    opening_in,
    telegram_row,
    ticket,
)
from tests.channels.test_channel_telegram import bot_api
from tests.conftest import Tenant
from tests.fakes.telegram_bot_api import FakeBotApi
from tests.polling import eventually
from tests.wsclient import GraphQLWS

__all__ = ["bot_api"]

MESSAGE_CHANNELS = 'mutation { setTypeChannels(typeCode: "ticket_message", channels: [BELL, TELEGRAM]) { code } }'


def ticket_message(event_id: str, number: int, text: str = "hi") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "ticket_message",
        "recipients": ["olena"],
        "data": {"ticketNumber": number, "clientName": "Client", "text": text},
    }


async def test_a_digest_counts_a_collapsed_item_once(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a digest window of 4 s (the collapse window is 1 s in the tests)
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await operator.gql(MESSAGE_CHANNELS)).body
    assert "errors" not in (await tenant.admin().gql(INSTANCE, {"input": {"digestWindowSeconds": 4}})).body
    # when three client messages in ticket 7 come 1.3 s apart (one bell item counting 3)
    for i in range(3):
        await tenant.service().gql(PUBLISH, {"input": ticket_message(f"m-{i}", 7)})
        await asyncio.sleep(1.3)
    node = (await operator.gql("{ notifications(first: 5) { edges { node { count } } } }")).data["notifications"]
    assert [e["node"]["count"] for e in node["edges"]] == [3]
    # then the digest says 3 messages, not 3 + 3 + 3
    [message] = await bot_api.wait_for(1, seconds=8)
    assert message["text"].splitlines()[0] == "3 new notifications", message["text"]


async def test_a_short_digest_window_is_not_stretched_by_another_types_long_one(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given ticket messages digested over 30 s, and new tickets over 1 s
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await operator.gql(MESSAGE_CHANNELS)).body
    saved = await tenant.admin().gql(TYPE_POLICY, {"input": {"typeCode": "ticket_message", "digestWindowSeconds": 30}})
    assert "errors" not in saved.body, saved.body
    saved = await tenant.admin().gql(TYPE_POLICY, {"input": {"typeCode": "ticket_created", "digestWindowSeconds": 1}})
    assert "errors" not in saved.body, saved.body
    # when a client message comes, then a new ticket
    await tenant.service().gql(PUBLISH, {"input": ticket_message("m-1", 7)})
    await tenant.service().gql(PUBLISH, {"input": ticket("t-1", 8)})
    # then the new ticket reaches Telegram within its own 1 s window (give it 4 s), not after 30 s
    sent = await bot_api.wait_for(1, seconds=4)
    assert any("New ticket #8" in m["text"] for m in sent), [m["text"] for m in sent]


async def test_changing_working_hours_to_any_time_releases_held_messages(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a message HELD until working hours that open in an hour
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await operator.gql(HOURS, {"input": opening_in("UTC", 3600)})).body
    await tenant.service().gql(PUBLISH, {"input": ticket("h-1", 301)})
    assert (await telegram_row(operator))["status"] == "HELD"
    # when the operator (or the platform) says: any time
    assert "errors" not in (await operator.gql(HOURS, {"input": {"timezone": "UTC", "days": []}})).body
    # then the held message goes out now, not an hour later
    sent = await bot_api.wait_for(1, seconds=4)
    assert "New ticket #301" in sent[0]["text"]
    # (the row is settled once the worker has read the Bot API's answer: a moment after the message arrived)
    row = await eventually(lambda: telegram_row(operator), lambda r: r["status"] == "SENT")
    assert row["status"] == "SENT"


async def test_an_archived_item_is_not_escalated(http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi) -> None:
    operator = await olena(http, tenant, bot_api)
    routing = {"routing": [{"channel": "TELEGRAM", "mode": "ESCALATE_AFTER", "escalateAfterMinutes": 2}]}
    assert "errors" not in (await operator.gql(ROUTE, routing)).body
    await tenant.service().gql(PUBLISH, {"input": ticket("a-1", 501)})
    node = (await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]
    # when she archives it (dealt with) before the deadline
    done = await operator.gql(
        "mutation($ids: [ID!]!) { archiveNotifications(ids: $ids) { ids } }", {"ids": [node["id"]]}
    )
    assert "errors" not in done.body
    await asyncio.sleep(2.5)
    assert bot_api.sent() == []
    row = await telegram_row_of(operator, node["id"])
    assert row["status"] == "CANCELLED" and "archived" in row["lastError"]


async def test_a_snoozed_item_is_not_escalated_while_snoozed(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    operator = await olena(http, tenant, bot_api)
    routing = {"routing": [{"channel": "TELEGRAM", "mode": "ESCALATE_AFTER", "escalateAfterMinutes": 2}]}
    assert "errors" not in (await operator.gql(ROUTE, routing)).body
    await tenant.service().gql(PUBLISH, {"input": ticket("s-1", 502)})
    node = (await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    snoozed = await operator.gql(
        "mutation($ids: [ID!]!, $u: DateTime!) { snoozeNotifications(ids: $ids, until: $u) { ids } }",
        {"ids": [node["id"]], "u": until},
    )
    assert "errors" not in snoozed.body, snoozed.body
    await asyncio.sleep(2.5)
    assert bot_api.sent() == []
    assert (await telegram_row_of(operator, node["id"]))["status"] == "CANCELLED"


async def telegram_row_of(operator: Any, notification_id: str) -> dict[str, Any]:
    rows = (
        await operator.gql(
            "query($id: ID!) { deliveries(notificationId: $id) { channel status lastError dueAt route } }",
            {"id": notification_id},
        )
    ).data["deliveries"]
    return next(r for r in rows if r["channel"] == "TELEGRAM")


async def test_an_away_status_is_read_whatever_its_case(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, live_server: str
) -> None:
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await operator.gql(ROUTE, {"routing": [{"channel": "TELEGRAM", "mode": "WHEN_AWAY"}]})).body
    async with at_panel(live_server, operator):
        status = {"id": "st-1", "type": "operator_status_changed", "recipients": ["olena"], "data": {"status": "Away"}}
        assert "errors" not in (await tenant.service().gql(PUBLISH, {"input": status})).body
        await tenant.service().gql(PUBLISH, {"input": ticket("st-t", 703)})
        [message] = await bot_api.wait_for(1, seconds=3)
        assert "New ticket #703" in message["text"]


async def test_burst_across_calls_is_one_digest_per_window(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    await olena(http, tenant, bot_api)
    assert "errors" not in (await tenant.admin().gql(INSTANCE, {"input": {"digestWindowSeconds": 2}})).body
    await tenant.service().gql(PUBLISH_MANY, {"inputs": [ticket(f"b-{i}", 100 + i) for i in range(3)]})
    bot_api.fail_next(429, "Too Many Requests: retry after 1", retry_after=1)
    await asyncio.sleep(2.5)
    # while the digest is retried, more come
    await tenant.service().gql(PUBLISH_MANY, {"inputs": [ticket(f"c-{i}", 200 + i) for i in range(2)]})
    await asyncio.sleep(5)
    texts = [m["text"].splitlines()[0] for m in bot_api.sent()]
    assert sorted(texts) == ["2 new notifications", "3 new notifications"], texts


async def test_a_digested_message_outside_working_hours_shows_held_with_its_release(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given digests on and working hours that open in an hour
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await tenant.admin().gql(INSTANCE, {"input": {"digestWindowSeconds": 30}})).body
    assert "errors" not in (await operator.gql(HOURS, {"input": opening_in("UTC", 3600)})).body
    await tenant.service().gql(PUBLISH, {"input": ticket("n-1", 301)})
    # then the notification's Telegram delivery says HELD and when (issue: "status HELD with the release time")
    row = await telegram_row(operator)
    assert (row["status"], row["route"]) == ("HELD", "ALWAYS") and row["digestId"]
    assert 3500 < (datetime.fromisoformat(row["dueAt"]) - datetime.now(UTC)).total_seconds() <= 3600


async def test_a_hidden_tab_that_reconnects_is_still_away(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, live_server: str
) -> None:
    # given Olena (WHEN_AWAY on Telegram) whose only panel tab went hidden (she left her desk)
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await operator.gql(ROUTE, {"routing": [{"channel": "TELEGRAM", "mode": "WHEN_AWAY"}]})).body
    async with at_panel(live_server, operator) as tab:
        assert "errors" not in (await operator.gql("mutation { reportPanelActivity(active: false) { active } }")).body
    # when the hidden tab's socket drops and reconnects by itself (a deploy, a network blip)
    async with GraphQLWS(live_server, operator.token) as tab:
        await tab.subscribe(BELL)
        await asyncio.sleep(0.3)
        # then nobody touched the page: she is still away, and a ticket reaches Telegram
        await tenant.service().gql(PUBLISH, {"input": ticket("rc-1", 901)})
        sent = await bot_api.wait_for(1, seconds=3)
        assert sent, ("a reconnect counted as activity", await telegram_row(operator))


async def test_a_when_away_digest_is_not_sent_while_the_operator_is_active_in_the_panel(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, live_server: str
) -> None:
    # given Olena: Telegram WHEN_AWAY, digests over 3 s; she is away when two tickets come
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await operator.gql(ROUTE, {"routing": [{"channel": "TELEGRAM", "mode": "WHEN_AWAY"}]})).body
    assert "errors" not in (await tenant.admin().gql(INSTANCE, {"input": {"digestWindowSeconds": 3}})).body
    await tenant.service().gql(PUBLISH_MANY, {"inputs": [ticket("d-1", 801), ticket("d-2", 802)]})
    # when she opens the panel (active) before the window ends and stays there
    async with at_panel(live_server, operator):
        await asyncio.sleep(4.5)
        # then nothing reaches Telegram while she is active in the panel (WHEN_AWAY)
        assert bot_api.sent() == []
    # and once she left, the digest goes out, once
    [message] = await bot_api.wait_for(1, seconds=4)
    assert message["text"].splitlines()[0] == "2 new notifications"


async def test_a_when_away_message_waiting_at_the_panel_respects_working_hours_once_she_leaves(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, live_server: str
) -> None:
    # given Olena: Telegram WHEN_AWAY, no working hours yet; a ticket comes while she is in the panel
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await operator.gql(ROUTE, {"routing": [{"channel": "TELEGRAM", "mode": "WHEN_AWAY"}]})).body
    async with at_panel(live_server, operator):
        await tenant.service().gql(PUBLISH, {"input": ticket("w-1", 901)})
        assert "active in the panel" in (await telegram_row(operator))["lastError"]
        # when her shift ends (working hours now open only in an hour) and she closes the panel
        assert "errors" not in (await operator.gql(HOURS, {"input": opening_in("UTC", 3600)})).body
    await asyncio.sleep(2.5)
    # then the message is HELD until her hours open, not sent at night
    assert bot_api.sent() == []
    held = await telegram_row(operator)
    assert held["status"] == "HELD" and held["dueAt"]


async def test_a_burst_that_waited_at_the_panel_is_one_digest_once_she_leaves(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, live_server: str
) -> None:
    # given Olena: Telegram WHEN_AWAY, digests over 2 s
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await operator.gql(ROUTE, {"routing": [{"channel": "TELEGRAM", "mode": "WHEN_AWAY"}]})).body
    assert "errors" not in (await tenant.admin().gql(INSTANCE, {"input": {"digestWindowSeconds": 2}})).body
    # when a burst of 8 tickets comes while she is active in the panel, and she leaves unread
    async with at_panel(live_server, operator):
        await tenant.service().gql(PUBLISH_MANY, {"inputs": [ticket(f"p-{i}", 900 + i) for i in range(8)]})
        await asyncio.sleep(1)
    await asyncio.sleep(4)
    # then Telegram gets one digest, not 8 messages
    texts = [m["text"].splitlines()[0] for m in bot_api.sent()]
    assert texts == ["8 new notifications"]


async def test_an_always_type_in_a_digest_is_not_held_back_by_a_when_away_member(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, live_server: str
) -> None:
    # given client messages go to Telegram only when away (type policy), new tickets ALWAYS,
    # and the instance digests bursts within 2 s
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await operator.gql(MESSAGE_CHANNELS)).body
    routing = {"typeCode": "ticket_message", "routing": [{"channel": "TELEGRAM", "mode": "WHEN_AWAY"}]}
    saved = await tenant.admin().gql(TYPE_POLICY, {"input": routing})
    assert "errors" not in saved.body, saved.body
    assert "errors" not in (await tenant.admin().gql(INSTANCE, {"input": {"digestWindowSeconds": 2}})).body
    async with at_panel(live_server, operator, BELL, TOASTS):
        # when a client message and then a new ticket come while she is at the panel
        await tenant.service().gql(PUBLISH, {"input": ticket_message("m-1", 7)})
        await tenant.service().gql(PUBLISH, {"input": ticket("t-1", 8)})
        # then the new ticket (ALWAYS) reaches Telegram after its window, though she stays at the panel
        [message] = await bot_api.wait_for(1, seconds=6)
        assert message["text"].splitlines()[:2] == ["1 new notification", "• New ticket #8"]
        await asyncio.sleep(1.5)
        assert len(bot_api.sent()) == 1  # the client message waits while she is there
    # and once she left, the client message goes out too, once
    second = await bot_api.wait_for(2, seconds=6)
    assert len(second) == 2 and "ticket #7" in second[1]["text"]


async def test_a_collapsed_item_escalates_once(http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi) -> None:
    # given Olena escalates Telegram after 4 minutes (2 s here); the collapse window is 1 s
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await operator.gql(MESSAGE_CHANNELS)).body
    routing = {"routing": [{"channel": "TELEGRAM", "mode": "ESCALATE_AFTER", "escalateAfterMinutes": 4}]}
    assert "errors" not in (await operator.gql(ROUTE, routing)).body
    # when three client messages in ticket 7 come 1.3 s apart (one unread bell item counting 3)
    for i in range(3):
        await tenant.service().gql(PUBLISH, {"input": ticket_message(f"c-{i}", 7)})
        await asyncio.sleep(1.3)
    # then the unread item is escalated once, not once per collapse window
    await bot_api.wait_for(1, seconds=6)
    await asyncio.sleep(3)
    assert len(bot_api.sent()) == 1


async def test_a_held_escalation_follows_changed_working_hours(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given an escalation (2 min = 1 s) whose deadline falls outside working hours (they open in an hour)
    operator = await olena(http, tenant, bot_api)
    routing = {"routing": [{"channel": "TELEGRAM", "mode": "ESCALATE_AFTER", "escalateAfterMinutes": 2}]}
    assert "errors" not in (await operator.gql(ROUTE, routing)).body
    assert "errors" not in (await operator.gql(HOURS, {"input": opening_in("UTC", 3600)})).body
    await tenant.service().gql(PUBLISH, {"input": ticket("e-1", 901)})
    assert (await telegram_row(operator))["status"] == "HELD"
    # when the operator says: any time
    assert "errors" not in (await operator.gql(HOURS, {"input": {"timezone": "UTC", "days": []}})).body
    # then the still-unread escalation goes out (its deadline passed), not an hour later
    sent = await bot_api.wait_for(1, seconds=5)
    assert "New ticket #901" in sent[0]["text"]
    await asyncio.sleep(0.5)
    assert len(bot_api.sent()) == 1
