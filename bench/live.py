"""Many graphql-transport-ws clients in one process, each holding one bell subscription.

The same code runs against the real service and against bench/raw_server.py: connect, send
connection_init with the operator's token, wait for connection_ack, subscribe to the bell, then
read. Each ``next`` carries the publisher's ``sentAt`` in the notification's data, so the
publish-to-receipt latency is measured on one clock (this process's).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.common import BELL_SUBSCRIPTION, PANEL_SUBSCRIPTIONS

INIT = '{{"type":"connection_init","payload":{{"authorization":"Bearer {token}"}}}}'
SUBSCRIBE = json.dumps({"id": "1", "type": "subscribe", "payload": {"query": BELL_SUBSCRIPTION}})
#: A panel page's other subscriptions on its one socket (``panel=True``).
SUBSCRIBE_PANEL = [
    json.dumps({"id": str(i), "type": "subscribe", "payload": {"query": q}})
    for i, q in enumerate(PANEL_SUBSCRIPTIONS, start=2)
]


class LiveClients:
    def __init__(self, host: str, port: int, tokens: list[str], *, deflate: bool = True, panel: bool = False) -> None:
        """``panel``: each socket also holds the panel page's reminders and toasts subscriptions."""
        self.url = f"ws://{host}:{port}/graphql"
        self.tokens = tokens
        self.deflate = deflate
        self.panel = panel
        self.sockets: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.warm: set[int] = set()
        self.latencies: list[float] = []
        self.received = 0
        self.expected = 0
        self.first_receipt: float | None = None
        self.last_receipt: float | None = None
        self.done = asyncio.Event()
        self.all_warm = asyncio.Event()
        self.closing = False
        self.unexpected_closes = 0
        #: Notification ids each client received (counted items only): a second receipt is a duplicate.
        self.seen: list[set[str]] = [set() for _ in tokens]
        self.duplicates = 0
        #: When set, the ticket numbers each client is meant to get: any other is misdelivered.
        self.wanted: list[set[int]] | None = None
        #: The wanted ticket numbers each client got: what is wanted and not got is lost.
        self.got: list[set[int]] = [set() for _ in tokens]
        self.misdelivered = 0

    def lost(self) -> int:
        """Messages wanted and not received, client by client and ticket by ticket (one client's
        extra or misdelivered message does not make up for another's missing one)."""
        if self.wanted is None:
            return 0
        return sum(len(wanted - got) for wanted, got in zip(self.wanted, self.got, strict=True))

    # -- connecting ---------------------------------------------------------------------------
    async def connect_all(self, concurrency: int = 100) -> float:
        """Connect and subscribe every token; returns the seconds it took."""
        gate = asyncio.Semaphore(concurrency)
        started = time.perf_counter()
        await asyncio.gather(*(self._connect(i, token, gate) for i, token in enumerate(self.tokens)))
        return time.perf_counter() - started

    async def _connect(self, index: int, token: str, gate: asyncio.Semaphore) -> None:
        ws: ClientConnection | None = None
        async with gate:
            try:
                ws = await connect(
                    self.url,
                    subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                    compression="deflate" if self.deflate else None,
                    ping_interval=None,
                    open_timeout=60,
                    close_timeout=5,
                    max_size=2**22,
                    max_queue=None,
                    proxy=None,
                )
                await ws.send(INIT.format(token=token))
                ack = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"expected connection_ack, got {ack}")
                await ws.send(SUBSCRIBE)
                if self.panel:
                    for subscribe in SUBSCRIBE_PANEL:
                        await ws.send(subscribe)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                self.failed.append(f"{type(exc).__name__}: {exc}"[:200])
                if ws is not None:
                    await ws.close()
                return
        self.sockets.append(ws)
        self.readers.append(asyncio.create_task(self._read(index, ws)))

    # -- reading ------------------------------------------------------------------------------
    async def _read(self, index: int, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                at = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "next":
                    payload = message["payload"]
                    if payload.get("errors"):
                        self.errors.append(str(payload["errors"])[:300])
                        continue
                    bell = payload["data"]["bell"]
                    if bell.get("__typename") != "NotificationAdded":
                        continue
                    data = bell["notification"]["data"] or {}
                    if data.get("warmup"):
                        self.warm.add(index)
                        if len(self.warm) >= len(self.sockets):
                            self.all_warm.set()
                        continue
                    notification_id = bell["notification"]["id"]
                    if notification_id in self.seen[index]:
                        self.duplicates += 1
                        continue
                    self.seen[index].add(notification_id)
                    if self.wanted is not None:
                        if data.get("ticketNumber") in self.wanted[index]:
                            self.got[index].add(data["ticketNumber"])
                        else:
                            self.misdelivered += 1
                    self.latencies.append(at - data["sentAt"])
                    self.received += 1
                    if self.first_receipt is None:
                        self.first_receipt = at
                    self.last_receipt = at
                    if self.expected and self.received >= self.expected:
                        self.done.set()
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind in ("error", "complete"):
                    self.errors.append(str(message)[:300])
        except ConnectionClosed:
            if not self.closing:
                self.unexpected_closes += 1

    async def sync(self, publish_warmup: Any, seconds: float = 30.0) -> float:
        """Publish warm-up events until every client received one: all subscriptions are live.

        Returns the seconds it took. Warm-up items are marked in their data and never counted.
        """
        started = time.perf_counter()
        deadline = started + seconds
        attempt = 0
        while len(self.warm) < len(self.sockets) and time.perf_counter() < deadline:
            await publish_warmup(attempt)
            attempt += 1
            try:
                await asyncio.wait_for(self.all_warm.wait(), max(0.01, min(2.0, deadline - time.perf_counter())))
            except TimeoutError:
                pass
        if len(self.warm) < len(self.sockets):
            raise RuntimeError(f"only {len(self.warm)} of {len(self.sockets)} subscriptions got the warm-up item")
        await asyncio.sleep(0.3)  # let stragglers of a second warm-up go by
        return time.perf_counter() - started

    async def wait(self, expected: int, seconds: float) -> bool:
        self.expected = expected
        if self.received >= expected:
            return True
        try:
            await asyncio.wait_for(self.done.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def close(self, concurrency: int = 500) -> None:
        self.closing = True
        gate = asyncio.Semaphore(concurrency)

        async def one(ws: ClientConnection) -> None:
            async with gate:
                try:
                    await ws.close()
                except Exception:  # noqa: BLE001 - closing anyway
                    pass

        await asyncio.gather(*(one(ws) for ws in self.sockets))
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
