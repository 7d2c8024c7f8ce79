"""The worker runtime: claims due delivery jobs and runs the schedulers.

Embedded mode runs it inside the API process; at scale it runs in `notification-center worker`
processes. Each loop wakes on the broker's "workers" topic and, because pub/sub can miss a
message, also on a periodic claim every ``poll_seconds``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tortoise.fields import DatetimeField
from tortoise.timezone import now

from channels.base import Channel, DeliveryRow, Job, Outcome, RetryLater
from channels.gate import Gate
from channels.schedules import PANEL_HAND_OFFS, SNOOZE_RETURNS, TOAST_REPEATS, Schedule, reminders, run_due
from channels.settle import LIVE_CHANNELS, fail_spent, settle, tries_allowed, unexpected
from core.broker import WORKERS, Broker
from core.logs import DELIVERY_ID
from core.metrics import DATABASE_ERRORS
from core.settings import Settings
from domain.retention import prune
from domain.routing import PresenceSource
from models.claim import claim, extend
from models.db import db
from models.enums import ChannelKind, DeliveryStatus
from models.notification import Delivery
from models.operator import Operator

log = logging.getLogger(__name__)

#: True inside the runtime's own tasks (and the tasks they start): lets a caller tell the
#: runtime's background queries from a request's.
IN_RUNTIME: contextvars.ContextVar[bool] = contextvars.ContextVar("nc_in_runtime", default=False)

#: The operator fields channels read (its timestamps are not needed, and parsing them is not free).
OPERATOR_FIELDS = tuple(
    name
    for name, f in Operator._meta.fields_map.items()
    if not isinstance(f, DatetimeField) and name in Operator._meta.db_fields
)

#: How often history is pruned.
RETENTION_EVERY_SECONDS = 3600.0


@dataclass
class _SettleBatch:
    results: list[tuple[Job, Outcome]]
    done: asyncio.Future[None]


class Runtime:
    def __init__(
        self,
        settings: Settings,
        broker: Broker,
        channels: Iterable[Channel],
        *,
        concurrency: int = 32,
        presence: PresenceSource | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker
        #: Who is at an active panel: a due WHEN_AWAY delivery waits while its operator is.
        self.presence = presence
        self.handlers: dict[ChannelKind, Channel] = {kind: ch for ch in channels for kind in ch.kinds}
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:64]
        #: External deliveries sent at once: the worker never holds more of their leases.
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._beating = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        #: Panel sends of a batch run at most this many at once (each may query the database).
        self._live_slots = asyncio.Semaphore(concurrency)
        #: External jobs claimed and not yet settled, by delivery id: one slot each.
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        #: Of those, the ones whose send has not returned yet (what a lost lease cancels).
        self._sending: set[int] = set()
        #: The panel batch being sent: its leases are extended too.
        self._live_batch: list[int] = []
        #: The last external claim took every free slot, so more may be due: freed slots wake
        #: the claim loop at once instead of at the next poll.
        self._backlog = False
        #: Outcomes of external sends waiting to be recorded together (``_settle_together``).
        self._settling: _SettleBatch | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        token = IN_RUNTIME.set(True)  # the tasks below copy this context
        try:
            await self._start()
        finally:
            IN_RUNTIME.reset(token)

    async def _start(self) -> None:
        self._stopping.clear()
        subscribed = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(subscribed), name="nc-wakeups")
        self._heartbeat = asyncio.create_task(self._beat(), name="nc-heartbeat")
        self._tasks = [
            asyncio.create_task(self._loop("deliveries", self.deliver_due, wakeable=True), name="nc-deliveries"),
            *(
                asyncio.create_task(self._loop(schedule.name, self._due(schedule)), name=f"nc-{schedule.name}")
                for schedule in (
                    PANEL_HAND_OFFS,
                    TOAST_REPEATS,
                    SNOOZE_RETURNS,
                    reminders(self.settings.reminder_minute_seconds),
                    # a channel's own due rows (TELEGRAM: the edits of handled notifications' messages)
                    *{id(s): s for ch in self.handlers.values() for s in getattr(ch, "schedules", ())}.values(),
                )
            ),
            asyncio.create_task(
                self._loop("retention", self.prune, interval=RETENTION_EVERY_SECONDS), name="nc-retention"
            ),
        ]
        # Started once the wake-ups are subscribed; a listener that failed fails the start (it
        # would otherwise be waited for forever).
        ready = asyncio.ensure_future(subscribed.wait())
        await asyncio.wait([ready, self._listener], return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            self._listener.result()  # raises what ended it
            raise RuntimeError("the workers' wake-up listener ended before it subscribed")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Let each loop finish the step it is in and the sends in flight end, then stop. Cancelling
        a task in the middle of a database call could leave the connection's lock held; a hard kill
        is what leases are for. The heartbeat keeps the leases of those sends until they end."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        until = asyncio.get_running_loop().time() + grace_seconds
        await _finish(self._tasks, until)
        self._tasks = []
        await _finish(list(self._in_flight.values()), until)
        if self._heartbeat is not None:
            async with self._beating:
                self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None

    async def _listen(self, subscribed: asyncio.Event) -> None:
        async with self.broker.subscribe(WORKERS) as wakeups:
            subscribed.set()
            async for _ in wakeups:
                self._wake.set()

    async def _loop(
        self,
        name: str,
        step: Callable[[], Awaitable[int]],
        *,
        wakeable: bool = False,
        interval: float | None = None,
    ) -> None:
        pause = interval or self.settings.poll_seconds
        while not self._stopping.is_set():
            if wakeable:
                self._wake.clear()
            try:
                done = await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                DATABASE_ERRORS.inc()
                log.exception("the %s loop failed; trying again in %.1f s", name, pause)
                done = 0
            if done >= self.settings.claim_batch:
                continue
            await self._pause(pause, wakeable)

    async def _pause(self, seconds: float, wakeable: bool) -> None:
        """Sleep until the next periodic claim, a wake-up (when ``wakeable``) or a stop."""
        waits = [asyncio.ensure_future(self._stopping.wait())]
        if wakeable:
            waits.append(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    # -- deliveries ------------------------------------------------------------------------
    @property
    def free_slots(self) -> int:
        return max(0, self.concurrency - len(self._in_flight))

    async def deliver_due(self) -> int:
        """Claim due jobs of the channels this runtime sends, send them, record the outcome.

        External jobs are claimed only as many as there are free slots, and each is sent in a task
        of its own (settled when its send returns, freeing its slot). Panel jobs are cheap broker
        publishes: a batch of up to ``claim_batch`` is claimed apart, sent and settled in this step.
        """
        if not self.handlers:
            return 0
        loop = asyncio.get_running_loop()
        claimed_at = loop.time()
        live_kinds = sorted(k.value for k in self.handlers if k in LIVE_CHANNELS)
        external_kinds = sorted(k.value for k in self.handlers if k not in LIVE_CHANNELS)
        limit = min(self.free_slots, self.settings.claim_batch)
        external = await self._claim(external_kinds, limit) if external_kinds and limit else []
        if external_kinds and limit:
            self._backlog = len(external) == limit
        live = await self._claim(live_kinds, self.settings.claim_batch) if live_kinds else []
        if not external and not live:
            return 0
        deadline_at = claimed_at + self.settings.send_deadline
        jobs = await self._jobs([*external, *live], deadline_at)
        spent = [job for job in jobs if job.delivery.attempts > tries_allowed(job, self.settings)]
        if spent:
            await fail_spent(spent, self.worker_id, self.settings)
            jobs = [job for job in jobs if job.delivery.attempts <= tries_allowed(job, self.settings)]
        for job in jobs:
            if job.channel not in LIVE_CHANNELS:
                self._start_send(job, deadline_at)
        await self._deliver_live([job for job in jobs if job.channel in LIVE_CHANNELS], deadline_at)
        return len(external) + len(live)

    async def _claim(self, kinds: list[str], limit: int) -> list[dict[str, Any]]:
        """Lease up to ``limit`` due jobs of these channels, counting the try each one starts."""
        current = now()
        return await claim(
            db(),
            Delivery._meta.db_table,
            due_column="next_attempt_at",
            now=current,
            lease_until=current + timedelta(seconds=self.settings.lease_seconds),
            limit=limit,
            where="status IN ({}, {}, {}) AND channel IN (" + ", ".join("{}" for _ in kinds) + ")",
            where_values=(
                DeliveryStatus.QUEUED.value,
                DeliveryStatus.RETRYING.value,
                DeliveryStatus.HELD.value,  # released at its due time: the working hours opened
                *kinds,
            ),
            owner=self.worker_id,
            count_attempt=True,
            returning="id, instance_id, operator_id, notification_id, channel, attempts, address, route",
        )

    async def _jobs(self, claimed: list[dict[str, Any]], deadline_at: float) -> list[Job]:
        # The claim returned what a job needs of its row: no second read, no datetime parsing.
        deliveries = [DeliveryRow(**row) for row in sorted(claimed, key=lambda r: r["id"])]
        operators = {
            o.id: o for o in await Operator.filter(id__in={d.operator_id for d in deliveries}).only(*OPERATOR_FIELDS)
        }
        # Attention routing (channels/gate.py): what is read, outside working hours or at an
        # active panel is settled here; the rest is sent.
        gate = Gate(self.presence, self.settings.away_recheck_seconds, self.worker_id)
        return [
            Job(
                delivery=r.delivery,
                notification=r.notification,
                operator=r.operator,
                deadline_at=deadline_at,
                owner=self.worker_id,
                digest=r.digest,
                members=r.members,
            )
            for r in await gate.decide(deliveries, operators)
        ]

    def _start_send(self, job: Job, deadline_at: float) -> None:
        delivery_id = job.delivery.id
        task = asyncio.create_task(self._send_and_settle(job, deadline_at), name=f"nc-delivery-{delivery_id}")
        self._in_flight[delivery_id] = task
        self._sending.add(delivery_id)
        task.add_done_callback(lambda _: self._finished(delivery_id))

    def _finished(self, delivery_id: int) -> None:
        self._in_flight.pop(delivery_id, None)
        self._sending.discard(delivery_id)
        # Claiming for each freed slot would cost a claim (and its reads) per job: wait until
        # half of the slots are free, so claims stay batches under a backlog.
        if self._backlog and self.free_slots >= max(1, self.concurrency // 2):
            self._wake.set()

    async def _deliver_live(self, jobs: list[Job], deadline_at: float) -> None:
        """Panel channels only publish to the broker: the batch is prepared with a few queries,
        sent, and settled with one statement (a repeat after a crash is a harmless second toast)."""
        if not jobs:
            return
        self._live_batch = [job.delivery.id for job in jobs]
        try:
            for handler in {id(self.handlers[j.channel]): self.handlers[j.channel] for j in jobs}.values():
                prepare = getattr(handler, "prepare", None)
                if prepare is not None:
                    await prepare(jobs)

            async def send(job: Job) -> Outcome:
                async with self._live_slots:
                    try:
                        return await self.handlers[job.channel].send(job)
                    except Exception as exc:  # noqa: BLE001 - an unexpected error is retried, not lost
                        return unexpected(job, exc)

            # One deadline for the batch (a timer per job cost more than the publish it guarded).
            outcomes: list[Outcome]
            try:
                async with asyncio.timeout_at(deadline_at):
                    outcomes = list(await asyncio.gather(*(send(job) for job in jobs)))
            except TimeoutError:
                late = RetryLater(f"the broker did not take the batch within {self.settings.send_deadline:g} s")
                outcomes = [late for _ in jobs]
            await settle(list(zip(jobs, outcomes, strict=True)), self.worker_id, self.settings)
        finally:
            self._live_batch = []

    async def _send_and_settle(self, job: Job, deadline_at: float) -> None:
        """External channels: each job is settled as soon as its send returns, so a worker killed
        mid-batch leaves only the sends still in flight to be taken again."""
        try:
            outcome = await self._send(job, deadline_at)
        finally:
            self._sending.discard(job.delivery.id)
        try:
            await self._settle_together(job, outcome)
        except Exception:
            DATABASE_ERRORS.inc()
            log.exception("delivery %s was sent but its outcome could not be recorded", job.delivery.id)

    async def _settle_together(self, job: Job, outcome: Outcome) -> None:
        """Record an outcome with the others that come in within ``NC_SETTLE_WINDOW_SECONDS``: the
        first one waits that long and settles them all (one statement for the sent ones, one for
        the channels' health), the others wait for it. Returns once this outcome is recorded (the
        job keeps its slot until then); a worker killed within the window leaves those jobs to be
        taken again when their leases end, as a kill mid-send does."""
        batch = self._settling
        if batch is not None:
            batch.results.append((job, outcome))
            await asyncio.shield(batch.done)
            return
        batch = self._settling = _SettleBatch([(job, outcome)], asyncio.get_running_loop().create_future())
        try:
            await asyncio.sleep(self.settings.settle_window_seconds)
        finally:
            self._settling = None
            try:
                await settle(batch.results, self.worker_id, self.settings)
            except BaseException as exc:
                if not batch.done.done():
                    batch.done.set_exception(exc)
                    batch.done.exception()  # retrieved: the followers report it themselves
                raise
            batch.done.set_result(None)

    async def _send(self, job: Job, deadline_at: float) -> Outcome:
        """One try, abandoned at ``deadline_at`` (loop time), before the lease taken at the claim
        runs out: a try that outlived it could overlap another worker's."""
        DELIVERY_ID.set(job.delivery.id)  # this task's log lines carry the delivery id
        deadline = asyncio.timeout_at(deadline_at)
        try:
            async with deadline:
                return await self.handlers[job.channel].send(job)
        except asyncio.CancelledError:
            raise
        except TimeoutError as exc:
            if not deadline.expired():
                return unexpected(job, exc)
            log.warning(
                "delivery %s through %s abandoned: no answer within %g s",
                job.delivery.id,
                job.channel.value,
                self.settings.send_deadline,
            )
            return RetryLater(f"the provider did not answer within {self.settings.send_deadline:g} s")
        except Exception as exc:  # noqa: BLE001 - an unexpected error is retried, not lost
            return unexpected(job, exc)

    async def _beat(self) -> None:
        """Extend the leases of every job in hand, in one statement per beat, fenced by
        ``locked_by``; a send whose row another worker took over is cancelled."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_every)
            async with self._beating:  # stop() waits for a beat in progress before cancelling
                await self._extend_leases()

    async def _extend_leases(self) -> None:
        sending = {i: self._in_flight[i] for i in self._sending}
        ids = [*self._in_flight, *self._live_batch]
        if not ids:
            return
        try:
            held = await extend(
                db(),
                Delivery._meta.db_table,
                ids,
                owner=self.worker_id,
                lease_until=now() + timedelta(seconds=self.settings.lease_seconds),
            )
        except Exception:
            DATABASE_ERRORS.inc()
            log.exception("could not extend the leases of %d deliveries", len(ids))
            return
        for delivery_id, task in sending.items():
            # Still the same try, still sending (so not settled by this worker): the row is gone
            # to another worker, or deleted.
            if delivery_id not in held and delivery_id in self._sending and self._in_flight.get(delivery_id) is task:
                log.warning("delivery %s was taken over by another worker: its send is cancelled", delivery_id)
                task.cancel()

    # -- schedulers --------------------------------------------------------------------------
    def _due(self, schedule: Schedule) -> Callable[[], Awaitable[int]]:
        async def step() -> int:
            return await run_due(
                schedule, self.broker, lease_seconds=self.settings.lease_seconds, limit=self.settings.claim_batch
            )

        return step

    async def prune(self) -> int:
        await prune(self.settings.retention_days)
        return 0


async def _finish(tasks: list[asyncio.Task[None]], until: float) -> None:
    """Wait for the tasks until loop time ``until``, then cancel those still running."""
    if not tasks:
        return
    timeout = max(0.0, until - asyncio.get_running_loop().time())
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*done, *pending, return_exceptions=True)
