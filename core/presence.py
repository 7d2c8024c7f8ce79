"""Operators' presence in the panel: whether a user has it open, and is active in it.

    Presence                the interface
     ├── LocalPresence      one process (the embedded default): a dict
     └── RedisPresence      many processes (core/presence_redis.py): Redis keys that expire

A *connection* is one live ``bell`` or ``toasts`` subscription of the user (each tab holds its own):
``hold`` opens it for as long as the subscription runs and refreshes it every third of
NC_PRESENCE_TTL_SECONDS; one that is never closed (its process died) lapses after the TTL. A user
is *active* while at least one connection is open and their last activity is at most
NC_PRESENCE_IDLE_SECONDS old. Opening a connection counts as activity; ``report_activity(False)``
(the page went hidden) makes them inactive at once, until the next active report. Nothing here is
durable: a restart of the embedded process forgets it all, and its panels open again on reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PanelPresence:
    """One user's presence: a panel connection open, active now, and their last activity (UTC)."""

    panel_open: bool
    active: bool
    last_activity_at: datetime | None


ABSENT = PanelPresence(panel_open=False, active=False, last_activity_at=None)


class Presence(Protocol):
    async def panel_opened(self, instance_id: str, user_id: str, connection: str) -> None:
        """Open ``connection`` (or refresh it: it lapses a TTL after the last call). A connection
        new to the user counts as activity; a refresh does not."""
        ...

    async def panel_closed(self, instance_id: str, user_id: str, connection: str) -> None: ...

    async def report_activity(self, instance_id: str, user_id: str, active: bool) -> None:
        """The page saw input (``True``: active from now), or went hidden (``False``: inactive
        at once, until the next ``True``)."""
        ...

    async def active_users(self, instance_id: str, user_ids: Collection[str]) -> set[str]:
        """Those of ``user_ids`` with an open panel who are active in it (one Redis round trip)."""
        ...

    async def state(self, instance_id: str, user_id: str) -> PanelPresence: ...

    def hold(self, instance_id: str, user_id: str) -> AbstractAsyncContextManager[str]:
        """A panel connection open (and refreshed) while the block runs, closed when it ends."""
        ...

    async def close(self) -> None: ...


def when(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


class HeldPanels:
    """The connections this process holds, refreshed together by one task every TTL/3 (one
    batch, not a timer per subscription: 10,000 idle subscriptions cost one dict entry each)."""

    def __init__(self, ttl_seconds: float, idle_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl_seconds = ttl_seconds
        self.idle_seconds = idle_seconds
        #: How long a user's activity is remembered after it was last written or refreshed.
        self.keep_seconds = max(ttl_seconds, idle_seconds)
        self.clock = clock
        self._held: dict[str, tuple[str, str]] = {}
        self._refresher: asyncio.Task[None] | None = None

    async def panel_opened(self, instance_id: str, user_id: str, connection: str) -> None:
        raise NotImplementedError

    async def panel_closed(self, instance_id: str, user_id: str, connection: str) -> None:
        raise NotImplementedError

    async def refresh(self, held: list[tuple[str, tuple[str, str]]]) -> None:
        """Extend the lease of these open ``(connection, (instance_id, user_id))``."""
        raise NotImplementedError

    def hold(self, instance_id: str, user_id: str) -> Held:
        return Held(self, instance_id, user_id)

    def _start_refresher(self) -> None:
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_held(), name="nc-presence-refresher")

    async def _refresh_held(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_seconds / 3)
            if not self._held:
                continue
            try:
                await self.refresh(list(self._held.items()))
            except Exception:  # the next round tries again; a lapse only shows the user absent
                log.exception("refreshing %d panel connections failed", len(self._held))

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None


class Held:
    """One panel connection held open for a ``async with`` block (a slotted object, not a
    generator-based context manager: every live subscription keeps one)."""

    __slots__ = ("_panels", "_instance_id", "_user_id", "connection")

    def __init__(self, panels: HeldPanels, instance_id: str, user_id: str) -> None:
        self._panels = panels
        self._instance_id = instance_id
        self._user_id = user_id
        self.connection = secrets.token_hex(8)

    async def __aenter__(self) -> str:
        panels = self._panels
        panels._held[self.connection] = (self._instance_id, self._user_id)
        try:
            await panels.panel_opened(self._instance_id, self._user_id, self.connection)
        except BaseException:
            panels._held.pop(self.connection, None)
            raise  # cut short while opening: should it have been written, it lapses after the TTL
        panels._start_refresher()
        return self.connection

    async def __aexit__(self, *exc_info: object) -> None:
        self._panels._held.pop(self.connection, None)
        # Also on cancellation; should this await be cut short, the connection lapses by itself.
        await self._panels.panel_closed(self._instance_id, self._user_id, self.connection)


@dataclass(slots=True)
class _Entry:
    #: Open connections and when each lapses (epoch seconds).
    connections: dict[str, float] = field(default_factory=dict)
    last_activity: float | None = None
    hidden: bool = False
    #: When the entry may be forgotten once no connection is open.
    kept_until: float = 0.0


class LocalPresence(HeldPanels):
    """Presence in this process's memory. Expired entries are swept at most once per TTL, so
    memory follows the users seen in the last few minutes."""

    def __init__(self, ttl_seconds: float, idle_seconds: float, clock: Callable[[], float] = time.time) -> None:
        super().__init__(ttl_seconds, idle_seconds, clock)
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._swept_at = clock()

    def __len__(self) -> int:
        return len(self._entries)

    def _entry(self, instance_id: str, user_id: str, moment: float) -> _Entry:
        self._sweep(moment)
        entry = self._entries.get((instance_id, user_id))
        if entry is None:
            entry = self._entries[instance_id, user_id] = _Entry()
        entry.kept_until = max(entry.kept_until, moment + self.keep_seconds)
        return entry

    def _sweep(self, moment: float) -> None:
        if moment - self._swept_at < self.ttl_seconds:
            return
        self._swept_at = moment
        for key, entry in list(self._entries.items()):
            for connection, lapses in list(entry.connections.items()):
                if lapses <= moment:
                    del entry.connections[connection]
            if not entry.connections and entry.kept_until <= moment:
                del self._entries[key]

    def _live(self, instance_id: str, user_id: str, moment: float) -> _Entry | None:
        entry = self._entries.get((instance_id, user_id))
        if entry is None or (entry.kept_until <= moment and not self._open(entry, moment)):
            return None
        return entry

    @staticmethod
    def _open(entry: _Entry, moment: float) -> bool:
        return any(lapses > moment for lapses in entry.connections.values())

    def _active(self, entry: _Entry, moment: float) -> bool:
        return (
            not entry.hidden
            and entry.last_activity is not None
            and moment - entry.last_activity <= self.idle_seconds
            and self._open(entry, moment)
        )

    async def panel_opened(self, instance_id: str, user_id: str, connection: str) -> None:
        moment = self.clock()
        entry = self._entry(instance_id, user_id, moment)
        if connection not in entry.connections:
            entry.last_activity, entry.hidden = moment, False
        entry.connections[connection] = moment + self.ttl_seconds

    async def panel_closed(self, instance_id: str, user_id: str, connection: str) -> None:
        entry = self._entries.get((instance_id, user_id))
        if entry is not None:
            entry.connections.pop(connection, None)

    async def refresh(self, held: list[tuple[str, tuple[str, str]]]) -> None:
        moment = self.clock()
        self._sweep(moment)
        for connection, key in held:
            entry = self._entries.get(key)
            if entry is not None and connection in entry.connections:
                entry.connections[connection] = moment + self.ttl_seconds
                entry.kept_until = max(entry.kept_until, moment + self.keep_seconds)

    async def report_activity(self, instance_id: str, user_id: str, active: bool) -> None:
        moment = self.clock()
        entry = self._entry(instance_id, user_id, moment)
        if active:
            entry.last_activity, entry.hidden = moment, False
        else:
            entry.hidden = True

    async def active_users(self, instance_id: str, user_ids: Collection[str]) -> set[str]:
        moment = self.clock()
        entries = self._entries
        found = set()
        for user_id in user_ids:
            entry = entries.get((instance_id, user_id))
            if entry is not None and self._active(entry, moment):
                found.add(user_id)
        return found

    async def state(self, instance_id: str, user_id: str) -> PanelPresence:
        moment = self.clock()
        entry = self._live(instance_id, user_id, moment)
        if entry is None:
            return ABSENT
        return PanelPresence(
            panel_open=self._open(entry, moment),
            active=self._active(entry, moment),
            last_activity_at=when(entry.last_activity),
        )

    async def close(self) -> None:
        await super().close()
        self._entries.clear()


def build_presence(settings: Settings) -> Presence:
    """In Redis when NC_REDIS_URL is set (every API process sees it), else in this process."""
    if settings.redis_url:
        from core.presence_redis import RedisPresence

        return RedisPresence(settings.redis_url, settings.presence_ttl_seconds, settings.presence_idle_seconds)
    return LocalPresence(settings.presence_ttl_seconds, settings.presence_idle_seconds)
