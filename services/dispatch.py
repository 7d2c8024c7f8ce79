"""The one dispatch seam: what a request hands to the delivery workers, and nothing else does.

Each function validates, writes in one transaction (the notifications, the external channels'
delivery rows, which are the durable job queue, and the call's one panel hand-off row; on SQLite,
publishing calls that arrive together share one: group commit, ``_Lane``) and, only
after the commit, hands off: the panel's live messages (bell, toast, sound) go to the broker from
here, in one hop, and the hand-off row is deleted in one statement; for external jobs the broker's
``workers`` topic is told to look now. A lost wake-up costs at most a poll interval, a lost
hand-off (the process died, the broker failed) at most ``NC_LIVE_FALLBACK_SECONDS``: then a worker
sends those messages (domain/panel.py). Resolvers never deliver and never wake the workers themselves.

    publish_events(...)  -> [Published]  SPEC §4: events in, notifications and deliveries out
    send_test(...)       -> Delivery     the Channels tab's Test: one delivery now, returned final
    retry_deliveries(...) -> [ids]       the delivery log's dead letters queued again
    prime_connections(...) -> int        PostgreSQL, at start: the publishing path's statements
                                         prepared on every connection of the pool

Errors: domain.errors.BadUserInput (a wrong event or channel: nothing written).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from tortoise.timezone import now

from core.broker import WORKERS, Broker
from core.metrics import DATABASE_ERRORS, DELIVERIES, PUBLISH_TO_DELIVERED, PUBLISHING, observe_times
from core.settings import Settings
from domain import delivery_log, panel
from domain.acknowledge import ReadMark
from domain.announcing import Place as Place  # (the resolvers' seam)
from domain.announcing import announce_in_order as announce_in_order  # (the resolvers' seam)
from domain.announcing import link, placed
from domain.entities import entity_of
from domain.errors import BadUserInput
from domain.events import ACTS_FIRST, Batch, Event, NumberingClash, Published, publish, validate
from domain.panel import Showings, Tally
from domain.policy import InstancePolicy, load_policy
from domain.recipients import RecipientCache
from domain.retract import read_messages
from domain.routing import PresenceSource
from domain.viewers import ViewerCache
from models.db import is_postgres, transaction
from models.enums import ChannelKind, DeliveryStatus
from models.notification import Delivery
from models.operator import Operator

log = logging.getLogger(__name__)

#: A test delivery is reported once it reaches one of these.
FINAL = frozenset({DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value, DeliveryStatus.SKIPPED.value})


async def publish_events(
    broker: Broker,
    settings: Settings,
    instance_id: str,
    events: list[Event],
    policy: InstancePolicy,
    viewers: ViewerCache | None = None,
    presence: PresenceSource | None = None,
    *,
    validated: bool = False,
) -> list[Published]:
    """Publish a producer's events (all or none written); after the commit, send the panel's
    messages, tell ``viewers`` about operators it created, and wake the workers if an external
    job was queued. Each phase's time goes to ``nc_publishing_seconds``. The events are validated
    before the transaction (``validated``: the caller did, domain.events.validate).

    On SQLite, whose one connection writes one transaction at a time anyway, calls of one
    instance that arrive while its publishing transaction runs are written together in the next
    one (``_Lane``: group commit), each still all or nothing, and each is answered once its
    transaction commits, while its messages go out after it. On PostgreSQL each call has a
    transaction of its own, on a connection of the pool, beside the others, and is answered after
    its hand-off, which follows those of the calls this process committed before
    (domain/announcing.py): a call takes its place in that order as it raises the unread counters
    (their row locks order the commits of calls counting the same recipient), so such calls send
    their counts in commit order, not as their hand-offs happen to run."""
    if not validated:
        validate(events, settings.limits)
    publisher = _Publisher(broker, settings, instance_id, policy, viewers, presence)
    if is_postgres():
        queued_at = time.perf_counter()
        place = Place(instance_id)
        try:
            with placed(place):
                batch, began, committed = await publisher.write(events)
            previous, _ = place.taken()
            if previous is not None and not previous.done():
                await asyncio.wait([previous], timeout=settings.live_fallback_seconds)
            confirm = await publisher.after_commit(batch)
        finally:
            place.release()  # (rolled back too: the calls after it need not wait)
        if confirm is not None:
            await confirm()
        await publisher.wake(batch)
        _observe_phases(queued_at, began, committed)
        return batch.results
    loop = asyncio.get_running_loop()
    lanes = _LANES.setdefault(loop, {})
    lane = lanes.get(instance_id)
    if lane is None:
        lane = lanes[instance_id] = _Lane(instance_id, lanes)
    done: asyncio.Future[list[Published]] = loop.create_future()
    lane.add(_Call(events, done, time.perf_counter(), publisher))
    return await done


@dataclass(eq=False, slots=True)
class _Call:
    events: list[Event]
    #: Its caller's answer.
    done: asyncio.Future[list[Published]]
    queued_at: float
    #: What it is written with: only calls with equal ones share a transaction.
    publisher: _Publisher

    def gone(self) -> bool:
        """Answered already, or its caller went away."""
        return self.done.done()

    def entities(self, known: set[str]) -> set[tuple[str, str]]:
        """The entities (tickets, chats, ...) its events are about, but for events whose ids are
        ``known`` (duplicates of earlier calls' events: they write nothing)."""
        out = set()
        for event in self.events:
            if event.id in known:
                continue
            kind, entity_id = entity_of(event.type, event.entity_kind, event.entity_id, event.data)
            if kind is not None and entity_id is not None:
                out.add((kind, entity_id))
        return out


@dataclass(frozen=True, slots=True)
class _Publisher:
    """What a call is written with (calls with equal ones may share a transaction), and the
    steps of publishing: the write, what follows the commit, the workers' wake-up."""

    broker: Broker
    settings: Settings
    instance_id: str
    policy: InstancePolicy
    viewers: ViewerCache | None
    presence: PresenceSource | None

    async def write(self, events: list[Event]) -> tuple[Batch, float, float]:
        """The events in one transaction: (the batch, when it began, when it committed). Raises
        what the transaction raised."""
        began = time.perf_counter()
        # SQLite (its transactions begin IMMEDIATE): the notifications are numbered by the
        # transaction, not read back (domain.events.publish's ``numbered``).
        numbered = not is_postgres()
        try:
            batch = await self._transaction(events, numbered=numbered)
        except NumberingClash:  # rare (a CSAT rating's second event): again, read back instead
            batch = await self._transaction(events, numbered=False)
        return batch, began, time.perf_counter()

    async def _transaction(self, events: list[Event], *, numbered: bool) -> Batch:
        settings = self.settings
        cache = None if is_postgres() else recipient_cache(settings.recipient_cache_operators)
        async with transaction():
            return await publish(
                self.instance_id,
                events,
                settings.limits,
                policy=self.policy,
                reminder_minute_seconds=settings.reminder_minute_seconds,
                panel_fallback_seconds=settings.live_fallback_seconds,
                collapse_window_seconds=settings.collapse_window_seconds,
                presence=self.presence,
                routing_minute_seconds=settings.routing_minute_seconds,
                away_check_seconds=settings.away_recheck_seconds,
                validated=True,
                numbered=numbered,
                recipient_cache=cache,
            )

    async def after_commit(self, batch: Batch) -> Callable[[], Awaitable[None]] | None:
        """New operators' viewers forgotten, read marks announced, the panel's messages sent;
        returns what is left: the hand-off row's deletion (None: nothing to delete, or the
        messages are left to a worker). The workers are woken by ``wake``. A broker's failure
        here is logged, never raised: the calls' rows are committed."""
        broker = self.broker
        if batch.new_users and self.viewers is not None:
            # Their panels may have asked before they existed: "no such operator" is no longer true.
            try:
                await self.viewers.changed(broker, self.instance_id, batch.new_users)
            except Exception:
                log.exception(
                    "other processes were not told of %d new operators: their caches renew within their TTL",
                    len(batch.new_users),
                )
        if batch.read:
            await announce_read(broker, self.instance_id, batch.read)
        confirm = None
        if batch.panel and batch.hand_off_id is not None:
            tally = await send_panel(broker, batch.panel)
            if tally is not None:
                confirm = partial(handed_off, tally, batch.hand_off_id, batch.written_at)
        return confirm

    async def wake(self, batch: Batch) -> None:
        """After the commit: the rows are the jobs, this only says "look now" (should the broker
        fail, logged: the workers find the jobs at their next poll)."""
        if batch.external_queued:
            try:
                await self.broker.publish(WORKERS, {})
            except Exception:
                log.exception("the workers were not woken: they find the queued jobs at their next poll")


def _observe_phases(queued_at: float, began: float, committed: float) -> None:
    """One call's phases (``nc_publishing_seconds``): its wait for its transaction, the
    transaction (shared by the calls written in it), and from the commit to its answer."""
    PUBLISHING.labels("waiting").observe(began - queued_at)
    PUBLISHING.labels("writing").observe(committed - began)
    PUBLISHING.labels("handing_off").observe(time.perf_counter() - committed)


#: How long a busy lane's committed messages wait for the next call at most (``_Lane._finish``).
HOLD_SECONDS = 0.010

#: The lanes of each running event loop, by instance.
_LANES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Lane]] = weakref.WeakKeyDictionary()


class _Lane:
    """Group commit (SQLite): one instance's publishing calls, written one transaction at a time,
    each transaction taking the calls that waited for the one before, in their order, as many as
    one call may hold at most (``Limits.events_per_batch`` events, ``Limits.recipients_per_call``
    recipients). A transaction, its commit, its hand-off row and its statements then serve many
    calls (16 producers' calls of 20 events in flight: 91 -> 58 µs of CPU per live message).

    Each call gets what it would have got alone, after the calls before it (one lane per instance
    keeps their order): two calls about the same entity (a ticket, a chat) are never written
    together, since within one call events about an entity collapse together; a call with an
    event that acts first in a batch (domain.events.ACTS_FIRST: a resolution's reads, a
    recipient's status) only starts a transaction, never joins one; and only calls with equal
    policies, settings, brokers and caches share one (a policy changed meanwhile starts anew).
    Should a joint transaction fail, each of its calls runs again on its own, so one call's fault
    fails only that call. A call whose caller went away before its transaction began is not
    written; should the lane stop (the process shutting down), every call it holds is told so."""

    def __init__(self, instance_id: str, lanes: dict[str, _Lane]) -> None:
        self.instance_id, self.lanes = instance_id, lanes
        self.waiting: deque[_Call] = deque()
        #: The calls of the transaction being written.
        self.writing: list[_Call] = []
        self.task: asyncio.Task[None] | None = None
        #: Set when a call arrives while the drainer waits for one (or for a hand-off to end).
        self.arrived: asyncio.Future[None] | None = None
        #: Set when a call arrives while a group's messages wait for one (``_finish``).
        self.called: asyncio.Future[None] | None = None

    def add(self, call: _Call) -> None:
        self.waiting.append(call)
        if self.called is not None and not self.called.done():
            self.called.set_result(None)
        if self.task is None:
            self._start()
        elif self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(None)

    def _start(self) -> None:
        # A context of its own: no request's ids in the logs of the calls it writes.
        self.task = asyncio.get_running_loop().create_task(self._drain(), context=contextvars.Context())
        self.task.add_done_callback(self._stopped)

    async def _drain(self) -> None:
        # A transaction's hand-off (its sends, in commit order) goes on while the next
        # transaction is written; the one after that waits for it. With nothing to write, the
        # next call that arrives starts a transaction at once, the hand-off still under way.
        finishing: deque[asyncio.Task[None]] = deque()
        loop = asyncio.get_running_loop()
        while self.waiting or finishing:
            if finishing and finishing[0].done():
                finishing.popleft().result()
                continue
            if len(finishing) > 1:
                await asyncio.wait([finishing[0]])
                continue
            if not self.waiting:
                self.arrived = loop.create_future()
                try:
                    await asyncio.wait([self.arrived, finishing[0]], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    self.arrived = None
                continue
            for written in await self._write(self._next_group()):
                previous, sent = link(self.instance_id)
                finishing.append(loop.create_task(self._finish(previous, sent, *written)))

    def _stopped(self, task: asyncio.Task[None]) -> None:
        """The drainer ended: with nothing left to write, or cancelled (the process stopping,
        perhaps before it ever ran) or failed, when every call it held is told so."""
        self.task = None
        error: BaseException | None
        if task.cancelled():
            error = RuntimeError("publishing stopped: the process is shutting down")
        else:
            error = task.exception()
            if error is not None:
                log.error("publishing stopped by a fault; its calls are told", exc_info=error)
        if error is not None:
            _tell([*self.writing, *self.waiting], error if isinstance(error, Exception) else RuntimeError(str(error)))
            self.writing = []
            self.waiting.clear()
        if self.waiting:  # came after the drainer's last look
            self._start()
        elif self.lanes.get(self.instance_id) is self:
            del self.lanes[self.instance_id]

    def _next_group(self) -> list[_Call]:
        group: list[_Call] = []
        events = recipients = 0
        about: set[tuple[str, str]] = set()
        ids: set[str] = set()
        while self.waiting:
            call = self.waiting[0]
            if call.gone():  # its caller went away
                self.waiting.popleft()
                continue
            size = sum(len(e.recipients) for e in call.events)
            entities = call.entities(ids)
            if group and (
                call.publisher != group[0].publisher
                or events + len(call.events) > group[0].publisher.settings.limits.events_per_batch
                or recipients + size > group[0].publisher.settings.limits.recipients_per_call
                or not about.isdisjoint(entities)
                or any(e.type in ACTS_FIRST for e in call.events)
            ):
                break
            self.waiting.popleft()
            group.append(call)
            events += len(call.events)
            recipients += size
            about |= entities
            ids.update(e.id for e in call.events)
        return group

    async def _write(self, group: list[_Call]) -> list[tuple[list[_Call], Batch, float, float]]:
        """The group's transaction: what it wrote; should it fail, each call's own (those whose
        caller is still there), and the failed ones told why."""
        if not group:
            return []
        outer, self.writing = self.writing, group  # (a call run again alone: its group stays listed)
        try:
            return [(group, *await group[0].publisher.write([e for call in group for e in call.events]))]
        except Exception as exc:  # noqa: BLE001 - each call raises it (alone) to its caller
            if len(group) == 1:
                _tell(group, exc)
                return []
            log.warning(
                "a transaction of %d publishing calls failed (%s): each is written again on its own",
                len(group),
                type(exc).__name__,
            )
            return [written for call in group if not call.gone() for written in await self._write([call])]
        finally:
            self.writing = outer

    async def _next_call_or(self, seconds: float) -> None:
        """Until a call arrives (or the next transaction began), at most ``seconds``."""
        if self.waiting or self.writing:
            return
        if self.called is None or self.called.done():
            self.called = asyncio.get_running_loop().create_future()
        await asyncio.wait([self.called], timeout=seconds)

    async def _finish(
        self,
        previous: asyncio.Future[None] | None,
        sent: asyncio.Future[None],
        group: list[_Call],
        batch: Batch,
        began: float,
        committed: float,
    ) -> None:
        """After the commit: each call answered at once, then, once the messages of the
        transaction before went out (``previous``), the hand-off (read marks, the panel's messages,
        the workers' wake-up; ``sent`` resolved then), and the hand-off row's deletion.

        A busy lane's (a group of several calls) messages wait for the next call to arrive, at
        most ``HOLD_SECONDS``: the producers' answers reach them alone, and their next calls come
        back sooner (a client reads the answers behind the messages already in hand), while the
        messages go out beside the next transaction's statements, when the event loop would wait
        for SQLite (the independent configuration: ~+8 % messages/s).

        The calls are answered before their messages go out: their rows are committed, and no
        step of the hand-off fails them (a hand-off that fails leaves its row due for a worker,
        ``NC_LIVE_FALLBACK_SECONDS``). So their producers send their next calls while this group's
        messages are written, and those calls meet in the next transaction; answered after the
        sends, they came back together with the messages and alternated between small and large
        groups (the independent configuration: 0.33 -> 0.40 of the raw broadcast)."""
        publisher = group[0].publisher
        if batch.new_users and publisher.viewers is not None:
            # This process's panels see the new operators from now on (the others once told).
            publisher.viewers.forget(publisher.instance_id, batch.new_users)
        at = 0
        for call in group:
            results = batch.results[at : at + len(call.events)]
            at += len(call.events)
            if not call.done.done():
                _observe_phases(call.queued_at, began, committed)
                call.done.set_result(results)
        try:
            if len(group) > 1:
                await self._next_call_or(HOLD_SECONDS)
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            confirm = await publisher.after_commit(batch)
            await publisher.wake(batch)
        except Exception:  # a fault of ours: the calls' rows and their hand-off row are committed
            log.exception(
                "the hand-off of %d committed publishing calls failed: their hand-off row leaves it to a worker",
                len(group),
            )
            return
        finally:
            if not sent.done():
                sent.set_result(None)
        # The row's deletion waits for the SQLite connection, which the next transaction holds.
        if confirm is not None:
            await confirm()


#: The recipient caches (SQLite) of each running event loop, by capacity.
_RECIPIENT_CACHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, RecipientCache]] = (
    weakref.WeakKeyDictionary()
)


def recipient_cache(capacity: int) -> RecipientCache:
    """This event loop's (this process's) ``RecipientCache`` of ``capacity`` operators."""
    caches = _RECIPIENT_CACHES.setdefault(asyncio.get_running_loop(), {})
    cache = caches.get(capacity)
    if cache is None:
        cache = caches[capacity] = RecipientCache(capacity)
    return cache


#: What ``prime_connections`` publishes, in a transaction it rolls back: an instance and an
#: operator that are never stored, and a delivered type of the catalog.
PRIME_INSTANCE = "nc-prime"
PRIME_TYPE = "ticket_created"

#: Primings that did not finish in time, cancelled and left to end in the background.
_ABANDONED: set[asyncio.Task[None]] = set()


class _RolledBack(Exception):
    """Ends a priming transaction: nothing it wrote stays."""


async def prime_connections(broker: Broker, settings: Settings, seconds: float | None = None) -> int:
    """PostgreSQL, at start: every connection of the pool (``NC_DB_POOL_SIZE``, all opened at
    start) runs the publishing path once — an event of ``PRIME_TYPE`` to one new operator of
    ``PRIME_INSTANCE`` — in a transaction that is rolled back. A connection prepares each
    statement the first time it runs it, and a new backend loads the catalog for each table it
    touches: left to the first calls after a start, that made them wait (bench 1c, two API
    processes at 200 events/s: every call over 30 ms came in the first 0.15 s, the first ones
    taking 70-150 ms, publish→bell p99 42-75 ms over runs; see bench/ANALYSIS.md). Nothing stays
    but the sequences' few numbers.

    Returns how many connections were primed. Waits at most ``seconds``
    (``NC_DB_PRIME_SECONDS``, 10; 0 turns priming off): a failure, or the time passing, is one
    warning line and the service starts anyway (its first calls prepare the statements themselves). A priming still
    under way then (a database that stopped answering) is cancelled and not waited for: its
    transactions roll back, and give their connections back, once the database answers or the
    connections close. SQLite: nothing to do (0)."""
    seconds = settings.db_prime_seconds if seconds is None else seconds
    if not is_postgres() or seconds == 0:  # (0: priming turned off)
        return 0
    task = asyncio.get_running_loop().create_task(_prime_all(broker, settings), name="nc-prime-connections")
    done, _ = await asyncio.wait([task], timeout=seconds)
    if not done:
        task.cancel()
        _ABANDONED.add(task)
        task.add_done_callback(_abandoned_ended)
        log.warning(
            "the database connections were not primed within %g s (NC_DB_PRIME_SECONDS): "
            "the first calls prepare their statements",
            seconds,
        )
        return 0
    error = task.exception()
    if error is not None:
        while isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
        log.warning(
            "the database connections were not primed (%s: %s): the first calls prepare their statements",
            type(error).__name__,
            error,
        )
        return 0
    return settings.db_pool_size


async def _prime_all(broker: Broker, settings: Settings) -> None:
    size = settings.db_pool_size
    # Each transaction holds its connection until all are held: one of each, none used twice.
    all_held = asyncio.Barrier(size)

    async def prime(index: int) -> None:
        try:
            async with transaction():
                await all_held.wait()
                policy = await load_policy(PRIME_INSTANCE)
                event = Event(
                    id=f"prime-{index}",
                    type=PRIME_TYPE,
                    recipients=[f"prime-{index}"],
                    data={"ticketNumber": 1, "subject": "priming"},
                )
                await _Publisher(broker, settings, PRIME_INSTANCE, policy, None, None).write([event])
                raise _RolledBack
        except _RolledBack:
            pass

    # One that fails cancels the others (none is left waiting for it, holding a connection).
    async with asyncio.TaskGroup() as group:
        for index in range(size):
            group.create_task(prime(index))


def _abandoned_ended(task: asyncio.Task[None]) -> None:
    """An abandoned priming ended: its failure, if any, is not told again (the warning said the
    connections were not primed)."""
    _ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()


@asynccontextmanager
async def bell_change(instance_id: str) -> AsyncIterator[Place]:
    """The transaction of a bell change (a read mark, an inbox action) of ``instance_id``, and its
    place in the instance's announcing order, to hand to ``announce_in_order`` (which releases
    it; so does a failure here). On PostgreSQL the place is taken as the change moves the unread
    counters (their row locks order it among the publishing calls that count the same operators,
    whose places are taken likewise); on SQLite, whose lane answers its calls at the commit and
    sends their messages after, once the change committed."""
    place = Place(instance_id)
    try:
        with placed(place if is_postgres() else None):
            async with transaction():
                yield place
    except BaseException:
        place.release()
        raise


def _tell(calls: list[_Call], error: Exception) -> None:
    """Each of ``calls`` still waiting raises ``error`` to its caller."""
    for call in calls:
        if not call.done.done():
            call.done.set_exception(error)


async def send_panel(broker: Broker, showings: Showings) -> Tally | None:
    """The panel's messages of committed notifications to the broker: what they held when it took
    them, or None (their hand-off row then stays due for a worker, ``NC_LIVE_FALLBACK_SECONDS``)."""
    try:
        messages, tally = showings.messages(broker.listens)
        await broker.publish_many(messages)
    except Exception:
        log.exception("the panel messages of %d notifications go through the workers instead", len(showings))
        return None
    return tally


async def handed_off(tally: Tally, hand_off_id: int, written_at: datetime | None) -> None:
    """The hand-off row of sent messages deleted (should that fail, the row stays, and a worker
    sends them again: they may show twice), and the sends counted."""
    try:
        await panel.handed_off(hand_off_id)
    except Exception:
        DATABASE_ERRORS.inc()
        log.exception("the hand-off row of %d panel messages could not be deleted (they may show twice)", sum(tally))
        return
    _observe(tally, written_at)


async def announce_read(broker: Broker, instance_id: str, marks: list[ReadMark]) -> None:
    """After the commit: every tab of each user whose items were read hears it (the bell's
    NotificationsRead, the toasts' ToastsDismissed). At most once: a tab that missed it reads the
    bell again when it reconnects."""
    try:
        await broker.publish_many(
            [m for mark in marks for m in read_messages(instance_id, mark.user_id, mark.ids, mark.unread_count)]
        )
    except Exception:
        log.exception("the read marks of %d users were not announced", len(marks))


def _observe(tally: Tally, written_at: datetime | None) -> None:
    """The deliveries counter and the publish-to-delivered histogram, as the workers record them."""
    seconds = (now() - written_at).total_seconds() if written_at is not None else None
    for channel, n in (
        (ChannelKind.BELL, tally.bell),
        (ChannelKind.BANNER, tally.banner),
        (ChannelKind.SOUND, tally.sound),
    ):
        if n:
            DELIVERIES.labels(channel.value, "SENT").inc(n)
            if seconds is not None:
                observe_times(PUBLISH_TO_DELIVERED.labels(channel.value), seconds, n)


async def retry_deliveries(
    broker: Broker,
    settings: Settings,
    instance_id: str,
    *,
    ids: list[str] | None,
    flt: delivery_log.LogFilter | None,
    audit: Callable[[list[int]], Awaitable[None]] | None = None,
) -> list[int]:
    """Queue the instance's FAILED deliveries (by ids or by filter, at most
    ``settings.limits.deliveries_per_retry``) again with a fresh attempt count, in one transaction
    (``audit`` writes its record in it), then wake the workers. BadUserInput: nothing written."""
    async with transaction():
        queued = await delivery_log.retry(instance_id, ids=ids, flt=flt, most=settings.limits.deliveries_per_retry)
        if audit is not None:
            await audit(queued)
    if queued:
        # After the commit: the rows are the jobs, this only says "look now".
        await broker.publish(WORKERS, {})
    return queued


async def send_test(
    broker: Broker,
    settings: Settings,
    policy: InstancePolicy,
    channel: ChannelKind,
    recipient: Callable[[], Awaitable[Operator]],
) -> Delivery:
    """Queue one test delivery to ``recipient()`` (the viewer's row, saved in the same transaction;
    no notification: never retried), wake the workers, and return the row once a worker settled it,
    or as it stands after ``settings.test_send_timeout_seconds``. A channel that cannot be tested
    raises BadUserInput before anything is written."""
    if channel not in policy.offered:
        raise BadUserInput(f"{channel.value} is not offered on this instance: nothing to test", field="channel")
    if channel is ChannelKind.BELL:
        raise BadUserInput("The bell needs no test: it shows in every open panel", field="channel")
    async with transaction():
        operator = await recipient()
        queued = await Delivery.create(
            instance_id=operator.instance_id,
            operator_id=operator.id,
            notification_id=None,
            channel=channel.value,
            status=DeliveryStatus.QUEUED.value,
            attempts=0,
            next_attempt_at=now(),
        )
    await broker.publish(WORKERS, {})
    return await _final(queued.id, settings.test_send_timeout_seconds)


async def _final(delivery_id: int, timeout_seconds: float, poll_seconds: float = 0.05) -> Delivery:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    while True:
        row = await Delivery.get(id=delivery_id)
        if row.status in FINAL or loop.time() >= deadline:
            return row
        await asyncio.sleep(poll_seconds)
