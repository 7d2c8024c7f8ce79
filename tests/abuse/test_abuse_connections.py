"""Connections: slow requests, many sockets per user, oversized frames, sessions past their token."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from tests.abuse.conftest import Served

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"
BELL = "subscription { bell { __typename ... on NotificationAdded { notification { title } } } }"


@pytest.fixture(scope="module")
def server(serve) -> Served:
    return serve(
        NC_RATE_LIMIT_USER="off",
        NC_RATE_LIMIT_ANONYMOUS="off",
        NC_LIMIT_WEBSOCKETS_PER_USER="5",
        NC_LIMIT_PENDING_WEBSOCKETS_PER_ADDRESS="20",
        NC_LIMIT_CONNECTIONS_PER_ADDRESS="1200",
        NC_HEADER_TIMEOUT_SECONDS="1",
        NC_BODY_TIMEOUT_SECONDS="1",
        NC_CONNECTION_INIT_TIMEOUT_SECONDS="1",
    )


async def _connect(server: Served, token: str, protocol: str = "graphql-transport-ws") -> websockets.ClientConnection:
    ws = await websockets.connect(f"ws://{server.host}/graphql", subprotocols=[protocol], max_size=None)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    return ws


async def _closed_with(ws: websockets.ClientConnection, seconds: float = 5.0) -> int:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), seconds)
    assert closed.value.rcvd is not None, "the server should close the socket, not drop it"
    return closed.value.rcvd.code


def test_the_open_files_limit_is_raised_at_start(server: Served) -> None:
    soft, hard = server.open_files_limit()
    assert soft == hard and soft > 1024, (soft, hard)


async def test_slow_partial_requests_are_closed_and_the_service_keeps_answering(server: Served) -> None:
    # 1,100 connections (more than the 1,024 files the server was started with) that send part of
    # a request line and then a byte every 0.4 s, as a slowloris client does.
    connections = []
    for _ in range(1_100):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        connections.append((asyncio.ensure_future(reader.read()), writer))  # b"" once the server closes
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{server.base}/healthz")).status_code == 200
        while time.monotonic() - started < 6 and not all(eof.done() for eof, _ in connections):
            for eof, writer in connections:
                if not eof.done():
                    writer.write(b"a")
            await asyncio.sleep(0.4)
        closed_after = time.monotonic() - started
        assert (await client.get(f"{server.base}/healthz")).status_code == 200
    open_left = sum(not eof.done() for eof, _ in connections)
    for eof, writer in connections:
        eof.cancel()
        writer.close()
    assert open_left == 0 and closed_after < 4, f"{open_left} still open after {closed_after:.1f} s"


async def test_connections_past_the_per_address_cap_are_closed_while_other_addresses_connect(serve) -> None:
    capped = serve(NC_LIMIT_CONNECTIONS_PER_ADDRESS="20")
    held = [await asyncio.open_connection("127.0.0.1", capped.port) for _ in range(20)]
    reader, writer = await asyncio.open_connection("127.0.0.1", capped.port)
    assert await asyncio.wait_for(reader.read(), 5) == b"", "the 21st connection is closed at once"
    writer.close()
    # another address of the loopback range is a client of its own
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"), timeout=5) as other:
        assert (await other.get(f"{capped.base}/healthz")).status_code == 200
    for _, w in held:
        w.close()
    await asyncio.sleep(0.3)
    async with httpx.AsyncClient(timeout=5) as again:
        assert (await again.get(f"{capped.base}/healthz")).status_code == 200, "closing frees the places"
    # WebSockets hold a place while open and give it back when they close, 30 times over
    token = capped.token("op-olena")
    for _ in range(30):
        ws = await _connect(capped, token)
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.close()
    await asyncio.sleep(0.3)
    async with httpx.AsyncClient(timeout=5) as last:
        assert (await last.get(f"{capped.base}/healthz")).status_code == 200


async def test_request_heads_over_the_limit_are_refused(server: Served) -> None:
    async def send(head: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head)
        try:
            return await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError:
            return b"reset"  # the server closed with our surplus bytes unread
        finally:
            writer.close()

    big_header = await send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n")
    long_url = await send(b"GET /" + b"a" * 300_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert big_header.startswith(b"HTTP/1.1 431") or big_header == b"reset"
    assert long_url.startswith(b"HTTP/1.1 431") or long_url == b"reset"
    async with httpx.AsyncClient(timeout=5) as client:
        metrics = (await client.get(f"{server.base}/metrics")).text
        assert (await client.get(f"{server.base}/healthz")).status_code == 200
    assert 'nc_requests_refused_total{reason="headers_too_large"} 2.0' in metrics


async def test_a_connection_cannot_queue_thousands_of_pipelined_requests(server: Served) -> None:
    before = server.rss_mib()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 5_000)  # 170 KB: one read for the server
    try:
        answered = await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        answered = b""
    writer.close()
    assert answered.count(b"HTTP/1.1 200") <= 17, "at most 16 wait behind the one being answered"
    assert server.rss_mib() - before < 20
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{server.base}/healthz")).status_code == 200


async def test_upgrades_cannot_dodge_the_deadlines_or_ride_behind_a_request(server: Served) -> None:
    upgrade = (
        "GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: graphql-transport-ws\r\n"
    )
    # an upgrade announcing a body is refused (the WebSocket side would wait for the client forever)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write((upgrade + "Content-Length: 100\r\n\r\n").encode())
    started = time.monotonic()
    closed = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert (closed == b"" or closed.startswith(b"HTTP/1.1 400")) and time.monotonic() - started < 3
    # an upgrade right behind a request being answered is refused, quietly
    token = server.token("op-pipe")
    body = b'{"query": "{ unreadCount }"}'
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    for _ in range(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(request + (upgrade + "\r\n").encode())
        try:
            answer = await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError:
            answer = b""
        writer.close()
        assert b"101 Switching Protocols" not in answer
    # a header line that never ends is cut at NC_LIMIT_HEADER_BYTES, not buffered
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ")
    sent = 0
    with pytest.raises((ConnectionError, OSError)):
        for _ in range(200):
            writer.write(b"a" * 65_536)
            await writer.drain()
            sent += 65_536
            await asyncio.sleep(0.005)
    writer.close()
    assert sent < 2_000_000
    await asyncio.sleep(0.3)
    assert server.tracebacks() == 0, server.log.read_text()[-2000:]


async def test_a_slow_body_is_cut_off_and_a_client_leaving_mid_body_is_not_a_traceback(server: Served) -> None:
    token = server.token("op-taras")
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    # a body trickled a byte at a time is closed after NC_BODY_TIMEOUT_SECONDS (1 s here)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head + b'{"query": "')
    eof = asyncio.ensure_future(reader.read())
    started = time.monotonic()
    while not eof.done() and time.monotonic() - started < 5:
        writer.write(b"a")
        await asyncio.sleep(0.2)
    writer.close()
    assert eof.done() and time.monotonic() - started < 3
    # a client that sends half a body and leaves
    for _ in range(20):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head + b'{"query": "{ unreadCount }", "pad": "' + b"x" * 1000)
        await writer.drain()
        writer.close()
    await asyncio.sleep(0.5)
    assert server.tracebacks() == 0, server.log.read_text()[-3000:]


async def test_one_user_cannot_hold_more_than_their_websockets_while_others_connect(server: Served) -> None:
    olena, taras = server.token("op-olena"), server.token("op-taras")
    held = [await _connect(server, olena) for _ in range(5)]
    for ws in held:
        assert json.loads(await ws.recv())["type"] == "connection_ack"
    extra = await _connect(server, olena)
    assert await _closed_with(extra) == 4429
    other = await _connect(server, taras)
    assert json.loads(await other.recv())["type"] == "connection_ack"
    # a place is free again once one of hers closes
    await held.pop().close()
    await asyncio.sleep(0.2)
    again = await _connect(server, olena)
    assert json.loads(await again.recv())["type"] == "connection_ack"
    for ws in [*held, other, again]:
        await ws.close()


async def test_users_whose_ids_joined_read_alike_hold_their_websockets_apart(server: Served) -> None:
    # given instance "demo"'s user "x:y", holding all their sockets
    joined = server.token("x:y")
    held = [await _connect(server, joined) for _ in range(5)]
    for ws in held:
        assert json.loads(await ws.recv())["type"] == "connection_ack"
    # when instance "demo:x"'s user "y" connects: "demo:x:y" either way, once one count
    other = await _connect(server, server.token("y", instance="demo:x"))
    # then they have their own places
    assert json.loads(await other.recv())["type"] == "connection_ack"
    for ws in [*held, other]:
        await ws.close()


async def test_a_frame_over_the_body_limit_is_refused(server: Served) -> None:
    ws = await _connect(server, server.token("op-anna"))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    ids = json.dumps([str(i) for i in range(2_500_000)])  # ~20 MB
    frame = (
        '{"id":"1","type":"subscribe","payload":{"query":"mutation($i:[ID!]!){markNotificationsRead(ids:$i){unreadCount}}","variables":{"i":'
        + ids
        + "}}}"
    )
    assert len(frame) > 20_000_000
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.send(frame)
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{server.base}/healthz")).status_code == 200


async def test_sockets_that_never_authenticate_are_capped_per_address(server: Served) -> None:
    waiting = [
        await websockets.connect(f"ws://{server.host}/graphql", subprotocols=["graphql-transport-ws"])
        for _ in range(20)
    ]
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"ws://{server.host}/graphql", subprotocols=["graphql-transport-ws"])
    assert refused.value.response.status_code == 403
    # authenticating frees the place
    first = waiting.pop()
    await first.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {server.token('op-x')}"}})
    )
    assert json.loads(await first.recv())["type"] == "connection_ack"
    late = await _connect(server, server.token("op-y"))
    assert json.loads(await late.recv())["type"] == "connection_ack"
    for ws in [*waiting, first, late]:
        await ws.close()


async def test_a_legacy_socket_that_never_initialises_is_closed(server: Served) -> None:
    ws = await websockets.connect(f"ws://{server.host}/graphql", subprotocols=["graphql-ws"])
    assert await _closed_with(ws, 5) == 4408


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_session_ends_with_its_token_and_nothing_arrives_after_exp(server: Served, protocol: str) -> None:
    service = server.token("svc-platform", "service")
    ttl = 3
    token = server.token("op-olena", ttl=ttl)
    expires_at = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[1] + "=="))["exp"]
    ws = await _connect(server, token, protocol)
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    await ws.send(json.dumps({"id": "b", "type": start, "payload": {"query": BELL}}))
    await asyncio.sleep(0.3)
    async with httpx.AsyncClient(timeout=5) as client:

        async def publish(event_id: str) -> None:
            answer = await client.post(
                f"{server.base}/graphql",
                json={
                    "query": PUBLISH,
                    "variables": {
                        "input": {
                            "id": event_id,
                            "type": "ticket_created",
                            "recipients": ["op-olena"],
                            "data": {"ticketNumber": 7, "subject": event_id},
                        }
                    },
                },
                headers={"Authorization": f"Bearer {service}"},
            )
            assert "errors" not in answer.json(), answer.json()

        await publish(f"before-exp-{protocol}")
        received = []
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if message["type"] in ("next", "data"):
                received.append(message)
                break
        # right at expiry another event is published: it must not reach the expired session
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await publish(f"after-exp-{protocol}")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if message["type"] not in ("ka",):
                    received.append(message)
    closed_at = time.time()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert expires_at <= closed_at < expires_at + 2
    assert len(received) == 1, received
