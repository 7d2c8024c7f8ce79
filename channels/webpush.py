"""BROWSER: Web Push (RFC 8030) signed with VAPID (RFC 8292), encrypted with aes128gcm (RFC 8291).

pywebpush encrypts and signs; the push service (FCM, Mozilla autopush, Apple ...) keeps the
message for ``TTL`` seconds until the browser is online, and the panel's service worker shows it.

Protocol and limits:
    payload       one aes128gcm record: at most 4096 bytes on the wire, so 3993 bytes of JSON
                  ``{"id", "type", "title", "body", "link"}`` (``id`` null for a test); a long
                  body is shortened to fit, as push services refuse a bigger one (413)
    TTL           24 h; 1 h for urgent types (a stale SLA alarm is noise); 10 min for a test
    Urgency       high for urgent types (SLA, normatives), normal otherwise
    VAPID JWT     ES256; aud = the endpoint's origin, exp = 12 h (pywebpush), sub = a mailto:
    404, 410      the subscription is gone for good: its row is deleted
    429, 5xx      transient (Retry-After honoured, up to an hour), as are network errors and
                  timeouts, and a push not answered before the try's deadline
    other 4xx     permanent for that subscription (400 malformed, 403 VAPID mismatch, 413 size)
    3xx           refused: a push service never redirects, and a redirect could lead inside

Each of the recipient's subscriptions is a target of the delivery, with its own outcome kept in
``nc_push_target`` (shown as ``Delivery.targets``):
    SENT          the push service accepted the push (201)
    RETRYING      it failed transiently, did not answer in time, or the subscription expired but
                  was registered again (new keys, same row) while the push was under way; also
                  while its push is under way: pushed again on the next try
    FAILED        refused for good (other 4xx, refused endpoint, unusable keys), or still failing
                  transiently when the delivery's last try ended
    GONE          404/410, the subscription deleted (or it was unregistered while waiting)
Each try of a delivery pushes only to the recipient's current subscriptions whose target is not
already SENT, FAILED or GONE: the ones still RETRYING and any registered since, including a
browser that registered (a new row) while the try was pushing: it is pushed in a further round of
the same try while time is left, else it keeps the delivery RetryLater. The delivery is RetryLater
while a target is RETRYING (after the largest Retry-After the push services asked for), unless
this is its last try (``Job.last_try``); then Sent if any target was accepted, in this try or an
earlier one, else GiveUp with a summary of the targets' reasons.

The try ends before the runtime abandons it (``Job.deadline_at``): pushes are waited on until
that deadline less a margin (``SETTLE_MARGIN_SECONDS``, at most a quarter of what is left), then
cancelled and recorded RETRYING ("did not answer within N s"). A target's try is counted (its row
written RETRYING with one more attempt) when its push starts, and its outcome written as soon as
the push service answers, so a try cut short keeps every answer it got and pushes again only to the
browsers that had not answered. These writes, and the compare-and-delete of gone subscriptions, run
in a transaction that first checks the delivery is still leased to the sending worker
(``Job.owner``, locked on PostgreSQL): a worker that lost the lease writes no target.

A 404/410 deletes the subscription's row only if it still holds the endpoint and keys that were
pushed to: a browser that registered again meanwhile keeps its fresh row. Reasons are classified
(what failed and what to do) and name the push service's host, never the endpoint's path (it is the
subscription's bearer token); the push service's own answer goes only to the log, with the
endpoint, its path and the keys taken out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import partial
from time import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.timezone import now

from channels.base import GiveUp, Job, Outcome, RetryLater, Sent
from channels.deps import ChannelDeps
from channels.http import RETRYABLE, retry_delay, retrying, without_retrying
from channels.message import Message, cut, message_for
from channels.redact import remote_text
from core.urls import UnsafeUrl, check_outbound
from domain.keys import vapid_private_pem
from models.bulk import upsert
from models.db import db, transaction
from models.enums import ChannelKind, PushTargetStatus
from models.notification import Delivery, PushTarget
from models.operator import PushSubscription

TTL_SECONDS = 24 * 3600
URGENT_TTL_SECONDS = 3600
TEST_TTL_SECONDS = 600
#: 4096 - 86 (salt, record size, sender key) - 16 (AEAD tag) - 1 (padding delimiter)
MAX_PAYLOAD_BYTES = 3993
MAX_TITLE_CHARS = 200
GONE = frozenset({404, 410})
TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
#: Time kept, before the runtime abandons a try, to record the targets' outcomes (at most a
#: quarter of what is left of the try).
SETTLE_MARGIN_SECONDS = 1.0
#: Rounds of pushes in one try: the first, and browsers that registered while one was pushing.
MAX_ROUNDS = 3
#: Endpoint parts shorter than this are not taken out of logged text (they would mask words).
MIN_SECRET_CHARS = 8
LOST_LEASE = "the delivery was taken over by another worker"
REGISTERED_MEANWHILE = "a browser registered during this try: pushed on the next one"
UPDATED = ["push_service", "status", "attempts", "last_error", "updated_at"]
_URL = re.compile(r"\S+://\S+")

log = logging.getLogger(__name__)


class RedirectRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


async def _refuse_redirects(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
    """aiohttp follows redirects on POST and pywebpush can't turn that off per request."""
    response = await handler(request)
    if 300 <= response.status < 400:
        response.release()
        raise RedirectRefused(response.status)
    return response


@dataclass(frozen=True)
class _Try:
    """What one subscription's push came to; ``gone`` marks a subscription to delete."""

    subscription: PushSubscription
    outcome: Outcome
    gone: bool = False


@dataclass(frozen=True)
class _State:
    """A target as it stands after this try."""

    status: PushTargetStatus
    reason: str | None


class _Targets:
    """The delivery's targets as this try finds and leaves them, and the rows that record them."""

    def __init__(self, job: Job, earlier: dict[int, PushTarget], last: bool) -> None:
        self.job = job
        self.earlier = earlier
        self.last = last
        self.states = {sid: _State(PushTargetStatus(t.status), t.last_error) for sid, t in earlier.items()}
        self.attempts = {sid: t.attempts for sid, t in earlier.items()}
        #: Subscriptions pushed to in this try.
        self.pushed: set[int] = set()
        #: The Retry-After of each transient failure.
        self.waits: list[float] = []

    def retrying(self, sid: int) -> bool:
        state = self.states.get(sid)
        return state is not None and state.status is PushTargetStatus.RETRYING

    def _row(self, sid: int, host: str, state: _State, stamp: Any) -> dict[str, Any]:
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
            self.states[s.id] = _State(PushTargetStatus.RETRYING, before.reason if before else None)
            rows.append(self._row(s.id, push_service(s.endpoint), self.states[s.id], stamp))
        await self._write(rows, conn)

    async def settled(self, tries: list[_Try], conn: BaseDBAsyncClient) -> None:
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
            self.states[sid] = _State(status, reason or None)
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
            self.states[sid] = _State(PushTargetStatus.GONE, "the browser subscription was removed")
            rows.append(self._row(sid, self.earlier[sid].push_service, self.states[sid], stamp))
        await self._write(rows, conn)


async def _fenced(job: Job, write: Callable[[BaseDBAsyncClient], Awaitable[None]]) -> bool:
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


class WebPushChannel:
    kinds = frozenset({ChannelKind.BROWSER})

    def __init__(self, deps: ChannelDeps) -> None:
        self.deps = deps
        self._session: aiohttp.ClientSession | None = None
        self._session_users = 0
        self._vapid: tuple[str, Vapid] | None = None
        host = urlsplit(deps.settings.public_url).hostname or "localhost"
        self._contact = f"mailto:notifications@{host}"

    async def send(self, job: Job) -> Outcome:
        loop = asyncio.get_running_loop()
        until = None
        if job.deadline_at is not None:
            # What is left of the try, less a margin to record the targets before the runtime
            # abandons it.
            room = max(0.0, job.deadline_at - loop.time())
            until = job.deadline_at - min(SETTLE_MARGIN_SECONDS, room / 4)
        subscriptions = list(await PushSubscription.filter(operator_id=job.operator.id).order_by("id"))
        earlier = {t.subscription_id: t for t in await PushTarget.filter(delivery_id=job.delivery.id)}
        if not subscriptions and not earlier:
            return GiveUp("not linked: no browser push subscription")
        last = job.last_try(self.deps.settings.retry_max_attempts)
        targets = _Targets(job, earlier, last)
        # Targets a push service accepted or refused for good are done; subscriptions registered
        # since an earlier try are targets too.
        due = [s for s in subscriptions if s.id not in earlier or targets.retrying(s.id)]
        current = {s.id for s in subscriptions}
        for _ in range(MAX_ROUNDS):
            if not due or until is not None and loop.time() >= until:
                break
            if not await self._pushed(job, targets, due, until):
                return RetryLater(LOST_LEASE)
            # A browser may have registered (a new row) while this round was pushing: it is a
            # target too, pushed in a next round while the try has time left.
            subscriptions = list(await PushSubscription.filter(operator_id=job.operator.id).order_by("id"))
            current = {s.id for s in subscriptions}
            due = [s for s in subscriptions if s.id not in targets.states]
        if targets.unregistered(current) and not await _fenced(job, partial(targets.removed, current)):
            return RetryLater(LOST_LEASE)
        states = dict(targets.states)
        if not last:
            for s in due:
                if s.id not in states:  # registered during this try, after its last round
                    states[s.id] = _State(PushTargetStatus.RETRYING, REGISTERED_MEANWHILE)
        return _delivery_outcome([states[sid] for sid in sorted(states)], targets.waits)

    async def _pushed(self, job: Job, targets: _Targets, due: list[PushSubscription], until: float | None) -> bool:
        """One round: count a try on each due target, push to them all at once, and record each
        outcome as it comes; pushes still unanswered at ``until`` are abandoned (RETRYING). False
        when the delivery is no longer this worker's lease (nothing more is written)."""
        if not await _fenced(job, partial(targets.started, due)):
            return False
        loop = asyncio.get_running_loop()
        began = loop.time()
        pending = {asyncio.create_task(coro): s for s, coro in zip(due, self._push_all(job, due), strict=True)}
        held = True
        try:
            while pending and held:
                timeout = None if until is None else until - loop.time()
                if timeout is not None and timeout <= 0:
                    break
                done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    break
                tries = [task.result() for task in done]
                for task in done:
                    del pending[task]
                held = await _fenced(job, partial(targets.settled, tries))
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if pending and held:
            waited = round(max(0.0, (until or began) - began), 1)
            late = [
                _Try(s, RetryLater(f"push service {push_service(s.endpoint)} did not answer within {waited:g} s"))
                for s in pending.values()
            ]
            log.warning("delivery %s: %d browser pushes abandoned after %g s", job.delivery.id, len(late), waited)
            held = await _fenced(job, partial(targets.settled, late))
        return held

    def _push_all(self, job: Job, subscriptions: list[PushSubscription]) -> list[Coroutine[Any, Any, _Try]]:
        message = message_for(job, self.deps.panel_url)
        data = payload(message)
        if job.notification is None:
            ttl = TEST_TTL_SECONDS
        else:
            ttl = URGENT_TTL_SECONDS if message.urgent else TTL_SECONDS
        headers = {"Urgency": "high" if message.urgent else "normal"}
        return [self._push(s, data, ttl, headers) for s in subscriptions]

    async def _push(self, subscription: PushSubscription, data: str, ttl: int, headers: dict[str, Any]) -> _Try:
        async with self._client() as session:
            return await self._push_with(session, subscription, data, ttl, headers, await self._vapid_key())

    async def _push_with(
        self,
        session: aiohttp.ClientSession,
        subscription: PushSubscription,
        data: str,
        ttl: int,
        headers: dict[str, Any],
        vapid: Vapid,
    ) -> _Try:
        host = push_service(subscription.endpoint)
        try:
            # Again at send time: the host may resolve elsewhere than when it was registered.
            await check_outbound(subscription.endpoint, allow_http=self.deps.settings.allow_http_endpoints)
        except UnsafeUrl as exc:
            return _Try(subscription, GiveUp(f"push endpoint refused: {exc}"))
        try:
            await webpush_async(
                {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}},
                data=data,
                vapid_private_key=vapid,
                # a fresh dict: pywebpush writes aud and exp into it
                vapid_claims={"sub": self._contact},
                content_encoding="aes128gcm",
                ttl=ttl,
                headers=headers,
                timeout=TIMEOUT,  # passed on to aiohttp as is
                aiohttp_session=session,
            )
        except WebPushException as exc:
            if exc.response is None:  # raised before sending: the stored keys are unusable
                return _Try(subscription, GiveUp("the browser subscription's keys are invalid"))
            return await _answered(subscription, host, exc)
        except RedirectRefused as exc:
            return _Try(subscription, GiveUp(f"push service {host} answered a redirect ({exc}), which is refused"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The exception's text carries the URL: only its kind goes into the reason.
            return _Try(subscription, RetryLater(f"push service {host} could not be reached ({type(exc).__name__})"))
        except (ValueError, http_ece.ECEException):  # from the encryption: the stored keys are unusable
            return _Try(subscription, GiveUp("the browser subscription's keys are invalid"))
        return _Try(subscription, Sent())

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[aiohttp.ClientSession]:
        """One pooled session shared by the sends in flight, closed when the last one ends.

        Channels have no shutdown hook, and a session left open at exit leaks its connections;
        the runtime sends a claimed batch at once, so the pool still serves a whole batch.
        """
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=TIMEOUT,
                middlewares=(_refuse_redirects,),
                headers={"User-Agent": "notification-center/0.1"},
            )
        session = self._session
        self._session_users += 1
        try:
            yield session
        finally:
            self._session_users -= 1
            if self._session_users == 0:
                # Detached before the await: a send starting meanwhile opens a fresh one.
                self._session = None
                await session.close()

    async def _vapid_key(self) -> Vapid:
        """The deployment's key, parsed again only if the stored PEM changed."""
        pem = await vapid_private_pem()
        if self._vapid is None or self._vapid[0] != pem:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            self._vapid = (pem, Vapid(key))
        return self._vapid[1]


def payload(message: Message) -> str:
    """The JSON the service worker gets, at most MAX_PAYLOAD_BYTES of UTF-8: a body that does not
    fit is cut to the longest prefix that does, with its ellipsis (``message.cut`` by bisection)."""
    title = cut(message.title, MAX_TITLE_CHARS)

    def encoded(body: str) -> str:
        return json.dumps(
            {
                "id": message.notification_id,
                "type": message.type_code,
                "title": title,
                "body": body,
                "link": message.link,
            },
            ensure_ascii=False,  # \uXXXX would take 6 bytes a letter for Cyrillic
            separators=(",", ":"),
        )

    return encoded(cut(message.body, MAX_PAYLOAD_BYTES, lambda body: len(encoded(body).encode())))


async def _answered(subscription: PushSubscription, host: str, exc: WebPushException) -> _Try:
    """A classified reason (what failed, what to do); the push service's own text goes only to
    the log, redacted: it may quote the endpoint, whose path is the subscription's bearer token."""
    status = exc.status_code or 0
    service = f"push service {host}"
    if status in GONE:
        return _Try(subscription, GiveUp(f"subscription expired (HTTP {status})"), gone=True)
    await _log_answer(subscription, service, status, exc.response)
    if status == 429:
        after = _seconds(exc.retry_after)
        return _Try(subscription, RetryLater(f"{service} is rate-limiting (HTTP 429): {retrying(after)}", after))
    if status in RETRYABLE or status >= 500:
        after = _seconds(exc.retry_after)
        return _Try(subscription, RetryLater(f"{service} answered HTTP {status}: {retrying(after)}", after))
    if status == 400:
        reason = f"{service} refused the subscription (HTTP 400): the browser must subscribe again"
    elif status in (401, 403):
        reason = (
            f"{service} refused the VAPID signature (HTTP {status}): the browser must subscribe again "
            "with the server's current webPushPublicKey"
        )
    elif status == 413:
        reason = f"{service} refused the push as too large (HTTP 413): not retried"
    else:
        reason = f"{service} refused the push (HTTP {status}): not retried"
    return _Try(subscription, GiveUp(reason))


async def _log_answer(subscription: PushSubscription, service: str, status: int, response: Any) -> None:
    try:
        text = await response.text()  # already read by pywebpush: aiohttp keeps the body
    except (aiohttp.ClientError, UnicodeDecodeError, TimeoutError):
        text = ""
    path = urlsplit(subscription.endpoint).path
    secrets = [subscription.endpoint, path, path.rstrip("/").rsplit("/", 1)[-1], subscription.p256dh, subscription.auth]
    excerpt = remote_text(_URL.sub("<url>", text), [x for x in secrets if len(x) >= MIN_SECRET_CHARS], 300)
    log.info("%s answered HTTP %s: %s", service, status, excerpt or "(empty body)")


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


def _delivery_outcome(targets: list[_State], waits: list[float]) -> Outcome:
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


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After as delay-seconds or an HTTP date, capped as every channel's delay is
    (``retry_delay``); none when absent or unusable (negative, not finite)."""
    if not retry_after:
        return None
    try:
        return retry_delay(float(retry_after))
    except ValueError:
        pass
    try:
        return retry_delay(max(0.0, parsedate_to_datetime(retry_after).timestamp() - time()))
    except (TypeError, ValueError, OverflowError):
        return None


def _reason(outcome: Outcome) -> str:
    return getattr(outcome, "reason", "")


def _reasons(targets: list[_State]) -> str:
    return "; ".join(dict.fromkeys(t.reason for t in targets if t.reason))
