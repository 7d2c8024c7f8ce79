"""One instance's live bell messages leave this process in commit order.

On SQLite a publishing call is answered at its commit and its panel messages follow (group commit,
services/dispatch.py); a bell change committed meanwhile — a read mark, an archive, a snooze, a
snoozed item's return (channels/schedules.py) — must go out after them, or a panel's unread count
steps back (a NotificationsReturned with 5 overtaking additions it counted, then NotificationAdded
with 1). Each sender links itself to the instance's chain: it waits for the one before, sends,
then lets the next go.

    link(instance_id) -> (previous, mine)        wait for previous, send, resolve mine
    Place(instance_id)                           a transaction's link, taken as it counts
    placed(place)                                counters changed inside take ``place``
    counters_changed()                           called by every writer of the unread counters
    announce_in_order(broker, instance_id, messages, timeout_seconds)
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from core.broker import Broker

log = logging.getLogger(__name__)

#: Each running event loop's chains: by instance, the future of the last sender linked.
_TAILS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[None]]] = (
    weakref.WeakKeyDictionary()
)


def link(instance_id: str) -> tuple[asyncio.Future[None] | None, asyncio.Future[None]]:
    """(the future of the sender before, if still linked; this sender's): wait for the first
    before sending, resolve the second after (or on giving up)."""
    loop = asyncio.get_running_loop()
    tails = _TAILS.setdefault(loop, {})
    previous = tails.get(instance_id)
    mine: asyncio.Future[None] = loop.create_future()
    tails[instance_id] = mine

    def forget(done: asyncio.Future[None]) -> None:
        if tails.get(instance_id) is done:  # the last one: nothing waits behind it
            del tails[instance_id]

    mine.add_done_callback(forget)
    return previous, mine


class Place:
    """A transaction's place in its instance's chain (a publishing call, a bell change): on
    PostgreSQL taken as it changes the unread counters (``take``, through ``placed``: their row
    locks order the commits of transactions counting the same operators, so the places follow
    those commits), else after its commit (``taken``); ``release`` when its messages went out, or
    its transaction rolled back."""

    __slots__ = ("instance_id", "link")

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self.link: tuple[asyncio.Future[None] | None, asyncio.Future[None]] | None = None

    def take(self) -> None:
        if self.link is None:
            self.link = link(self.instance_id)

    def taken(self) -> tuple[asyncio.Future[None] | None, asyncio.Future[None]]:
        """(the sender's before, this call's): taken now if it was not yet."""
        self.take()
        assert self.link is not None
        return self.link

    def release(self) -> None:
        if self.link is not None and not self.link[1].done():
            self.link[1].set_result(None)


#: The place the transaction under way takes when it changes the unread counters (``placed``).
_PLACE: ContextVar[Place | None] = ContextVar("nc_announcing_place", default=None)


@contextmanager
def placed(place: Place | None) -> Iterator[None]:
    """Within the block, the unread counters' writers (domain/unread.py) take ``place``."""
    token = _PLACE.set(place)
    try:
        yield
    finally:
        _PLACE.reset(token)


def counters_changed() -> None:
    """Called by every writer of the unread counters right after its statement, their rows
    locked until the commit: the transaction's place (``placed``), if any, is taken now."""
    place = _PLACE.get()
    if place is not None:
        place.take()


async def announce_in_order(
    broker: Broker,
    instance_id: str,
    messages: list[tuple[str, dict[str, Any]]],
    timeout_seconds: float,
    place: Place | None = None,
) -> None:
    """Hand a bell change's ``messages`` (each with its unread count) to the broker after the
    panel messages of every publishing transaction of ``instance_id`` that this process committed
    before, and before those committed after, or after ``timeout_seconds`` of waiting (a broker
    that holds them); changes made at once go out one after the other. A broker's failure is
    logged, never raised: the change is committed (a tab that missed it reads the bell again when
    it reconnects). ``place``: the change's transaction's, if it kept one (released here)."""
    try:
        async with in_turn(instance_id, timeout_seconds, place):
            await broker.publish_many(messages)
    except Exception:
        log.exception("a bell change of %d messages was not announced to the open panels", len(messages))


@asynccontextmanager
async def in_turn(instance_id: str, timeout_seconds: float, place: Place | None = None) -> AsyncIterator[None]:
    """The body runs once the panel messages of every publishing transaction of ``instance_id``
    that this process committed before have gone out (or after ``timeout_seconds`` of waiting),
    and before those committed after, which wait for it to end. ``place``: one taken already (at
    its transaction's commit), else a place is taken now; released at the end."""
    place = place or Place(instance_id)
    previous, _ = place.taken()
    try:
        if previous is not None and not previous.done():
            await asyncio.wait([previous], timeout=timeout_seconds)
        yield
    finally:
        place.release()
