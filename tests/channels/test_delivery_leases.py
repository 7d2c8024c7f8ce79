"""Delivery leases: at most one lease holder sends a job at a time, and every job is sent at least once.

A worker claims only the external jobs it can start now (its free concurrency), extends the leases
of its jobs in flight (the heartbeat), abandons a try the provider does not answer before the lease
could run out (the send deadline), and counts a try when it starts (the claim adds to attempts).

In-process tests drive a Runtime of their own (the app's workers stopped) against the local Telegram
Bot API; the `scaled` ones run two `notification-center worker` processes on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tortoise.timezone import now

from channels.http import retry_delay
from channels.runtime import Runtime
from core.settings import Settings, SettingsError
from models.claim import claim
from models.db import db
from models.notification import Delivery
from tests.channel_support import publish
from tests.channels.test_channel_telegram import linked_operator
from tests.cluster import Cluster, deployment
from tests.conftest import Tenant
from tests.fakes.telegram_bot_api import FakeBotApi, serve_bot_api
from tests.polling import eventually, until
from tests.test_scaled import BOT_TOKEN, INSTANCE, PUBLISH, event, gql, setup_telegram


async def wait_until(predicate: Callable[[], Any], seconds: float = 10.0) -> None:
    await until(predicate, seconds=seconds, every=0.02)


# -- in process ------------------------------------------------------------------------------------


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with serve_bot_api(f"123:TOKEN{uuid.uuid4().hex}") as api:
        yield api


async def telegram_rows(tenant: Tenant) -> list[Delivery]:
    return await Delivery.filter(instance_id=tenant.id, channel="TELEGRAM").order_by("id")


async def test_a_worker_claims_no_more_external_jobs_than_it_can_send_now(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, worker: Callable[..., Runtime]
) -> None:
    # given five tickets for a Telegram user (BELL and TELEGRAM each), a slow Bot API, and a
    # worker that sends two at a time
    await linked_operator(http, tenant, bot_api)
    for i in range(5):
        await publish(tenant, f"limit-{i}")
    # (first in line, ahead of any due job another test may have left)
    await Delivery.filter(instance_id=tenant.id).update(next_attempt_at=now() - timedelta(days=1))
    bot_api.delay = 0.5
    runtime = worker(concurrency=2)

    # when it claims
    await runtime.deliver_due()
    # then it took two Telegram jobs, counting the try each started, and left the other three
    rows = await telegram_rows(tenant)
    taken = [r for r in rows if r.locked_by == runtime.worker_id]
    assert [(r.status, r.attempts) for r in taken] == [("QUEUED", 1)] * 2
    assert [(r.locked_by, r.attempts) for r in rows if r not in taken] == [(None, 0)] * 3
    # and the bell items were no jobs at all: the publisher sent them itself
    assert await Delivery.filter(instance_id=tenant.id, channel="BELL").count() == 0

    # when it claims again while both sends are in flight
    await runtime.deliver_due()
    # then it takes nothing more
    assert await Delivery.filter(instance_id=tenant.id, locked_by=runtime.worker_id).count() == 2

    # when the two sends are settled, the freed slots are filled, and so on until none is left
    async def slots_free() -> bool:
        return runtime.free_slots == 2

    for claimed in (2, 1):
        await wait_until(slots_free)
        await runtime.deliver_due()
        assert await Delivery.filter(instance_id=tenant.id, locked_by=runtime.worker_id).count() == claimed
    await wait_until(slots_free)
    # then each message went out once, on its first try
    assert [(r.status, r.attempts) for r in await telegram_rows(tenant)] == [("SENT", 1)] * 5
    assert len(bot_api.sent()) == 5
    # and the provider never had more than two requests in flight
    starts = sorted(r.at for r in bot_api.requests)
    assert all(later - earlier >= 0.45 for earlier, later in zip(starts, starts[2:], strict=False))


async def test_the_heartbeat_extends_the_leases_in_flight(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, worker: Callable[..., Runtime]
) -> None:
    # given a worker with a 2 s lease it extends every 0.2 s, and a Bot API taking 1.2 s
    await linked_operator(http, tenant, bot_api)
    bot_api.delay = 1.2
    runtime = worker(lease_seconds=2.0, heartbeat_seconds=0.2)
    await runtime.start()
    # when a ticket's message is in flight
    await publish(tenant, "beat")
    await bot_api.wait_for(1)
    (row,) = await telegram_rows(tenant)
    first_lease = row.lease_until
    await asyncio.sleep(0.5)
    # then its lease was moved on while the provider had not answered yet
    (row,) = await telegram_rows(tenant)
    assert (row.status, row.locked_by) == ("QUEUED", runtime.worker_id)
    assert row.lease_until is not None and first_lease is not None
    assert (row.lease_until - first_lease).total_seconds() >= 0.3

    # and the send was settled as usual once the provider answered
    async def sent() -> bool:
        return [r.status for r in await telegram_rows(tenant)] == ["SENT"]

    await wait_until(sent)
    (row,) = await telegram_rows(tenant)
    assert (row.attempts, row.locked_by, row.lease_until) == (1, None, None)
    assert len(bot_api.sent()) == 1


async def test_a_send_whose_row_another_worker_took_over_is_cancelled(
    http: httpx.AsyncClient,
    tenant: Tenant,
    bot_api: FakeBotApi,
    worker: Callable[..., Runtime],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a worker sending a message the Bot API takes 2 s to answer
    await linked_operator(http, tenant, bot_api)
    bot_api.delay = 2.0
    runtime = worker(lease_seconds=3.0, heartbeat_seconds=0.2)
    await runtime.start()
    await publish(tenant, "taken")
    await bot_api.wait_for(1)
    # when another worker, whose clock runs ahead, takes the row over
    current = now() + timedelta(seconds=10)
    (row,) = await telegram_rows(tenant)
    taken = await claim(
        db(),
        Delivery._meta.db_table,
        due_column="next_attempt_at",
        now=current,
        lease_until=current + timedelta(seconds=3),
        limit=1,
        where="id = {}",
        where_values=(row.id,),
        owner="skewed-worker",
        count_attempt=True,
    )
    assert len(taken) == 1
    started = time.monotonic()

    # then the next heartbeat finds it lost and cancels the send, long before the provider answers
    async def cancelled() -> bool:
        return runtime.free_slots == runtime.concurrency

    await wait_until(cancelled, seconds=1.5)
    assert time.monotonic() - started < 1.0
    assert f"delivery {row.id} was taken over by another worker" in caplog.text
    # and it settled nothing: the row is the new holder's
    (row,) = await telegram_rows(tenant)
    assert (row.status, row.locked_by, row.attempts) == ("QUEUED", "skewed-worker", 2)
    await Delivery.filter(id=row.id).update(status="FAILED", locked_by=None, lease_until=None)


async def test_a_provider_that_does_not_answer_is_abandoned_before_the_lease_ends_and_retried(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, worker: Callable[..., Runtime]
) -> None:
    # given a worker with a 1.5 s lease (so a 1.125 s send deadline), and a Bot API that never
    # answers the first request
    await linked_operator(http, tenant, bot_api)
    bot_api.hang_next()
    runtime = worker(lease_seconds=1.5, heartbeat_seconds=0.5, retry_base_seconds=0.4)
    await runtime.start()
    # when a ticket is created
    await publish(tenant, "hang")

    # then the try is abandoned at the deadline and the job waits for its retry
    async def retrying() -> bool:
        return [r.status for r in await telegram_rows(tenant)] == ["RETRYING"]

    await wait_until(retrying, seconds=3)
    (row,) = await telegram_rows(tenant)
    assert (row.attempts, row.last_error, row.locked_by) == (
        1,
        "the provider did not answer within 1.125 s",
        None,
    )

    # and the retry, which the provider answers, sends it
    async def sent() -> bool:
        return [r.status for r in await telegram_rows(tenant)] == ["SENT"]

    await wait_until(sent, seconds=5)
    (row,) = await telegram_rows(tenant)
    assert (row.attempts, row.last_error) == (2, None)
    first, second = bot_api.requests
    assert first.body == second.body
    assert 1.0 <= second.at - first.at < 1.5 + 0.4 * 1.25 + 0.5


async def test_max_attempts_is_the_number_of_tries(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, worker: Callable[..., Runtime]
) -> None:
    # given a worker allowed two tries, and a Bot API failing three times
    await linked_operator(http, tenant, bot_api)
    for _ in range(3):
        bot_api.fail_next(502, "Bad Gateway")
    runtime = worker(retry_max_attempts=2)
    await runtime.start()
    # when a ticket is created
    await publish(tenant, "tries")

    # then the delivery fails after two tries, each counted once
    async def failed() -> bool:
        return [r.status for r in await telegram_rows(tenant)] == ["FAILED"]

    await wait_until(failed)
    (row,) = await telegram_rows(tenant)
    assert row.attempts == 2
    assert row.last_error == "gave up after 2 attempts: Telegram answered HTTP 502"
    assert len(bot_api.sent()) == 2


async def test_a_last_try_cut_short_fails_without_another_send(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, worker: Callable[..., Runtime]
) -> None:
    # given a delivery whose last allowed try was claimed by a worker that died mid-send
    await linked_operator(http, tenant, bot_api)
    runtime = worker(retry_max_attempts=3)
    await publish(tenant, "cut-short")
    await Delivery.filter(instance_id=tenant.id, channel="TELEGRAM").update(
        attempts=3, locked_by="dead-worker", lease_until=now() - timedelta(seconds=1)
    )
    # when a worker claims it once its lease ran out
    await runtime.deliver_due()
    # then it fails with the tries it was allowed, and nothing more is sent
    (row,) = await telegram_rows(tenant)
    assert (row.status, row.attempts, row.locked_by) == ("FAILED", 3, None)
    assert row.last_error == "gave up after 3 attempts: the last one was cut short before its outcome was known"
    assert bot_api.requests == []


# -- worker processes --------------------------------------------------------------------------------


@pytest.fixture
async def cluster(tmp_path: Any) -> AsyncIterator[Cluster]:
    async with deployment(tmp_path) as c:
        yield c


@pytest.fixture
async def slow_bot_api() -> AsyncIterator[FakeBotApi]:
    async with serve_bot_api(BOT_TOKEN) as api:
        yield api


async def wait_telegram(c: Cluster, count: int, seconds: float = 30.0) -> list[Any]:
    """The cluster's TELEGRAM delivery rows once ``count`` of them are final."""

    async def read() -> list[Any]:
        rows = await c.query("SELECT id, status, attempts, last_error FROM nc_delivery WHERE channel = 'TELEGRAM'")
        return sorted(rows, key=lambda r: r["id"])

    return await eventually(
        read, lambda rows: sum(r["status"] in ("SENT", "FAILED") for r in rows) >= count, seconds=seconds, every=0.1
    )


def most_in_flight(api: FakeBotApi, seconds_each: float) -> int:
    """The most requests the provider held at once (each takes ``seconds_each`` to answer)."""
    starts = [r.at for r in api.requests]
    return max(sum(1 for s in starts if s <= t < s + seconds_each) for t in starts)


@pytest.mark.scaled
async def test_two_workers_send_each_slow_message_once(cluster: Cluster, slow_bot_api: FakeBotApi) -> None:
    # given two workers sending two at a time with a 6 s lease, and a Bot API taking 2 s per message
    api = await cluster.serve("api")
    await setup_telegram(cluster, api, slow_bot_api, "olena")
    service = cluster.tokens().issue(instance=INSTANCE, user="platform", role="service")
    env = {"NC_LEASE_SECONDS": "6"}
    await asyncio.gather(
        cluster.worker("worker-1", concurrency=2, env=env), cluster.worker("worker-2", concurrency=2, env=env)
    )
    slow_bot_api.delay = 2.0
    # when 12 tickets are published
    started = time.monotonic()
    for i in range(12):
        await gql(api, service, PUBLISH, {"input": event(f"slow-{i}", "olena")})
    rows = await wait_telegram(cluster, 12)
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.5)
    # then each was sent exactly once, on its first try
    assert [(r["status"], r["attempts"]) for r in rows] == [("SENT", 1)] * 12
    texts = [m["text"].split("\n")[0] for m in slow_bot_api.sent()]
    assert len(texts) == len(set(texts)) == 12
    # and the provider never held more than the two workers' four slots, which were kept busy
    assert most_in_flight(slow_bot_api, 2.0) <= 4
    assert elapsed < 10, f"12 sends of 2 s over 4 slots took {elapsed:.1f} s"


@pytest.mark.scaled
async def test_a_hanging_send_is_abandoned_before_the_lease_ends_and_retried_once(
    cluster: Cluster, slow_bot_api: FakeBotApi
) -> None:
    # given two workers with a 6 s lease (a 4.5 s send deadline), and a Bot API that never
    # answers the first message
    api = await cluster.serve("api")
    await setup_telegram(cluster, api, slow_bot_api, "olena")
    service = cluster.tokens().issue(instance=INSTANCE, user="platform", role="service")
    env = {"NC_LEASE_SECONDS": "6"}
    await asyncio.gather(
        cluster.worker("worker-1", concurrency=2, env=env), cluster.worker("worker-2", concurrency=2, env=env)
    )
    slow_bot_api.hang_next()
    # when a ticket is published
    await gql(api, service, PUBLISH, {"input": event("hang", "olena")})
    (row,) = await wait_telegram(cluster, 1, seconds=15)
    await asyncio.sleep(0.5)
    # then the hanging try was abandoned at the deadline, before its lease could run out, and the
    # retry sent it: two requests to the provider, none while the first one was still in hand
    assert (row["status"], row["attempts"], row["last_error"]) == ("SENT", 2, None)
    first, second = slow_bot_api.requests
    assert first.body == second.body
    assert 4.0 <= second.at - first.at < 6.0
    logs = cluster.log("worker-1").read_text() + cluster.log("worker-2").read_text()
    assert "no answer within 4.5 s" in logs


@pytest.mark.scaled
async def test_a_try_killed_mid_send_is_counted_and_another_worker_completes_it(
    cluster: Cluster, slow_bot_api: FakeBotApi
) -> None:
    # given a worker with a 4 s lease sending a message the Bot API takes 1.5 s to answer
    api = await cluster.serve("api")
    await setup_telegram(cluster, api, slow_bot_api, "olena")
    service = cluster.tokens().issue(instance=INSTANCE, user="platform", role="service")
    env = {"NC_LEASE_SECONDS": "4"}
    await cluster.worker("worker-1", concurrency=2, env=env)
    slow_bot_api.delay = 1.5
    await gql(api, service, PUBLISH, {"input": event("killed", "olena")})
    assert len(await slow_bot_api.wait_for(1, seconds=10)) == 1
    # when the worker is killed with SIGKILL mid-send
    cluster.kill("worker-1")
    # then the try it started is counted, and the job stays leased to the dead worker
    (row,) = await cluster.query("SELECT status, attempts, locked_by FROM nc_delivery WHERE channel = 'TELEGRAM'")
    assert (row["status"], row["attempts"]) == ("QUEUED", 1) and row["locked_by"]
    # when another worker runs
    await cluster.worker("worker-2", concurrency=2, env=env)
    # then it takes the job once the lease ran out and completes it, on the second try
    (row,) = await wait_telegram(cluster, 1, seconds=15)
    assert (row["status"], row["attempts"], row["last_error"]) == ("SENT", 2, None)
    # and the provider saw the message twice: the killed worker's request (which it accepted, but
    # whose answer no one recorded) and the retry
    first, second = slow_bot_api.requests
    assert first.body == second.body
    assert second.at - first.at >= 3.0


async def test_a_providers_retry_after_is_honoured_up_to_an_hour(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, worker: Callable[..., Runtime]
) -> None:
    # given a Bot API asking for a retry in 10^12 s (the runtime's settle caps every channel's delay)
    await linked_operator(http, tenant, bot_api)
    bot_api.fail_next(429, "Too Many Requests", retry_after=10**12)
    runtime = worker()
    await runtime.start()
    before = now()
    # when a ticket is created
    await publish(tenant, "later")

    # then the delivery is retried in an hour
    async def retrying() -> bool:
        return [r.status for r in await telegram_rows(tenant)] == ["RETRYING"]

    await wait_until(retrying)
    (row,) = await telegram_rows(tenant)
    assert row.next_attempt_at is not None and row.locked_by is None
    assert 3590 <= (row.next_attempt_at - before).total_seconds() <= 3610
    await Delivery.filter(id=row.id).update(status="FAILED", next_attempt_at=None)


@pytest.mark.parametrize(
    ("asked", "honoured"),
    [(None, None), (5.0, 5.0), (1e12, 3600.0), (float("inf"), None), (float("nan"), None), (-1.0, None)],
)
def test_a_requested_delay_is_capped_at_an_hour_and_an_unusable_one_ignored(
    asked: float | None, honoured: float | None
) -> None:
    assert retry_delay(asked) == honoured


def test_the_heartbeat_and_the_send_deadline_stay_inside_the_lease() -> None:
    # given only a lease, the heartbeat beats three times per lease and a try gets three quarters of it
    derived = Settings.from_env({"NC_LEASE_SECONDS": "6"})
    assert (derived.heartbeat_every, derived.send_deadline) == (2.0, 4.5)
    # and either may be set, but not to the lease or beyond
    chosen = Settings.from_env({"NC_LEASE_SECONDS": "60", "NC_HEARTBEAT_SECONDS": "5", "NC_SEND_TIMEOUT_SECONDS": "30"})
    assert (chosen.heartbeat_every, chosen.send_deadline) == (5.0, 30.0)
    for name in ("NC_HEARTBEAT_SECONDS", "NC_SEND_TIMEOUT_SECONDS"):
        with pytest.raises(SettingsError, match=f"{name} must be below NC_LEASE_SECONDS"):
            Settings.from_env({"NC_LEASE_SECONDS": "6", name: "6"})
