"""The viewer's own row and preferences, kept per process: the settings screens read them on every
request and they change only when the viewer (or an administrator) writes.

    ViewerCache.get(instance, user)      -> (Operator copy | None, RecipientPrefs)   two reads when not held
    ViewerCache.changed(broker, instance, users | None)   after a write: None means every viewer

An entry is fresh for ``ttl_seconds`` (5 s), then answered once more while it is read again. A
write forgets it at once in the process that made it and, through the broker's "viewers" topic, in
every other (``listen_for_changes``); the TTL bounds staleness should that message be lost (pub/sub
is at-most-once), and a read that began before a change never stores what it read. Reachability
(links, push subscriptions, email) is not kept: ``channelDecisions`` reads it fresh.
"""

from __future__ import annotations

import asyncio
import copy
import time

from core.broker import RESYNC, Broker
from domain.operators import find_operator, load_prefs
from domain.resolution import RecipientPrefs
from models.db import in_transaction_now
from models.operator import Operator

#: Broker topic on which a process announces "these viewers' settings changed".
VIEWERS_TOPIC = "viewers"
#: Viewers kept per process at most (the least recently stored go first).
MAX_ENTRIES = 50_000


class ViewerCache:
    def __init__(self, ttl_seconds: float = 5.0, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], tuple[float, Operator | None, RecipientPrefs]] = {}
        #: Bumped by every change of an instance: a read that began before it must not be stored.
        self._generation: dict[str, int] = {}
        #: One read per viewer at a time (a lapsed entry's renewal, or a first read).
        self._renewing: dict[tuple[str, str], asyncio.Future[tuple[Operator | None, RecipientPrefs]]] = {}

    async def get(self, instance_id: str, user_id: str) -> tuple[Operator | None, RecipientPrefs]:
        """The viewer's row (a copy: a request may change its own) or None when they never
        wrote anything, and their switches and choices. An entry past its TTL but not twice it
        is still answered while one read renews it in the background: entries filled together
        do not all lapse into one burst of reads."""
        key = (instance_id, user_id)
        if in_transaction_now():
            # A read started here would run on the caller's transaction and could outlive it:
            # inside a transaction the viewer is read in place, and nothing is kept.
            operator = await find_operator(instance_id, user_id)
            return operator, await load_prefs(operator)
        entry = self._entries.get(key)
        if entry is not None:
            age = time.monotonic() - entry[0]
            if age < self.ttl:
                return copy.copy(entry[1]), entry[2]
            if age < 2 * self.ttl:
                if key not in self._renewing:
                    self._renewing[key] = asyncio.ensure_future(self._read(key))
                return copy.copy(entry[1]), entry[2]
        reading = self._renewing.get(key)
        if reading is None:
            reading = self._renewing[key] = asyncio.ensure_future(self._read(key))
        operator, prefs = await asyncio.shield(reading)
        return copy.copy(operator), prefs

    async def _read(self, key: tuple[str, str]) -> tuple[Operator | None, RecipientPrefs]:
        instance_id, user_id = key
        generation = self._generation.get(instance_id, 0)
        try:
            operator = await find_operator(instance_id, user_id)
            prefs = await load_prefs(operator)
        finally:
            if self._renewing.get(key) is asyncio.current_task():  # forget() may have let it go
                del self._renewing[key]
        if self._generation.get(instance_id, 0) == generation:
            self._entries.pop(key, None)
            if len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (time.monotonic(), operator, prefs)
        return operator, prefs

    def forget(self, instance_id: str, user_ids: list[str] | None = None) -> None:
        self._generation[instance_id] = self._generation.get(instance_id, 0) + 1
        if user_ids is None:
            for key in [k for k in self._entries if k[0] == instance_id]:
                del self._entries[key]
        else:
            for user_id in user_ids:
                self._entries.pop((instance_id, user_id), None)
        # Reads begun before the change are not waited for by later requests.
        for key in [k for k in self._renewing if k[0] == instance_id and (user_ids is None or k[1] in user_ids)]:
            del self._renewing[key]

    async def changed(self, broker: Broker, instance_id: str, user_ids: list[str] | None = None) -> None:
        """After a write: this process forgets now, the others when told."""
        self.forget(instance_id, user_ids)
        await broker.publish(VIEWERS_TOPIC, {"instance": instance_id, "users": user_ids})

    async def listen_for_changes(self, broker: Broker) -> None:
        """Run for the life of the process: forget what other processes announce as changed."""
        async with broker.subscribe(VIEWERS_TOPIC) as changes:
            async for change in changes:
                instance_id, users = change.get("instance"), change.get("users")
                if isinstance(instance_id, str) and (users is None or isinstance(users, list)):
                    self.forget(instance_id, [u for u in users if isinstance(u, str)] if users is not None else None)
                elif change == RESYNC:  # the broker lost messages: any entry may be stale
                    for known in {k[0] for k in self._entries}:
                        self.forget(known)
