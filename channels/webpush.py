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

Every subscription of the recipient gets the push. Sent when at least one accepted; otherwise
RetryLater when any failure was transient, else GiveUp. Reasons name the push service's host,
never the endpoint's path (it is the subscription's bearer token).
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
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async
from tortoise.timezone import now

from channels.base import GiveUp, Job, Outcome, RetryLater, Sent
from channels.deps import ChannelDeps
from channels.http import RETRYABLE
from channels.message import Message, message_for
from channels.urls import UnsafeUrl, check_outbound
from domain.keys import vapid_private_pem
from models.enums import ChannelKind
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

    subscription_id: int
    outcome: Outcome
    gone: bool = False


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
        if not subscriptions:
            return GiveUp("not linked: no browser push subscription")
        message = message_for(job, self.deps.panel_url)
        data = payload(message)
        if job.notification is None:
            ttl = TEST_TTL_SECONDS
        else:
            ttl = URGENT_TTL_SECONDS if message.urgent else TTL_SECONDS
        headers = {"Urgency": "high" if message.urgent else "normal"}
        vapid = await self._vapid_key()
        async with self._client() as session:
            tries = await asyncio.gather(*(self._push(session, s, data, ttl, headers, vapid) for s in subscriptions))
        return await self._settle(tries)

    async def _push(
        self,
        session: aiohttp.ClientSession,
        subscription: PushSubscription,
        data: str,
        ttl: int,
        headers: dict[str, Any],
        vapid: Vapid,
    ) -> _Try:
        host = urlsplit(subscription.endpoint).hostname or "?"
        sid = subscription.id
        try:
            # Again at send time: the host may resolve elsewhere than when it was registered.
            await check_outbound(subscription.endpoint, allow_http=self.deps.settings.allow_http_endpoints)
        except UnsafeUrl as exc:
            return _Try(sid, GiveUp(f"push endpoint refused: {exc}"))
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
                timeout=TIMEOUT,  # type: ignore[arg-type] # passed on to aiohttp as is
                aiohttp_session=session,
            )
        except WebPushException as exc:
            if exc.response is None:  # raised before sending: the stored keys are unusable
                return _Try(sid, GiveUp("the browser subscription's keys are invalid"))
            return await _answered(sid, host, exc)
        except RedirectRefused as exc:
            return _Try(sid, GiveUp(f"push service {host} answered a redirect ({exc}), which is refused"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The exception's text carries the URL: only its kind goes into the reason.
            return _Try(sid, RetryLater(f"push service {host} could not be reached ({type(exc).__name__})"))
        except (ValueError, http_ece.ECEException):  # from the encryption: the stored keys are unusable
            return _Try(sid, GiveUp("the browser subscription's keys are invalid"))
        return _Try(sid, Sent())

    async def _settle(self, tries: list[_Try]) -> Outcome:
        gone = [t.subscription_id for t in tries if t.gone]
        if gone:
            await PushSubscription.filter(id__in=gone).delete()
        accepted = [t.subscription_id for t in tries if isinstance(t.outcome, Sent)]
        if accepted:
            await PushSubscription.filter(id__in=accepted).update(last_success_at=now())
            return Sent()
        transient = [t.outcome for t in tries if isinstance(t.outcome, RetryLater)]
        if transient:
            waits = [o.after_seconds for o in transient if o.after_seconds is not None]
            return RetryLater(_summary(tries), max(waits) if waits else None)
        if len(gone) == len(tries):
            return GiveUp("every browser push subscription had expired (HTTP 404/410) and was removed")
        return GiveUp(_summary(tries))

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


async def _answered(sid: int, host: str, exc: WebPushException) -> _Try:
    status = exc.status_code or 0
    if status in GONE:
        return _Try(sid, GiveUp(f"subscription expired (HTTP {status})"), gone=True)
    reason = f"push service {host} answered HTTP {status}"
    detail = await _excerpt(exc.response)
    if detail:
        reason = f"{reason}: {detail}"
    if status in RETRYABLE or status >= 500:
        return _Try(sid, RetryLater(reason, _seconds(exc.retry_after)))
    return _Try(sid, GiveUp(reason))


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


def _summary(tries: list[_Try]) -> str:
    reasons = list(dict.fromkeys(getattr(t.outcome, "reason", "") for t in tries if not isinstance(t.outcome, Sent)))
    text = "; ".join(r for r in reasons if r)
    if len(tries) > 1:
        text = f"no browser accepted the push ({len(tries)} subscriptions): {text}"
    return text[:500]
