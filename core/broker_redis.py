"""The broker across processes: Redis pub/sub (redis.asyncio from redis-py).

One publishing connection and one subscribing connection per process, whatever the number of
WebSocket subscriptions. Pub/sub is at-most-once: when the subscribing connection drops (a Redis
restart), the reader reconnects with backoff, subscribes again to every active channel and tells
each local listener to resync (the bell replays what it missed from the database). Publishing
while Redis is down logs and drops the message: the job rows are already committed and a periodic
claim finds them.

Batches, not messages, travel through Redis. A ``publish_many`` batch is one Redis message per
channel it touches (split in order past ``BATCH_MESSAGES`` messages or ``BATCH_BYTES`` bytes), and
``publish`` sends a batch of one the same way, so one topic's messages keep their order whichever
call published them. The receiving process decodes a batch once and fans it out as
``InProcessBroker.publish_many`` does: one user's messages together (``topic_owner``), ``SLICE`` at
a time under ``core.cork.corked()`` (one write per socket per slice), a pause for other work
between slices, one batch after the other. (With a PUBLISH per message, the process holding the
panels spent most of its time in redis-py's ``get_message`` and in uncorked socket writes, once
per message.)

Channels (``channel``): a user's streams (``user_topic``: ``stream/instance/user``) go on their
instance's channel ``<prefix>live/<instance>``; any other topic (``workers``, ``policy``, …) on
its own channel ``<prefix><topic>``. A process subscribes to a channel while it has a listener for
any topic on it, so a process with no panel of an instance receives none of its messages.
Per-topic channels would cost one Redis message per topic (a batch for 500 recipients, 1,000);
one channel for all live messages would make every process receive every instance's batches. With
a channel per instance, every process holding panels of an instance receives all of the
instance's batches: each reads a batch's topic list (one small JSON array) and decodes only the
messages of topics it has listeners for, so a batch for others' panels costs it one read and a
split, not a decode of every message. (Should one instance's panels outgrow that, its users could be spread over
a few channels by a hash of the user.)

A batch on the wire (``encode_batch``)::

    nc1\\n["bell/i/u1","toasts/i/u1",...]\\n{message 1}\\n{message 2}...

compact JSON holds no raw newline, so the lines are the messages. A payload that is not one (an
older process's message, garbage) is ignored, as a message that is not JSON always was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.broker import RESYNC, SLICE, BrokerUnavailable, Fanout, Subscription, by_owner
from core.cork import corked
from core.jsonenc import dumps_bytes, loads
from core.redis_pool import redis_client

log = logging.getLogger(__name__)

#: PUBLISH commands (batches) per pipeline round trip, and their bytes (a round trip carries at
#: least one): one call's 120 MiB announcement went to Redis as one 120 MiB pipeline.
PIPELINE_CHUNK = 1_000
PIPELINE_BYTES = 4 * 1024 * 1024
#: Messages one Redis message carries at most: a bigger batch goes as several, in order.
BATCH_MESSAGES = 1_000
#: Bytes of messages one Redis message carries at most (one message bigger than that goes alone):
#: far below Redis's pub/sub output buffer limits (8 MiB for a minute, 32 MiB at once).
BATCH_BYTES = 256 * 1024
#: Seconds one publishing round trip may take before Redis counts as not answering.
PUBLISH_TIMEOUT_SECONDS = 2.0
#: After Redis did not answer a publish in time, how long publishing fails at once instead of
#: waiting for it again: a frozen Redis (SIGSTOP, a full network buffer) made every publishing call
#: wait ~10 s. The rows behind the messages are committed: a worker sends them.
DOWN_SECONDS = 2.0

#: Seconds between two warnings of messages in another format (``RedisBroker._foreign``).
FOREIGN_WARNING_SECONDS = 60.0

#: What a batch begins with: its format's version.
MAGIC = b"nc1\n"
#: Channel (under the prefix) of an instance's users' streams: ``live/<instance>``.
LIVE = "live/"

Pair = tuple[str, dict[str, Any]]


def channel(topic: str) -> str:
    """The channel (under the prefix) that carries ``topic``: its instance's for a user's stream
    (``stream/instance/user``), else its own."""
    _, slash, rest = topic.partition("/")
    if not slash:
        return topic
    return LIVE + rest.partition("/")[0]


def encode_batch(topics: list[str], bodies: list[bytes]) -> bytes:
    """One Redis message: ``MAGIC``, the topics as a JSON array, then each message's JSON."""
    return b"\n".join((MAGIC + dumps_bytes(topics), *bodies))


def decode_batch(data: Any, wanted: dict[str, Any]) -> list[Pair]:
    """The ``(topic, message)`` pairs of a batch whose topic is in ``wanted``, in order; nothing for a
    payload that is not a batch, and a message that is not a JSON object is left out."""
    if not isinstance(data, bytes) or not data.startswith(MAGIC):
        return []
    lines = data.split(b"\n")
    try:
        topics = loads(lines[1])
    except (ValueError, TypeError, RecursionError):
        return []
    if not isinstance(topics, list) or len(topics) != len(lines) - 2:
        return []
    out: list[Pair] = []
    for i, topic in enumerate(topics, 2):
        if isinstance(topic, str) and topic in wanted:
            try:
                message = loads(lines[i])
            except (ValueError, TypeError, RecursionError):
                continue
            if isinstance(message, dict):
                out.append((topic, message))
    return out


class _Batch:
    """A Redis message being filled: its topics, their messages' JSON, and their bytes."""

    __slots__ = ("topics", "bodies", "size")

    def __init__(self) -> None:
        self.topics: list[str] = []
        self.bodies: list[bytes] = []
        self.size = 0


class RedisBroker:
    def __init__(self, url: str, *, prefix: str = "nc:") -> None:
        self._url = url
        self._prefix = prefix
        self._publisher = redis_client(url, socket_connect_timeout=2, socket_timeout=PUBLISH_TIMEOUT_SECONDS)
        #: Until when (the loop's clock) publishing fails at once: Redis did not answer just now.
        self._down_until = 0.0
        self._fanout = Fanout()
        #: Redis channels (prefixed) subscribed here, and how many local topics each carries.
        self._channels: dict[str, int] = {}
        #: Channels whose SUBSCRIBE is on its way: later listeners on them wait for it too.
        self._subscribing: dict[str, asyncio.Future[None]] = {}
        #: Messages fanned out since the reader last paused for the process's other work.
        self._since_pause = 0
        #: Until when (the loop's clock) a message in another format is ignored without a warning.
        self._foreign_quiet_until = 0.0
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        #: Counts for /metrics.
        self.errors = 0
        self.connected = asyncio.Event()

    def _channel(self, topic: str) -> str:
        return self._prefix + channel(topic)

    # -- publishing --------------------------------------------------------------------------
    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Publish one message (a batch of one, on the channel ``publish_many`` uses); while Redis
        is down or does not answer it is dropped (logged), at once for ``DOWN_SECONDS`` after Redis
        did not answer in time."""
        try:
            await self._publish_chunks([(self._channel(topic), encode_batch([topic], [dumps_bytes(message)]))])
        except BrokerUnavailable as exc:
            # (one line when Redis fails; the messages dropped in the window after it, quietly)
            level = logging.WARNING if exc.__cause__ is not None else logging.DEBUG
            log.log(level, "Redis publish to %s failed (%s): the message is dropped", topic, exc)

    async def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """One Redis message per channel the batch touches (more past ``BATCH_MESSAGES`` or
        ``BATCH_BYTES``), each owner's messages together and in order; one pipeline of PUBLISH
        commands per ``PIPELINE_CHUNK`` of them or ``PIPELINE_BYTES`` of their bytes (no MULTI: one
        round trip, not one transaction).
        Raises BrokerUnavailable when Redis refused (twice: a pooled connection from before a
        restart fails once) or did not answer within ``PUBLISH_TIMEOUT_SECONDS``, and then at once
        for ``DOWN_SECONDS``."""
        await self._publish_chunks(self._batches(messages))

    def _batches(self, messages: list[Pair]) -> list[tuple[str, bytes]]:
        """The Redis messages of a batch: ``(channel, payload)``, in the order they go out."""
        open_: dict[str, _Batch] = {}
        out: list[tuple[str, bytes]] = []
        for topic, message in by_owner(messages):
            name = self._channel(topic)
            body = dumps_bytes(message)
            batch = open_.get(name)
            if batch is None:
                batch = open_[name] = _Batch()
            elif len(batch.bodies) >= BATCH_MESSAGES or batch.size + len(body) > BATCH_BYTES:
                out.append((name, encode_batch(batch.topics, batch.bodies)))
                batch = open_[name] = _Batch()
            batch.topics.append(topic)
            batch.bodies.append(body)
            batch.size += len(body)
        out += [(name, encode_batch(batch.topics, batch.bodies)) for name, batch in open_.items()]
        return out

    async def _publish_chunks(self, encoded: list[tuple[str, bytes]]) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            raise BrokerUnavailable("Redis did not answer a moment ago")
        for chunk in _round_trips(encoded):
            for attempt in (1, 2):
                try:
                    async with self._publisher.pipeline(transaction=False) as pipe:
                        for name, data in chunk:
                            pipe.publish(name, data)
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
        first = self._fanout.add(topic, subscription)
        try:
            if first:
                await self._channel_added(self._channel(topic))
            _raise_if_cancelling()
            yield subscription
        finally:
            if self._fanout.remove(topic, subscription):
                await self._channel_removed(self._channel(topic))

    async def _channel_added(self, name: str) -> None:
        """A topic on ``name`` got its first listener here: SUBSCRIBE when it is the channel's
        first, else wait until the channel's SUBSCRIBE (perhaps on its way) has gone out."""
        count = self._channels.get(name, 0)
        self._channels[name] = count + 1
        if count:
            pending = self._subscribing.get(name)
            if pending is not None:
                await asyncio.shield(pending)
            return
        done = self._subscribing[name] = asyncio.get_running_loop().create_future()
        try:
            await self._redis_subscribe(name)
        finally:
            done.set_result(None)
            if self._subscribing.get(name) is done:
                del self._subscribing[name]

    async def _channel_removed(self, name: str) -> None:
        count = self._channels.get(name, 0) - 1
        if count > 0:
            self._channels[name] = count
            return
        self._channels.pop(name, None)
        await self._redis_unsubscribe(name)

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
        self._channels.clear()

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
            # (channels added while it connects are subscribed too: they found no connection)
            while missing := set(self._channels) - subscribed:
                for name in missing:
                    await pubsub.subscribe(name)
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

    async def _redis_subscribe(self, name: str) -> None:
        if self._pubsub is None:
            return  # not connected: the reader subscribes every active channel when it connects
        try:
            await self._pubsub.subscribe(name)
        except (RedisError, OSError):
            self.errors += 1  # the reader reconnects and subscribes to every active channel again

    async def _redis_unsubscribe(self, name: str) -> None:
        try:
            if self._pubsub is not None:
                await self._pubsub.unsubscribe(name)
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
            data = message.get("data")
            if not (isinstance(data, bytes) and data.startswith(MAGIC)):
                self._foreign(message.get("channel"))
                continue
            pairs = decode_batch(data, self._fanout.topics)
            if pairs:
                await self._fan_out(pairs)

    def _foreign(self, name: Any) -> None:
        """A message not in this release's format arrived: ignored, and said in a warning at most
        once per ``FOREIGN_WARNING_SECONDS``. Another release's process publishing on the same
        Redis and prefix is the likely cause: the two do not hear each other's live messages."""
        now = asyncio.get_running_loop().time()
        if now >= self._foreign_quiet_until:
            self._foreign_quiet_until = now + FOREIGN_WARNING_SECONDS
            log.warning(
                "a live message not in this release's format (%r) arrived on %s and is ignored: is a "
                "process of another release publishing on this Redis? Run one release at a time "
                "(README, Upgrading)",
                MAGIC,
                name.decode(errors="replace") if isinstance(name, bytes) else name,
            )

    async def _fan_out(self, pairs: list[Pair]) -> None:
        """``InProcessBroker.publish_many``'s fan-out (the publisher put each owner's messages
        together): ``SLICE`` messages at a time under ``corked()``, a pause for the process's other
        work once ``SLICE`` went out since the last — between a batch's slices, and between small
        batches read one after the other without the reader waiting. The reader is one task:
        batches are never interleaved."""
        offer = self._fanout.offer
        for start in range(0, len(pairs), SLICE):
            if self._since_pause >= SLICE:
                self._since_pause = 0
                await asyncio.sleep(0)
            stretch = pairs[start : start + SLICE]
            with corked():
                for topic, message in stretch:
                    offer(topic, message)
            self._since_pause += len(stretch)


def _round_trips(encoded: list[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
    """``encoded`` cut, in order, into pipelines of at most ``PIPELINE_CHUNK`` commands and
    ``PIPELINE_BYTES`` bytes (one bigger message goes alone)."""
    out: list[list[tuple[str, bytes]]] = []
    chunk: list[tuple[str, bytes]] = []
    size = 0
    for pair in encoded:
        if chunk and (len(chunk) >= PIPELINE_CHUNK or size + len(pair[1]) > PIPELINE_BYTES):
            out.append(chunk)
            chunk, size = [], 0
        chunk.append(pair)
        size += len(pair[1])
    if chunk:
        out.append(chunk)
    return out


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
