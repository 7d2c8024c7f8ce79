"""Publish -> live in one hop: the publisher sends the panel's messages itself after its commit,
and a worker sends them only when that hand-off did not happen (SPEC §4-5: nothing is lost)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from core.broker import user_topic
from core.broker_redis import RedisBroker
from domain import live
from domain.events import Event
from domain.policy import load_policy
from models.notification import Delivery, ToastRepeat
from services.dispatch import publish_events
from tests.channels.test_schedules import Stopped
from tests.conftest import Tenant
from tests.polling import eventually

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"


def ticket(event_id: str, recipients: list[str], number: int = 7) -> dict[str, Any]:
    return {"id": event_id, "type": "ticket_created", "recipients": recipients, "data": {"ticketNumber": number}}


async def panel_rows(tenant: Tenant) -> list[tuple[str, str, int]]:
    rows = await Delivery.filter(instance_id=tenant.id).order_by("id").values_list("channel", "status", "attempts")
    return sorted(rows)


async def test_the_bell_and_the_banner_go_out_with_the_publish_without_any_worker(app, tenant: Tenant) -> None:
    # given alice's open panel (bell and toasts), one unread item already, banners repeating, and
    # no worker running at all
    alice = tenant.operator("alice")
    await alice.gql(
        "mutation { updateChannelSettings(input: {banner: {repeatCount: 1, repeatIntervalSeconds: 60}}) "
        "{ banner { repeatCount } } }"
    )
    await tenant.service().gql(PUBLISH, {"input": ticket("before", ["alice"], 1)})
    broker = app.state.services.broker
    async with (
        Stopped(app),
        broker.subscribe(user_topic(tenant.id, "alice", live.BELL)) as bell,
        broker.subscribe(user_topic(tenant.id, "alice", live.TOASTS)) as toasts,
    ):
        # when a ticket is published to her
        result = await tenant.service().gql(PUBLISH, {"input": ticket("one-hop", ["alice"])})
        assert result.data == {"publishEvent": {"notificationCount": 1}}
        # then her bell got the item with the unread count as of it, and her toast, at once
        added = bell.queue.get_nowait()
        toast = toasts.queue.get_nowait()
    assert added["type"] == "NotificationAdded" and added["unreadCount"] == 2
    assert added["notification"]["title"] == "New ticket #7" and added["notification"]["readAt"] is None
    assert (toast["type"], toast["durationSeconds"], toast["repeat"]) == ("Toast", 8, 0)
    assert toast["notification"] == added["notification"]
    # and the rows say so (one try each), and the banner's next showing is a stored due row
    assert await panel_rows(tenant) == [("BANNER", "SENT", 1)] * 2 + [("BELL", "SENT", 1)] * 2
    assert await ToastRepeat.filter(instance_id=tenant.id).count() == 2
    # and the bell the panel reads agrees with the live count
    assert (await alice.gql("{ unreadCount }")).data == {"unreadCount": 2}


async def test_when_the_hand_off_fails_a_worker_sends_the_panel_messages_after_the_fallback_delay(
    app, tenant: Tenant
) -> None:
    # given alice's open panel, and a publisher whose broker is down (Redis on a closed port): as
    # if its process died between the commit and the hand-off
    services = app.state.services
    settings = dataclasses.replace(services.settings, live_fallback_seconds=0.5)
    down = RedisBroker("redis://127.0.0.1:1/0")
    policy = await load_policy(tenant.id)
    event = Event(id="lost-hand-off", type="ticket_created", recipients=["alice"], data={"ticketNumber": 9})
    loop = asyncio.get_running_loop()
    try:
        async with services.broker.subscribe(user_topic(tenant.id, "alice", live.BELL)) as bell:
            # when it publishes
            [published] = await publish_events(down, settings, tenant.id, [event], policy)
            committed_at = loop.time()
            assert (published.duplicate, published.notification_count) == (False, 1)
            # then nothing reached the panel yet, and the rows wait for a worker
            assert bell.queue.empty()
            assert await panel_rows(tenant) == [("BANNER", "QUEUED", 0), ("BELL", "QUEUED", 0)]
            # and the app's worker sends the bell item once the fallback delay has passed
            added = await asyncio.wait_for(bell.queue.get(), 5)
            waited = loop.time() - committed_at
    finally:
        await down.close()
    assert added["notification"]["title"] == "New ticket #9" and added["unreadCount"] == 1
    assert waited >= 0.3  # not before the fallback delay (less the worker's poll jitter)
    rows = await eventually(lambda: panel_rows(tenant), lambda r: all(s == "SENT" for _, s, _ in r))
    assert rows == [("BANNER", "SENT", 1), ("BELL", "SENT", 1)]
