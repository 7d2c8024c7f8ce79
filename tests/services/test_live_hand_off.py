"""Publish -> live in one hop: the publisher sends the panel's messages itself after its commit,
and a worker sends them only when that hand-off did not happen (SPEC §4-5: nothing is lost)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from tortoise.timezone import now

from core.broker import user_topic
from core.broker_redis import RedisBroker
from domain import live
from domain.events import Event
from domain.policy import load_policy
from models.notification import Delivery, Notification, PanelHandOff, ToastRepeat
from services.dispatch import publish_events
from tests.channels.test_schedules import Stopped
from tests.conftest import Tenant
from tests.polling import eventually

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"


def ticket(event_id: str, recipients: list[str], number: int = 7) -> dict[str, Any]:
    return {"id": event_id, "type": "ticket_created", "recipients": recipients, "data": {"ticketNumber": number}}


def alice_ticket(event_id: str, number: int) -> Event:
    """A ticket for alice alone, as a producer's event."""
    return Event(id=event_id, type="ticket_created", recipients=["alice"], data={"ticketNumber": number})


@contextlib.asynccontextmanager
async def unreachable_broker() -> AsyncIterator[RedisBroker]:
    """A broker whose Redis is on a closed port: a publisher's hand-off to it fails, as if its
    process died between the commit and the hand-off."""
    down = RedisBroker("redis://127.0.0.1:1/0")
    try:
        yield down
    finally:
        await down.close()


DELIVERIES = "query($id: ID!) { deliveries(notificationId: $id) { id channel status attempts } }"


async def panel_rows(tenant: Tenant) -> list[tuple[str, str, int]]:
    """What the delivery log (a supervisor's `deliveries`) says of every notification of the tenant."""
    ids = await Notification.filter(instance_id=tenant.id).values_list("id", flat=True)
    supervisor = tenant.caller("supervisor", "sue")
    rows = []
    for nid in ids:
        result = await supervisor.gql(DELIVERIES, {"id": str(nid)})
        rows += [(d["channel"], d["status"], d["attempts"]) for d in result.data["deliveries"]]
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
    # and the delivery log says so (one try each), with no job row and no hand-off left behind;
    # the banner's next showing is a stored due row
    assert await panel_rows(tenant) == [("BANNER", "SENT", 1)] * 2 + [("BELL", "SENT", 1)] * 2
    assert await Delivery.filter(instance_id=tenant.id).count() == 0
    assert await PanelHandOff.filter(instance_id=tenant.id).count() == 0
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
    policy = await load_policy(tenant.id)
    event = alice_ticket("lost-hand-off", 9)
    loop = asyncio.get_running_loop()
    async with (
        unreachable_broker() as down,
        services.broker.subscribe(user_topic(tenant.id, "alice", live.BELL)) as bell,
    ):
        # when it publishes
        [published] = await publish_events(down, settings, tenant.id, [event], policy)
        committed_at = loop.time()
        assert (published.duplicate, published.notification_count) == (False, 1)
        # then nothing reached the panel yet, and the log shows the panel channels waiting for a worker
        assert bell.queue.empty()
        assert await panel_rows(tenant) == [("BANNER", "QUEUED", 0), ("BELL", "QUEUED", 0)]
        assert await PanelHandOff.filter(instance_id=tenant.id).count() == 1
        # and the app's worker sends the bell item once the fallback delay has passed
        added = await asyncio.wait_for(bell.queue.get(), 5)
        waited = loop.time() - committed_at
    assert added["notification"]["title"] == "New ticket #9" and added["unreadCount"] == 1
    assert waited >= 0.3  # not before the fallback delay (less the worker's poll jitter)
    rows = await eventually(lambda: panel_rows(tenant), lambda r: all(s == "SENT" for _, s, _ in r))
    assert rows == [("BANNER", "SENT", 1), ("BELL", "SENT", 1)]
    assert await PanelHandOff.filter(instance_id=tenant.id).count() == 0


async def counted_unread(tenant: Tenant, user: str) -> int:
    return await Notification.filter(
        instance_id=tenant.id, operator__user_id=user, in_bell=True, read_at__isnull=True
    ).count()


async def test_the_unread_counter_equals_the_rows_through_every_change(app, tenant: Tenant) -> None:
    from datetime import timedelta

    from tortoise.timezone import now

    from domain.retention import prune

    alice = tenant.operator("alice")
    read_ids = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids unreadCount } }"

    async def agrees() -> int:
        shown = (await alice.gql("{ unreadCount }")).data["unreadCount"]
        assert shown == await counted_unread(tenant, "alice")
        return shown

    # given six tickets and a rating published to alice (one event for two users, one batch of three)
    await tenant.service().gql(PUBLISH, {"input": ticket("c-1", ["alice", "bob"])})
    batch = [ticket(f"c-{i}", ["alice"], i) for i in range(2, 7)]
    batch.append({"id": "c-r", "type": "csat_received", "recipients": ["alice"], "data": {"score": 5}})
    many = "mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { notificationCount } }"
    assert "errors" not in (await tenant.service().gql(many, {"inputs": batch})).body
    assert await agrees() == 7
    ids = [
        str(i)
        for i in await Notification.filter(instance_id=tenant.id, operator__user_id="alice")
        .order_by("id")
        .values_list("id", flat=True)
    ]
    # when ten tabs mark the same two read at once: they count once
    marks = await asyncio.gather(*(alice.gql(read_ids, {"ids": ids[:2]}) for _ in range(10)))
    assert sorted(len(m.data["markNotificationsRead"]["ids"]) for m in marks) == [0] * 9 + [2]
    assert await agrees() == 5
    # when a category is marked read
    await alice.gql('mutation { markAllNotificationsRead(categoryCode: "csat") { unreadCount } }')
    assert await agrees() == 4
    # when retention prunes an unread item and a read one
    await Notification.filter(id__in=[int(ids[0]), int(ids[3])]).update(created_at=now() - timedelta(days=400))
    assert await prune(retention_days=90) >= 2  # (and what other tests left that old)
    assert await agrees() == 3
    # when everything is marked read, and a new ticket arrives
    await alice.gql("mutation { markAllNotificationsRead { unreadCount } }")
    assert await agrees() == 0
    await tenant.service().gql(PUBLISH, {"input": ticket("c-7", ["alice"])})
    assert await agrees() == 1


async def test_a_bell_item_sent_late_by_the_fallback_carries_the_count_as_it_stands_then(app, tenant: Tenant) -> None:
    # given alice's open panel, and a publisher whose broker is down for one of three calls
    services = app.state.services
    settings = dataclasses.replace(services.settings, live_fallback_seconds=0.5)
    policy = await load_policy(tenant.id)
    async with (
        unreachable_broker() as down,
        services.broker.subscribe(user_topic(tenant.id, "alice", live.BELL)) as bell,
    ):
        # when A goes out, B's hand-off fails, and C goes out
        await publish_events(services.broker, settings, tenant.id, [alice_ticket("A", 1)], policy)
        await publish_events(down, settings, tenant.id, [alice_ticket("B", 2)], policy)
        await publish_events(services.broker, settings, tenant.id, [alice_ticket("C", 3)], policy)
        heard = [await asyncio.wait_for(bell.queue.get(), 5) for _ in range(3)]
    # then B comes last, from the worker, with the count the panel already shows (not 2 of then)
    titles = [(m["notification"]["title"], m["unreadCount"]) for m in heard]
    assert titles == [("New ticket #1", 1), ("New ticket #3", 3), ("New ticket #2", 3)]
    assert (await tenant.operator("alice").gql("{ unreadCount }")).data == {"unreadCount": 3}


async def test_the_fallback_reads_the_counts_only_after_the_calls_committed_before_it_went_out(
    app, tenant: Tenant
) -> None:
    """After a crash under load, the fallback read the counts, then calls committed meanwhile sent
    theirs, then the fallback sent its older counts: every operator's badge stepped back."""
    from domain.announcing import Place

    services = app.state.services
    settings = dataclasses.replace(services.settings, live_fallback_seconds=0.3)
    policy = await load_policy(tenant.id)
    async with (
        unreachable_broker() as down,
        services.broker.subscribe(user_topic(tenant.id, "alice", live.BELL)) as bell,
    ):
        # given B, whose hand-off failed (a worker sends it 0.3 s after its commit) ...
        await publish_events(down, settings, tenant.id, [alice_ticket("B", 2)], policy)
        # ... and, committed since, C, whose messages wait behind those of a call before it
        before = Place(tenant.id)
        before.taken()
        late = asyncio.create_task(
            publish_events(services.broker, services.settings, tenant.id, [alice_ticket("C", 3)], policy)
        )
        await eventually(
            lambda: PanelHandOff.filter(instance_id=tenant.id, lease_until__isnull=False).count(),
            lambda claimed: claimed >= 1,
        )
        # when a worker has taken B's hand-off: it sends nothing while C's messages wait
        await asyncio.sleep(0.3)
        assert bell.queue.empty()
        # and once the call before lets C go, B follows C, with C's count, not an older one
        before.release()
        heard = [await asyncio.wait_for(bell.queue.get(), 5) for _ in range(2)]
        await late
    assert [(m["notification"]["title"], m["unreadCount"]) for m in heard] == [
        ("New ticket #3", 2),
        ("New ticket #2", 2),
    ]


async def test_the_fallback_sends_what_the_publisher_sent(app, tenant: Tenant) -> None:
    """The publisher builds its messages from what its transaction wrote (domain.panel.Showings);
    a worker's fallback rebuilds them from the stored rows (``stored_items``). The same
    notifications must make the same messages either way (the fallback once showed a collapsed
    item's banner again although the collapse, inside the window, did not alert)."""
    from domain import panel

    broker = app.state.services.broker
    many = "mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { notificationCount } }"
    # given a chat that alice already has an unread item about, and a bell-only type for carol
    chat = {"type": "chat_message", "data": {"chatId": 5, "text": "hi"}}
    await tenant.service().gql(many, {"inputs": [{**chat, "id": "chat-1", "recipients": ["alice"]}]})
    await tenant.operator("dave").gql(
        "mutation { updateChannelSettings(input: {banner: {durationSeconds: 3}}) { banner { durationSeconds } } }"
    )
    users = ["alice", "bob", "carol", "dave"]
    streams = [(u, s) for u in users for s in (live.BELL, live.TOASTS)]
    async with Stopped(app), contextlib.AsyncExitStack() as stack:
        queues = {k: await stack.enter_async_context(broker.subscribe(user_topic(tenant.id, *k))) for k in streams}
        # when one call brings alice a message in that chat (collapsed into her item), bob the same
        # message (new to him), and carol and dave a ticket each
        inputs = [
            {**chat, "id": "chat-2", "recipients": ["alice", "bob"], "data": {"chatId": 5, "text": "again"}},
            {**ticket("t-1", ["carol"], 1)},
            {**ticket("t-2", ["dave"], 2)},
        ]
        assert "errors" not in (await tenant.service().gql(many, {"inputs": inputs})).body
        sent = sorted((k, q.queue.get_nowait()) for k, q in queues.items() if not q.queue.empty())
    # then the panel messages rebuilt from the stored notifications are the same
    ids = await Notification.filter(instance_id=tenant.id).order_by("id").values_list("id", flat=True)
    rebuilt = panel.messages(await panel.stored_items(list(ids)))
    by_topic = sorted(
        ((user, stream), message)
        for topic, message in rebuilt
        for user, stream in streams
        if topic == user_topic(tenant.id, user, stream)
    )
    assert [k for k, _ in sent] == [k for k, _ in by_topic]
    assert sent == by_topic
    kinds = {(k[0], m["type"]) for k, m in sent}
    assert ("alice", "NotificationCollapsed") in kinds and ("bob", "NotificationAdded") in kinds
    assert ("alice", "Toast") not in kinds  # collapsed inside the window: no second banner
    assert {m["durationSeconds"] for k, m in sent if k[0] == "dave" and m["type"] == "Toast"} == {3}


async def test_ids_holding_a_slash_or_a_percent_never_share_a_live_stream(app, tenant: Tenant) -> None:
    """Instance ``x/y``'s user ``c`` and instance ``x``'s user ``y/c`` were both ``bell/x/y/c``:
    one heard the other's bell. Each id is now one escaped segment of the topic."""
    broker = app.state.services.broker
    slashed = Tenant(tenant.http, tenant.codec, id=tenant.id + "/y")
    # given two panels whose (instance, user) pairs joined with "/" read the same, and a third
    # whose user id holds what the escaping writes ("%2F")
    pairs = [(slashed.id, "c"), (tenant.id, "y/c"), (tenant.id, "y%2Fc")]
    async with Stopped(app), contextlib.AsyncExitStack() as stack:
        bells = [await stack.enter_async_context(broker.subscribe(user_topic(i, u, live.BELL))) for i, u in pairs]
        # when each is published a ticket of its own
        for n, (owner, user) in enumerate([(slashed, "c"), (tenant, "y/c"), (tenant, "y%2Fc")], 1):
            result = await owner.service().gql(PUBLISH, {"input": ticket(f"t-{n}", [user], n)})
            assert result.data == {"publishEvent": {"notificationCount": 1}}
        # then each bell heard its own ticket, once, and nobody else's
        heard = [[m["notification"]["title"] for m in _drain(b.queue)] for b in bells]
    assert heard == [["New ticket #1"], ["New ticket #2"], ["New ticket #3"]]


def _drain(queue: asyncio.Queue[Any]) -> list[Any]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_the_fallback_leaves_out_items_archived_or_snoozed_since_and_alerts_no_read_one(
    app, tenant: Tenant
) -> None:
    """A panel opened after the commit (or reconnected) had an archived item back in its bell, with
    its banner, from the fallback; a read one played its sound."""
    services = app.state.services
    settings = dataclasses.replace(services.settings, live_fallback_seconds=0.3)
    alice = tenant.operator("alice")
    await alice.gql(
        "mutation { updateChannelSettings(input: {channels: [{kind: SOUND, enabled: true}]}) { banner { durationSeconds } } }"
    )
    await alice.gql(
        'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, BANNER, SOUND]) { code } }'
    )
    policy = await load_policy(tenant.id)
    async with (
        unreachable_broker() as down,
        services.broker.subscribe(user_topic(tenant.id, "alice", live.BELL)) as bell,
        services.broker.subscribe(user_topic(tenant.id, "alice", live.TOASTS)) as toasts,
    ):
        # given three tickets whose hand-off failed (a worker sends them 0.3 s after the commit)
        tickets = [alice_ticket(f"t-{n}", n) for n in (1, 2, 3)]
        await publish_events(down, settings, tenant.id, tickets, policy)
        ids = {n.title: str(n.id) for n in await Notification.filter(instance_id=tenant.id)}
        # when alice archives the first, snoozes the second and reads the third before it fires
        soon = (now() + timedelta(hours=1)).isoformat()
        await alice.gql("mutation($i: [ID!]!) { archiveNotifications(ids: $i) { ids } }", {"i": [ids["New ticket #1"]]})
        await alice.gql(
            "mutation($i: [ID!]!, $u: DateTime!) { snoozeNotifications(ids: $i, until: $u) { ids } }",
            {"i": [ids["New ticket #2"]], "u": soon},
        )
        await alice.gql(
            "mutation($i: [ID!]!) { markNotificationsRead(ids: $i) { ids } }", {"i": [ids["New ticket #3"]]}
        )
        await eventually(lambda: PanelHandOff.filter(instance_id=tenant.id).count(), lambda n: n == 0)
        await asyncio.sleep(0.1)
        heard, shown = _drain(bell.queue), _drain(toasts.queue)
    # then the bell hears only the read one added (read), and no banner nor sound goes out
    added = [
        (m["notification"]["title"], m["notification"]["readAt"] is not None)
        for m in heard
        if m["type"] == "NotificationAdded"
    ]
    assert added == [("New ticket #3", True)]
    assert [m for m in shown if m.get("type") == "Toast" and not m.get("dismissed")] == []
