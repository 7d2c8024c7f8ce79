"""The per-process viewer cache: fresh, then renewed in the background; forgotten by writes."""

from __future__ import annotations

import asyncio
import uuid

from domain.viewers import ViewerCache
from models.operator import Operator, TypeChoice
from tests.conftest import Tenant

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"


async def operator(instance: str, user: str) -> Operator:
    return await Operator.create(instance_id=instance, user_id=user, role="OPERATOR", locale="en")


async def test_a_change_is_read_after_forget_and_a_lapsed_entry_is_renewed_in_the_background(app) -> None:
    instance = f"v-{uuid.uuid4().hex[:8]}"
    row = await operator(instance, "ann")
    cache = ViewerCache(ttl_seconds=0.2)
    # given a cached viewer with no choices
    found, prefs = await cache.get(instance, "ann")
    assert found is not None and found.id == row.id and prefs.choices == {}
    # when they choose channels and the process is told
    await TypeChoice.create(operator_id=row.id, type_code="ticket_created", channels=["BELL"])
    assert (await cache.get(instance, "ann"))[1].choices == {}  # still the fresh copy
    cache.forget(instance, ["ann"])
    # then the next read has the choice
    assert set((await cache.get(instance, "ann"))[1].choices) == {"ticket_created"}
    # when the entry lapses (unannounced change): it is answered once more, then renewed
    await TypeChoice.filter(operator_id=row.id).delete()
    await asyncio.sleep(0.25)
    assert set((await cache.get(instance, "ann"))[1].choices) == {"ticket_created"}  # stale, renewing
    await asyncio.sleep(0.05)
    assert (await cache.get(instance, "ann"))[1].choices == {}


async def test_forgetting_one_viewer_leaves_anothers_read_working(app) -> None:
    instance = f"v-{uuid.uuid4().hex[:8]}"
    await operator(instance, "ann")
    bob = await operator(instance, "bob")
    cache = ViewerCache(ttl_seconds=60)
    # given bob's first read in flight when ann's settings change
    reading = asyncio.ensure_future(cache.get(instance, "bob"))
    for _ in range(3):  # the read has started and waits for the database
        await asyncio.sleep(0)
    assert not reading.done()
    cache.forget(instance, ["ann"])
    await reading
    # when bob then chooses channels
    await TypeChoice.create(operator_id=bob.id, type_code="ticket_created", channels=["BELL"])
    # then bob's next read sees it: the read begun before ann's change was neither kept nor reused
    assert set((await cache.get(instance, "bob"))[1].choices) == {"ticket_created"}
    assert (await cache.get(instance, "ann"))[0] is not None


async def test_a_new_users_bell_shows_their_first_notification_at_once(app, tenant: Tenant) -> None:
    # given alice, who never saved settings, has her panel open (the bell asked once: 0 unread)
    alice = tenant.operator("alice")
    assert (await alice.gql("{ unreadCount }")).data == {"unreadCount": 0}
    # when a ticket is published to her (the publish creates her operator row)
    result = await tenant.service().gql(
        PUBLISH,
        {"input": {"id": "first", "type": "ticket_created", "recipients": ["alice"], "data": {"ticketNumber": 1}}},
    )
    assert result.data == {"publishEvent": {"notificationCount": 1}}
    # then (the live bell already said unreadCount 1) her bell query shows it, and she can read it
    page = (await alice.gql("{ unreadCount notifications { edges { node { id } } } }")).data
    marked = (await alice.gql("mutation { markAllNotificationsRead { ids unreadCount } }")).data
    observed = (
        page["unreadCount"],
        len(page["notifications"]["edges"]),
        len(marked["markAllNotificationsRead"]["ids"]),
    )
    assert observed == (1, 1, 1), f"unreadCount, bell items, ids marked read: {observed}"
