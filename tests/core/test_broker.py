"""The broker's contract, run against both implementations (in-process, and Redis)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from core.broker import QUEUE_SIZE, InProcessBroker, build_broker, user_topic
from core.cork import hold

REDIS_URL = os.environ.get("NC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def redis_reachable() -> str | None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"Redis at {REDIS_URL} is not reachable ({type(exc).__name__})"
    finally:
        await client.aclose()


async def need_redis() -> None:
    """Skip the test when Redis is not reachable; under CI=true, fail it instead."""
    reason = await redis_reachable()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; under CI=true a skipped Redis test is a failure")
        pytest.skip(reason)


@pytest.fixture(params=["memory", "redis"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator:
    if request.param == "memory":
        b = InProcessBroker()
    else:
        await need_redis()
        from core.broker_redis import RedisBroker

        b = RedisBroker(REDIS_URL, prefix=f"nc-test-{uuid.uuid4().hex[:8]}:")
    yield b
    await b.close()


async def test_a_message_reaches_every_listener_of_its_topic_and_no_other(broker) -> None:
    async with (
        broker.subscribe("bell/i1/u1") as a,
        broker.subscribe("bell/i1/u1") as b,
        broker.subscribe("bell/i1/u2") as c,
    ):
        await broker.publish("bell/i1/u1", {"n": 1})
        assert await asyncio.wait_for(a.queue.get(), 2) == {"n": 1}
        assert await asyncio.wait_for(b.queue.get(), 2) == {"n": 1}
        await asyncio.sleep(0.1)
        assert c.queue.empty()


async def test_leaving_removes_the_listener(broker) -> None:
    async with broker.subscribe("t") as _:
        assert broker.subscriber_count() == 1
    assert broker.subscriber_count() == 0
    await broker.publish("t", {"n": 1})  # nobody listens: dropped, no error


async def test_a_listener_that_falls_too_far_behind_is_told_to_resync_and_others_are_not_held_up(broker) -> None:
    from core.broker import RESYNC

    async with broker.subscribe("t") as slow, broker.subscribe("t") as fast:
        for i in range(QUEUE_SIZE + 10):
            await broker.publish("t", {"n": i})
            await asyncio.wait_for(fast.queue.get(), 2)
        await asyncio.sleep(0.1)
        # the slow one lost what it had waiting, and hears so before the newer messages
        assert slow.dropped == QUEUE_SIZE
        waiting = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
        assert waiting == [RESYNC, *({"n": i} for i in range(QUEUE_SIZE, QUEUE_SIZE + 10))]


async def test_build_broker_picks_by_settings() -> None:
    assert isinstance(build_broker(None), InProcessBroker)
    redis_broker = build_broker(REDIS_URL)
    assert type(redis_broker).__name__ == "RedisBroker"
    await redis_broker.close()


async def test_the_redis_broker_reconnects_after_a_redis_restart_and_asks_listeners_to_resync(tmp_path) -> None:
    from core.broker import RESYNC
    from core.broker_redis import RedisBroker

    server, port = await _private_redis(tmp_path)

    async def start() -> Any:
        return (await _private_redis(tmp_path, port))[0]

    broker = RedisBroker(f"redis://127.0.0.1:{port}/0")
    try:
        async with broker.subscribe("bell/i/u") as listener:
            await broker.publish("bell/i/u", {"n": 1})
            assert await asyncio.wait_for(listener.queue.get(), 2) == {"n": 1}
            # when Redis dies and comes back on the same port
            server.kill()
            server.wait()
            await broker.publish("bell/i/u", {"n": "lost"})  # dropped while down, no exception
            server = await start()
            # then the listener is told to resync, and what is published afterwards arrives
            assert await asyncio.wait_for(listener.queue.get(), 10) == RESYNC
            await broker.publish("bell/i/u", {"n": 2})
            assert await asyncio.wait_for(listener.queue.get(), 5) == {"n": 2}
            assert broker.errors >= 1
    finally:
        await broker.close()
        server.kill()
        server.wait()


async def test_a_frozen_redis_fails_publishing_in_seconds_and_at_once_after_that(tmp_path) -> None:
    """A Redis that stopped answering (SIGSTOP) held every publishing call ~10 s: publishing now
    gives up after PUBLISH_TIMEOUT_SECONDS, then at once for DOWN_SECONDS, then tries again."""
    import signal
    import time

    from core.broker import BrokerUnavailable
    from core.broker_redis import DOWN_SECONDS, PUBLISH_TIMEOUT_SECONDS, RedisBroker

    server, port = await _private_redis(tmp_path)
    broker = RedisBroker(f"redis://127.0.0.1:{port}/0")
    try:
        async with broker.subscribe("bell/i/u") as listener:
            await broker.publish_many([("bell/i/u", {"n": 1})])
            assert await asyncio.wait_for(listener.queue.get(), 2) == {"n": 1}
            # when Redis stops answering
            server.send_signal(signal.SIGSTOP)
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable):
                await broker.publish_many([("bell/i/u", {"n": "frozen"})])
            assert time.monotonic() - started < PUBLISH_TIMEOUT_SECONDS + 1.5
            # then the next calls fail at once, and a single message is dropped at once
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable):
                await broker.publish_many([("bell/i/u", {"n": "frozen"})])
            await broker.publish("bell/i/u", {"n": "frozen"})
            assert time.monotonic() - started < 0.5
            # and once it answers again (after the window), publishing goes through
            server.send_signal(signal.SIGCONT)
            await asyncio.sleep(DOWN_SECONDS + 0.2)
            await broker.publish_many([("bell/i/u", {"n": 2})])
            while (message := await asyncio.wait_for(listener.queue.get(), 5)) != {"n": 2}:
                assert message["n"] == "frozen" or message.get("type") == "__resync__", message
    finally:
        server.send_signal(signal.SIGCONT)
        await broker.close()
        server.kill()
        server.wait()


async def test_a_subscription_made_while_redis_is_unreachable_is_served_once_it_answers(tmp_path) -> None:
    """A worker or API process started before Redis (or while it is frozen) subscribed to nothing
    and hung at start, or kept no invalidations for its lifetime: subscribing now waits for Redis."""
    import signal
    import socket

    from core.broker import RESYNC
    from core.broker_redis import RedisBroker

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    broker = RedisBroker(f"redis://127.0.0.1:{port}/0")
    frozen = None
    try:
        # given no Redis yet: subscribing does not fail
        async with broker.subscribe("workers") as listener:
            # when Redis starts (first frozen for a moment: its connection accepted, never answered)
            frozen, _ = await _private_redis(tmp_path, port)
            frozen.send_signal(signal.SIGSTOP)
            await asyncio.sleep(1.0)
            frozen.send_signal(signal.SIGCONT)
            # then the listener is told to resync once connected, and gets what is published then
            assert await asyncio.wait_for(listener.queue.get(), 20) == RESYNC
            await broker.publish("workers", {"n": 1})
            assert await asyncio.wait_for(listener.queue.get(), 5) == {"n": 1}
        # and a subscription made while Redis is frozen does not hold its caller beyond the timeouts
        frozen.send_signal(signal.SIGSTOP)
        fresh = RedisBroker(f"redis://127.0.0.1:{port}/0")
        try:
            async with asyncio.timeout(10):
                async with fresh.subscribe("policy"):
                    pass
        finally:
            frozen.send_signal(signal.SIGCONT)
            await fresh.close()
    finally:
        await broker.close()
        if frozen is not None:
            frozen.send_signal(signal.SIGCONT)
            frozen.kill()
            frozen.wait()


async def _private_redis(tmp_path: Any, port: int | None = None) -> tuple[Any, int]:
    """A redis-server of the test's own (to stop, kill or restart on ``port``): the process and
    its port."""
    import shutil
    import socket
    import subprocess

    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server is not installed; under CI=true this test must run")
        pytest.skip("redis-server is not installed: this test starts a private Redis")
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen([*cmd, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc, port
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("redis-server did not start")


async def test_a_burst_of_publishes_from_many_requests_at_once_all_arrive(broker) -> None:
    # given a listener (QUEUE_SIZE holds the burst: 200 messages)
    async with broker.subscribe("bell/i1/burst") as listener:
        await asyncio.sleep(0.1)
        # when 200 requests publish at the same moment (more commands in flight than a
        # non-blocking Redis pool of 100 connections lets through)
        await asyncio.gather(*(broker.publish("bell/i1/burst", {"n": n}) for n in range(200)))
        # then every message arrives
        got = {(await asyncio.wait_for(listener.queue.get(), 5))["n"] for _ in range(200)}
    assert got == set(range(200))


async def test_an_idle_listener_takes_messages_at_once_and_a_busy_one_has_them_queued_in_order(broker) -> None:
    # given a listener whose reader waits, and that can take a message at once (as a live
    # subscription writing to its socket does) unless told it cannot (a socket that is full)
    taken: list[int] = []
    full = False

    def direct(message: dict) -> bool:
        if full:
            return False
        taken.append(message["n"])
        return True

    async with broker.subscribe("bell/i1/direct") as listener:
        listener.direct = direct
        read: list[int] = []
        reader_may_go_on = asyncio.Event()

        async def reader() -> None:
            async for message in listener:
                read.append(message["n"])
                await reader_may_go_on.wait()  # busy with what it read

        task = asyncio.create_task(reader())
        try:
            await asyncio.sleep(0.05)
            # when messages arrive while the reader waits: taken at once, none queued
            for n in (1, 2):
                await broker.publish("bell/i1/direct", {"n": n})
            await _until(lambda: taken == [1, 2])
            assert read == [] and listener.queue.empty()
            # when the listener cannot take one: it is queued and read; while the reader is busy
            # with it, later ones queue behind it, even those the listener could take at once
            full = True
            await broker.publish("bell/i1/direct", {"n": 3})
            await _until(lambda: read == [3])
            full = False
            for n in (4, 5):
                await broker.publish("bell/i1/direct", {"n": n})
            await asyncio.sleep(0.05)
            assert taken == [1, 2] and listener.queue.qsize() == 2
            # then the reader reads them in order, and once it waits again messages go straight through
            reader_may_go_on.set()
            await _until(lambda: read == [3, 4, 5])
            await broker.publish("bell/i1/direct", {"n": 6})
            await _until(lambda: taken == [1, 2, 6])
            assert read == [3, 4, 5]
        finally:
            task.cancel()


async def test_a_listener_that_fails_to_take_a_message_has_it_queued_and_is_queued_from_then_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = InProcessBroker()

    def broken(message: dict) -> bool:
        raise RuntimeError("a bug in the listener")

    async with broker.subscribe("t") as listener, broker.subscribe("t") as other:
        listener.direct = broken
        waiting = asyncio.create_task(listener.queue.get())
        await asyncio.sleep(0)
        await broker.publish("t", {"n": 1})
        # the message is not lost, the other listener is not held up, and the fault is logged once
        assert await asyncio.wait_for(waiting, 2) == {"n": 1}
        assert other.queue.get_nowait() == {"n": 1}
        assert listener.direct is None
        assert [r.message for r in caplog.records if r.levelname == "ERROR"] == [
            "a live listener failed to take a message; it is queued from now on"
        ]


async def test_batches_published_at_once_fan_out_one_after_the_other_without_holding_up_the_process() -> None:
    # given a listener, and another task of the process that wants to run meanwhile
    broker = InProcessBroker()
    async with broker.subscribe("t") as listener:
        listener.queue = type(listener.queue)(10_000)  # room for the whole test
        ticks = 0
        fanning_out = True

        async def other_work() -> None:
            nonlocal ticks
            while fanning_out:
                ticks += 1
                await asyncio.sleep(0)

        worker = asyncio.create_task(other_work())
        # when two requests hand over 1,000 messages each at the same moment
        first = [("t", {"batch": "a", "n": n}) for n in range(1_000)]
        second = [("t", {"batch": "b", "n": n}) for n in range(1_000)]
        await asyncio.gather(broker.publish_many(first), broker.publish_many(second))
        fanning_out = False
        await worker
        got = [listener.queue.get_nowait() for _ in range(listener.queue.qsize())]
    # then each batch arrives whole and in order, the first before the second (never interleaved:
    # a recipient's unread counts go up in the order they were counted)
    assert got == [m for _, m in first] + [m for _, m in second]
    # and the other task ran while they were being handed over
    assert ticks >= 10


async def _until(condition, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_messages_are_made_only_for_topics_someone_listens_to(broker) -> None:
    from domain import live, panel
    from domain.panel import PanelItem

    def item(user: str, unread: int) -> PanelItem:
        notification = {"id": str(unread), "title": f"for {user}"}
        return PanelItem("inst", user, notification, unread, 8, banner=True, sound=None)

    topic = f"bell/inst/{uuid.uuid4().hex}"
    user = topic.rsplit("/", 1)[1]
    async with broker.subscribe(topic) as listening:
        await asyncio.sleep(0.05)  # (Redis: the subscription is in place)
        made = panel.messages([item(user, 1), item("away", 2)], broker.listens)
        await broker.publish_many(made)
        got = await asyncio.wait_for(listening.queue.get(), 2)
    assert got["type"] == "NotificationAdded" and got["notification"]["title"] == f"for {user}"
    topics = [t for t, _ in made]
    if isinstance(broker, InProcessBroker):
        # in one process: nobody has "away"'s panel open and nobody here shows toasts
        assert topics == [topic]
        assert not broker.listens(topic)  # left
    else:
        # across processes nobody can tell: every message is made
        assert topics == [
            topic,
            f"{live.TOASTS}/inst/{user}",
            f"{live.BELL}/inst/away",
            f"{live.TOASTS}/inst/away",
        ]


class _Socket:
    """A socket as core.cork sees it: what it is written, one entry per write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write_held(self, data: bytes) -> None:
        self.writes.append(data)


def _writing_to(socket_: _Socket, label: str = "") -> Callable[[dict[str, Any]], bool]:
    """A listener's direct path that writes ``<label><n>;`` to ``socket_`` (held inside a batch)."""

    def direct(message: dict[str, Any]) -> bool:
        frame = f"{label}{message['n']};".encode()
        if not hold(socket_, frame):
            socket_.write_held(frame)
        return True

    return direct


async def test_a_batch_writes_each_socket_once_with_its_messages_in_order() -> None:
    # given two sockets, each behind one topic's listener that writes its messages straight to it
    broker = InProcessBroker()
    sockets = {"a": _Socket(), "b": _Socket()}
    async with broker.subscribe("a") as a, broker.subscribe("b") as b:
        for name, listener in (("a", a), ("b", b)):
            listener.direct = _writing_to(sockets[name])
        # (their readers idle, waiting for what the direct path does not take)
        readers = [asyncio.create_task(listener.queue.get()) for listener in (a, b)]
        await asyncio.sleep(0)
        # when one batch gives each of them several messages, interleaved
        await broker.publish_many([("a", {"n": 1}), ("b", {"n": 2}), ("a", {"n": 3}), ("b", {"n": 4}), ("a", {"n": 5})])
        assert not any(reader.done() for reader in readers)
        for reader in readers:
            reader.cancel()
    # then each socket is written once, with its messages in the order they were published
    assert {name: s.writes for name, s in sockets.items()} == {"a": [b"1;3;5;"], "b": [b"2;4;"]}
    # and outside a batch nothing is held
    assert hold(sockets["a"], b"x") is False


async def test_one_users_bell_and_toasts_on_one_socket_keep_the_batchs_order() -> None:
    # given a panel's socket carrying one user's bell and toasts, and another user's bell elsewhere
    from domain import live

    broker = InProcessBroker()
    panel = _Socket()
    bell, toasts = user_topic("inst", "u1", live.BELL), user_topic("inst", "u1", live.TOASTS)
    other = user_topic("inst", "u2", live.BELL)
    async with broker.subscribe(bell) as b, broker.subscribe(toasts) as t, broker.subscribe(other) as o:
        b.direct, t.direct = _writing_to(panel, "bell"), _writing_to(panel, "toast")
        o.direct = lambda message: True
        readers = [asyncio.create_task(listener.queue.get()) for listener in (b, t, o)]
        await asyncio.sleep(0)
        # when one batch gives it a bell item and its toast, twice, with another user's between
        await broker.publish_many(
            [(bell, {"n": 1}), (toasts, {"n": 1}), (other, {"n": 9}), (bell, {"n": 2}), (toasts, {"n": 2})]
        )
        for reader in readers:
            reader.cancel()
    # then the socket gets them as published, bell and toast interleaved, in one write
    assert panel.writes == [b"bell1;toast1;bell2;toast2;"]


async def test_a_listener_cancelled_while_it_subscribes_ends(broker) -> None:
    """A process that stops (a `serve` that could not bind its port, SIGTERM) cancels its policy,
    bots and viewers listeners, which may still be connecting to Redis: each must end. redis-py's
    connect lost such a cancel about once in 15 tries and the listener then waited forever."""

    async def listen() -> None:
        async with broker.subscribe("policy") as changes:
            async for _ in changes:
                pass

    for step in range(60):
        listener = asyncio.create_task(listen())
        await asyncio.sleep(step * 0.0005)  # cancel at each moment of the connect, 0 to 30 ms
        listener.cancel()
        done, _ = await asyncio.wait([listener], timeout=2)
        assert done, f"the listener cancelled after {step * 0.5} ms was still waiting 2 s later"
        await broker.close()  # the next try connects afresh, as a starting process does
