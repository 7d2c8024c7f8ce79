"""Web Push's targets: one row per browser subscription a delivery pushes to (``nc_push_target``,
shown as ``Delivery.targets``), and the delivery's outcome that follows from them.

A target's status after a try:
    SENT          the push service accepted the push (201)
    RETRYING      it failed transiently, did not answer in time, or the subscription expired but
                  was registered again (new keys, same row) while the push was under way; also
                  while its push is under way: pushed again on the next try
    FAILED        refused for good (other 4xx, refused endpoint, unusable keys), or still failing
                  transiently when the delivery's last try ended
    GONE          404/410, the subscription deleted (or it was unregistered while waiting)
The delivery is RetryLater while a target is RETRYING (after the largest Retry-After the push
services asked for), unless this is its last try (``Job.last_try``); then Sent if any target was
accepted, in this try or an earlier one, else GiveUp with a summary of the targets' reasons
(``delivery_outcome``, each at most 500 characters; a target's ``last_error`` at most 1000).

A target's try is counted (its row written RETRYING with one more attempt) when its push starts
(``Targets.started``), and its outcome written as soon as the push service answers
(``Targets.settled``), so a try cut short keeps every answer it got. These writes, and the
compare-and-delete of gone subscriptions, run through ``fenced``: one transaction that first checks
the delivery is still leased to the sending worker (``Job.owner``, locked on PostgreSQL), so a
worker that lost the lease writes no target. A 404/410 deletes the subscription's row only if it
still holds the endpoint and keys that were pushed to: a browser that registered again meanwhile
keeps its fresh row. A row names the push service's host (``push_service``), never the endpoint's
path: it is the subscription's bearer token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.timezone import now

from channels.base import GiveUp, Job, Outcome, RetryLater, Sent
from channels.http import without_retrying
from models.bulk import upsert
from models.db import db, transaction
from models.enums import PushTargetStatus
from models.notification import Delivery, PushTarget
from models.operator import PushSubscription

UPDATED = ["push_service", "status", "attempts", "last_error", "updated_at"]

#: The channel's logger (channels/webpush.py): its records keep the one name they always had.
log = logging.getLogger("channels.webpush")


@dataclass(frozen=True)
class PushTry:
    """What one subscription's push came to; ``gone`` marks a subscription to delete."""

    subscription: PushSubscription
    outcome: Outcome
    gone: bool = False


@dataclass(frozen=True)
class TargetState:
    """A target as it stands after this try."""

    status: PushTargetStatus
    reason: str | None


class Targets:
    """The delivery's targets as this try finds and leaves them, and the rows that record them."""

    def __init__(self, job: Job, earlier: dict[int, PushTarget], last: bool) -> None:
        self.job = job
        self.earlier = earlier
        self.last = last
        self.states = {sid: TargetState(PushTargetStatus(t.status), t.last_error) for sid, t in earlier.items()}
        self.attempts = {sid: t.attempts for sid, t in earlier.items()}
        #: Subscriptions pushed to in this try.
        self.pushed: set[int] = set()
        #: The Retry-After of each transient failure.
        self.waits: list[float] = []

    def retrying(self, sid: int) -> bool:
        state = self.states.get(sid)
        return state is not None and state.status is PushTargetStatus.RETRYING

    def _row(self, sid: int, host: str, state: TargetState, stamp: Any) -> dict[str, Any]:
        return {
            "delivery_id": self.job.delivery.id,
            "subscription_id": sid,
            "push_service": host,
            "status": state.status.value,
            "attempts": self.attempts.get(sid, 0),
            "last_error": (state.reason or "")[:1000] or None,
            "updated_at": stamp,
        }

    async def _write(self, rows: list[dict[str, Any]], conn: BaseDBAsyncClient) -> None:
        if rows:
            await upsert(conn, PushTarget, rows, conflict=["delivery_id", "subscription_id"], update=UPDATED)

    async def started(self, subscriptions: list[PushSubscription], conn: BaseDBAsyncClient) -> None:
        """A try counts on a target when its push starts: a try cut short is counted, and the
        target stays RETRYING (pushed again next time) until its outcome is recorded."""
        stamp = now()
        rows = []
        for s in subscriptions:
            self.attempts[s.id] = self.attempts.get(s.id, 0) + 1
            self.pushed.add(s.id)
            before = self.states.get(s.id)
            self.states[s.id] = TargetState(PushTargetStatus.RETRYING, before.reason if before else None)
            rows.append(self._row(s.id, push_service(s.endpoint), self.states[s.id], stamp))
        await self._write(rows, conn)

    async def settled(self, tries: list[PushTry], conn: BaseDBAsyncClient) -> None:
        """Record these pushes' outcomes (deleting the gone subscriptions first)."""
        renewed = await _delete_gone([t.subscription for t in tries if t.gone], conn)
        stamp = now()
        rows = []
        for t in tries:
            sid = t.subscription.id
            outcome = t.outcome
            if t.gone and sid in renewed:
                outcome = RetryLater(f"{_reason(outcome)}, but the browser registered again meanwhile")
            if isinstance(outcome, RetryLater) and outcome.after_seconds is not None:
                self.waits.append(outcome.after_seconds)
            status = _status(outcome, gone=t.gone and sid not in renewed, last=self.last)
            reason = _reason(outcome)
            if status is PushTargetStatus.FAILED and isinstance(outcome, RetryLater):
                reason = without_retrying(reason)
            self.states[sid] = TargetState(status, reason or None)
            rows.append(self._row(sid, push_service(t.subscription.endpoint), self.states[sid], stamp))
        await self._write(rows, conn)
        accepted = [t.subscription.id for t in tries if isinstance(t.outcome, Sent)]
        if accepted:
            await PushSubscription.filter(id__in=accepted).using_db(conn).update(last_success_at=stamp)

    def unregistered(self, current: set[int]) -> list[int]:
        """Targets waiting for a retry whose subscription was unregistered meanwhile."""
        return [sid for sid in self.earlier if self.retrying(sid) and sid not in current and sid not in self.pushed]

    async def removed(self, current: set[int], conn: BaseDBAsyncClient) -> None:
        """Those targets are GONE: nothing is left to push to."""
        stamp = now()
        rows = []
        for sid in self.unregistered(current):
            self.states[sid] = TargetState(PushTargetStatus.GONE, "the browser subscription was removed")
            rows.append(self._row(sid, self.earlier[sid].push_service, self.states[sid], stamp))
        await self._write(rows, conn)


async def fenced(job: Job, write: Callable[[BaseDBAsyncClient], Awaitable[None]]) -> bool:
    """Run ``write`` in one transaction, only while the delivery is still leased to the worker
    sending it (its row locked meanwhile on PostgreSQL, so the lease cannot change hands midway);
    False, writing nothing, when another worker holds it now."""
    if job.owner is None:  # not sent by a runtime (a direct call)
        await write(db())
        return True
    async with transaction() as conn:
        held = (
            await Delivery.filter(id=job.delivery.id, locked_by=job.owner).select_for_update().using_db(conn).exists()
        )
        if held:
            await write(conn)
    if not held:
        log.warning("delivery %s was taken over by another worker: its push targets are left to it", job.delivery.id)
    return held


async def _delete_gone(subscriptions: list[PushSubscription], conn: BaseDBAsyncClient) -> set[int]:
    """Delete the rows that still hold the endpoint and keys that were pushed to (compare and
    delete); the ids of those kept because the browser registered again (new keys) meanwhile."""
    if not subscriptions:
        return set()
    sent = [Q(id=s.id, endpoint=s.endpoint, p256dh=s.p256dh, auth=s.auth) for s in subscriptions]
    await PushSubscription.filter(Q(*sent, join_type=Q.OR)).using_db(conn).delete()
    ids = [s.id for s in subscriptions]
    return {s.id for s in await PushSubscription.filter(id__in=ids).using_db(conn).only("id")}


def _status(outcome: Outcome, *, gone: bool, last: bool) -> PushTargetStatus:
    if isinstance(outcome, Sent):
        return PushTargetStatus.SENT
    if gone:
        return PushTargetStatus.GONE
    if isinstance(outcome, RetryLater) and not last:
        return PushTargetStatus.RETRYING
    return PushTargetStatus.FAILED


def delivery_outcome(targets: list[TargetState], waits: list[float]) -> Outcome:
    """RetryLater while a target waits for a retry; then Sent if any browser accepted, else GiveUp."""
    retrying = [t for t in targets if t.status is PushTargetStatus.RETRYING]
    accepted = sum(t.status is PushTargetStatus.SENT for t in targets)
    if retrying:
        reasons = _reasons(retrying)
        if len(targets) > 1:
            reasons = f"{len(retrying)} of {len(targets)} browsers to try again ({accepted} accepted): {reasons}"
        return RetryLater(reasons[:500], max(waits) if waits else None)
    if accepted:
        return Sent()
    if all(t.status is PushTargetStatus.GONE for t in targets):
        return GiveUp("every browser push subscription had expired (HTTP 404/410) and was removed")
    reasons = _reasons(targets)
    if len(targets) > 1:
        reasons = f"no browser accepted the push ({len(targets)} subscriptions): {reasons}"
    return GiveUp(reasons[:500])


def push_service(endpoint: str) -> str:
    """The push service's host: what may be shown of an endpoint (its path is a bearer token)."""
    return (urlsplit(endpoint).hostname or "?")[:255]


def _reason(outcome: Outcome) -> str:
    return getattr(outcome, "reason", "")


def _reasons(targets: list[TargetState]) -> str:
    return "; ".join(dict.fromkeys(t.reason for t in targets if t.reason))
