"""Presence across processes: Redis keys that expire (redis.asyncio from redis-py).

Per user three keys, written by whichever API process serves their tabs::

    nc:presence:<len(instance)>:<instance>:<user>:c   sorted set: "<tab>/<connection>" -> lapses at (epoch s)
    nc:presence:<len(instance)>:<instance>:<user>:a   hash: tab -> "<last activity (epoch s) or empty>|<1 if hidden>"
    nc:presence:<len(instance)>:<instance>:<user>:k   sorted set: tab -> kept until (epoch s)

A connection counts while its score is in the future: a process that dies without closing its
connections stops refreshing them, and they lapse after NC_PRESENCE_TTL_SECONDS. A tab is forgotten
(at the user's next write) once it has no open connection and its keep time is over; a new tab
beyond the cap drops the user's oldest, connections and all. The keys themselves expire too (the
connections a TTL after the last write, the tabs once they can no longer matter), so Redis holds only
the users seen lately. The time is each process's clock: processes whose clocks differ by seconds
see a lapse that many seconds apart. When Redis does not answer, a user reads as absent (external
channels then go out as if nobody were watching) and the failure is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from redis.exceptions import RedisError

from core.presence import ABSENT, MAX_TABS, HeldPanels, Owner, PanelPresence, PresenceUnavailable, when
from core.redis_pool import redis_client

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Users per pipeline when refreshing the connections this process holds.
REFRESH_CHUNK = 1_000

# Both scripts: KEYS connections, tabs' state, tabs' keep times. ``touch`` drops lapsed connections
# and forgotten tabs, makes room for a new tab (dropping the oldest, with its connections), keeps
# ``tab`` until ``kept`` and answers whether it was new (never seen, or forgotten).
TOUCH = """
local function touch(c, a, k, tab, now, kept, cap)
  redis.call('ZREMRANGEBYSCORE', c, '-inf', now)
  local open = {}
  for _, member in ipairs(redis.call('ZRANGE', c, 0, -1)) do
    open[string.match(member, '^(.*)/[^/]*$')] = true
  end
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', k, '-inf', now)) do
    if not open[old] then
      redis.call('HDEL', a, old)
      redis.call('ZREM', k, old)
    end
  end
  local new = redis.call('HEXISTS', a, tab) == 0
  if new then
    redis.call('ZREM', k, tab)
    local extra = redis.call('ZCARD', k) - cap + 1
    if extra > 0 then
      for _, old in ipairs(redis.call('ZRANGE', k, 0, extra - 1)) do
        redis.call('HDEL', a, old)
        redis.call('ZREM', k, old)
        for _, member in ipairs(redis.call('ZRANGE', c, 0, -1)) do
          if string.sub(member, 1, #old + 1) == old .. '/' then
            redis.call('ZREM', c, member)
          end
        end
      end
    end
  end
  redis.call('ZADD', k, kept, tab)
  return new
end
"""

# ARGV: tab, member, now, lapses at, TTL ms, keep ms, kept until, cap. The first connection of a
# new tab counts as activity; any other connection is only added (a hidden tab stays hidden).
OPEN = (
    TOUCH
    + """
local new = touch(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[3], ARGV[7], tonumber(ARGV[8]))
if new then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. '|0')
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return new and 1 or 0
"""
)

# ARGV: tab, now, "1" active or "0" hidden, kept until, keep ms, cap.
REPORT = (
    TOUCH
    + """
touch(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[4], tonumber(ARGV[6]))
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|0')
else
  local old = redis.call('HGET', KEYS[2], ARGV[1])
  local last = old and string.match(old, '^([^|]*)') or ''
  redis.call('HSET', KEYS[2], ARGV[1], last .. '|1')
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return 1
"""
)


def _member(tab: str, connection: str) -> str:
    return f"{tab}/{connection}"


class RedisPresence(HeldPanels):
    def __init__(
        self,
        url: str,
        ttl_seconds: float,
        idle_seconds: float,
        *,
        prefix: str = "nc:",
        clock: Callable[[], float] | None = None,
        max_tabs: int = MAX_TABS,
    ) -> None:
        super().__init__(ttl_seconds, idle_seconds, clock or time.time, max_tabs)
        self._prefix = f"{prefix}presence:"
        self._redis = redis_client(url, socket_connect_timeout=2, socket_timeout=5)
        self._open = self._redis.register_script(OPEN)
        self._report = self._redis.register_script(REPORT)
        self._ttl_ms = max(1, round(ttl_seconds * 1000))
        self._keep_ms = max(1, round(self.keep_seconds * 1000))
        #: Commands that failed, for /metrics and the logs.
        self.errors = 0

    def _keys(self, instance_id: str, user_id: str) -> tuple[str, str, str]:
        # The instance's length first: "a:b" + "c" and "a" + "b:c" are different users.
        base = f"{self._prefix}{len(instance_id)}:{instance_id}:{user_id}"
        return base + ":c", base + ":a", base + ":k"

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

    async def panel_opened(self, instance_id: str, user_id: str, connection: str, tab: str = "") -> None:
        moment = self.clock()
        keys = list(self._keys(instance_id, user_id))
        args: list[str | int] = [
            tab,
            _member(tab, connection),
            repr(moment),
            repr(moment + self.ttl_seconds),
            self._ttl_ms,
            self._keep_ms,
            repr(moment + self.keep_seconds),
            self.max_tabs,
        ]

        async def run() -> None:
            await self._open(keys=keys, args=args)

        await self._try("panel_opened", run, None)

    async def panel_closed(self, instance_id: str, user_id: str, connection: str, tab: str = "") -> None:
        connections, activity, kept = self._keys(instance_id, user_id)
        until = self.clock() + self.keep_seconds

        async def run() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(connections, _member(tab, connection))
                # The tab (hidden or not) is remembered for a reconnect of the same page.
                pipe.zadd(kept, {tab: until}, xx=True)
                pipe.pexpire(activity, self._keep_ms)
                pipe.pexpire(kept, self._keep_ms)
                await pipe.execute()

        await self._try("panel_closed", run, None)

    async def refresh(self, held: list[tuple[str, Owner]]) -> None:
        by_user: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for connection, (instance_id, user_id, tab) in held:
            by_user.setdefault((instance_id, user_id), []).append((tab, connection))
        moment = self.clock()
        lapses, until = moment + self.ttl_seconds, moment + self.keep_seconds
        users = list(by_user.items())
        for start in range(0, len(users), REFRESH_CHUNK):
            chunk = users[start : start + REFRESH_CHUNK]

            async def run(chunk: list[tuple[tuple[str, str], list[tuple[str, str]]]] = chunk) -> None:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for (instance_id, user_id), mine in chunk:
                        connections, activity, kept = self._keys(instance_id, user_id)
                        # XX: a connection closed (or a tab dropped) meanwhile is not brought back.
                        pipe.zadd(connections, {_member(tab, c): lapses for tab, c in mine}, xx=True)
                        pipe.zadd(kept, dict.fromkeys({tab for tab, _ in mine}, until), xx=True)
                        pipe.pexpire(connections, self._ttl_ms)
                        pipe.pexpire(activity, self._keep_ms)
                        pipe.pexpire(kept, self._keep_ms)
                    await pipe.execute()

            await self._try("refresh", run, None)

    async def report_activity(self, instance_id: str, user_id: str, active: bool, tab: str = "") -> None:
        moment = self.clock()
        keys = list(self._keys(instance_id, user_id))
        args: list[str | int] = [
            tab,
            repr(moment),
            "1" if active else "0",
            repr(moment + self.keep_seconds),
            self._keep_ms,
            self.max_tabs,
        ]

        async def run() -> None:
            await self._report(keys=keys, args=args)

        await self._try("report_activity", run, None)

    async def _read(
        self, instance_id: str, user_ids: list[str], *, strict: bool = False
    ) -> list[tuple[bool, bool, float | None]]:
        """Per user, in one round trip: (a connection open, active, last activity of any tab)."""
        moment = self.clock()

        async def run() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in user_ids:
                    connections, activity, _ = self._keys(instance_id, user_id)
                    pipe.zrangebyscore(connections, f"({moment!r}", "+inf")
                    pipe.hgetall(activity)
                return list(await pipe.execute())

        replies: list[Any] = await self._try("read", run, [])
        if not replies:
            if strict:
                raise PresenceUnavailable("Redis did not answer the presence read")
            return [(False, False, None)] * len(user_ids)
        read = []
        for index in range(len(user_ids)):
            members, tabs = replies[2 * index], replies[2 * index + 1]
            open_tabs = {member.rpartition(b"/")[0] for member in members}
            active, latest = False, None
            for tab, value in tabs.items():
                last_text, _, hidden = value.partition(b"|")
                last = float(last_text) if last_text else None
                if last is not None:
                    latest = last if latest is None else max(latest, last)
                    if hidden != b"1" and tab in open_tabs and moment - last <= self.idle_seconds:
                        active = True
            read.append((bool(open_tabs), active, latest))
        return read

    async def active_users(self, instance_id: str, user_ids: Collection[str]) -> set[str]:
        """Raises PresenceUnavailable when Redis cannot be read: routing then waits instead of
        taking everybody for away (domain.routing.away_of)."""
        wanted = list(user_ids)
        if not wanted:
            return set()
        read = await self._read(instance_id, wanted, strict=True)
        return {user_id for user_id, (_, active, _) in zip(wanted, read, strict=True) if active}

    async def state(self, instance_id: str, user_id: str) -> PanelPresence:
        [(panel_open, active, last)] = await self._read(instance_id, [user_id])
        if not panel_open and last is None:
            return ABSENT
        return PanelPresence(panel_open=panel_open, active=active, last_activity_at=when(last))

    async def tabs(self, instance_id: str, user_id: str) -> int:
        """How many tabs of the user Redis holds (at most ``max_tabs``; forgotten ones go at the next write)."""
        _, activity, _ = self._keys(instance_id, user_id)
        return await self._try("tabs", lambda: self._redis.hlen(activity), 0)

    async def ping(self) -> bool:
        return await self._try("ping", lambda: self._redis.ping(), False)

    async def close(self) -> None:
        await super().close()
        await self._redis.aclose()
