"""Group commit (services.dispatch): publishing calls that arrive while the instance's publishing
transaction runs are written together in the next one, and each is still all or nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from domain.events import Event
from domain.policy import load_policy
from models.db import db, is_postgres
from models.notification import Notification, ProcessedEvent
from services.dispatch import publish_events
from tests.conftest import Tenant

UNREAD = "{ unreadCount }"


def ticket(event_id: str, recipients: list[str]) -> Event:
    return Event(id=event_id, type="ticket_created", recipients=recipients, data={"ticketNumber": 7})


@asynccontextmanager
async def refusing(event_id: str) -> AsyncIterator[None]:
    """A database that refuses to record one event id (a trigger on the processed events)."""
    conn = db()
    if is_postgres():
        await conn.execute_script(
            "CREATE FUNCTION nc_test_refuse() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.event_id = '{event_id}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ "
            "LANGUAGE plpgsql; CREATE TRIGGER nc_test_refuse BEFORE INSERT ON nc_processed_event "
            "FOR EACH ROW EXECUTE FUNCTION nc_test_refuse();"
        )
    else:
        await conn.execute_script(
            "CREATE TRIGGER nc_test_refuse BEFORE INSERT ON nc_processed_event "
            f"WHEN NEW.event_id = '{event_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END;"
        )
    try:
        yield
    finally:
        if is_postgres():
            await conn.execute_script(
                "DROP TRIGGER nc_test_refuse ON nc_processed_event; DROP FUNCTION nc_test_refuse();"
            )
        else:
            await conn.execute_script("DROP TRIGGER nc_test_refuse;")


async def test_calls_made_at_once_are_written_together_and_each_gets_its_own_results(app, tenant: Tenant, sql) -> None:
    services = app.state.services
    policy = await load_policy(tenant.id)
    await publish_events(services.broker, services.settings, tenant.id, [ticket("warm-up", ["w"])], policy)
    # given 16 producers' calls at once, each with three events and one event id they all send
    calls = [
        [ticket(f"c{n}-{i}", [f"u{(n + i) % 7}", f"u{(n + i + 1) % 7}"]) for i in range(3)] + [ticket("shared", ["u0"])]
        for n in range(16)
    ]
    sql.statements.clear()
    results = await asyncio.gather(
        *(publish_events(services.broker, services.settings, tenant.id, events, policy) for events in calls)
    )
    # then one transaction wrote them all
    assert sum(s.startswith('INSERT INTO "nc_notification"') for s in sql.statements) == 1, sql.statements
    # and each call got the results of its own events, in its order
    for events, published in zip(calls, results, strict=True):
        assert [p.event_id for p in published] == [e.id for e in events]
        assert all((p.duplicate, p.notification_count) == (False, 2) for p in published[:3])
    # the id they all sent is new once, and a duplicate of that one for the other 15
    shared = [published[-1] for published in results]
    assert sorted(p.duplicate for p in shared) == [False] + [True] * 15
    assert {p.notification_count for p in shared} == {1}
    # and every recipient's bell counts what they were sent
    sent = Counter(r for events in calls for e in events[:3] for r in e.recipients) + Counter({"u0": 1})
    for user, count in sent.items():
        assert (await tenant.operator(user).gql(UNREAD)).data == {"unreadCount": count}


async def test_a_call_the_database_refuses_fails_alone_when_written_with_others(app, tenant: Tenant) -> None:
    services = app.state.services
    policy = await load_policy(tenant.id)
    names = ["ok-1", "ok-2", "refused", "ok-3", "ok-4"]
    async with refusing("refused"):
        # when five calls come at once and the database refuses the third one's event
        outcomes = await asyncio.gather(
            *(
                publish_events(services.broker, services.settings, tenant.id, [ticket(name, ["alice", "bob"])], policy)
                for name in names
            ),
            return_exceptions=True,
        )
    # then that call fails, and the others are written and answered as if each had been alone
    by_name = dict(zip(names, outcomes, strict=True))
    assert isinstance(by_name.pop("refused"), Exception)
    assert all([(p.event_id, p.notification_count) for p in o] == [(n, 2)] for n, o in by_name.items())
    written = await Notification.filter(instance_id=tenant.id).values_list("event_id", flat=True)
    assert sorted(written) == sorted([n for n in names if n != "refused"] * 2)
    # nothing of the refused call is left: a producer's retry of it is not a duplicate
    assert not await ProcessedEvent.filter(instance_id=tenant.id, event_id="refused").exists()
    [again] = await publish_events(
        services.broker, services.settings, tenant.id, [ticket("refused", ["alice"])], policy
    )
    assert (again.duplicate, again.notification_count) == (False, 1)
    assert (await tenant.operator("alice").gql(UNREAD)).data == {"unreadCount": 5}


async def test_calls_waiting_when_publishing_stops_are_told_so_and_the_next_ones_go_through(
    app, tenant: Tenant
) -> None:
    from services.dispatch import _LANES

    services = app.state.services
    policy = await load_policy(tenant.id)
    # given five calls queued for the instance's publishing
    calls = [
        asyncio.ensure_future(
            publish_events(services.broker, services.settings, tenant.id, [ticket(f"s{i}", ["alice"])], policy)
        )
        for i in range(5)
    ]
    await asyncio.sleep(0)
    [lane] = [lane for lane in _LANES[asyncio.get_running_loop()].values() if lane.instance_id == tenant.id]
    # when the process stops it before it wrote anything (shutdown cancels every task)
    assert lane.task is not None
    lane.task.cancel()
    # then each call is told, none hangs, and nothing was written
    outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    assert all(isinstance(o, RuntimeError) and "publishing stopped" in str(o) for o in outcomes), outcomes
    assert not await Notification.filter(instance_id=tenant.id).exists()
    # and the next call is written as usual
    [published] = await publish_events(
        services.broker, services.settings, tenant.id, [ticket("after", ["alice"])], policy
    )
    assert (published.duplicate, published.notification_count) == (False, 1)
