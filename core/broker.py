"""The broker: carries live events to subscribers and wakes workers. Never the job queue.

Delivery jobs are rows in nc_delivery, written in the publisher's transaction; the broker only
says "look now" and fans live events out to the connections that want them. Pub/sub is
at-most-once: a message published while nobody listens is gone, which is why nothing durable
depends on it.

    Broker                 the interface: publish(topic, message), subscribe(topic)
     ├── InProcessBroker   one process (the embedded default): asyncio queues
     └── RedisBroker       many processes (scale-out issue): Redis pub/sub
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from core.cork import corked
from core.keys import key_part

log = logging.getLogger(__name__)

#: Topic workers listen on for "due jobs are waiting".
WORKERS = "workers"
#: Messages one subscriber may have waiting; past that they are dropped for a RESYNC (a slow
#: client must not hold memory without bound or stall the others).
QUEUE_SIZE = 256


#: Messages ``InProcessBroker.publish_many`` hands over between two pauses for other work.
SLICE = 32

#: Put in every listener's queue after the broker lost messages (a Redis reconnect): listeners that
#: can (the bell) replay what they missed from the database.
RESYNC: dict[str, Any] = {"type": "__resync__"}


def user_topic(instance_id: str, user_id: str, stream: str) -> str:
    """The topic of one user's live stream (bell, toasts or reminders): ``stream/instance/user``,
    each id one segment (``core.keys.key_part``: ids may hold ``/``)."""
    return f"{stream}/{key_part(instance_id)}/{key_part(user_id)}"


def user_topic_prefix(instance_id: str, stream: str) -> str:
    """What every user's ``user_topic`` of a stream begins with: ``prefix + key_part(user_id)``
    is the topic."""
    return f"{stream}/{key_part(instance_id)}/"


def topic_owner(topic: str) -> str:
    """Whose a topic is: ``instance/user`` for a user's streams (``user_topic``), else the topic.
    A socket listens only to its own user's streams, so messages with one owner are all a socket
    can receive of a batch."""
    _, slash, owner = topic.partition("/")
    return owner if slash else topic


class BrokerUnavailable(Exception):
    """``publish_many`` could not hand its messages over (some may have gone out)."""


class Broker(Protocol):
    async def publish(self, topic: str, message: dict[str, Any]) -> None: ...

    async def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish ``(topic, message)`` pairs, each listener's in the order given (messages of
        different users' topics may go out in another order), in as few round trips as the broker
        allows.
        Unlike ``publish`` it raises ``BrokerUnavailable`` when they could not be handed over, so
        a caller with durable rows behind them leaves those for a worker."""
        ...

    def subscribe(self, topic: str) -> Any:
        """An async context manager yielding an async iterator of the topic's messages."""
        ...

    def subscriber_count(self) -> int: ...

    def listens(self, topic: str) -> bool:
        """False only when no listener anywhere can hear ``topic`` now (in-process: none here), so
        its message need not be made at all; a broker between processes cannot tell: True."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class Mailbox:
    """A bounded FIFO for one reader: ``put_nowait`` / ``get_nowait`` / ``get`` / ``empty`` /
    ``qsize`` as ``asyncio.Queue`` has them (QueueFull, QueueEmpty), at a fraction of its memory
    (a deque only while messages wait, and at most one waiting future, instead of four deques and
    an Event): every live subscription holds one, and so does every open socket's inbox
    (api.server.LeanWebSockets); 10,000 idle ones is the memory target."""

    __slots__ = ("_items", "_maxsize", "_waiter")

    def __init__(self, maxsize: int) -> None:
        self._items: deque[dict[str, Any]] | None = None
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items is not None else 0

    def idle(self) -> bool:
        """True while nothing waits and the reader is parked in ``get``: the reader has handled
        everything it took, so a message handled now, outside it, keeps its place in the order."""
        waiter = self._waiter
        return waiter is not None and not waiter.done() and not self._items

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: dict[str, Any]) -> None:
        items = self._items
        if items is None:
            items = self._items = deque()
        if len(items) >= self._maxsize:
            raise asyncio.QueueFull
        items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> dict[str, Any]:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._take(self._items)

    async def get(self) -> dict[str, Any]:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._take(self._items)

    def _take(self, items: deque[dict[str, Any]]) -> dict[str, Any]:
        item = items.popleft()
        if not items:
            self._items = None  # an empty deque still holds a 64-slot block (~0.6 KiB)
        return item


#: A listener's way to take a message at once, in the publisher's step: True when it did (sent
#: it, or decided it does not go out), False to have it queued as usual.
Direct = Callable[[dict[str, Any]], bool]


class Subscription:
    __slots__ = ("queue", "dropped", "direct", "__weakref__")

    def __init__(self) -> None:
        self.queue = Mailbox(QUEUE_SIZE)
        self.dropped = 0
        #: Set by a listener that can handle a message without being woken (a live subscription
        #: writing straight to its socket): used only while its reader is idle, so order holds.
        self.direct: Direct | None = None

    def offer(self, message: dict[str, Any]) -> None:
        """Hand ``message`` to the listener's ``direct`` when it is idle and takes it, else queue
        it. A listener that fell ``QUEUE_SIZE`` messages behind (a slow client, or one batch
        carrying that many for it) loses what it had waiting and gets RESYNC instead: listeners
        that can (the bell) read what they missed from the database."""
        direct = self.direct
        if direct is not None and self.queue.idle():
            try:
                if direct(message):
                    return
            except Exception:  # one listener's fault must not stop the fan-out
                log.exception("a live listener failed to take a message; it is queued from now on")
                self.direct = None
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += self.queue.qsize()
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)
            self.queue.put_nowait(message)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.queue.get()


class Fanout:
    """This process's listeners by topic: what both brokers hand each message to."""

    def __init__(self) -> None:
        self.topics: dict[str, set[Subscription]] = {}

    def add(self, topic: str, subscription: Subscription) -> bool:
        """Adds a listener; True when it is the topic's first here."""
        listeners = self.topics.setdefault(topic, set())
        listeners.add(subscription)
        return len(listeners) == 1

    def remove(self, topic: str, subscription: Subscription) -> bool:
        """Removes a listener; True when the topic has none left here."""
        listeners = self.topics.get(topic)
        if listeners is None:
            return False
        listeners.discard(subscription)
        if listeners:
            return False
        del self.topics[topic]
        return True

    def offer(self, topic: str, message: dict[str, Any]) -> None:
        for subscription in tuple(self.topics.get(topic, ())):
            subscription.offer(message)

    def offer_all(self, message: dict[str, Any]) -> None:
        for listeners in tuple(self.topics.values()):
            for subscription in tuple(listeners):
                subscription.offer(message)

    def count(self) -> int:
        return sum(len(s) for s in self.topics.values())


def by_owner(messages: Iterable[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """``messages`` with each owner's (``topic_owner``) together, owners and each owner's messages
    in the order they came: what one socket may carry of a batch goes out in one slice."""
    runs: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for pair in messages:
        owner = topic_owner(pair[0])
        run = runs.get(owner)
        if run is None:
            runs[owner] = [pair]
        else:
            run.append(pair)
    return [pair for run in runs.values() for pair in run]


class InProcessBroker:
    def __init__(self) -> None:
        self._fanout = Fanout()
        #: One batch's fan-out at a time (asyncio.Lock is first come, first served).
        self._in_order = asyncio.Lock()

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        self._fanout.offer(topic, message)

    async def publish_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """Hand the messages over ``SLICE`` at a time with a pause for the process's other work
        between slices (idle listeners write to their sockets right here: a batch of 500 would
        otherwise hold the event loop, and the next call's transaction, for its whole fan-out).
        One user's messages (``topic_owner``: their bell, toasts and reminders, which one socket
        may all carry) go one after the other, in the batch's order, and what a slice writes to
        one socket is one write (core.cork): a recipient given several messages by a batch gets
        them in one segment. Batches published at once go one after the other, never
        interleaved: a recipient's unread counts arrive in the order they were counted."""
        offer = self._fanout.offer
        ordered = by_owner(messages)
        async with self._in_order:
            for start in range(0, len(ordered), SLICE):
                if start:
                    await asyncio.sleep(0)
                with corked():
                    for topic, message in ordered[start : start + SLICE]:
                        offer(topic, message)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        self._fanout.add(topic, subscription)
        try:
            yield subscription
        finally:
            self._fanout.remove(topic, subscription)

    def subscriber_count(self) -> int:
        return self._fanout.count()

    def listens(self, topic: str) -> bool:
        return topic in self._fanout.topics

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._fanout.topics.clear()


def build_broker(redis_url: str | None) -> Broker:
    """Redis when NC_REDIS_URL is set (many processes), else in-process (embedded)."""
    if redis_url:
        from core.broker_redis import RedisBroker

        return RedisBroker(redis_url)
    return InProcessBroker()
