"""Stopping `serve` while a client that stopped reading holds a socket full of unsent messages:
the server closes it after NC_SHUTDOWN_GRACE_SECONDS instead of waiting for that client."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import websockets

from core.settings import Secret, Settings
from services.auth import TokenCodec
from tests.served import start_demo_serve

BELL = "subscription { bell { ... on NotificationAdded { notification { id title body data } } } }"
MANY = "mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { notificationCount } }"


async def test_a_client_that_stopped_reading_does_not_hold_the_shutdown(tmp_path: Path) -> None:
    secret = secrets.token_urlsafe(40)
    codec = TokenCodec(Settings(jwt_secret=Secret(secret)))
    alice = codec.issue(instance="stall", user="alice", role="operator")
    service = codec.issue(instance="stall", user="svc", role="service")
    served = await asyncio.to_thread(
        lambda: start_demo_serve(tmp_path, NC_JWT_SECRET=secret, NC_SHUTDOWN_GRACE_SECONDS="2")
    )
    try:
        # given alice's bell open on a client that reads one message and then nothing more
        host = served.base.removeprefix("http://")
        ws = await websockets.connect(f"ws://{host}/graphql", subprotocols=["graphql-transport-ws"], max_queue=1)
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {alice}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": BELL}}))
        await asyncio.sleep(0.3)
        # and ~12 MB of bell items published to her: more than the sockets' buffers take
        async with httpx.AsyncClient(base_url=served.base, timeout=30) as http:
            for call in range(6):
                events = [
                    {
                        "id": f"big-{call}-{i}",
                        "type": "ticket_created",
                        "recipients": ["alice"],
                        "data": {"ticketNumber": call * 1000 + i, "subject": "x" * 8000},
                    }
                    for i in range(250)
                ]
                response = await http.post(
                    "/graphql",
                    json={"query": MANY, "variables": {"inputs": events}},
                    headers={"Authorization": f"Bearer {service}"},
                )
                assert "errors" not in response.json(), response.text[:500]
        await asyncio.sleep(0.5)
        # when the server is told to stop while that client still holds its socket open
        started = time.monotonic()
        served.proc.terminate()
        try:
            code = await asyncio.to_thread(served.proc.wait, 25)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - started
        # then it stops soon after its grace period, cleanly, without waiting for that client
        assert code is not None, f"serve was still running {took:.0f} s after SIGTERM"
        assert took < 12, f"serve took {took:.1f} s to stop (grace 2 s)"
        assert "Traceback" not in served.log_path.read_text()
        await ws.close()
    finally:
        served.stop()
