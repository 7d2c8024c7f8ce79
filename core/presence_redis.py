"""Presence across processes: Redis keys that expire (redis.asyncio from redis-py).

Per user two keys, written by whichever API process serves their tabs::

    nc:presence:<len(instance)>:<instance>:<user>:c   sorted set: connection -> lapses at (epoch s)
    nc:presence:<len(instance)>:<instance>:<user>:a   hash: t = last activity (epoch s), h = 1 if hidden

A connection counts while its score is in the future: a process that dies without closing its
connections stops refreshing them, and they lapse after NC_PRESENCE_TTL_SECONDS; the keys themselves
expire too (the connections' a TTL after the last write, the activity once it can no longer matter),
so Redis holds only the users seen lately. The time is each process's clock: processes whose clocks
differ by seconds see a lapse that many seconds apart. When Redis does not answer, a user reads as
absent (external channels then go out as if nobody were watching) and the failure is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.presence import ABSENT, HeldPanels, PanelPresence, when

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Users per pipeline when refreshing the connections this process holds.
REFRESH_CHUNK = 1_000

# KEYS: connections, activity; ARGV: connection, now, lapses at, TTL ms, keep ms. A connection new
# to the set counts as activity; one already there is only refreshed. Returns 1 when it was new.
OPEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local added = redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if added == 1 then
  redis.call('HSET', KEYS[2], 't', ARGV[2], 'h', '0')
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return added
"""


class RedisPresence(HeldPanels):
    def __init__(
        self,
        url: str,
        ttl_seconds: float,
        idle_seconds: float,
        *,
        prefix: str = "nc:",
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(ttl_seconds, idle_seconds, clock or time.time)
        self._prefix = f"{prefix}presence:"
        self._redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._open = self._redis.register_script(OPEN)
        self._ttl_ms = max(1, round(ttl_seconds * 1000))
        self._keep_ms = max(1, round(self.keep_seconds * 1000))
        #: Commands that failed, for /metrics and the logs.
        self.errors = 0

    def _keys(self, instance_id: str, user_id: str) -> tuple[str, str]:
        # The instance's length first: "a:b" + "c" and "a" + "b:c" are different users.
        base = f"{self._prefix}{len(instance_id)}:{instance_id}:{user_id}"
        return base + ":c", base + ":a"

    async def _try(self, what: str, command: Callable[[], Awaitable[T]], fallback: T) -> T:
        # The first command after a Redis restart meets a stale pooled connection: once more.
        for attempt in (1, 2):
            try:
                return await command()
            except (RedisError, OSError) as exc:
                self.errors += 1
                if attempt == 2:
                    log.warning("Redis presence %s failed (%s)", what, type(exc).__name__)
        return fallback

    async def panel_opened(self, instance_id: str, user_id: str, connection: str) -> None:
        moment = self.clock()
        connections, activity = self._keys(instance_id, user_id)
        args: list[str | int] = [connection, repr(moment), repr(moment + self.ttl_seconds), self._ttl_ms, self._keep_ms]

        async def run() -> None:
            await self._open(keys=[connections, activity], args=args)

        await self._try("panel_opened", run, None)

    async def panel_closed(self, instance_id: str, user_id: str, connection: str) -> None:
        connections, _ = self._keys(instance_id, user_id)

        async def run() -> None:
            await self._redis.zrem(connections, connection)

        await self._try("panel_closed", run, None)

    async def refresh(self, held: list[tuple[str, tuple[str, str]]]) -> None:
        by_user: dict[tuple[str, str], list[str]] = {}
        for connection, key in held:
            by_user.setdefault(key, []).append(connection)
        lapses = self.clock() + self.ttl_seconds
        users = list(by_user.items())
        for start in range(0, len(users), REFRESH_CHUNK):
            chunk = users[start : start + REFRESH_CHUNK]

            async def run(chunk: list[tuple[tuple[str, str], list[str]]] = chunk) -> None:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for (instance_id, user_id), mine in chunk:
                        connections, activity = self._keys(instance_id, user_id)
                        # XX: a connection closed meanwhile is not brought back.
                        pipe.zadd(connections, dict.fromkeys(mine, lapses), xx=True)
                        pipe.pexpire(connections, self._ttl_ms)
                        pipe.pexpire(activity, self._keep_ms)
                    await pipe.execute()

            await self._try("refresh", run, None)

    async def report_activity(self, instance_id: str, user_id: str, active: bool) -> None:
        _, activity = self._keys(instance_id, user_id)
        moment = repr(self.clock())

        async def run() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                if active:
                    pipe.hset(activity, mapping={"t": moment, "h": "0"})
                else:
                    pipe.hset(activity, "h", "1")
                pipe.pexpire(activity, self._keep_ms)
                await pipe.execute()

        await self._try("report_activity", run, None)

    async def _read(self, instance_id: str, user_ids: list[str]) -> list[tuple[bool, float | None, bool]]:
        """Per user, in one round trip: (a connection open, last activity, hidden)."""
        moment = self.clock()

        async def run() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in user_ids:
                    connections, activity = self._keys(instance_id, user_id)
                    pipe.zcount(connections, f"({moment!r}", "+inf")
                    pipe.hmget(activity, ["t", "h"])
                return list(await pipe.execute())

        replies: list[Any] = await self._try("read", run, [])
        if not replies:
            return [(False, None, False)] * len(user_ids)
        read = []
        for index in range(len(user_ids)):
            count, (last, hidden) = replies[2 * index], replies[2 * index + 1]
            read.append((count > 0, float(last) if last is not None else None, hidden == b"1"))
        return read

    def _active(self, panel_open: bool, last: float | None, hidden: bool, moment: float) -> bool:
        return panel_open and not hidden and last is not None and moment - last <= self.idle_seconds

    async def active_users(self, instance_id: str, user_ids: Collection[str]) -> set[str]:
        wanted = list(user_ids)
        if not wanted:
            return set()
        moment = self.clock()
        read = await self._read(instance_id, wanted)
        return {user_id for user_id, row in zip(wanted, read, strict=True) if self._active(*row, moment)}

    async def state(self, instance_id: str, user_id: str) -> PanelPresence:
        [(panel_open, last, hidden)] = await self._read(instance_id, [user_id])
        if not panel_open and last is None:
            return ABSENT
        return PanelPresence(
            panel_open=panel_open,
            active=self._active(panel_open, last, hidden, self.clock()),
            last_activity_at=when(last),
        )

    async def ping(self) -> bool:
        return await self._try("ping", lambda: self._redis.ping(), False)

    async def close(self) -> None:
        await super().close()
        await self._redis.aclose()
