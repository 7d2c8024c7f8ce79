"""The Redis broker between processes: a batch travels as one Redis message per channel and is fanned
out by each receiving process as the in-process broker fans out a batch."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from core.broker import RESYNC, SLICE, user_topic
from core.broker_redis import (
    BATCH_BYTES,
    BATCH_MESSAGES,
    MAGIC,
    PIPELINE_BYTES,
    PIPELINE_CHUNK,
    RedisBroker,
    _round_trips,
    channel,
    decode_batch,
    encode_batch,
)
from tests.core.test_broker import REDIS_URL, _private_redis, _Socket, _writing_to, need_redis


class Processes:
    """Two brokers on one Redis and one prefix, as two processes of one deployment have them."""

    def __init__(self) -> None:
        self.prefix = f"nc-test-{uuid.uuid4().hex[:8]}:"
        self.a = RedisBroker(REDIS_URL, prefix=self.prefix)
        self.b = RedisBroker(REDIS_URL, prefix=self.prefix)
        self.redis = Redis.from_url(REDIS_URL)

    async def subscribers(self, topic: str) -> int:
        """Connections subscribed to ``topic``'s channel."""
        [(_, count)] = await self.redis.pubsub_numsub(self.prefix + channel(topic))
        return int(count)

    async def close(self) -> None:
        await self.a.close()
        await self.b.close()
        await self.redis.aclose()


@pytest.fixture
async def processes() -> AsyncIterator[Processes]:
    await need_redis()
    p = Processes()
    yield p
    await p.close()


def _roomy(listener: Any, size: int = 10_000) -> None:
    """Room for more than ``QUEUE_SIZE`` messages (a test reading them only at its end)."""
    listener.queue = type(listener.queue)(size)


def _drain(listener: Any) -> list[dict[str, Any]]:
    return [listener.queue.get_nowait() for _ in range(listener.queue.qsize())]


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def _settled() -> None:
    """Time for SUBSCRIBE / UNSUBSCRIBE (or a message that should not come) to reach Redis."""
    await asyncio.sleep(0.1)


def test_a_users_streams_share_their_instances_channel_and_other_topics_have_their_own() -> None:
    assert channel(user_topic("i1", "u1", "bell")) == channel(user_topic("i1", "u2", "toasts")) == "live/i1"
    assert channel(user_topic("i2", "u1", "bell")) == "live/i2"
    assert channel("workers") == "workers" and channel("policy") == "policy"


def test_a_batch_is_decoded_only_for_the_topics_wanted_and_anything_else_is_ignored() -> None:
    data = encode_batch(["bell/i/u1", "bell/i/u2", "bell/i/u1"], [b'{"n":1}', b'{"n":2}', b'{"n":3}'])
    assert decode_batch(data, {"bell/i/u1": 1}) == [("bell/i/u1", {"n": 1}), ("bell/i/u1", {"n": 3})]
    assert decode_batch(data, {}) == []
    wanted = {"bell/i/u": 1}
    for junk in (
        b'{"n": 1}',  # a message of an older process
        b"not json",
        MAGIC,
        MAGIC + b"[",
        MAGIC + b'{"bell/i/u": 1}\n{"n":1}',
        MAGIC + b'["bell/i/u"]',  # a topic without its message
        MAGIC + b'["bell/i/u","bell/i/u"]\n{"n":1}',
        MAGIC + b'[["bell/i/u"]]\n{"n":1}',
        b"a str",
        b"",
        None,
        42,
    ):
        assert decode_batch(junk, wanted) == [], junk
    # a message that is not a JSON object is left out, and the rest of its batch delivered
    data = MAGIC + b'["bell/i/u","bell/i/u","bell/i/u","bell/i/u"]\n[1]\n{"n":\n\xff\xfe\n{"n":2}'
    assert decode_batch(data, wanted) == [("bell/i/u", {"n": 2})]


async def test_a_batch_from_one_process_reaches_the_right_listeners_of_the_other_in_order(processes) -> None:
    # given listeners in process B: two users of instance i1, one of i2, a worker, and a user of
    # i1 whom no message is for
    a, b = processes.a, processes.b
    u1, u2 = user_topic("i1", "u1", "bell"), user_topic("i1", "u2", "bell")
    u1_toasts, other = user_topic("i1", "u1", "toasts"), user_topic("i2", "u1", "bell")
    quiet = user_topic("i1", "nobody", "bell")
    async with (
        b.subscribe(u1) as l1,
        b.subscribe(u1) as l1_again,
        b.subscribe(u1_toasts) as l1_toasts,
        b.subscribe(u2) as l2,
        b.subscribe(other) as l_other,
        b.subscribe("workers") as l_workers,
        b.subscribe(quiet) as l_quiet,
    ):
        await _settled()
        # when process A publishes three batches that interleave them
        batches = [
            [(u1, {"n": 1}), (u2, {"n": 1}), (u1_toasts, {"n": 1}), (other, {"n": 1}), (u1, {"n": 2})],
            [("workers", {"n": 1}), (u2, {"n": 2}), (user_topic("i1", "away", "bell"), {"n": 1})],
            [(u1, {"n": 3}), (u2, {"n": 3}), ("workers", {"n": 2}), (other, {"n": 2}), (u1_toasts, {"n": 2})],
        ]
        for batch in batches:
            await a.publish_many(batch)
        await _until(lambda: l1_toasts.queue.qsize() == 2 and l_workers.queue.qsize() == 2)
        await _until(lambda: l1.queue.qsize() == 3 and l2.queue.qsize() == 3 and l_other.queue.qsize() == 2)
        await _settled()
        # then each listener has its topic's messages, in the order published, and no other
        assert _drain(l1) == _drain(l1_again) == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert _drain(l2) == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert _drain(l1_toasts) == [{"n": 1}, {"n": 2}]
        assert _drain(l_other) == [{"n": 1}, {"n": 2}]
        assert _drain(l_workers) == [{"n": 1}, {"n": 2}]
        assert l_quiet.queue.empty()


async def test_a_message_arrives_as_it_was_published(processes) -> None:
    # (newlines and line separators in strings, non-ASCII, an integer past 64 bits)
    message = {"s": "a\nb\r\n", "u": "ü \u2028 \u2029 😀", "big": 2**70, "nested": [{"x": None}, 1.5, True]}
    topic = user_topic("i1", "u1", "bell")
    async with processes.b.subscribe(topic) as listener:
        await _settled()
        await processes.a.publish_many([(topic, message), (topic, {"n": 2})])
        await processes.a.publish(topic, message)
        got = [await asyncio.wait_for(listener.queue.get(), 2) for _ in range(3)]
    assert got == [message, {"n": 2}, message]


async def test_single_messages_and_batches_keep_one_topics_order(processes) -> None:
    a, b = processes.a, processes.b
    bell, toasts = user_topic("i1", "u1", "bell"), user_topic("i1", "u1", "toasts")
    topics = (bell, toasts, "workers")
    async with b.subscribe(bell) as l_bell, b.subscribe(toasts) as l_toasts, b.subscribe("workers") as l_workers:
        for listener in (l_bell, l_toasts, l_workers):
            _roomy(listener)
        await _settled()
        # when single messages and batches for the same topics alternate
        sent: dict[str, list[int]] = {topic: [] for topic in topics}
        n = 0
        for round_ in range(30):
            if round_ % 3:
                batch = [(bell, {"n": n}), (toasts, {"n": n + 1}), (bell, {"n": n + 2}), ("workers", {"n": n + 3})]
                await a.publish_many(batch)
                for topic, message in batch:
                    sent[topic].append(message["n"])
                n += 4
            else:
                for topic in topics:
                    await a.publish(topic, {"n": n})
                    sent[topic].append(n)
                    n += 1
        await _until(
            lambda: l_bell.queue.qsize() == len(sent[bell]) and l_workers.queue.qsize() == len(sent["workers"])
        )
        # then each topic's messages arrive in the order they were published, whichever way
        got = {
            topic: [m["n"] for m in _drain(listener)]
            for topic, listener in zip(topics, (l_bell, l_toasts, l_workers), strict=True)
        }
        assert got == sent


async def test_a_batch_beyond_the_bounds_arrives_complete_and_in_order_in_several_redis_messages(
    processes,
) -> None:
    a, b = processes.a, processes.b
    topics = [user_topic("i1", f"u{k}", "bell") for k in range(3)]
    watcher = processes.redis.pubsub()
    await watcher.subscribe(processes.prefix + "live/i1")
    try:
        async with b.subscribe(topics[0]) as l0, b.subscribe(topics[1]) as l1, b.subscribe(topics[2]) as l2:
            for listener in (l0, l1, l2):
                _roomy(listener)
            await _settled()
            # when one batch holds more messages than one Redis message carries, and a second
            # one holds more bytes
            many = [(topics[k % 3], {"n": k}) for k in range(BATCH_MESSAGES * 2 + 7)]
            big = "x" * (BATCH_BYTES // 3)
            heavy = [(topics[k % 3], {"n": k, "pad": big}) for k in range(8)]
            await a.publish_many(many)
            await a.publish_many(heavy)
            await _until(lambda: l0.queue.qsize() + l1.queue.qsize() + l2.queue.qsize() == len(many) + len(heavy))
            # then every message arrives once, in order, each batch after the other
            for k, listener in enumerate((l0, l1, l2)):
                got = _drain(listener)
                assert [m["n"] for m in got] == [n for n in range(len(many)) if n % 3 == k] + [
                    n for n in range(8) if n % 3 == k
                ]
                assert all(m["pad"] == big for m in got if "pad" in m)
            # and they travelled as several Redis messages, each within the bounds
            sizes: list[int] = []
            deadline = asyncio.get_running_loop().time() + 5
            while sum(sizes) < len(many) + len(heavy) and asyncio.get_running_loop().time() < deadline:
                message = await watcher.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if message is not None:
                    sizes.append(message["data"].count(b"\n") - 1)
                    assert len(message["data"]) < BATCH_BYTES + 4096
            assert sum(sizes) == len(many) + len(heavy)
            assert len(sizes) >= 3 + 3 and max(sizes) <= BATCH_MESSAGES
    finally:
        await watcher.aclose()


async def test_a_process_receives_a_channel_only_while_it_has_a_listener_on_it(processes) -> None:
    a, b = processes.a, processes.b
    bell, toasts = user_topic("i1", "u1", "bell"), user_topic("i1", "u1", "toasts")
    elsewhere = user_topic("i2", "u1", "bell")
    # given no listener: the channel has no subscriber
    assert await processes.subscribers(bell) == 0
    async with a.subscribe("workers"):  # (A's own reader: it subscribes only what A listens to)
        async with b.subscribe(bell) as l_bell:
            await _settled()
            assert await processes.subscribers(bell) == 1
            assert await processes.subscribers(elsewhere) == 0
            async with b.subscribe(toasts):
                await _settled()
                assert await processes.subscribers(bell) == 1  # one channel for the instance
            # when one of two topics on the channel is left, the channel is still heard
            await _settled()
            assert await processes.subscribers(bell) == 1
            await a.publish(bell, {"n": 1})
            assert await asyncio.wait_for(l_bell.queue.get(), 2) == {"n": 1}
        # and when the last one is left, it is no longer
        await _settled()
        assert await processes.subscribers(bell) == 0
        assert await processes.subscribers("workers") == 1
    await _settled()
    assert await processes.subscribers("workers") == 0


async def test_many_listeners_of_one_channel_subscribing_at_once_all_hear_it(processes) -> None:
    a, b = processes.a, processes.b
    topics = [user_topic("i1", f"u{k}", "bell") for k in range(50)]
    got: dict[str, list[dict[str, Any]]] = {}
    ready = asyncio.Event()
    subscribed = 0

    async def listen(topic: str) -> None:
        nonlocal subscribed
        async with b.subscribe(topic) as listener:
            subscribed += 1
            await ready.wait()
            got[topic] = [await asyncio.wait_for(listener.queue.get(), 5)]

    tasks = [asyncio.create_task(listen(topic)) for topic in topics]
    await _until(lambda: subscribed == len(topics))
    ready.set()
    await _settled()
    await a.publish_many([(topic, {"t": topic}) for topic in topics])
    await asyncio.gather(*tasks)
    assert got == {topic: [{"t": topic}] for topic in topics}
    assert b.subscriber_count() == 0
    assert await processes.subscribers(topics[0]) == 0


async def test_a_batch_writes_each_socket_of_the_receiving_process_once(processes) -> None:
    # given a panel's socket in process B carrying one user's bell and toasts, another user's
    # socket, and their readers idle (each message goes straight to its socket)
    a, b = processes.a, processes.b
    bell, toasts = user_topic("i1", "u1", "bell"), user_topic("i1", "u1", "toasts")
    other = user_topic("i1", "u2", "bell")
    panel, other_socket = _Socket(), _Socket()
    async with b.subscribe(bell) as l_bell, b.subscribe(toasts) as l_toasts, b.subscribe(other) as l_other:
        l_bell.direct = _writing_to(panel, "bell")
        l_toasts.direct = _writing_to(panel, "toast")
        l_other.direct = _writing_to(other_socket, "")
        readers = [asyncio.create_task(listener.queue.get()) for listener in (l_bell, l_toasts, l_other)]
        await _settled()
        # when process A publishes a batch interleaving them
        await a.publish_many(
            [(bell, {"n": 1}), (other, {"n": 1}), (toasts, {"n": 1}), (other, {"n": 2}), (bell, {"n": 2})]
        )
        await _until(lambda: bool(panel.writes) and bool(other_socket.writes))
        await _settled()
        for reader in readers:
            reader.cancel()
    # then each socket got its messages in the batch's order, in one write
    assert panel.writes == [b"bell1;toast1;bell2;"]
    assert other_socket.writes == [b"1;2;"]


async def test_a_big_batch_is_fanned_out_in_slices_with_other_work_between_and_batches_not_interleaved(
    processes,
) -> None:
    # given a listener in process B that takes each message at once, noting how often the
    # process's other work had run by then
    a, b = processes.a, processes.b
    topic = user_topic("i1", "u1", "bell")
    ticks = 0
    taken: list[tuple[int, dict[str, Any]]] = []

    def direct(message: dict[str, Any]) -> bool:
        taken.append((ticks, message))
        return True

    async def other_work() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async with b.subscribe(topic) as listener:
        listener.direct = direct
        reader = asyncio.create_task(listener.queue.get())
        worker = asyncio.create_task(other_work())
        try:
            await _settled()
            # when two requests publish a batch of 1,000 each at the same moment
            first = [(topic, {"batch": "a", "n": n}) for n in range(1_000)]
            second = [(topic, {"batch": "b", "n": n}) for n in range(1_000)]
            await asyncio.gather(a.publish_many(first), a.publish_many(second))
            await _until(lambda: len(taken) == 2_000)
        finally:
            worker.cancel()
            reader.cancel()
    # then each arrives whole, one after the other (which first: the two went out on two connections)
    got = [m for _, m in taken]
    assert got in ([m for _, m in first] + [m for _, m in second], [m for _, m in second] + [m for _, m in first])
    # and the other work ran between slices: never more than two slices' messages without it
    runs: dict[int, int] = {}
    for tick, _ in taken:
        runs[tick] = runs.get(tick, 0) + 1
    assert max(runs.values()) <= 2 * SLICE
    assert len(runs) >= 2_000 // (2 * SLICE)


async def test_unexpected_payloads_on_a_channel_are_ignored_and_the_reader_goes_on(processes, caplog) -> None:
    b = processes.b
    bell = user_topic("i1", "u1", "bell")
    async with b.subscribe(bell) as listener:
        await _settled()
        name = processes.prefix + channel(bell)
        # an older process's message on the old per-topic channel, and junk on the new one
        await processes.redis.publish(processes.prefix + bell, b'{"n": "old"}')
        for junk in (b'{"n": "old"}', b"junk", MAGIC + b"[", MAGIC + b'["' + bell.encode() + b'"]\n[1]', b"\xff"):
            await processes.redis.publish(name, junk)
        await processes.a.publish(bell, {"n": 1})
        assert await asyncio.wait_for(listener.queue.get(), 2) == {"n": 1}
        await _settled()
        assert listener.queue.empty()
        assert b._reader is not None and not b._reader.done()
    # and the payloads in another format (not the batch's) were said in one warning, not one each
    foreign = [r for r in caplog.records if "not in this release's format" in r.getMessage()]
    assert len(foreign) == 1 and foreign[0].levelname == "WARNING" and name in foreign[0].getMessage()


async def test_after_a_redis_restart_listeners_of_another_process_resync_and_batches_flow_again(tmp_path) -> None:
    server, port = await _private_redis(tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    a, b = RedisBroker(url), RedisBroker(url)
    bell, workers = user_topic("i1", "u1", "bell"), "workers"
    try:
        async with b.subscribe(bell) as l_bell, b.subscribe(workers) as l_workers:
            await _settled()
            await a.publish_many([(bell, {"n": 1}), (workers, {"n": 1})])
            assert await asyncio.wait_for(l_bell.queue.get(), 2) == {"n": 1}
            assert await asyncio.wait_for(l_workers.queue.get(), 2) == {"n": 1}
            # when Redis restarts on the same port
            server.kill()
            server.wait()
            server, _ = await _private_redis(tmp_path, port)
            # then every listener is told to resync, and batches arrive again
            assert await asyncio.wait_for(l_bell.queue.get(), 10) == RESYNC
            assert await asyncio.wait_for(l_workers.queue.get(), 10) == RESYNC
            for _ in range(2):  # (A's pooled connection from before the restart fails once)
                try:
                    await a.publish_many([(bell, {"n": 2}), (workers, {"n": 2})])
                    break
                except Exception:  # noqa: BLE001
                    await asyncio.sleep(0.2)
            assert await asyncio.wait_for(l_bell.queue.get(), 5) == {"n": 2}
            assert await asyncio.wait_for(l_workers.queue.get(), 5) == {"n": 2}
    finally:
        await a.close()
        await b.close()
        server.kill()
        server.wait()


def test_publishing_round_trips_are_bounded_in_commands_and_bytes_and_keep_the_order() -> None:
    # given Redis messages of every size: small ones, ones near the bound, one past it
    sizes = [10] * (PIPELINE_CHUNK + 5) + [PIPELINE_BYTES // 3] * 4 + [PIPELINE_BYTES * 2] + [10, 10]
    encoded = [(f"c{k}", b"x" * size) for k, size in enumerate(sizes)]
    # when they are cut into pipelines
    trips = _round_trips(encoded)
    # then nothing is lost or reordered, no pipeline holds more than the bounds, and only a message
    # bigger than the byte bound goes alone past it
    assert [pair for trip in trips for pair in trip] == encoded
    for trip in trips:
        assert len(trip) <= PIPELINE_CHUNK
        assert sum(len(data) for _, data in trip) <= PIPELINE_BYTES or len(trip) == 1
    assert len(trips) == 5


async def test_a_call_of_many_megabytes_arrives_complete_and_in_order(processes) -> None:
    # given one listener for each of 40 users of an instance
    a, b = processes.a, processes.b
    topics = [user_topic("big", f"u{k}", "bell") for k in range(40)]
    text = "é" * 100_000  # ~200 KiB of JSON per message: ~8 MiB in all, two pipelines at least
    async with contextlib.AsyncExitStack() as stack:
        listeners = [await stack.enter_async_context(b.subscribe(topic)) for topic in topics]
        await _settled()
        # when one call publishes two messages to each
        await a.publish_many([(t, {"n": n, "text": text}) for n in (1, 2) for t in topics])
        await _until(lambda: all(listener.queue.qsize() == 2 for listener in listeners), timeout=10)
        # then each got both, whole and in order
        for listener in listeners:
            assert [(m["n"], m["text"] == text) for m in _drain(listener)] == [(1, True), (2, True)]
