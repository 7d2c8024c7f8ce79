"""PostgreSQL, at start (services.dispatch.prime_connections): every connection of the pool runs
the publishing path once, in a transaction rolled back, so that the first calls after a start do
not prepare statements (and load a new backend's catalog) on their own time."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest

from models.db import db, transaction
from models.instance import Instance
from models.notification import Notification, ProcessedEvent
from models.operator import Operator
from services.dispatch import PRIME_INSTANCE, prime_connections

pytestmark = pytest.mark.postgres_only  # SQLite has one connection, whose statements need no priming

#: Statements a connection has prepared that insert notifications (the text is cut in two so that
#: this query, prepared too, does not count itself).
PREPARED_INSERTS = (
    "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO ' || '\"nc_notification\"%'"
)


async def prepared_per_connection(size: int) -> list[int]:
    """Each connection of the pool held at once (so each is counted once): how many of the
    publishing path's notification INSERTs it has prepared."""
    all_held = asyncio.Barrier(size)
    counts: list[int] = []

    async def count() -> None:
        async with transaction() as conn:
            await all_held.wait()
            _, rows = await conn.execute_query(PREPARED_INSERTS)
            counts.append(int(rows[0][0]))

    async with asyncio.timeout(10), asyncio.TaskGroup() as group:
        for _ in range(size):
            group.create_task(count())
    return counts


async def test_after_priming_every_connection_has_the_publishing_statements_prepared(app: Any) -> None:
    services = app.state.services
    size = services.settings.db_pool_size
    # New backends, as after a start: none has prepared anything yet.
    await db()._pool.expire_connections()
    assert await prepared_per_connection(size) == [0] * size

    assert await prime_connections(services.broker, services.settings) == size

    assert all(n >= 1 for n in await prepared_per_connection(size))


async def test_priming_leaves_nothing_written(app: Any) -> None:
    services = app.state.services
    assert await prime_connections(services.broker, services.settings) == services.settings.db_pool_size

    assert not await Instance.filter(id=PRIME_INSTANCE).exists()
    assert not await Operator.filter(instance_id=PRIME_INSTANCE).exists()
    assert not await ProcessedEvent.filter(instance_id=PRIME_INSTANCE).exists()
    assert not await Notification.filter(instance_id=PRIME_INSTANCE).exists()


async def test_priming_that_cannot_finish_logs_one_line_and_gives_every_connection_back(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    services = app.state.services
    size = services.settings.db_pool_size
    # One connection more than the pool has: the last can never be held beside the others.
    larger = dataclasses.replace(services.settings, db_pool_size=size + 1)
    with caplog.at_level(logging.WARNING, logger="services.dispatch"):
        assert await prime_connections(services.broker, larger, seconds=0.5) == 0

    [record] = [r for r in caplog.records if "not primed" in r.getMessage()]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "within 0.5 s" in record.getMessage()
    # Every connection is free again: all can be held at once.
    assert len(await prepared_per_connection(size)) == size
