"""Live messages written straight to an idle subscription's socket (api.server.LeanWebSockets,
core.broker.Subscription.direct): the same messages, in the same order, as the queued path; a
socket that stops taking writes falls back to it, and an operation the client completed hears
nothing more."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import pytest
import websockets

from api.server import LeanWebSockets, uvicorn_options
from tests.conftest import Tenant
from tests.fakes.serve import serve_uvicorn
from tests.wsclient import GraphQLWS

BELL = """subscription { bell { __typename
  ... on NotificationAdded { unreadCount notification { id } } ... on NotificationsRead { ids unreadCount } } }"""
#: The bell with each item's data: 4 KiB messages in the test of a reader that stops reading.
BELL_DATA = "subscription { bell { ... on NotificationAdded { unreadCount notification { id data } } } }"
MANY = "mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { notificationCount } }"


def ticket(event_id: str, user: str, size: int = 0) -> dict:
    data = {"ticketNumber": 1, "subject": event_id, "text": "x" * size}
    return {"id": event_id, "type": "ticket_created", "recipients": [user], "data": data}


async def test_a_reader_that_stops_reading_holds_no_backlog_here_and_gets_every_item_once_when_it_reads_again(
    app: Any, tenant: Tenant
) -> None:
    # given alice's bell open on a client that buffers at most 4 messages before it stops
    # reading its socket, with a small receive buffer (the kernel's buffers, then the server's,
    # fill up)
    alice = tenant.operator("alice")
    options = uvicorn_options(app.state.services.settings)
    async with serve_uvicorn(app, ws_ping_interval=None, **options) as (base_url, server):
        url = base_url.replace("http://", "ws://") + "/graphql"
        small = socket.socket()
        small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        small.connect(("127.0.0.1", int(base_url.rsplit(":", 1)[1])))
        async with websockets.connect(url, sock=small, subprotocols=["graphql-transport-ws"], max_queue=4) as ws:
            await ws.send(
                json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}})
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": BELL_DATA}}))
            await asyncio.sleep(0.2)
            await tenant.service().gql(MANY, {"inputs": [ticket("first", "alice")]})
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["payload"]["data"]["bell"]["unreadCount"] == 1
            (held,) = [c for c in server.server_state.connections if isinstance(c, LeanWebSockets)]
            # when 1,500 items of 4 KiB each are published for her while she does not read (~6 MiB)
            most_buffered = 0
            for call in range(15):
                events = [ticket(f"e{call}-{i}", "alice", 4096) for i in range(100)]
                assert "errors" not in (await tenant.service().gql(MANY, {"inputs": events})).body
                most_buffered = max(most_buffered, held.transport.get_write_buffer_size())
            # then the server held no more than its write buffer's high-water mark and a message
            # for her (the rest waits in her subscription's queue, or in the database)
            assert not held.writable.is_set(), "the test never filled the socket"
            assert most_buffered < 64 * 1024 + 8 * 1024
            # and, reading again, she gets each of them exactly once, in order; the last unread count is 1,501
            ids: list[str] = []
            last = 0
            while len(set(ids)) < 1_500:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert message["type"] == "next", message
                bell = message["payload"]["data"]["bell"]
                ids.append(bell["notification"]["id"])
                last = bell["unreadCount"]
            await asyncio.sleep(0.3)
    assert len(ids) == len(set(ids)) == 1_500, "an item came twice"
    assert last == 1_501
    assert ids == sorted(ids, key=int), "items came out of order"


async def test_two_bells_on_one_socket_each_hear_it_and_a_completed_one_hears_nothing_more(
    live_server: str, tenant: Tenant
) -> None:
    # given two bell subscriptions of alice's on one socket
    alice = tenant.operator("alice")
    async with GraphQLWS(live_server, alice.token) as ws:
        first = await ws.subscribe(BELL)
        second = await ws.subscribe(BELL)
        await asyncio.sleep(0.2)
        await tenant.service().gql(MANY, {"inputs": [ticket("both", "alice")]})
        heard = [json.loads(await asyncio.wait_for(ws.ws.recv(), 5)) for _ in range(2)]
        assert sorted(m["id"] for m in heard) == sorted([first, second])
        # when she completes the first and, at once, another item is published
        await ws.ws.send(json.dumps({"id": first, "type": "complete"}))
        await tenant.service().gql(MANY, {"inputs": [ticket("second-only", "alice")]})
        # then only the second hears it
        after = [json.loads(await asyncio.wait_for(ws.ws.recv(), 5))]
        try:
            after.append(json.loads(await asyncio.wait_for(ws.ws.recv(), 0.5)))
        except TimeoutError:
            pass
    assert [(m["id"], m["type"]) for m in after] == [(second, "next")]
    assert after[0]["payload"]["data"]["bell"]["unreadCount"] == 2


PANEL_TOASTS = "subscription { toasts { durationSeconds notification { id } } }"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_clients_that_drop_their_sockets_while_a_batch_is_fanned_out_leave_no_error_in_the_log(
    live_server: str, tenant: Tenant, caplog: pytest.LogCaptureFixture, protocol: str
) -> None:
    # given five operators with the bell and toasts open, as their panels have them
    users = [f"drop-{protocol}-{i}" for i in range(5)]
    clients = [GraphQLWS(live_server, tenant.operator(user).token, protocol) for user in users]
    for client in clients:
        await client.__aenter__()
        await client.subscribe(BELL)
        await client.subscribe(PANEL_TOASTS)
    await asyncio.sleep(0.2)
    caplog.clear()
    # when a call of 500 events for all five is fanned out and their connections drop mid-way
    events = [
        {"id": f"drop-{protocol}-{i}", "type": "ticket_created", "recipients": users, "data": {"ticketNumber": i}}
        for i in range(500)
    ]
    publishing = asyncio.create_task(tenant.service().gql(MANY, {"inputs": events}))
    await clients[0].ws.recv()  # the fan-out has begun
    for client in clients:
        client.ws.transport.abort()
    assert "errors" not in (await publishing).body
    await asyncio.sleep(0.5)
    # then the process logs no error for them (a client leaving is not the server's fault)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_with_permessage_deflate_the_direct_writes_are_compressed_frames_a_client_reads(
    app: Any, tenant: Tenant
) -> None:
    # given the server with permessage-deflate on (NC_WS_PER_MESSAGE_DEFLATE=1) and alice's bell
    # open on a client that negotiates it
    alice = tenant.operator("alice")
    options = {**uvicorn_options(app.state.services.settings), "ws_per_message_deflate": True}
    async with serve_uvicorn(app, ws_ping_interval=None, **options) as (base_url, server):
        url = base_url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"], compression="deflate") as ws:
            assert "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions") or "")
            await ws.send(
                json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}})
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": BELL_DATA}}))
            await asyncio.sleep(0.2)
            # when items with non-ASCII data are published for her
            events = [ticket(f"deflate-{i}", "alice") | {"data": {"subject": "Принтер 🔥", "n": i}} for i in range(20)]
            assert "errors" not in (await tenant.service().gql(MANY, {"inputs": events})).body
            # then each arrives whole, in order
            got = [json.loads(await asyncio.wait_for(ws.recv(), 5))["payload"]["data"]["bell"] for _ in range(20)]
    assert [g["notification"]["data"]["n"] for g in got] == list(range(20))
    assert {g["notification"]["data"]["subject"] for g in got} == {"Принтер 🔥"}
    assert [g["unreadCount"] for g in got] == list(range(1, 21))
