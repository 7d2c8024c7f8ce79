"""Group commit (services.dispatch, SQLite): publishing calls that arrive while the instance's
publishing transaction runs are written together in the next one, and each gets what it would
have got alone, after the calls before it. PostgreSQL gives each call a transaction of its own."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from domain.events import Event
from domain.policy import InstancePolicy, load_policy
from models.db import db, is_postgres
from models.notification import Notification, ProcessedEvent, ToastRepeat
from models.operator import Operator
from services.dispatch import _LANES, publish_events
from tests.channel_support import CONFIGURE
from tests.conftest import Tenant
from tests.polling import eventually

UNREAD = "{ unreadCount }"


def ticket(event_id: str, recipients: list[str], number: int = 7) -> Event:
    return Event(id=event_id, type="ticket_created", recipients=recipients, data={"ticketNumber": number})


#: Each tenant's policy, read once: the calls of a test share it, as a process's requests share
#: its cached policy (calls with different policies are not written together).
POLICIES: dict[str, InstancePolicy] = {}


async def publish(
    app: Any, tenant: Tenant, events: list[Event], broker: Any = None, policy: InstancePolicy | None = None
) -> Any:
    services = app.state.services
    policy = policy or POLICIES.get(tenant.id) or POLICIES.setdefault(tenant.id, await load_policy(tenant.id))
    return await publish_events(broker or services.broker, services.settings, tenant.id, events, policy)


class Recording:
    """The app's broker, recording the bell messages published through it, in order."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.bell: list[tuple[str, str, Any]] = []

    def _seen(self, topic: str, message: dict[str, Any]) -> None:
        if topic.startswith("bell/"):
            self.bell.append((topic.rsplit("/", 1)[1], message["type"], message.get("unreadCount")))

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        self._seen(topic, message)
        await self.broker.publish(topic, message)

    async def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        for topic, message in messages:
            self._seen(topic, message)
        await self.broker.publish_many(messages)

    def listens(self, topic: str) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.broker, name)


@asynccontextmanager
async def on_recording(event_id: str, act: Callable[[], None], then: str = "") -> AsyncIterator[None]:
    """An SQLite database that calls ``act`` on its thread as it records one event id (a trigger on
    the processed events), then runs the trigger's ``then`` (a RAISE, say)."""
    conn = db()

    def called(_: str) -> int:  # runs on SQLite's thread
        act()
        return 0

    await conn.execute_query("SELECT 1")  # (connected)
    await conn._connection.create_function("nc_test_act", 1, called)  # type: ignore[attr-defined]  # aiosqlite's
    await conn.execute_script(
        "CREATE TRIGGER nc_test_act BEFORE INSERT ON nc_processed_event "
        f"WHEN NEW.event_id = '{event_id}' BEGIN SELECT nc_test_act(NEW.event_id); {then} END;"
    )
    try:
        yield
    finally:
        await conn.execute_script("DROP TRIGGER nc_test_act;")


def refusing(event_id: str, when_refused: Callable[[], None] | None = None) -> AbstractAsyncContextManager[None]:
    """An SQLite database that refuses to record one event id (``when_refused`` runs, on the
    event loop, as it refuses)."""
    loop = asyncio.get_running_loop()

    def refused() -> None:
        if when_refused is not None:
            loop.call_soon_threadsafe(when_refused)

    return on_recording(event_id, refused, "SELECT RAISE(ABORT, 'refused');")


def chat(event_id: str, recipients: list[str], chat_id: str, text: str) -> Event:
    return Event(event_id, "chat_message", recipients, data={"chatId": chat_id, "text": text, "clientName": "Ann"})


#: Calls that see each other's writes: together, each must get what it gets after the one before.
ONE_AFTER_ANOTHER: dict[str, list[list[Event]]] = {
    "a ticket created, then resolved": [
        [Event("a1", "ticket_created", ["alice"], data={"ticketNumber": 5})],
        [Event("b1", "entity_resolved", ["alice"], entity_kind="TICKET", entity_id="5")],
    ],
    "a ticket created, then closed": [
        [Event("a1", "ticket_created", ["alice"], data={"ticketNumber": 5})],
        [Event("b1", "ticket_closed", ["alice"], data={"ticketNumber": 5})],
    ],
    "two messages of one chat": [
        [chat("m1", ["alice"], "c1", "hi")],
        [chat("m2", ["alice"], "c1", "again")],
    ],
    "one id sent by both, to different recipients": [
        [Event("X", "ticket_created", ["alice"], data={"ticketNumber": 1})],
        [Event("X", "ticket_created", ["alice", "bob"], data={"ticketNumber": 1})],
    ],
    "one rating twice": [
        [Event("r1", "csat_received", ["alice"], data={"ratingId": "R", "score": 5})],
        [Event("r2", "csat_received", ["alice"], data={"ratingId": "R", "score": 1})],
    ],
    "a ticket created, then another resolved": [
        [Event("a", "ticket_created", ["alice"], data={"ticketNumber": 5})],
        [Event("b", "entity_resolved", ["alice"], entity_kind="TICKET", entity_id="6")],
    ],
    "a ticket created, then its recipient away": [
        [Event("t", "ticket_created", ["alice"], data={"ticketNumber": 2})],
        [Event("s", "operator_status_changed", ["alice"], data={"status": "away"})],
    ],
    "messages of two chats and a resolution of one": [
        [chat("m1", ["alice"], "c1", "hi"), chat("n1", ["alice"], "c2", "hello")],
        [chat("n2", ["alice", "bob"], "c2", "still there?")],
        [Event("r", "entity_resolved", ["alice"], entity_kind="CHAT", entity_id="c1"), chat("m2", ["bob"], "c1", "x")],
    ],
}


@pytest.mark.sqlite_only
@pytest.mark.parametrize("case", [*ONE_AFTER_ANOTHER, "a policy changed meanwhile"])
async def test_calls_made_at_once_get_what_they_would_get_one_after_another(app, new_tenant, case: str) -> None:
    async def outcome(together: bool) -> tuple[Any, ...]:
        tenant = new_tenant()
        broker = Recording(app.state.services.broker)
        # (alice has an unread item about ticket 6 already)
        await publish(app, tenant, [Event("old", "ticket_created", ["alice", "w"], data={"ticketNumber": 6})], broker)
        broker.bell.clear()
        policy = POLICIES[tenant.id]
        if case == "a policy changed meanwhile":
            # the last call comes with the policy as an administrator's change left it (a new object)
            calls = [[ticket("a0", ["alice"], 5)], [ticket("a1", ["alice"], 5)]]
            calls.append([Event("r", "entity_resolved", ["alice"], entity_kind="TICKET", entity_id="5")])
            policies = [policy, policy, dataclasses.replace(policy)]
        else:
            calls = ONE_AFTER_ANOTHER[case]
            policies = [policy] * len(calls)
        made = [publish(app, tenant, events, broker, p) for events, p in zip(calls, policies, strict=True)]
        answers = await asyncio.gather(*made) if together else [await call for call in made]
        rows = (
            await Notification.filter(instance_id=tenant.id).order_by("id").values_list("event_id", "count", "read_at")
        )
        counts = [(await tenant.operator(user).gql(UNREAD)).data["unreadCount"] for user in ("alice", "bob")]
        shown = [(event_id, count, read_at is not None) for event_id, count, read_at in rows]
        await sent_so_far(tenant.id)  # (the calls are answered before their messages go out)
        return answers, shown, counts, broker.bell

    assert await outcome(together=True) == await outcome(together=False)


@pytest.mark.sqlite_only
async def test_calls_made_at_once_are_written_together_and_each_gets_its_own_results(app, tenant: Tenant, sql) -> None:
    await publish(app, tenant, [ticket("warm-up", ["w"])])
    # given 16 producers' calls at once, each with three events and one event id they all send
    # (about different tickets: calls about one ticket are written one after the other)
    calls = [
        [ticket(f"c{n}-{i}", [f"u{(n + i) % 7}", f"u{(n + i + 1) % 7}"], number=100 + 3 * n + i) for i in range(3)]
        + [ticket("shared", ["u0"], number=99)]
        for n in range(16)
    ]
    sql.statements.clear()
    results = await asyncio.gather(*(publish(app, tenant, events) for events in calls))
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


@pytest.mark.sqlite_only
async def test_a_call_the_database_refuses_fails_alone_when_written_with_others(app, tenant: Tenant) -> None:
    names = ["ok-1", "ok-2", "refused", "ok-3", "ok-4"]
    await publish(app, tenant, [ticket("warm-up", ["w"])])
    async with refusing("refused"):
        # when five calls come at once and the database refuses the third one's event
        outcomes = await asyncio.gather(
            *(publish(app, tenant, [ticket(name, ["alice", "bob"], number=n)]) for n, name in enumerate(names)),
            return_exceptions=True,
        )
    # then that call fails, and the others are written and answered as if each had been alone
    by_name = dict(zip(names, outcomes, strict=True))
    assert isinstance(by_name.pop("refused"), Exception)
    assert all([(p.event_id, p.notification_count) for p in o] == [(n, 2)] for n, o in by_name.items())
    written = await Notification.filter(instance_id=tenant.id, operator__user_id__in=["alice", "bob"]).values_list(
        "event_id", flat=True
    )
    assert sorted(written) == sorted([n for n in names if n != "refused"] * 2)
    # nothing of the refused call is left: a producer's retry of it is not a duplicate
    assert not await ProcessedEvent.filter(instance_id=tenant.id, event_id="refused").exists()
    [again] = await publish(app, tenant, [ticket("refused", ["alice"])])
    assert (again.duplicate, again.notification_count) == (False, 1)
    assert (await tenant.operator("alice").gql(UNREAD)).data == {"unreadCount": 5}


@pytest.mark.sqlite_only
async def test_a_call_whose_caller_left_while_its_joint_transaction_failed_is_not_written_again(
    app, tenant: Tenant
) -> None:
    calls: dict[str, asyncio.Task[Any]] = {}
    await publish(app, tenant, [ticket("warm-up", ["w"])])
    # given three calls written together, the database refusing one of them, and the caller of
    # another leaving just then
    async with refusing("refused", when_refused=lambda: calls["gone"].cancel()):
        for n, name in enumerate(("ok", "refused", "gone")):
            calls[name] = asyncio.create_task(publish(app, tenant, [ticket(name, ["alice"], number=n)]))
        outcomes = await asyncio.gather(*calls.values(), return_exceptions=True)
    # then only the call whose caller is still there is written, on its own
    assert [type(o).__name__ for o in outcomes] == ["list", "IntegrityError", "CancelledError"]
    written = await Notification.filter(instance_id=tenant.id, operator__user_id="alice").values_list(
        "event_id", flat=True
    )
    assert written == ["ok"]


@pytest.mark.sqlite_only
async def test_calls_waiting_when_publishing_stops_are_told_so_and_the_next_ones_go_through(
    app, tenant: Tenant
) -> None:
    loop = asyncio.get_running_loop()

    def lanes() -> list[Any]:
        return [lane for lane in _LANES[loop].values() if lane.instance_id == tenant.id]

    await publish(app, tenant, [ticket("warm-up", ["w"])])
    while lanes():  # (the warm-up's lane ends once it has nothing left)
        await asyncio.sleep(0)
    # given five calls queued for the instance's publishing
    calls = [asyncio.ensure_future(publish(app, tenant, [ticket(f"s{i}", ["alice"], number=i)])) for i in range(5)]
    await asyncio.sleep(0)
    [lane] = lanes()
    # when the process stops it before it wrote anything (shutdown cancels every task)
    assert lane.task is not None
    lane.task.cancel()
    # then each call is told, none hangs, and nothing was written
    outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    assert all(isinstance(o, RuntimeError) and "publishing stopped" in str(o) for o in outcomes), outcomes
    assert not await Notification.filter(instance_id=tenant.id, event_id__startswith="s").exists()
    # and the next call is written as usual
    [published] = await publish(app, tenant, [ticket("after", ["alice"])])
    assert (published.duplicate, published.notification_count) == (False, 1)


async def test_on_postgresql_each_call_has_its_own_transaction(app, tenant: Tenant, sql) -> None:
    await publish(app, tenant, [ticket("warm-up", ["w"])])
    sql.statements.clear()
    results = await asyncio.gather(*(publish(app, tenant, [ticket(f"p{n}", ["alice"], number=n)]) for n in range(4)))
    assert [[p.event_id for p in r] for r in results] == [[f"p{n}"] for n in range(4)]
    inserts = sum(s.startswith('INSERT INTO "nc_notification"') for s in sql.statements)
    assert inserts == (4 if is_postgres() else 1)
    assert (await tenant.operator("alice").gql(UNREAD)).data == {"unreadCount": 4}


class Jittery(Recording):
    """The app's broker, taking each batch after a random pause of up to 5 ms (a busy Redis, a
    loop with other work): hand-offs that are not ordered overtake one another."""

    async def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        await asyncio.sleep(random.random() * 0.005)
        await super().publish_many(messages)


async def test_calls_about_one_recipient_at_once_send_their_unread_counts_in_commit_order(app, tenant: Tenant) -> None:
    """Each call's count is its commit's (the counter's row lock orders them on PostgreSQL, the
    lane on SQLite): the counts reach the panel rising, never stepping back (PostgreSQL's calls,
    each handing off after its own commit, did: 77 of 3,200 in a reviewer's run)."""
    await publish(app, tenant, [ticket("warm-up", ["alice"])])
    broker = Jittery(app.state.services.broker)
    # given 32 producers' calls about one recipient at once, each adding one bell item
    calls = [publish(app, tenant, [ticket(f"c{n}", ["alice"], number=100 + n)], broker) for n in range(32)]
    await asyncio.gather(*calls)
    # then her unread counts went out rising, one by one, to the count she has
    await heard(broker, 32)
    counts = [count for user, kind, count in broker.bell if user == "alice" and kind == "NotificationAdded"]
    assert counts == list(range(2, 34)), counts
    assert (await tenant.operator("alice").gql(UNREAD)).data == {"unreadCount": 33}


async def test_read_marks_and_calls_about_one_recipient_at_once_keep_her_counts_rising(app, tenant: Tenant) -> None:
    """A bell change takes its place in the announcing order as the calls do (PostgreSQL: as it
    moves the counters): marking items unread while calls add items, every count she hears rises
    (the marks joined after their commit, and a call that counted after a mark went out first)."""
    from core.broker import user_topic

    alice = tenant.operator("alice")
    await publish(app, tenant, [ticket(f"old{n}", ["alice"], number=200 + n) for n in range(10)])
    await alice.gql("mutation { markAllNotificationsRead { unreadCount } }")
    old = [
        e["node"]["id"]
        for e in (await alice.gql("{ notifications { edges { node { id } } } }")).data["notifications"]["edges"]
    ]
    broker = Jittery(app.state.services.broker)
    unread = "mutation($ids: [ID!]!) { markNotificationsUnread(ids: $ids) { unreadCount } }"
    async with app.state.services.broker.subscribe(user_topic(tenant.id, "alice", "bell")) as heard_by_her:
        # given calls adding items to her and marks making her old items unread, all at once
        work = [publish(app, tenant, [ticket(f"n{n}", ["alice"], number=300 + n)], broker) for n in range(20)]
        work += [alice.gql(unread, {"ids": [i]}) for i in old]
        await asyncio.gather(*work)
        # then every count she heard is one more than the one before
        counts: list[int] = []
        for _ in range(200):
            while not heard_by_her.queue.empty():
                message = heard_by_her.queue.get_nowait()
                if message.get("unreadCount") is not None:
                    counts.append(message["unreadCount"])
            if len(counts) >= 30:
                break
            await asyncio.sleep(0.05)
    assert counts == list(range(1, 31)), counts


async def sent_so_far(instance_id: str) -> None:
    """Until the messages of every transaction of the instance written so far went out (its
    announcing chain, domain/announcing.py: a link taken now follows them all)."""
    from domain.announcing import link

    previous, mine = link(instance_id)
    if previous is not None:
        await asyncio.wait_for(asyncio.shield(previous), 5)
    mine.set_result(None)


async def heard(broker: Recording, count: int) -> None:
    """Until the broker carried ``count`` bell messages (at most 5 s: the test's assertion says what came)."""

    async def bell() -> int:
        return len(broker.bell)

    await eventually(bell, lambda n: n >= count)


class Held(Recording):
    """The app's broker, holding every batch of panel messages until ``let_go`` is set; and its
    ``publish`` refusing (a broker down), so that telling other processes about new operators fails."""

    def __init__(self, broker: Any) -> None:
        super().__init__(broker)
        self.let_go = asyncio.Event()
        self.holding = asyncio.Event()

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        raise ConnectionError("the broker is down")

    async def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        self.holding.set()
        await self.let_go.wait()
        await super().publish_many(messages)


@pytest.mark.sqlite_only
async def test_a_call_is_answered_once_committed_while_its_messages_still_go_out(app, tenant: Tenant) -> None:
    await publish(app, tenant, [ticket("warm-up", ["alice"])])
    broker = Held(app.state.services.broker)
    # given a broker that holds the panel's messages, and refuses to carry what new operators need
    call = asyncio.ensure_future(publish(app, tenant, [ticket("t1", ["alice", "newcomer"])], broker))
    # when a call is written, it is answered with its results while its messages are still held
    [published] = await asyncio.wait_for(asyncio.shield(call), 5)
    assert (published.duplicate, published.notification_count) == (False, 2)
    await asyncio.wait_for(broker.holding.wait(), 5)
    assert broker.bell == []
    # and its messages go out once the broker takes them, with the unread counts as written
    broker.let_go.set()
    await heard(broker, 2)
    assert sorted(broker.bell) == [("alice", "NotificationAdded", 2), ("newcomer", "NotificationAdded", 1)]
    assert (await tenant.operator("newcomer").gql(UNREAD)).data == {"unreadCount": 1}


@pytest.mark.sqlite_only
async def test_a_call_that_arrives_while_the_last_ones_messages_go_out_is_written_without_waiting_for_them(
    app, tenant: Tenant
) -> None:
    await publish(app, tenant, [ticket("warm-up", ["alice"])])
    broker = Held(app.state.services.broker)
    # given a call whose messages the broker is still holding
    [first] = await asyncio.wait_for(publish(app, tenant, [ticket("t1", ["alice"], number=1)], broker), 5)
    await asyncio.wait_for(broker.holding.wait(), 5)
    # when the next call arrives, it is written and answered meanwhile
    [second] = await asyncio.wait_for(publish(app, tenant, [ticket("t2", ["alice"], number=2)], broker), 5)
    assert (first.notification_count, second.notification_count) == (1, 1)
    assert broker.bell == []
    # and the messages go out in the order the calls were written
    broker.let_go.set()
    await heard(broker, 2)
    assert broker.bell == [("alice", "NotificationAdded", 2), ("alice", "NotificationAdded", 3)]


class Refusing(Recording):
    """The app's broker, refusing single messages (a broker down for what is told to other
    processes: new operators, the workers' wake-up) and carrying the panel's batches."""

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        raise ConnectionError("the broker is down")


async def test_a_committed_call_is_answered_with_its_results_when_the_broker_refuses_what_follows(
    app, tenant: Tenant
) -> None:
    await publish(app, tenant, [ticket("warm-up", ["alice"])])
    broker = Refusing(app.state.services.broker)
    # given a broker that cannot tell other processes about new operators
    # when a call creates one, it gets its results (its rows are committed)
    services = app.state.services
    policy = POLICIES[tenant.id]
    [published] = await asyncio.wait_for(
        publish_events(
            broker, services.settings, tenant.id, [ticket("t1", ["alice", "newcomer"])], policy, services.viewers
        ),
        5,
    )
    assert (published.duplicate, published.notification_count) == (False, 2)
    # and the panel's messages still go out, and a retry of the call is a duplicate
    await heard(broker, 2)
    assert sorted(broker.bell) == [("alice", "NotificationAdded", 2), ("newcomer", "NotificationAdded", 1)]
    [again] = await publish(app, tenant, [ticket("t1", ["alice", "newcomer"])])
    assert again.duplicate


@pytest.mark.sqlite_only
async def test_a_read_mark_made_after_a_call_was_answered_goes_out_after_that_calls_messages(
    app, tenant: Tenant
) -> None:
    from core.broker import user_topic
    from domain import live

    await publish(app, tenant, [ticket("warm-up", ["alice"], number=1)])
    [first] = await Notification.filter(instance_id=tenant.id, event_id="warm-up").values_list("id", flat=True)
    held = Held(app.state.services.broker)
    async with app.state.services.broker.subscribe(user_topic(tenant.id, "alice", live.BELL)) as bell:
        # given a call answered while its bell message is still on its way
        await asyncio.wait_for(publish(app, tenant, [ticket("t2", ["alice"], number=2)], held), 5)
        await asyncio.wait_for(held.holding.wait(), 5)
        # when alice then reads her first item (one unread left: the new one)
        read = asyncio.ensure_future(
            tenant.operator("alice").gql(
                "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { unreadCount } }", {"ids": [str(first)]}
            )
        )
        await asyncio.sleep(0.2)
        assert bell.queue.empty()
        held.let_go.set()
        result = await asyncio.wait_for(read, 5)
        assert result.data == {"markNotificationsRead": {"unreadCount": 1}}
        # then her panel hears the new item first and the read mark after it: it ends on 1, as the server
        heard = [bell.queue.get_nowait() for _ in range(bell.queue.qsize())]
    assert [(m["type"], m["unreadCount"]) for m in heard] == [("NotificationAdded", 2), ("NotificationsRead", 1)]


class Down(Recording):
    """The app's broker, refusing everything (Redis down)."""

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        raise ConnectionError("the broker is down")

    async def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        raise ConnectionError("the broker is down")


async def test_a_read_mark_is_answered_when_the_broker_refuses_its_announcement(
    app, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish(app, tenant, [ticket("t1", ["alice"], number=1), ticket("t2", ["alice"], number=2)])
    [first] = await Notification.filter(instance_id=tenant.id, event_id="t1").values_list("id", flat=True)
    # given a broker that is down
    monkeypatch.setattr(app.state.services, "broker", Down(app.state.services.broker))
    # when alice reads an item, she gets the answer (the read is committed), not an internal error
    result = await tenant.operator("alice").gql(
        "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids unreadCount } }", {"ids": [str(first)]}
    )
    assert result.data == {"markNotificationsRead": {"ids": [str(first)], "unreadCount": 1}}
    assert (await tenant.operator("alice").gql(UNREAD)).data == {"unreadCount": 1}


@pytest.mark.sqlite_only
async def test_a_rating_sent_again_under_another_id_clashes_and_is_answered_as_written_before(
    app, tenant: Tenant, sql
) -> None:
    # given alice's notification of rating R (the lane numbers the notifications it writes)
    [first] = await publish(app, tenant, [Event("r1", "csat_received", ["alice"], data={"ratingId": "R", "score": 5})])
    assert (first.duplicate, first.notification_count) == (False, 1)
    sql.statements.clear()
    # when the same rating comes again under another event id, with a ticket for bob
    second = await publish(
        app,
        tenant,
        [Event("r2", "csat_received", ["alice"], data={"ratingId": "R", "score": 1}), ticket("t", ["bob"])],
    )
    # then the numbered rows clashed with alice's, and the call was written again, read back
    inserts = [s for s in sql.statements if s.startswith('INSERT INTO "nc_notification"')]
    assert len(inserts) == 2 and "RETURNING" not in inserts[0] and "RETURNING" in inserts[1], inserts
    # and it is answered as before numbering: no second item for alice, bob's ticket written once
    assert [(p.event_id, p.duplicate, p.notification_count) for p in second] == [("r2", False, 0), ("t", False, 1)]
    rows = await Notification.filter(instance_id=tenant.id).order_by("id").values_list("event_id", "operator__user_id")
    assert rows == [("csat:R", "alice"), ("t", "bob")]
    for user, count in (("alice", 1), ("bob", 1)):
        assert (await tenant.operator(user).gql(UNREAD)).data == {"unreadCount": count}


@pytest.mark.sqlite_only
async def test_numbered_notifications_never_take_the_id_of_one_deleted(app, tenant: Tenant) -> None:
    # given two notifications, the newer one then deleted (retention, an operator removed)
    await publish(app, tenant, [ticket("a", ["alice"], 1), ticket("b", ["alice"], 2)])
    newest = await Notification.filter(instance_id=tenant.id).order_by("-id").first()
    assert newest is not None
    await Notification.filter(id=newest.id).delete()
    # when the lane numbers the next ones
    await publish(app, tenant, [ticket("c", ["alice"], 3), ticket("d", ["alice"], 4)])
    # then they come after the deleted one's id (a tab that saw it never takes a new item for it)
    ids = (
        await Notification.filter(instance_id=tenant.id, event_id__in=["c", "d"])
        .order_by("id")
        .values_list("id", flat=True)
    )
    assert ids == [newest.id + 1, newest.id + 2]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("refers", ["a banner that repeats", "a CUSTOM webhook delivery"])
async def test_a_rating_sent_again_is_answered_as_before_when_rows_refer_to_its_notification(
    app, tenant: Tenant, refers: str
) -> None:
    # given alice, whose rating notification is referred to by another row (a found clash must
    # not become that row's foreign-key failure)
    if refers == "a banner that repeats":
        await publish(app, tenant, [ticket("warm-up", ["alice"], 900)])
        await Operator.filter(instance_id=tenant.id, user_id="alice").update(banner_repeat_count=2)
    else:
        configure = {
            "botChannels": [
                {
                    "channel": "CUSTOM",
                    "enabled": True,
                    "settings": {"url": "https://hooks.example.com/nc"},
                    "secret": "whsec-0123456789abcdef0123456789abcdef",
                }
            ]
        }
        assert not (await tenant.admin().gql(CONFIGURE, {"input": configure})).errors
        chosen = await tenant.operator("alice").gql(
            'mutation { setTypeChannels(typeCode: "csat_received", channels: [BELL, CUSTOM]) { code } }'
        )
        assert not chosen.errors, chosen.errors
        POLICIES.pop(tenant.id, None)
    rating = {"ratingId": "R", "score": 5}
    [first] = await publish(app, tenant, [Event("r1", "csat_received", ["alice"], data=rating)])
    assert (first.duplicate, first.notification_count) == (False, 1)
    # when the rating comes again under another id, with a ticket for bob
    second = await publish(app, tenant, [Event("r2", "csat_received", ["alice"], data=rating), ticket("t", ["bob"])])
    # then it is answered as the rating's first notification left it, and bob's ticket is written
    assert [(p.event_id, p.duplicate, p.notification_count) for p in second] == [("r2", False, 0), ("t", False, 1)]
    assert await Notification.filter(instance_id=tenant.id, event_id="csat:R").count() == 1
    assert await Notification.filter(instance_id=tenant.id, event_id="t").count() == 1


@pytest.mark.sqlite_only
async def test_a_call_of_several_insert_chunks_is_written_whole_or_not_at_all(app, tenant: Tenant) -> None:
    # given 2,100 operators (more notifications than one INSERT statement holds), the last one's
    # banners repeating (a row referring to a notification of the second chunk)
    users = [f"u{i:04}" for i in range(2_100)]
    await publish(app, tenant, [ticket("hello", users, 1)])
    await Operator.filter(instance_id=tenant.id, user_id=users[-1]).update(banner_repeat_count=2)
    # when one event goes to all of them
    [published] = await publish(app, tenant, [ticket("wide", users, 2)])
    # then every notification is written, and the last one's repeat refers to it
    assert (published.duplicate, published.notification_count) == (False, 2_100)
    assert await Notification.filter(instance_id=tenant.id, event_id="wide").count() == 2_100
    last = await Notification.get(instance_id=tenant.id, event_id="wide", operator__user_id=users[-1])
    assert await ToastRepeat.filter(notification_id=last.id).count() == 1
    # and when a later statement of such a call fails, none of its chunks is left written
    await db().execute_script(
        "CREATE TRIGGER nc_test_no_hand_off BEFORE INSERT ON nc_panel_hand_off BEGIN SELECT RAISE(ABORT, 'no'); END;"
    )
    try:
        with pytest.raises(Exception, match="no"):
            await publish(app, tenant, [ticket("refused", users, 3)])
    finally:
        await db().execute_script("DROP TRIGGER nc_test_no_hand_off;")
    assert await Notification.filter(instance_id=tenant.id, event_id="refused").count() == 0
    assert await ProcessedEvent.filter(instance_id=tenant.id, event_id="refused").count() == 0


@pytest.mark.sqlite_only
@pytest.mark.parametrize("size", [1_500, 2_100])  # numbered in one INSERT; read back, in two
async def test_a_call_whose_insert_sqlite_rolls_back_leaves_nothing_written(app, tenant: Tenant, size: int) -> None:
    # given operators with an unread item each
    users = [f"u{i:04}" for i in range(size)]
    await publish(app, tenant, [ticket("hello", users, 1)])
    # when SQLite ends a call's transaction itself inside its notifications' INSERT (RAISE(ROLLBACK),
    # as a full disk or an I/O error does: what was queued behind it would run on its own)
    fired: list[str] = []

    def first_refused(event_id: str) -> int:  # runs on SQLite's thread: true for one row only
        if event_id != "refused" or fired:
            return 0
        fired.append(event_id)
        return 1

    conn = db()
    await conn.execute_query("SELECT 1")  # (connected)
    await conn._connection.create_function("nc_test_first_refused", 1, first_refused)  # type: ignore[attr-defined]
    await conn.execute_script(
        "CREATE TRIGGER nc_test_rollback BEFORE INSERT ON nc_notification WHEN nc_test_first_refused(NEW.event_id) "
        "BEGIN SELECT RAISE(ROLLBACK, 'no room'); END;"
    )
    try:
        with pytest.raises(Exception, match="no room"):
            await publish(app, tenant, [ticket("refused", users, 2), ticket("beside", users[:5], 3)])
    finally:
        await conn.execute_script("DROP TRIGGER nc_test_rollback;")
    # then nothing of it is left: no row, no processed event, no counter raised
    assert await Notification.filter(instance_id=tenant.id, event_id__in=["refused", "beside"]).count() == 0
    assert await ProcessedEvent.filter(instance_id=tenant.id, event_id__in=["refused", "beside"]).count() == 0
    for user in (users[0], users[-1]):
        assert (await tenant.operator(user).gql(UNREAD)).data == {"unreadCount": 1}
    # and the producer's retry is written whole
    published = await publish(app, tenant, [ticket("refused", users, 2), ticket("beside", users[:5], 3)])
    assert [(p.duplicate, p.notification_count) for p in published] == [(False, size), (False, 5)]
    assert (await tenant.operator(users[0]).gql(UNREAD)).data == {"unreadCount": 3}


def stalling(event_id: str, seconds: float) -> AbstractAsyncContextManager[None]:
    """An SQLite database whose thread stalls ``seconds`` as it records one event id (a slow
    disk, a long checkpoint): the transaction writing it waits there, before its notifications."""
    return on_recording(event_id, lambda: time.sleep(seconds))


@pytest.mark.sqlite_only
async def test_calls_written_together_have_their_messages_sent_while_the_next_transaction_is_stalled(
    app, tenant: Tenant
) -> None:
    """A stalled transaction must not hold back the bells of calls already answered (a variant
    that had them wait for the next transaction's INSERT is in bench/ANALYSIS.md, not landed)."""
    await publish(app, tenant, [ticket("warm-up", ["alice"])])
    broker = Recording(app.state.services.broker)
    async with stalling("slow", 3.0):
        # given two calls written together
        group = [publish(app, tenant, [ticket(f"g{n}", [user], n)], broker) for n, user in ((1, "alice"), (2, "bob"))]
        await asyncio.wait_for(asyncio.gather(*group), 5)
        # when the next call arrives at once, and its transaction stalls before its notifications
        slow = asyncio.ensure_future(publish(app, tenant, [ticket("slow", ["carol"], 9)], broker))
        # then the group's messages go out meanwhile, well before the stall ends
        await asyncio.wait_for(heard(broker, 2), 1.5)
        assert sorted(broker.bell) == [("alice", "NotificationAdded", 2), ("bob", "NotificationAdded", 1)]
        assert not slow.done()
        [published] = await asyncio.wait_for(slow, 10)
    assert published.notification_count == 1
    await heard(broker, 3)
    assert broker.bell[-1] == ("carol", "NotificationAdded", 1)
