"""BROWSER: Web Push (RFC 8030) signed with VAPID (RFC 8292), encrypted with aes128gcm (RFC 8291).

pywebpush encrypts and signs; the push service (FCM, Mozilla autopush, Apple ...) keeps the
message for ``TTL`` seconds until the browser is online, and the panel's service worker shows it.

Protocol and limits:
    payload       one aes128gcm record: at most 4096 bytes on the wire, so 3993 bytes of JSON
                  ``{"id", "type", "title", "body", "link"}`` (``id`` null for a test); a long
                  body is shortened to fit, as push services refuse a bigger one (413)
    TTL           24 h; 1 h for urgent types (a stale SLA alarm is noise); 10 min for a test
    Urgency       high for urgent types (SLA, normatives), normal otherwise
    Topic         per entity (RFC 8030 §5.4: 32 characters of base64url, here of SHA-256 of the
                  entity's key): a newer push about the same ticket or chat replaces one the push
                  service still holds for an offline browser; the payload's ``tag`` (the same
                  value) makes the service worker replace the shown notification
    VAPID JWT     ES256; aud = the endpoint's origin, exp = 12 h (pywebpush), sub = a mailto:
    404, 410      the subscription is gone for good: its row is deleted
    429, 5xx      transient (Retry-After honoured, up to an hour), as are network errors and
                  timeouts, and a push not answered before the try's deadline
    other 4xx     permanent for that subscription (400 malformed, 403 VAPID mismatch, 413 size)
    3xx           refused: a push service never redirects, and a redirect could lead inside

Each of the recipient's subscriptions is a target of the delivery, with its own outcome
(channels/webpush_targets.py: SENT, RETRYING, FAILED, GONE). Each try of a delivery pushes only to
the recipient's current subscriptions whose target is not already SENT, FAILED or GONE: the ones
still RETRYING and any registered since, including a browser that registered (a new row) while the
try was pushing: it is pushed in a further round of the same try while time is left, else it keeps
the delivery RetryLater.

The try ends before the runtime abandons it (``Job.deadline_at``): pushes are waited on until
that deadline less a margin (``SETTLE_MARGIN_SECONDS``, at most a quarter of what is left), then
cancelled and recorded RETRYING ("did not answer within N s"); a try cut short pushes again only to
the browsers that had not answered. Reasons are classified (what failed and what to do) and name
the push service's host, never the endpoint's path (it is the subscription's bearer token); the
push service's own answer goes only to the log, with the endpoint, its path and the keys taken out.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
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

from channels.base import GiveUp, Job, Outcome, RetryLater, Sent
from channels.deps import ChannelDeps
from channels.http import RETRYABLE, retry_delay, retrying
from channels.message import Message, cut, message_for
from channels.redact import remote_text
from channels.webpush_targets import PushTry, Targets, TargetState, delivery_outcome, fenced, push_service
from core.urls import UnsafeUrl, check_outbound
from domain.keys import vapid_private_pem
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
#: Time kept, before the runtime abandons a try, to record the targets' outcomes (at most a
#: quarter of what is left of the try).
SETTLE_MARGIN_SECONDS = 1.0
#: Rounds of pushes in one try: the first, and browsers that registered while one was pushing.
MAX_ROUNDS = 3
#: Endpoint parts shorter than this are not taken out of logged text (they would mask words).
MIN_SECRET_CHARS = 8
LOST_LEASE = "the delivery was taken over by another worker"
REGISTERED_MEANWHILE = "a browser registered during this try: pushed on the next one"
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
        targets = Targets(job, earlier, last)
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
        if targets.unregistered(current) and not await fenced(job, partial(targets.removed, current)):
            return RetryLater(LOST_LEASE)
        states = dict(targets.states)
        if not last:
            for s in due:
                if s.id not in states:  # registered during this try, after its last round
                    states[s.id] = TargetState(PushTargetStatus.RETRYING, REGISTERED_MEANWHILE)
        return delivery_outcome([states[sid] for sid in sorted(states)], targets.waits)

    async def _pushed(self, job: Job, targets: Targets, due: list[PushSubscription], until: float | None) -> bool:
        """One round: count a try on each due target, push to them all at once, and record each
        outcome as it comes; pushes still unanswered at ``until`` are abandoned (RETRYING). False
        when the delivery is no longer this worker's lease (nothing more is written)."""
        if not await fenced(job, partial(targets.started, due)):
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
                held = await fenced(job, partial(targets.settled, tries))
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if pending and held:
            waited = round(max(0.0, (until or began) - began), 1)
            late = [
                PushTry(s, RetryLater(f"push service {push_service(s.endpoint)} did not answer within {waited:g} s"))
                for s in pending.values()
            ]
            log.warning("delivery %s: %d browser pushes abandoned after %g s", job.delivery.id, len(late), waited)
            held = await fenced(job, partial(targets.settled, late))
        return held

    def _push_all(self, job: Job, subscriptions: list[PushSubscription]) -> list[Coroutine[Any, Any, PushTry]]:
        message = message_for(job, self.deps.panel_url)
        data = payload(message)
        if job.is_test:
            ttl = TEST_TTL_SECONDS
        else:
            ttl = URGENT_TTL_SECONDS if message.urgent else TTL_SECONDS
        headers = {"Urgency": "high" if message.urgent else "normal"}
        if message.entity is not None:
            headers["Topic"] = topic(message.entity)
        return [self._push(s, data, ttl, headers) for s in subscriptions]

    async def _push(self, subscription: PushSubscription, data: str, ttl: int, headers: dict[str, Any]) -> PushTry:
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
    ) -> PushTry:
        host = push_service(subscription.endpoint)
        try:
            # Again at send time: the host may resolve elsewhere than when it was registered.
            await check_outbound(subscription.endpoint, allow_http=self.deps.settings.allow_http_endpoints)
        except UnsafeUrl as exc:
            return PushTry(subscription, GiveUp(f"push endpoint refused: {exc}"))
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
                return PushTry(subscription, GiveUp("the browser subscription's keys are invalid"))
            return await _answered(subscription, host, exc)
        except RedirectRefused as exc:
            return PushTry(subscription, GiveUp(f"push service {host} answered a redirect ({exc}), which is refused"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The exception's text carries the URL: only its kind goes into the reason.
            return PushTry(subscription, RetryLater(f"push service {host} could not be reached ({type(exc).__name__})"))
        except (ValueError, http_ece.ECEException):  # from the encryption: the stored keys are unusable
            return PushTry(subscription, GiveUp("the browser subscription's keys are invalid"))
        return PushTry(subscription, Sent())

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


def topic(entity: str) -> str:
    """The push ``Topic`` of an entity key: 32 characters of base64url (RFC 8030 §5.4)."""
    return base64.urlsafe_b64encode(hashlib.sha256(entity.encode()).digest()).decode()[:32]


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
                "tag": topic(message.entity) if message.entity is not None else None,
            },
            ensure_ascii=False,  # \uXXXX would take 6 bytes a letter for Cyrillic
            separators=(",", ":"),
        )

    return encoded(cut(message.body, MAX_PAYLOAD_BYTES, lambda body: len(encoded(body).encode())))


async def _answered(subscription: PushSubscription, host: str, exc: WebPushException) -> PushTry:
    """A classified reason (what failed, what to do); the push service's own text goes only to
    the log, redacted: it may quote the endpoint, whose path is the subscription's bearer token."""
    status = exc.status_code or 0
    service = f"push service {host}"
    if status in GONE:
        return PushTry(subscription, GiveUp(f"subscription expired (HTTP {status})"), gone=True)
    await _log_answer(subscription, service, status, exc.response)
    if status == 429:
        after = _seconds(exc.retry_after)
        return PushTry(subscription, RetryLater(f"{service} is rate-limiting (HTTP 429): {retrying(after)}", after))
    if status in RETRYABLE or status >= 500:
        after = _seconds(exc.retry_after)
        return PushTry(subscription, RetryLater(f"{service} answered HTTP {status}: {retrying(after)}", after))
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
    return PushTry(subscription, GiveUp(reason))


async def _log_answer(subscription: PushSubscription, service: str, status: int, response: Any) -> None:
    try:
        text = await response.text()  # already read by pywebpush: aiohttp keeps the body
    except (aiohttp.ClientError, UnicodeDecodeError, TimeoutError):
        text = ""
    path = urlsplit(subscription.endpoint).path
    secrets = [subscription.endpoint, path, path.rstrip("/").rsplit("/", 1)[-1], subscription.p256dh, subscription.auth]
    excerpt = remote_text(_URL.sub("<url>", text), [x for x in secrets if len(x) >= MIN_SECRET_CHARS], 300)
    log.info("%s answered HTTP %s: %s", service, status, excerpt or "(empty body)")


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
