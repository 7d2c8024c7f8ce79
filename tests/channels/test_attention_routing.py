"""Attention routing (issue 15) through the app and a local Telegram Bot API: escalation only while
unread, digests of bursts, working hours that hold and release, always-on types at night, and two
workers that never send a digest or a held message twice. Time is shortened by the test settings: an
ESCALATE_AFTER "minute" is 0.5 s; working hours are set to open a few seconds from now."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from channels.runtime import Runtime
from tests.channel_support import LATEST, PUBLISH
from tests.channels.test_channel_telegram import SET_CHANNELS, START_LINK, bot_api, configure, start_update, webhook
from tests.conftest import Caller, Tenant
from tests.fakes.telegram_bot_api import FakeBotApi
from tests.polling import eventually
from tests.wsclient import GraphQLWS

__all__ = ["bot_api"]

ROUTE = """mutation($routing: [ChannelRoutingInput!]!) {
  updateChannelSettings(input: {routing: $routing}) { channels { kind routingMode escalateAfterMinutes } } }"""
HOURS = """mutation($input: WorkingHoursInput!) { setWorkingHours(input: $input) { timezone days { day from to } } }"""
INSTANCE = """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) {
  digestWindowSeconds routing { channel mode escalateAfterMinutes } } }"""
TYPE_POLICY = """mutation($input: TypePolicyInput!) { setTypePolicy(input: $input) {
  typeCode alwaysOn digestWindowSeconds routing { channel mode } } }"""
DELIVERIES = """query($id: ID!) { deliveries(notificationId: $id) {
  id channel status lastError dueAt route digestId } }"""
MARK = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids } }"
DECISIONS = """query($t: ID!) { channelDecisions(typeCode: $t) {
  channel enabled routingMode escalateAfterMinutes routingSource digestWindowSeconds alwaysOn explanation } }"""
PUBLISH_MANY = "mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { notificationCount } }"
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


def ticket(event_id: str, number: int, user: str = "olena") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "ticket_created",
        "recipients": [user],
        "data": {"ticketNumber": number, "subject": f"Ticket {number}"},
    }


async def olena(http: httpx.AsyncClient, tenant: Tenant, api: FakeBotApi, **claims: Any) -> Caller:
    """A linked operator who chose BELL and TELEGRAM for new tickets."""
    assert "errors" not in await configure(tenant, api)
    return await linked(http, tenant, "olena", 555001, **claims)


async def linked(http: httpx.AsyncClient, tenant: Tenant, user: str, chat_id: int, **claims: Any) -> Caller:
    operator = tenant.operator(user, **claims)
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]
    assert (await webhook(http, tenant, start_update(f"/start {code}", chat_id))).status_code == 200
    assert "errors" not in (await operator.gql(SET_CHANNELS)).body
    return operator


async def telegram_row(operator: Caller, index: int = 0) -> dict[str, Any]:
    page = (await operator.gql("{ notifications(first: 50) { edges { node { id } } } }")).data["notifications"]
    node = page["edges"][index]["node"]
    rows = (await operator.gql(DELIVERIES, {"id": node["id"]})).data["deliveries"]
    return next(r for r in rows if r["channel"] == "TELEGRAM")


def night_zone() -> str:
    """An Etc/GMT zone whose local time is now between 03:00 and 04:00 (Etc/GMT-N is UTC+N)."""
    offset = (3 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def opening_in(zone: str, seconds: float) -> dict[str, Any]:
    """Working hours in ``zone`` that open ``seconds`` from now and last an hour."""
    from zoneinfo import ZoneInfo

    start = (datetime.now(UTC) + timedelta(seconds=seconds)).astimezone(ZoneInfo(zone))
    end = min(start + timedelta(hours=1), start.replace(hour=23, minute=59, second=59))
    return {
        "timezone": zone,
        "days": [{"day": DAYS[start.weekday()], "from": start.strftime("%H:%M:%S"), "to": end.strftime("%H:%M:%S")}],
    }


async def test_an_escalation_is_sent_only_if_still_unread_at_its_deadline(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given Olena escalates Telegram after 2 minutes (1 s here)
    operator = await olena(http, tenant, bot_api)
    routed = await operator.gql(
        ROUTE, {"routing": [{"channel": "TELEGRAM", "mode": "ESCALATE_AFTER", "escalateAfterMinutes": 2}]}
    )
    rows = {c["kind"]: c for c in routed.data["updateChannelSettings"]["channels"]}
    assert (rows["TELEGRAM"]["routingMode"], rows["TELEGRAM"]["escalateAfterMinutes"]) == ("ESCALATE_AFTER", 2)
    decisions = {
        d["channel"]: d for d in (await operator.gql(DECISIONS, {"t": "ticket_created"})).data["channelDecisions"]
    }
    assert (decisions["TELEGRAM"]["routingMode"], decisions["TELEGRAM"]["routingSource"]) == (
        "ESCALATE_AFTER",
        "OPERATOR",
    )
    assert "after 2 min only if still unread" in decisions["TELEGRAM"]["explanation"]
    # when a ticket comes and she leaves it unread
    await tenant.service().gql(PUBLISH, {"input": ticket("esc-1", 501)})
    waiting = await telegram_row(operator)
    assert (waiting["status"], waiting["route"]) == ("QUEUED", "ESCALATE_AFTER") and waiting["dueAt"]
    await asyncio.sleep(0.5)
    assert bot_api.sent() == []  # not before the deadline
    # then it reaches Telegram after the deadline
    [message] = await bot_api.wait_for(1)
    assert "New ticket #501" in message["text"]
    # and a second one she reads before the deadline is CANCELLED and never sent
    await tenant.service().gql(PUBLISH, {"input": ticket("esc-2", 502)})
    node = (await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]
    assert (await operator.gql(MARK, {"ids": [node["id"]]})).data["markNotificationsRead"]["ids"] == [node["id"]]
    await asyncio.sleep(1.5)
    assert len(bot_api.sent()) == 1
    cancelled = await telegram_row(operator)
    assert cancelled["status"] == "CANCELLED" and "read before it was sent" in cancelled["lastError"]


async def test_a_burst_becomes_one_digest_in_the_recipients_language(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given an instance that digests bursts within 2 s, and a Ukrainian-speaking operator
    operator = await olena(http, tenant, bot_api, locale="uk")
    saved = await tenant.admin().gql(INSTANCE, {"input": {"digestWindowSeconds": 2}})
    assert saved.data["updateInstanceSettings"]["digestWindowSeconds"] == 2
    # when 30 tickets come within the window (in three calls), two of them about ticket 7
    events = [ticket(f"burst-{i}", 7 if i < 2 else 100 + i) for i in range(30)]
    for start in range(0, 30, 10):
        await tenant.service().gql(PUBLISH_MANY, {"inputs": events[start : start + 10]})
    # then one Telegram message lists them, in Ukrainian
    [message] = await bot_api.wait_for(1, seconds=8)
    lines = message["text"].splitlines()
    assert lines[0] == "30 нових сповіщень"
    assert "• Новий тікет #7 ×2" in lines
    # 29 lines (one per ticket, ticket 7's two as one): 9 shown, the other 20 counted, then the link
    assert lines[-2:] == ["… і ще 20", "http://127.0.0.1:8000/notifications"]
    await asyncio.sleep(1.0)
    assert len(bot_api.sent()) == 1
    # and every ticket's own Telegram delivery is SENT as a member of that digest
    members = [await telegram_row(operator, i) for i in range(28)]
    assert {m["status"] for m in members} == {"SENT"} and len({m["digestId"] for m in members}) == 1


async def test_a_night_event_is_held_and_sent_when_the_working_hours_open_across_a_restart(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, worker: Callable[..., Runtime]
) -> None:
    # given an operator whose local time is 03:xx and whose working hours start in 3 s
    operator = await olena(http, tenant, bot_api)
    zone = night_zone()
    hours = opening_in(zone, 3)
    saved = (await operator.gql(HOURS, {"input": hours})).data["setWorkingHours"]
    assert saved["timezone"] == zone and len(saved["days"]) == 1
    # when a ticket comes at night (the app's workers stopped: the process is "down")
    await tenant.service().gql(PUBLISH, {"input": ticket("night-1", 301)})
    held = await telegram_row(operator)
    assert held["status"] == "HELD"
    release = datetime.fromisoformat(held["dueAt"])
    assert 1 < (release - datetime.now(UTC)).total_seconds() <= 3.5
    # then a worker started before the release sends nothing yet
    first = worker()
    await first.start()
    await asyncio.sleep(0.8)
    assert bot_api.sent() == []
    await first.stop()
    # and a new one (after the "restart") sends it once the hours open, once
    second = worker()
    await second.start()
    [message] = await bot_api.wait_for(1, seconds=6)
    assert "New ticket #301" in message["text"] and datetime.now(UTC) >= release
    await asyncio.sleep(0.5)
    assert len(bot_api.sent()) == 1 and (await telegram_row(operator))["status"] == "SENT"


async def test_an_always_on_sla_type_goes_through_at_night(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given an operator at night (hours far from now) who gets SLA breaches on Telegram
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await tenant.admin().gql(INSTANCE, {"input": {"extendedTypesEnabled": True}})).body
    policy = await tenant.admin().gql(TYPE_POLICY, {"input": {"typeCode": "sla_expired", "alwaysOn": True}})
    assert policy.data["setTypePolicy"]["alwaysOn"] is True
    choose = 'mutation { setTypeChannels(typeCode: "sla_expired", channels: [BELL, TELEGRAM]) { code } }'
    assert "errors" not in (await operator.gql(choose)).body
    assert "errors" not in (await operator.gql(HOURS, {"input": opening_in(night_zone(), 3 * 3600)})).body
    decisions = {
        d["channel"]: d for d in (await operator.gql(DECISIONS, {"t": "sla_expired"})).data["channelDecisions"]
    }
    assert decisions["TELEGRAM"]["alwaysOn"] is True and decisions["TELEGRAM"]["routingSource"] == "ALWAYS_ON"
    # when an SLA is breached and a ticket comes
    sla = {
        "id": "sla-1",
        "type": "sla_expired",
        "recipients": ["olena"],
        "data": {"ticketNumber": 9, "subject": "Late"},
    }
    await tenant.service().gql(PUBLISH, {"input": sla})
    await tenant.service().gql(PUBLISH, {"input": ticket("night-2", 302)})
    # then the SLA breach reaches Telegram at once, and the ticket waits for the morning
    [message] = await bot_api.wait_for(1)
    assert "SLA breached: ticket #9" in message["text"]
    await asyncio.sleep(0.5)
    assert len(bot_api.sent()) == 1 and (await telegram_row(operator))["status"] == "HELD"


async def test_two_workers_never_send_a_digest_or_a_held_message_twice(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, worker: Callable[..., Runtime]
) -> None:
    # given two operators: one with a digest window, one whose hours open in 2 s
    assert "errors" not in (await tenant.admin().gql(INSTANCE, {"input": {"digestWindowSeconds": 1}})).body
    anna = await olena(http, tenant, bot_api)
    bohdan = await linked(http, tenant, "bohdan", 555002)
    assert "errors" not in (await bohdan.gql(HOURS, {"input": opening_in(night_zone(), 2)})).body
    # when a burst reaches one and a night ticket the other, with two workers running
    runtimes = [worker(concurrency=4), worker(concurrency=4)]
    await asyncio.gather(*(r.start() for r in runtimes))
    await tenant.service().gql(PUBLISH_MANY, {"inputs": [ticket(f"d-{i}", 400 + i) for i in range(5)]})
    await tenant.service().gql(PUBLISH, {"input": ticket("h-1", 499, user="bohdan")})
    # then each gets exactly one message
    await eventually(lambda: _sent(bot_api), lambda sent: len(sent) >= 2, seconds=8)
    await asyncio.sleep(1.5)
    by_chat = {chat: len(bot_api.sent(chat)) for chat in ("555001", "555002")}
    assert by_chat == {"555001": 1, "555002": 1}
    assert bot_api.sent("555001")[0]["text"].startswith("5 new notifications")
    assert (await telegram_row(anna))["status"] == "SENT"


async def _sent(api: FakeBotApi) -> list[dict[str, Any]]:
    return api.sent()


TOASTS = "subscription { toasts { notification { id title } } }"
BELL = "subscription { bell { __typename ... on NotificationAdded { notification { id title } } } }"


async def test_when_away_waits_while_the_panel_is_active_and_sends_what_is_unread_once_away(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, live_server: str
) -> None:
    # given Olena sends Telegram only when away, and has the panel open (bell and banners)
    operator = await olena(http, tenant, bot_api)
    routing = {"routing": [{"channel": "TELEGRAM", "mode": "WHEN_AWAY"}]}
    assert "errors" not in (await operator.gql(ROUTE, routing)).body
    choose = 'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, BANNER, TELEGRAM]) { code } }'
    assert "errors" not in (await operator.gql(choose)).body
    async with at_panel(live_server, operator, BELL, TOASTS) as panel:
        # when two tickets come while she is active there
        await tenant.service().gql(PUBLISH, {"input": ticket("away-1", 601)})
        await tenant.service().gql(PUBLISH, {"input": ticket("away-2", 602)})
        # then she gets them in the panel (bell and banner), and Telegram waits
        seen = [await panel.next() for _ in range(4)]
        titles = {next(iter(m.values()))["notification"]["title"] for m in seen}
        assert titles == {"New ticket #601", "New ticket #602"}
        waiting = await telegram_row(operator)
        assert (waiting["status"], waiting["route"]) == ("QUEUED", "WHEN_AWAY") and waiting["dueAt"]
        assert "active in the panel" in waiting["lastError"]
        # she reads #602 there; looking again while she stays (every 0.5 s here) sends nothing
        newest = (await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]
        await operator.gql(MARK, {"ids": [newest["id"]]})
        await asyncio.sleep(1.5)
        assert bot_api.sent() == []
    # when she closes the panel, #601 (still unread) reaches Telegram, and #602 never does
    [message] = await bot_api.wait_for(1)
    assert "New ticket #601" in message["text"]
    assert (await telegram_row(operator, 0))["status"] == "CANCELLED"
    # and the next ticket reaches Telegram at once
    await tenant.service().gql(PUBLISH, {"input": ticket("away-3", 603)})
    await bot_api.wait_for(2)
    await asyncio.sleep(0.5)
    assert [m["text"].splitlines()[0] for m in bot_api.sent()] == ["New ticket #601", "New ticket #603"]


async def test_a_hidden_panel_or_an_away_status_counts_as_away(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, live_server: str
) -> None:
    # given Olena sends Telegram only when away and keeps the panel open
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await operator.gql(ROUTE, {"routing": [{"channel": "TELEGRAM", "mode": "WHEN_AWAY"}]})).body
    async with at_panel(live_server, operator):
        # when her page goes hidden, a ticket reaches Telegram
        hidden = await operator.gql("mutation { reportPanelActivity(active: false) { active } }")
        assert hidden.data["reportPanelActivity"]["active"] is False
        await tenant.service().gql(PUBLISH, {"input": ticket("hid-1", 701)})
        await bot_api.wait_for(1)
        # back in the page: the next one waits, and she reads it there
        assert "errors" not in (await operator.gql("mutation { reportPanelActivity { active } }")).body
        await tenant.service().gql(PUBLISH, {"input": ticket("hid-2", 702)})
        assert "active in the panel" in (await telegram_row(operator))["lastError"]
        await operator.gql(
            MARK, {"ids": [(await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]["id"]]}
        )
        # and with the platform's status "away" (operator_status_changed), the panel open or not
        status = {"id": "st-1", "type": "operator_status_changed", "recipients": ["olena"], "data": {"status": "away"}}
        assert "errors" not in (await tenant.service().gql(PUBLISH, {"input": status})).body
        await tenant.service().gql(PUBLISH, {"input": ticket("hid-3", 703)})
        await bot_api.wait_for(2)
    assert [m["text"].splitlines()[0] for m in bot_api.sent()] == ["New ticket #701", "New ticket #703"]


async def _active(operator: Caller) -> bool:
    return (await operator.gql("{ panelPresence { active } }")).data["panelPresence"]["active"]


@asynccontextmanager
async def at_panel(live_server: str, operator: Caller, *documents: str) -> AsyncIterator[GraphQLWS]:
    """The operator's panel open with these subscriptions (the bell by default), once it counts
    as active: what a WHEN_AWAY channel waits for."""
    async with GraphQLWS(live_server, operator.token) as panel:
        for document in documents or (BELL,):
            await panel.subscribe(document)
        await eventually(lambda: _active(operator), lambda active: active is True)
        yield panel


async def test_retention_prunes_old_digests_once_final_and_keeps_waiting_ones(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, worker: Callable[..., Runtime]
) -> None:
    from datetime import timedelta as days_ago

    from domain.retention import prune
    from models.notification import Delivery

    # given a digest still waiting (no worker runs), made long ago
    await olena(http, tenant, bot_api)
    assert "errors" not in (await tenant.admin().gql(INSTANCE, {"input": {"digestWindowSeconds": 60}})).body
    await tenant.service().gql(PUBLISH_MANY, {"inputs": [ticket("old-1", 1), ticket("old-2", 2)]})
    digest = await Delivery.get(instance_id=tenant.id, route="DIGEST")
    await Delivery.filter(id=digest.id).update(created_at=datetime.now(UTC) - days_ago(days=400))
    # when history is pruned, it stays (its members wait for it)
    await prune(90)
    assert await Delivery.exists(id=digest.id)
    # and once it was sent, it goes with the old history
    await Delivery.filter(id=digest.id).update(status="SENT")
    await prune(90)
    assert not await Delivery.exists(id=digest.id)


async def test_a_digest_leaves_out_what_was_read_and_is_not_sent_when_all_was(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    from models.notification import Delivery

    # given digests within 1 s, and three tickets in one window, two of them read at once
    operator = await olena(http, tenant, bot_api)
    assert "errors" not in (await tenant.admin().gql(INSTANCE, {"input": {"digestWindowSeconds": 1}})).body
    await tenant.service().gql(PUBLISH_MANY, {"inputs": [ticket(f"r-{i}", 800 + i) for i in range(3)]})
    page = (await operator.gql("{ notifications(first: 3) { edges { node { id title } } } }")).data
    nodes = [e["node"] for e in page["notifications"]["edges"]]
    await operator.gql(MARK, {"ids": [nodes[0]["id"], nodes[1]["id"]]})
    # then the digest lists only the unread one
    [message] = await bot_api.wait_for(1)
    assert message["text"].splitlines()[:2] == ["1 new notification", f"• {nodes[2]['title']}"]
    # and a window whose every notification was read sends nothing
    await tenant.service().gql(PUBLISH_MANY, {"inputs": [ticket("r-9", 809)]})
    latest = (await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]
    await operator.gql(MARK, {"ids": [latest["id"]]})
    await asyncio.sleep(2.0)
    assert len(bot_api.sent()) == 1
    digests = await Delivery.filter(instance_id=tenant.id, route="DIGEST").order_by("id").values("status", "last_error")
    assert [d["status"] for d in digests] == ["SENT", "CANCELLED"]
    assert "every notification in the digest was read" in digests[1]["last_error"]
