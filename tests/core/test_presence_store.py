"""Presence's contract, run against both implementations (in-process, and Redis).

Most tests move a clock by hand (presence reads the time it is given); those about expiry in Redis
itself and about the refresher wait in real time with short settings.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from core.presence import LocalPresence, build_presence
from core.settings import Settings
from tests.core.test_broker import REDIS_URL, need_redis, redis_reachable

TTL, IDLE = 90.0, 300.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of the test's own on the shared Redis, whose keys are deleted afterwards."""
    name = f"nc-test-{uuid.uuid4().hex[:8]}:"
    yield name
    if await redis_reachable() is None:
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        try:
            keys = [key async for key in client.scan_iter(match=name + "*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


def _make(
    kind: str, prefix: str, ttl: float, idle: float, clock: Clock | None = None, max_tabs: int = 16
) -> LocalPresence:
    if kind == "memory":
        return LocalPresence(ttl, idle, clock or time.time, max_tabs)
    from core.presence_redis import RedisPresence

    return RedisPresence(REDIS_URL, ttl, idle, prefix=prefix, clock=clock, max_tabs=max_tabs)  # type: ignore[return-value]


@pytest.fixture(params=["memory", "redis"])
async def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        await need_redis()
    return request.param


@pytest.fixture
async def clock() -> Clock:
    return Clock()


@pytest.fixture
async def presence(kind: str, prefix: str, clock: Clock) -> AsyncIterator[LocalPresence]:
    p = _make(kind, prefix, TTL, IDLE, clock)
    yield p
    await p.close()


async def test_opening_a_panel_makes_its_user_active_and_nobody_else(presence, clock) -> None:
    # when alice opens a panel
    await presence.panel_opened("i1", "alice", "c1")
    # then she is present and active, with her activity now; bob is not, nor alice elsewhere
    assert await presence.active_users("i1", ["alice", "bob"]) == {"alice"}
    assert await presence.active_users("i2", ["alice"]) == set()
    state = await presence.state("i1", "alice")
    assert (state.panel_open, state.active) == (True, True)
    assert state.last_activity_at == datetime.fromtimestamp(clock.now, UTC)
    absent = await presence.state("i1", "bob")
    assert (absent.panel_open, absent.active, absent.last_activity_at) == (False, False, None)


async def test_instance_and_user_ids_with_colons_do_not_meet(presence) -> None:
    await presence.panel_opened("a:b", "c", "c1")
    assert await presence.active_users("a", ["b:c"]) == set()
    assert await presence.active_users("a:b", ["c"]) == {"c"}


async def test_a_hidden_page_makes_its_user_inactive_at_once_until_the_next_active_report(presence, clock) -> None:
    # given alice with a panel open
    await presence.panel_opened("i1", "alice", "c1")
    # when the page goes hidden
    await presence.report_activity("i1", "alice", False)
    # then she is inactive although the panel stays open
    state = await presence.state("i1", "alice")
    assert (state.panel_open, state.active) == (True, False)
    assert await presence.active_users("i1", ["alice"]) == set()
    # and a refresh of the connection does not change that
    await presence.panel_opened("i1", "alice", "c1")
    assert await presence.active_users("i1", ["alice"]) == set()
    # until the page reports activity again
    clock.advance(5)
    await presence.report_activity("i1", "alice", True)
    state = await presence.state("i1", "alice")
    assert state.active and state.last_activity_at == datetime.fromtimestamp(clock.now, UTC)


async def test_a_hidden_tab_whose_websocket_reconnects_stays_inactive(presence, clock) -> None:
    # given alice's tab open, then hidden
    await presence.panel_opened("i1", "alice", "c1", tab="t1")
    await presence.report_activity("i1", "alice", False, tab="t1")
    # when its WebSocket drops and reconnects (a deploy, a network blip), or a second one opens
    await presence.panel_closed("i1", "alice", "c1", tab="t1")
    clock.advance(10)
    await presence.panel_opened("i1", "alice", "c2", tab="t1")
    await presence.panel_opened("i1", "alice", "c3", tab="t1")
    # then she is still inactive, with the panel open, and the reconnect is no activity
    state = await presence.state("i1", "alice")
    assert (state.panel_open, state.active) == (True, False)
    assert state.last_activity_at == datetime.fromtimestamp(clock.now - 10, UTC)
    assert await presence.active_users("i1", ["alice"]) == set()
    # also when the process died and the old connection lapsed before the reconnect
    await presence.panel_closed("i1", "alice", "c2", tab="t1")
    await presence.panel_closed("i1", "alice", "c3", tab="t1")
    clock.advance(TTL)
    await presence.panel_opened("i1", "alice", "c4", tab="t1")
    assert await presence.active_users("i1", ["alice"]) == set()
    # while a page loaded anew (a tab never seen) counts as activity
    await presence.panel_opened("i1", "alice", "c5", tab="t2")
    assert await presence.active_users("i1", ["alice"]) == {"alice"}


async def test_a_hidden_client_without_a_tab_id_stays_inactive_when_it_reconnects(presence, clock) -> None:
    await presence.panel_opened("i1", "alice", "c1")
    await presence.report_activity("i1", "alice", False)
    await presence.panel_closed("i1", "alice", "c1")
    await presence.panel_opened("i1", "alice", "c2")
    assert await presence.active_users("i1", ["alice"]) == set()
    await presence.report_activity("i1", "alice", True)
    assert await presence.active_users("i1", ["alice"]) == {"alice"}


async def test_a_user_is_active_while_one_tab_is_in_use_and_another_hidden(presence, clock) -> None:
    # given two tabs of alice and one of bob
    await presence.panel_opened("i1", "alice", "a1", tab="A")
    await presence.panel_opened("i1", "alice", "b1", tab="B")
    await presence.panel_opened("i1", "bob", "x1", tab="A")
    # when alice's tab B goes hidden, she is still active (tab A is in use)
    await presence.report_activity("i1", "alice", False, tab="B")
    assert await presence.active_users("i1", ["alice", "bob"]) == {"alice", "bob"}
    assert (await presence.state("i1", "alice")).active
    # when tab A goes hidden too, she is not (and bob, whose tab has the same id, still is)
    clock.advance(5)
    await presence.report_activity("i1", "alice", False, tab="A")
    assert await presence.active_users("i1", ["alice", "bob"]) == {"bob"}
    state = await presence.state("i1", "alice")
    assert (state.panel_open, state.active) == (True, False)
    # when B comes back into view, she is active again, with its activity the latest
    clock.advance(5)
    await presence.report_activity("i1", "alice", True, tab="B")
    state = await presence.state("i1", "alice")
    assert state.active and state.last_activity_at == datetime.fromtimestamp(clock.now, UTC)
    # a tab in use whose connections are all closed does not count
    await presence.panel_closed("i1", "alice", "b1", tab="B")
    assert await presence.active_users("i1", ["alice"]) == set()
    # nor does one idle for longer than the idle time
    await presence.panel_opened("i1", "alice", "c1", tab="C")
    assert await presence.active_users("i1", ["alice"]) == {"alice"}
    for _ in range(int(IDLE // 30) + 1):
        clock.advance(30)
        await presence.panel_opened("i1", "alice", "c1", tab="C")  # refreshed by its process
    assert await presence.active_users("i1", ["alice"]) == set()


async def test_a_user_has_at_most_max_tabs_and_the_oldest_goes_first(kind, prefix) -> None:
    clock = Clock()
    presence = _make(kind, prefix, TTL, IDLE, clock, max_tabs=3)
    try:
        # given tab t0 hidden, then three more tabs
        await presence.panel_opened("i1", "alice", "c0", tab="t0")
        await presence.report_activity("i1", "alice", False, tab="t0")
        for n in range(1, 4):
            clock.advance(1)
            await presence.panel_opened("i1", "alice", f"c{n}", tab=f"t{n}")
        # then only three are kept: the oldest, t0, went (its connection with it)
        assert await presence.tabs("i1", "alice") == 3
        await presence.report_activity("i1", "alice", False, tab="t1")
        await presence.report_activity("i1", "alice", False, tab="t2")
        await presence.report_activity("i1", "alice", False, tab="t3")
        assert await presence.active_users("i1", ["alice"]) == set()
        # and a client making up a tab id per report cannot grow it either
        for n in range(100):
            await presence.report_activity("i1", "alice", True, tab=f"spam{n}")
        assert await presence.tabs("i1", "alice") == 3
        assert await presence.tabs("i1", "bob") == 0
    finally:
        await presence.close()


async def test_a_tab_is_forgotten_once_its_connections_are_gone_and_its_time_is_over(presence, clock) -> None:
    # given a hidden tab whose connection closed
    await presence.panel_opened("i1", "alice", "c1", tab="t1")
    await presence.report_activity("i1", "alice", False, tab="t1")
    await presence.panel_closed("i1", "alice", "c1", tab="t1")
    # when max(TTL, idle time) passes with nothing written
    clock.advance(max(TTL, IDLE) + 1)
    await presence.report_activity("i1", "alice", True, tab="other")
    # then the tab is forgotten: only the other is remembered
    assert await presence.tabs("i1", "alice") == 1
    # and an open connection keeps a tab however old its last write (refreshed by its process)
    await presence.panel_opened("i1", "alice", "c2", tab="kept")
    for _ in range(int(max(TTL, IDLE) // 30) + 2):
        clock.advance(30)
        await presence.refresh([("c2", ("i1", "alice", "kept"))])
    await presence.report_activity("i1", "alice", False, tab="kept")
    assert await presence.tabs("i1", "alice") == 1
    state = await presence.state("i1", "alice")
    assert (state.panel_open, state.active) == (True, False)


async def test_a_user_idle_for_longer_than_the_idle_time_is_inactive(presence, clock) -> None:
    # given alice opened a panel and the process keeps refreshing it
    await presence.panel_opened("i1", "alice", "c1")
    for _ in range(int(IDLE // 30) - 1):
        clock.advance(30)
        await presence.panel_opened("i1", "alice", "c1")
    assert await presence.active_users("i1", ["alice"]) == {"alice"}
    # when the idle time passes without activity (refreshes are not activity)
    clock.advance(31)
    await presence.panel_opened("i1", "alice", "c1")
    # then she is inactive, with the panel still open
    state = await presence.state("i1", "alice")
    assert (state.panel_open, state.active) == (True, False)
    # and input makes her active again
    await presence.report_activity("i1", "alice", True)
    assert await presence.active_users("i1", ["alice"]) == {"alice"}


async def test_closing_one_tab_keeps_the_user_present_while_another_is_open(presence, clock) -> None:
    await presence.panel_opened("i1", "alice", "tab1")
    await presence.panel_opened("i1", "alice", "tab2")
    # when one tab closes
    await presence.panel_closed("i1", "alice", "tab1")
    # then she is still present
    assert await presence.active_users("i1", ["alice"]) == {"alice"}
    # when the last one closes
    await presence.panel_closed("i1", "alice", "tab2")
    # then she is not, and her last activity is still known
    state = await presence.state("i1", "alice")
    assert (state.panel_open, state.active) == (False, False)
    assert state.last_activity_at is not None


async def test_activity_without_an_open_panel_is_not_presence(presence) -> None:
    await presence.report_activity("i1", "alice", True)
    state = await presence.state("i1", "alice")
    assert (state.panel_open, state.active) == (False, False)
    assert await presence.active_users("i1", ["alice"]) == set()


async def test_a_connection_nobody_closes_or_refreshes_lapses_after_the_ttl(presence, clock) -> None:
    # given a connection whose process died (no close, no refresh)
    await presence.panel_opened("i1", "alice", "c1")
    clock.advance(TTL - 1)
    assert (await presence.state("i1", "alice")).panel_open
    # when the TTL passes
    clock.advance(2)
    # then the user is not present
    assert not (await presence.state("i1", "alice")).panel_open
    assert await presence.active_users("i1", ["alice"]) == set()


async def test_active_users_answers_many_users_at_once(presence) -> None:
    users = [f"u{n}" for n in range(2_000)]
    for user in users[::2]:
        await presence.panel_opened("i1", user, "c")
    await presence.report_activity("i1", "u0", False)
    assert await presence.active_users("i1", users) == set(users[2::2])
    assert await presence.active_users("i1", []) == set()


async def test_a_held_panel_stays_open_past_the_ttl_and_closes_with_its_block(kind, prefix) -> None:
    presence = _make(kind, prefix, ttl=0.3, idle=5.0)
    try:
        # when a subscription holds a panel for longer than the TTL
        async with presence.hold("i1", "alice"):
            await asyncio.sleep(0.8)
            # then it is still open (refreshed every TTL/3), and the user is active
            assert await presence.active_users("i1", ["alice"]) == {"alice"}
        # and once the block ends the panel is closed at once
        assert not (await presence.state("i1", "alice")).panel_open
    finally:
        await presence.close()


async def test_a_held_panel_is_closed_when_its_task_is_cancelled(kind, prefix) -> None:
    presence = _make(kind, prefix, ttl=30.0, idle=30.0)
    holding = asyncio.Event()

    async def subscription() -> None:
        async with presence.hold("i1", "alice"):
            holding.set()
            await asyncio.sleep(3600)

    try:
        task = asyncio.create_task(subscription())
        await asyncio.wait_for(holding.wait(), 2)
        assert (await presence.state("i1", "alice")).panel_open
        # when the subscription's task is cancelled (its client went away)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # then the panel is closed, not left to lapse
        assert not (await presence.state("i1", "alice")).panel_open
    finally:
        await presence.close()


async def test_presence_written_by_one_process_is_read_by_another(prefix) -> None:
    await need_redis()
    from core.presence_redis import RedisPresence

    one = RedisPresence(REDIS_URL, TTL, IDLE, prefix=prefix)
    other = RedisPresence(REDIS_URL, TTL, IDLE, prefix=prefix)
    try:
        # when alice's tab is served by one process
        async with one.hold("i1", "alice", "t1"):
            # then the other sees her present and active
            assert await other.active_users("i1", ["alice", "bob"]) == {"alice"}
            # and a hidden page reported through the other is seen by the first
            await other.report_activity("i1", "alice", False, "t1")
            assert await one.active_users("i1", ["alice"]) == set()
        assert not (await other.state("i1", "alice")).panel_open
    finally:
        await one.close()
        await other.close()


async def test_redis_forgets_a_user_whose_connections_stopped_being_refreshed(prefix) -> None:
    await need_redis()
    from redis.asyncio import Redis

    from core.presence_redis import RedisPresence

    presence = RedisPresence(REDIS_URL, 0.3, 0.3, prefix=prefix)
    client = Redis.from_url(REDIS_URL)
    try:
        # given a connection opened by a process that then died (never closed, never refreshed),
        # and two tabs, one hidden and closed
        await presence.panel_opened("i1", "alice", "c1")
        await presence.panel_opened("i1", "alice", "c2", tab="t1")
        await presence.report_activity("i1", "alice", False, tab="t1")
        await presence.panel_closed("i1", "alice", "c2", tab="t1")
        assert len([key async for key in client.scan_iter(match=prefix + "*")]) == 3
        # when the TTL passes
        await asyncio.sleep(0.6)
        # then she is absent and Redis holds nothing of her
        assert not (await presence.state("i1", "alice")).panel_open
        assert [key async for key in client.scan_iter(match=prefix + "*")] == []
    finally:
        await client.aclose()
        await presence.close()


async def test_the_in_process_store_forgets_users_once_their_entries_expire() -> None:
    clock = Clock()
    presence = LocalPresence(TTL, IDLE, clock)
    for n in range(1_000):
        await presence.report_activity("i1", f"u{n}", True)
    await presence.panel_opened("i1", "u0", "c")
    assert len(presence) == 1_000
    # when the users went away long enough ago
    clock.advance(IDLE + TTL + 1)
    await presence.report_activity("i1", "newcomer", True)
    # then only the newcomer is kept
    assert len(presence) == 1


async def test_build_presence_picks_by_settings() -> None:
    settings = Settings(presence_ttl_seconds=12.0, presence_idle_seconds=34.0)
    local = build_presence(settings)
    assert isinstance(local, LocalPresence)
    assert (local.ttl_seconds, local.idle_seconds) == (12.0, 34.0)
    remote = build_presence(replace(settings, redis_url=REDIS_URL))
    assert type(remote).__name__ == "RedisPresence"
    await remote.close()


def test_the_presence_settings_are_read_from_the_environment() -> None:
    from core.settings import SettingsError

    settings = Settings.from_env({"NC_PRESENCE_TTL_SECONDS": "15", "NC_PRESENCE_IDLE_SECONDS": "60"})
    assert (settings.presence_ttl_seconds, settings.presence_idle_seconds) == (15.0, 60.0)
    defaults = Settings.from_env({})
    assert (defaults.presence_ttl_seconds, defaults.presence_idle_seconds) == (90.0, 300.0)
    with pytest.raises(SettingsError, match="NC_PRESENCE_IDLE_SECONDS"):
        Settings.from_env({"NC_PRESENCE_IDLE_SECONDS": "0"})


async def test_a_redis_that_never_answers_leaves_when_away_deliveries_waiting_not_stalled() -> None:
    """Publishing reads presence in its transaction: a Redis that accepts and never answers must
    not hold it for the client's socket timeouts, and must not make everybody "away"."""
    import asyncio as aio
    import time as clock

    from core.presence_redis import RedisPresence
    from domain.routing import PRESENCE_READ_SECONDS, away_of

    peers: list[aio.StreamWriter] = []

    async def silent(_: aio.StreamReader, writer: aio.StreamWriter) -> None:
        peers.append(writer)  # accepts, never answers

    server = await aio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    presence = RedisPresence(f"redis://127.0.0.1:{port}/0", 90, 300)
    try:
        started = clock.monotonic()
        # nobody is taken for away: their WHEN_AWAY deliveries wait and look again
        assert await away_of("i1", {1: "olena", 2: "taras"}, presence) == set()
        assert clock.monotonic() - started < PRESENCE_READ_SECONDS + 1.0
    finally:
        await presence.close()
        for writer in peers:
            writer.close()
        server.close()


async def test_a_reconnect_storm_of_hundreds_of_panels_is_recorded_whole(kind, prefix) -> None:
    # given a store (in Redis: one client, whose pool once failed the 101st command in flight)
    presence = _make(kind, prefix, TTL, IDLE)
    users = [f"op-{i}" for i in range(300)]
    try:
        # when 300 panels open at once (every panel of a restarted API process reconnecting)
        await asyncio.gather(*(presence.panel_opened("storm", u, f"c-{u}") for u in users))
        # then every operator is present and active
        assert await presence.active_users("storm", users) == set(users)
        # and when they all close at once, nobody is left present
        await asyncio.gather(*(presence.panel_closed("storm", u, f"c-{u}") for u in users))
        states = await asyncio.gather(*(presence.state("storm", u) for u in users))
        assert not [s for s in states if s.panel_open]
    finally:
        await presence.close()
