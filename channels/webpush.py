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
    429, 5xx      transient (Retry-After honoured), as are network errors and timeouts
    other 4xx     permanent for that subscription (400 malformed, 403 VAPID mismatch, 413 size)
    3xx           refused: a push service never redirects, and a redirect could lead inside

Each of the recipient's subscriptions is a target of the delivery, with its own outcome kept in
``nc_push_target`` (shown as ``Delivery.targets``):
    SENT          the push service accepted the push (201)
    RETRYING      it failed transiently, or the subscription expired but was registered again
                  (new keys, same row) while the push was under way: pushed again on the next try
    FAILED        refused for good (other 4xx, refused endpoint, unusable keys), or still failing
                  transiently when the delivery's last try ended
    GONE          404/410, the subscription deleted (or it was unregistered while waiting)
Each try of a delivery pushes only to the recipient's current subscriptions whose target is not
already SENT, FAILED or GONE: the ones still RETRYING and any registered since. The delivery is
RetryLater while a target is RETRYING (after the largest Retry-After the push services asked for),
unless this is its last try (``Job.last_try``); then Sent if any target was accepted, in this try
or an earlier one, else GiveUp with a summary of the targets' reasons.

A 404/410 deletes the subscription's row only if it still holds the endpoint and keys that were
pushed to: a browser that registered again meanwhile keeps its fresh row. Target rows are written
with one upsert per try. Reasons name the push service's host, never the endpoint's path (it is
the subscription's bearer token).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async
from tortoise.expressions import Q
from tortoise.timezone import now

from channels.base import GiveUp, Job, Outcome, RetryLater, Sent
from channels.deps import ChannelDeps
from channels.http import RETRYABLE
from channels.message import Message, message_for
from core.urls import UnsafeUrl, check_outbound
from domain.keys import vapid_private_pem
from models.bulk import upsert
from models.db import db
from models.enums import ChannelKind, PushTargetStatus
from models.notification import PushTarget
from models.operator import PushSubscription

TTL_SECONDS = 24 * 3600
URGENT_TTL_SECONDS = 3600
TEST_TTL_SECONDS = 600
#: 4096 - 86 (salt, record size, sender key) - 16 (AEAD tag) - 1 (padding delimiter)
MAX_PAYLOAD_BYTES = 3993
MAX_TITLE_CHARS = 200
GONE = frozenset({404, 410})
TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
_URL = re.compile(r"\S+://\S+")


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
        subscriptions = list(await PushSubscription.filter(operator_id=job.operator.id).order_by("id"))
        earlier = {t.subscription_id: t for t in await PushTarget.filter(delivery_id=job.delivery.id)}
        if not subscriptions and not earlier:
            return GiveUp("not linked: no browser push subscription")
        # Targets a push service accepted or refused for good are done; subscriptions registered
        # since an earlier try are targets too.
        due = [
            s for s in subscriptions if s.id not in earlier or earlier[s.id].status == PushTargetStatus.RETRYING.value
        ]
        tries = await self._push_all(job, due) if due else []
        return await self._settle(job, tries, earlier, {s.id for s in subscriptions})

    async def _push_all(self, job: Job, subscriptions: list[PushSubscription]) -> list[_Try]:
        message = message_for(job, self.deps.panel_url)
        data = payload(message)
        if job.notification is None:
            ttl = TEST_TTL_SECONDS
        else:
            ttl = URGENT_TTL_SECONDS if message.urgent else TTL_SECONDS
        headers = {"Urgency": "high" if message.urgent else "normal"}
        vapid = await self._vapid_key()
        async with self._client() as session:
            return list(
                await asyncio.gather(*(self._push(session, s, data, ttl, headers, vapid) for s in subscriptions))
            )

    async def _push(
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

    async def _settle(self, job: Job, tries: list[_Try], earlier: dict[int, PushTarget], current: set[int]) -> Outcome:
        """Delete gone subscriptions, record each target's outcome, and sum them up for the delivery."""
        last = job.last_try(self.deps.settings.retry_max_attempts)
        renewed = await _delete_gone([t.subscription for t in tries if t.gone])
        stamp = now()
        rows: dict[int, dict[str, Any]] = {}
        waits: list[float] = []
        for t in tries:
            sid = t.subscription.id
            outcome = t.outcome
            if t.gone and sid in renewed:
                outcome = RetryLater(f"{_reason(outcome)}, but the browser registered again meanwhile")
            if isinstance(outcome, RetryLater) and outcome.after_seconds is not None:
                waits.append(outcome.after_seconds)
            before = earlier.get(sid)
            rows[sid] = {
                "delivery_id": job.delivery.id,
                "subscription_id": sid,
                "push_service": push_service(t.subscription.endpoint),
                "status": _status(outcome, gone=t.gone and sid not in renewed, last=last).value,
                "attempts": (before.attempts if before else 0) + 1,
                "last_error": _reason(outcome)[:1000] or None,
                "updated_at": stamp,
            }
        for sid, before in earlier.items():
            if before.status == PushTargetStatus.RETRYING.value and sid not in current and sid not in rows:
                # Unregistered while waiting for its retry: nothing is left to push to.
                rows[sid] = {
                    "delivery_id": job.delivery.id,
                    "subscription_id": sid,
                    "push_service": before.push_service,
                    "status": PushTargetStatus.GONE.value,
                    "attempts": before.attempts,
                    "last_error": "the browser subscription was removed",
                    "updated_at": stamp,
                }
        await upsert(
            db(),
            PushTarget,
            list(rows.values()),
            conflict=["delivery_id", "subscription_id"],
            update=["push_service", "status", "attempts", "last_error", "updated_at"],
        )
        accepted = [t.subscription.id for t in tries if isinstance(t.outcome, Sent)]
        if accepted:
            await PushSubscription.filter(id__in=accepted).update(last_success_at=stamp)
        states = {sid: _State(PushTargetStatus(t.status), t.last_error) for sid, t in earlier.items()}
        states.update({sid: _State(PushTargetStatus(r["status"]), r["last_error"]) for sid, r in rows.items()})
        return _delivery_outcome([states[sid] for sid in sorted(states)], waits)

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
    fit is cut to the longest prefix that does (with its ellipsis), found by bisection."""

    def encoded(body: str) -> str:
        return json.dumps(
            {
                "id": message.notification_id,
                "type": message.type_code,
                "title": message.title[:MAX_TITLE_CHARS],
                "body": body,
                "link": message.link,
            },
            ensure_ascii=False,  # \uXXXX would take 6 bytes a letter for Cyrillic
            separators=(",", ":"),
        )

    def fits(body: str) -> bool:
        return len(encoded(body).encode()) <= MAX_PAYLOAD_BYTES

    if fits(message.body):
        return encoded(message.body)
    low, high = 0, len(message.body)
    while low < high:
        mid = (low + high + 1) // 2
        if fits(message.body[:mid].rstrip() + "…"):
            low = mid
        else:
            high = mid - 1
    return encoded(message.body[:low].rstrip() + "…" if low else "")


async def _answered(subscription: PushSubscription, host: str, exc: WebPushException) -> _Try:
    status = exc.status_code or 0
    if status in GONE:
        return _Try(subscription, GiveUp(f"subscription expired (HTTP {status})"), gone=True)
    reason = f"push service {host} answered HTTP {status}"
    detail = await _excerpt(exc.response)
    if detail:
        reason = f"{reason}: {detail}"
    if status in RETRYABLE or status >= 500:
        return _Try(subscription, RetryLater(reason, _seconds(exc.retry_after)))
    return _Try(subscription, GiveUp(reason))


async def _delete_gone(subscriptions: list[PushSubscription]) -> set[int]:
    """Delete the rows that still hold the endpoint and keys that were pushed to (compare and
    delete); the ids of those kept because the browser registered again (new keys) meanwhile."""
    if not subscriptions:
        return set()
    sent = [Q(id=s.id, endpoint=s.endpoint, p256dh=s.p256dh, auth=s.auth) for s in subscriptions]
    await PushSubscription.filter(Q(*sent, join_type=Q.OR)).delete()
    kept = await PushSubscription.filter(id__in=[s.id for s in subscriptions]).values_list("id", flat=True)
    return set(cast(list[int], kept))


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


async def _excerpt(response: Any, limit: int = 120) -> str:
    """A short, single-line piece of the push service's answer, with any URL blanked out."""
    try:
        text = await response.text()  # already read by pywebpush: aiohttp keeps the body
    except (aiohttp.ClientError, UnicodeDecodeError, TimeoutError):
        return ""
    return _URL.sub("<url>", " ".join(text.split()))[:limit]


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After as delay-seconds or an HTTP date."""
    if not retry_after:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(retry_after).timestamp() - time())
    except (TypeError, ValueError):
        return None


def _reason(outcome: Outcome) -> str:
    return getattr(outcome, "reason", "")


def _reasons(targets: list[_State]) -> str:
    return "; ".join(dict.fromkeys(t.reason for t in targets if t.reason))
