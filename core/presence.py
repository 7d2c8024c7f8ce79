"""Operators' presence in the panel: whether a user has it open, and is active in it.

    Presence                the interface
     ├── LocalPresence      one process (the embedded default): a dict
     └── RedisPresence      many processes (core/presence_redis.py): Redis keys that expire

A *tab* is one page load of the panel: the page makes up an id for it (``tab`` in the graphql-ws
connectionParams and in reportPanelActivity; clients that send none share the tab ``""``). A
*connection* is one live ``bell`` or ``toasts`` subscription of a tab: ``hold`` opens it for as long
as the subscription runs and refreshes it every third of NC_PRESENCE_TTL_SECONDS; one that is never
closed (its process died) lapses after the TTL.

Each tab has its own last activity and hidden flag. A user is *active* while at least one of their
tabs has an open connection, is not hidden, and had activity at most NC_PRESENCE_IDLE_SECONDS ago.
The first connection of a tab never seen counts as activity (a page just loaded); any later one (a
WebSocket that reconnected after a deploy or a network blip) neither counts as activity nor clears
the hidden flag. ``report_activity(False)`` (the page went hidden) makes that tab inactive at once,
until its next active report. A tab's state is kept while it has an open connection and
max(TTL, idle time) after its last write, then forgotten; a user has at most ``max_tabs`` tabs
(the oldest goes first). Nothing here is durable: a restart of the embedded process forgets it all,
and its panels open again on reconnect (as new tabs to it).
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


class PresenceUnavailable(Exception):
    """The presence store could not be read (Redis down or not answering): who is active is unknown."""


#: Tabs one user may have at once unless told otherwise (NC_LIMIT_WEBSOCKETS_PER_USER's default).
MAX_TABS = 16


class Presence(Protocol):
    async def panel_opened(self, instance_id: str, user_id: str, connection: str, tab: str = "") -> None:
        """Open ``connection`` of ``tab`` (or refresh it: it lapses a TTL after the last call). The
        first connection of a tab never seen counts as activity; nothing else here does, and a
        hidden tab stays hidden."""
        ...

    async def panel_closed(self, instance_id: str, user_id: str, connection: str, tab: str = "") -> None: ...

    async def report_activity(self, instance_id: str, user_id: str, active: bool, tab: str = "") -> None:
        """The page of ``tab`` saw input (``True``: that tab is active from now), or went hidden
        (``False``: that tab is inactive at once, until its next ``True``)."""
        ...

    async def active_users(self, instance_id: str, user_ids: Collection[str]) -> set[str]:
        """Those of ``user_ids`` with a tab that is open, not hidden and recently active (one Redis
        round trip)."""
        ...

    async def state(self, instance_id: str, user_id: str) -> PanelPresence:
        """The user's presence over all their tabs (the last activity: the latest of any tab)."""
        ...

    def hold(self, instance_id: str, user_id: str, tab: str = "") -> AbstractAsyncContextManager[str]:
        """A panel connection of ``tab`` open (and refreshed) while the block runs, closed when it ends."""
        ...

    async def close(self) -> None: ...


def when(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


#: Whose a held connection is: (instance id, user id, tab).
Owner = tuple[str, str, str]


class HeldPanels:
    """The connections this process holds, refreshed together by one task every TTL/3 (one
    batch, not a timer per subscription: 10,000 idle subscriptions cost one dict entry each)."""

    def __init__(
        self,
        ttl_seconds: float,
        idle_seconds: float,
        clock: Callable[[], float] = time.time,
        max_tabs: int = MAX_TABS,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.idle_seconds = idle_seconds
        #: How long a tab's state is remembered after it was last written (or its connection refreshed).
        self.keep_seconds = max(ttl_seconds, idle_seconds)
        self.clock = clock
        self.max_tabs = max(1, max_tabs)
        self._held: dict[str, Owner] = {}
        self._refresher: asyncio.Task[None] | None = None

    async def panel_opened(self, instance_id: str, user_id: str, connection: str, tab: str = "") -> None:
        raise NotImplementedError

    async def panel_closed(self, instance_id: str, user_id: str, connection: str, tab: str = "") -> None:
        raise NotImplementedError

    async def refresh(self, held: list[tuple[str, Owner]]) -> None:
        """Extend the lease of these open ``(connection, (instance_id, user_id, tab))``."""
        raise NotImplementedError

    def hold(self, instance_id: str, user_id: str, tab: str = "") -> Held:
        return Held(self, (instance_id, user_id, tab))

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

    __slots__ = ("_panels", "_owner", "connection")

    def __init__(self, panels: HeldPanels, owner: Owner) -> None:
        self._panels = panels
        self._owner = owner  # one tuple, shared with the held-connections map
        self.connection = secrets.token_hex(8)

    async def __aenter__(self) -> str:
        panels = self._panels
        instance_id, user_id, tab = self._owner
        panels._held[self.connection] = self._owner
        try:
            await panels.panel_opened(instance_id, user_id, self.connection, tab)
        except BaseException:
            panels._held.pop(self.connection, None)
            raise  # cut short while opening: should it have been written, it lapses after the TTL
        panels._start_refresher()
        return self.connection

    async def __aexit__(self, *exc_info: object) -> None:
        self._panels._held.pop(self.connection, None)
        instance_id, user_id, tab = self._owner
        # Also on cancellation; should this await be cut short, the connection lapses by itself.
        await self._panels.panel_closed(instance_id, user_id, self.connection, tab)


@dataclass(slots=True)
class _Tab:
    #: Open connections and when each lapses (epoch seconds).
    connections: dict[str, float] = field(default_factory=dict)
    last_activity: float | None = None
    hidden: bool = False
    #: When the tab may be forgotten once no connection of it is open.
    kept_until: float = 0.0

    def open(self, moment: float) -> bool:
        return any(lapses > moment for lapses in self.connections.values())

    def live(self, moment: float) -> bool:
        return self.kept_until > moment or self.open(moment)


class LocalPresence(HeldPanels):
    """Presence in this process's memory. Expired tabs and users are swept at most once per TTL,
    so memory follows the users seen in the last few minutes (each with at most ``max_tabs`` tabs)."""

    def __init__(
        self,
        ttl_seconds: float,
        idle_seconds: float,
        clock: Callable[[], float] = time.time,
        max_tabs: int = MAX_TABS,
    ) -> None:
        super().__init__(ttl_seconds, idle_seconds, clock, max_tabs)
        #: Per user, their tabs by id.
        self._entries: dict[tuple[str, str], dict[str, _Tab]] = {}
        self._swept_at = clock()

    def __len__(self) -> int:
        return len(self._entries)

    async def tabs(self, instance_id: str, user_id: str) -> int:
        """How many tabs of the user are remembered now (at most ``max_tabs``)."""
        moment = self.clock()
        return sum(1 for tab in self._entries.get((instance_id, user_id), {}).values() if tab.live(moment))

    def _tab(self, instance_id: str, user_id: str, tab_id: str, moment: float) -> tuple[_Tab, bool]:
        """The tab's state, kept for ``keep_seconds`` from now, and whether it is new (never seen,
        or forgotten). A new tab beyond ``max_tabs`` pushes out the user's oldest."""
        self._sweep(moment)
        tabs = self._entries.setdefault((instance_id, user_id), {})
        tab = tabs.get(tab_id)
        new = tab is None or not tab.live(moment)
        if tab is None or new:
            tabs.pop(tab_id, None)
            for stale in [key for key, other in tabs.items() if not other.live(moment)]:
                del tabs[stale]
            while len(tabs) >= self.max_tabs:
                del tabs[min(tabs, key=lambda key: tabs[key].kept_until)]
            tab = tabs[tab_id] = _Tab()
        tab.kept_until = max(tab.kept_until, moment + self.keep_seconds)
        return tab, new

    def _sweep(self, moment: float) -> None:
        if moment - self._swept_at < self.ttl_seconds:
            return
        self._swept_at = moment
        for key, tabs in list(self._entries.items()):
            for tab_id, tab in list(tabs.items()):
                for connection, lapses in list(tab.connections.items()):
                    if lapses <= moment:
                        del tab.connections[connection]
                if not tab.connections and tab.kept_until <= moment:
                    del tabs[tab_id]
            if not tabs:
                del self._entries[key]

    def _live_tabs(self, instance_id: str, user_id: str, moment: float) -> list[_Tab]:
        return [tab for tab in self._entries.get((instance_id, user_id), {}).values() if tab.live(moment)]

    def _active(self, tab: _Tab, moment: float) -> bool:
        return (
            not tab.hidden
            and tab.last_activity is not None
            and moment - tab.last_activity <= self.idle_seconds
            and tab.open(moment)
        )

    async def panel_opened(self, instance_id: str, user_id: str, connection: str, tab: str = "") -> None:
        moment = self.clock()
        state, new = self._tab(instance_id, user_id, tab, moment)
        if new:  # a page just loaded
            state.last_activity, state.hidden = moment, False
        state.connections[connection] = moment + self.ttl_seconds

    async def panel_closed(self, instance_id: str, user_id: str, connection: str, tab: str = "") -> None:
        state = self._entries.get((instance_id, user_id), {}).get(tab)
        if state is not None and state.connections.pop(connection, None) is not None:
            # Remembered (hidden or not) for a reconnect of the same page.
            state.kept_until = max(state.kept_until, self.clock() + self.keep_seconds)

    async def refresh(self, held: list[tuple[str, Owner]]) -> None:
        moment = self.clock()
        self._sweep(moment)
        for connection, (instance_id, user_id, tab) in held:
            state = self._entries.get((instance_id, user_id), {}).get(tab)
            if state is not None and connection in state.connections:
                state.connections[connection] = moment + self.ttl_seconds
                state.kept_until = max(state.kept_until, moment + self.keep_seconds)

    async def report_activity(self, instance_id: str, user_id: str, active: bool, tab: str = "") -> None:
        moment = self.clock()
        state, _ = self._tab(instance_id, user_id, tab, moment)
        if active:
            state.last_activity, state.hidden = moment, False
        else:
            state.hidden = True

    async def active_users(self, instance_id: str, user_ids: Collection[str]) -> set[str]:
        moment = self.clock()
        entries = self._entries
        found = set()
        for user_id in user_ids:
            tabs = entries.get((instance_id, user_id))
            if tabs and any(self._active(tab, moment) for tab in tabs.values()):
                found.add(user_id)
        return found

    async def state(self, instance_id: str, user_id: str) -> PanelPresence:
        moment = self.clock()
        tabs = self._live_tabs(instance_id, user_id, moment)
        if not tabs:
            return ABSENT
        times = [tab.last_activity for tab in tabs if tab.last_activity is not None]
        return PanelPresence(
            panel_open=any(tab.open(moment) for tab in tabs),
            active=any(self._active(tab, moment) for tab in tabs),
            last_activity_at=when(max(times) if times else None),
        )

    async def close(self) -> None:
        await super().close()
        self._entries.clear()


def build_presence(settings: Settings) -> Presence:
    """In Redis when NC_REDIS_URL is set (every API process sees it), else in this process; at most
    NC_LIMIT_WEBSOCKETS_PER_USER tabs per user."""
    # As many tabs as the user may hold WebSockets: each live tab holds one.
    tabs = settings.limits.websockets_per_user
    if settings.redis_url:
        from core.presence_redis import RedisPresence

        return RedisPresence(
            settings.redis_url, settings.presence_ttl_seconds, settings.presence_idle_seconds, max_tabs=tabs
        )
    return LocalPresence(settings.presence_ttl_seconds, settings.presence_idle_seconds, max_tabs=tabs)
