"""The broker across processes: Redis pub/sub (redis.asyncio from redis-py).

One publishing connection and one subscribing connection per process, whatever the number of
WebSocket subscriptions: the process SUBSCRIBEs to a topic's Redis channel while at least one local
listener wants it, and fans each message out in-process. Pub/sub is at-most-once: when the
subscribing connection drops (a Redis restart), the reader reconnects with backoff, subscribes
again to every active topic and tells each local listener to resync (the bell replays what it missed
from the database). Publishing while Redis is down logs and drops the message: the job rows are
already committed and a periodic claim finds them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.broker import RESYNC, BrokerUnavailable, Fanout, Subscription
from core.jsonenc import dumps
from core.redis_pool import redis_client

log = logging.getLogger(__name__)

#: PUBLISH commands per pipeline round trip.
PIPELINE_CHUNK = 1_000
#: Seconds one publishing round trip may take before Redis counts as not answering.
PUBLISH_TIMEOUT_SECONDS = 2.0
#: After Redis did not answer a publish in time, how long publishing fails at once instead of
#: waiting for it again: a frozen Redis (SIGSTOP, a full network buffer) made every publishing call
#: wait ~10 s. The rows behind the messages are committed: a worker sends them.
DOWN_SECONDS = 2.0


class RedisBroker:
    def __init__(self, url: str, *, prefix: str = "nc:") -> None:
        self._url = url
        self._prefix = prefix
        self._publisher = redis_client(url, socket_connect_timeout=2, socket_timeout=PUBLISH_TIMEOUT_SECONDS)
        #: Until when (the loop's clock) publishing fails at once: Redis did not answer just now.
        self._down_until = 0.0
        self._fanout = Fanout()
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        #: Counts for /metrics.
        self.errors = 0
        self.connected = asyncio.Event()

    # -- publishing --------------------------------------------------------------------------
    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Publish one message; while Redis is down or does not answer it is dropped (logged), at
        once for ``DOWN_SECONDS`` after Redis did not answer in time."""
        try:
            await self._publish_chunks([(self._prefix + topic, dumps(message))])
        except BrokerUnavailable as exc:
            # (one line when Redis fails; the messages dropped in the window after it, quietly)
            level = logging.WARNING if exc.__cause__ is not None else logging.DEBUG
            log.log(level, "Redis publish to %s failed (%s): the message is dropped", topic, exc)

    async def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """One pipeline of PUBLISH commands per ``PIPELINE_CHUNK`` messages (no MULTI: one round
        trip, not one transaction). Raises BrokerUnavailable when Redis refused (twice: a pooled
        connection from before a restart fails once) or did not answer within
        ``PUBLISH_TIMEOUT_SECONDS``, and then at once for ``DOWN_SECONDS``."""
        await self._publish_chunks([(self._prefix + topic, dumps(message)) for topic, message in messages])

    async def _publish_chunks(self, encoded: list[tuple[str, str | bytes]]) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            raise BrokerUnavailable("Redis did not answer a moment ago")
        for start in range(0, len(encoded), PIPELINE_CHUNK):
            chunk = encoded[start : start + PIPELINE_CHUNK]
            for attempt in (1, 2):
                try:
                    async with self._publisher.pipeline(transaction=False) as pipe:
                        for channel, data in chunk:
                            pipe.publish(channel, data)
                        await pipe.execute()
                    break
                except (RedisError, OSError) as exc:
                    self.errors += 1
                    # A Redis that did not answer in time is not asked again for a while (a
                    # refused connection fails at once: nothing to wait for); the first try
                    # after a Redis restart meets a stale pooled connection: once more.
                    if isinstance(exc, (RedisTimeoutError, TimeoutError)):
                        self._down_until = loop.time() + DOWN_SECONDS
                        raise BrokerUnavailable(f"Redis did not answer: {type(exc).__name__}") from exc
                    if attempt == 2:
                        raise BrokerUnavailable(f"Redis publish failed: {type(exc).__name__}") from exc

    # -- subscribing -------------------------------------------------------------------------
    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        await self._ensure_reader()
        _raise_if_cancelling()
        if self._fanout.add(topic, subscription):
            await self._redis_subscribe(topic)
        try:
            _raise_if_cancelling()
            yield subscription
        finally:
            if self._fanout.remove(topic, subscription):
                await self._redis_unsubscribe(topic)

    def listens(self, topic: str) -> bool:
        """Listeners in other processes cannot be seen from here."""
        return True

    def subscriber_count(self) -> int:
        return self._fanout.count()

    async def ping(self) -> bool:
        for _ in (1, 2):  # a pooled connection from before a restart fails once
            try:
                return bool(await self._publisher.ping())
            except (RedisError, OSError):
                continue
        return False

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._close_pubsub()
        await self._publisher.aclose()
        self._fanout.topics.clear()

    # -- the reader ----------------------------------------------------------------------------
    async def _ensure_reader(self) -> None:
        """The reader task, started by the first subscription. Redis unreachable then (not started
        yet, a network fault) fails nothing: the subscription is kept, and the reader connects
        with backoff and subscribes it then (a listener started meanwhile — a worker's wake-ups,
        the policy's invalidations — died with the first error and was never restarted)."""
        async with self._lock:
            if self._reader is None or self._reader.done():
                try:
                    await self._connect()
                except (RedisError, OSError) as exc:
                    self.errors += 1
                    log.warning("Redis is not reachable (%s): subscriptions wait for it", type(exc).__name__)
                self._reader = asyncio.create_task(self._read(), name="nc-redis-reader")

    async def _connect(self) -> None:
        # (socket_timeout: a Redis that accepts the connection but never answers — SIGSTOP — fails
        # the connect's handshake instead of holding it forever; reads pass their own timeout)
        client = Redis.from_url(self._url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=10)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        # redis-py reconnects a pub/sub connection by itself when a read fails and the server is
        # back within its retries, re-subscribing the channels: messages in between are lost all
        # the same, so every (re)connection after the first tells listeners to resync.
        # (redis-py keeps connect callbacks as weak bound methods: the hook object lives on self.)
        hook = _ReconnectHook(self, pubsub.on_connect)
        pubsub.on_connect = hook.on_connect  # type: ignore[method-assign]  # a per-instance hook, on purpose
        try:
            # A placeholder channel keeps the connection in subscribed mode even with no topic yet.
            await pubsub.subscribe(self._prefix + "__alive__")
            subscribed: set[str] = set()
            # (topics added while it connects are subscribed too: they found no connection)
            while missing := set(self._fanout.topics) - subscribed:
                for topic in missing:
                    await pubsub.subscribe(self._prefix + topic)
                subscribed |= missing
        except BaseException:
            await pubsub.aclose()
            raise
        hook.armed = True  # from here on, a connect is a reconnect
        self._hook, self._pubsub = hook, pubsub
        self.connected.set()

    def _reconnected(self) -> None:
        self.errors += 1
        log.info("Redis subscription reconnected")
        self._resync()

    def _resync(self) -> None:
        self._fanout.offer_all(RESYNC)

    async def _close_pubsub(self) -> None:
        if self._pubsub is not None:
            try:
                await self._pubsub.aclose()
            except (RedisError, OSError):
                pass
            self._pubsub = None

    async def _redis_subscribe(self, topic: str) -> None:
        if self._pubsub is None:
            return  # not connected: the reader subscribes every active topic when it connects
        try:
            await self._pubsub.subscribe(self._prefix + topic)
        except (RedisError, OSError):
            self.errors += 1  # the reader reconnects and subscribes to every active topic again

    async def _redis_unsubscribe(self, topic: str) -> None:
        try:
            if self._pubsub is not None:
                await self._pubsub.unsubscribe(self._prefix + topic)
        except (RedisError, OSError):
            self.errors += 1

    async def _read(self) -> None:
        backoff = 0.1
        while not self._closed:
            if self._pubsub is None:
                try:
                    await self._connect()
                except (RedisError, OSError):
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                log.info("Redis subscription restored")
                # Anything published while we were away is gone from pub/sub: listeners resync.
                self._resync()
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, RuntimeError) as exc:
                self.errors += 1
                self.connected.clear()
                log.warning("Redis subscription lost (%s); reconnecting", type(exc).__name__)
                await self._close_pubsub()
                continue
            backoff = 0.1
            if message is None or message.get("type") != "message":
                continue
            topic = message["channel"].decode()[len(self._prefix) :]
            try:
                payload = json.loads(message["data"])
            except ValueError:
                continue
            self._fanout.offer(topic, payload)


def _raise_if_cancelling() -> None:
    """Raise the CancelledError a redis-py connect swallowed.

    A cancel that reaches redis-py while it connects (its connect timeout, Python 3.11's
    ``asyncio.timeout``) can be lost: the task stays "cancelling" yet runs on, and a listener then
    waits for messages forever, so a process that was told to stop (a ``serve`` that could not bind
    its port, SIGTERM) never exits. Checked after every redis-py await a cancel may interrupt."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _ReconnectHook:
    """Wraps PubSub.on_connect (which re-subscribes) to notice every connection after the first."""

    def __init__(self, broker: RedisBroker, resubscribe: Any) -> None:
        self.broker = broker
        self.resubscribe = resubscribe
        self.armed = False

    async def on_connect(self, connection: Any) -> None:
        await self.resubscribe(connection)
        if self.armed:
            self.broker._reconnected()
