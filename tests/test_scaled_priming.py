"""Start-up on PostgreSQL (services.dispatch.prime_connections) when the database stops answering
while the pool's connections are primed: the service still starts within NC_DB_PRIME_SECONDS.

A real `serve` process whose database connections go through a local TCP relay; the relay stops
passing anything, either way, on a connection once it carries the priming's notification INSERT
(the database still holds the connection: no reset, as when a network drops packets)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.cluster import deployment, free_port

pytestmark = pytest.mark.scaled


@asynccontextmanager
async def stalling_relay(upstream_port: int, trigger: bytes) -> AsyncIterator[int]:
    """A relay to 127.0.0.1:``upstream_port`` (its port) that goes silent on a connection once
    the client sent ``trigger`` on it."""
    tasks: set[asyncio.Task[None]] = set()

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        stalled = asyncio.Event()

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, watch: bool) -> None:
            while not stalled.is_set():
                data = await reader.read(65536)
                if not data:
                    break
                if watch and trigger in data:
                    stalled.set()
                    break
                writer.write(data)
                await writer.drain()

        both = asyncio.gather(pump(client_reader, upstream_writer, True), pump(upstream_reader, client_writer, False))
        try:
            await both
            await asyncio.Event().wait()  # silent from now on, both sockets kept open
        finally:
            both.cancel()
            client_writer.close()
            upstream_writer.close()

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(relay(reader, writer))
        tasks.add(task)

    port = free_port()
    server = await asyncio.start_server(accepted, "127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_database_that_stops_answering_while_priming_delays_the_start_by_the_limit_only(tmp_path) -> None:
    """The service answers /healthz within NC_DB_PRIME_SECONDS, and /readyz "not ready" at once."""
    async with deployment(tmp_path) as cluster, stalling_relay(5432, b"nc_notification") as port:
        cluster.overrides.update(
            NC_DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/{cluster.database}",
            NC_DB_POOL_SIZE="2",
            NC_DB_PRIME_SECONDS="1",
        )
        started = time.monotonic()
        base = cluster.start_serve("api")
        async with httpx.AsyncClient() as client:
            while True:
                assert time.monotonic() - started < 15, cluster.log("api").read_text()
                assert cluster.processes["api"].poll() is None, cluster.log("api").read_text()
                try:
                    if (await client.get(f"{base}/healthz", timeout=1)).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            # and /readyz says it is not ready, promptly, though its database check cannot finish
            asked = time.monotonic()
            ready = await client.get(f"{base}/readyz", timeout=10)
            assert (ready.status_code, time.monotonic() - asked < 5) == (503, True)
            # (saying which check did not answer, and what the others found)
            checks = {"database": "error: no answer within 2 s", "redis": "ok"}
            assert ready.json() == {"ready": False, "checks": checks}
        log = cluster.log("api").read_text()
        assert log.count("were not primed within 1 s") == 1, log
        assert "Traceback" not in log
        cluster.kill("api")  # its connections stay stuck in the relay: no graceful stop to wait for
