"""What an open panel's socket keeps while it idles: the memory each of 10,000 panels costs
(bench section 5) comes from here, so the handshake is let go and the queues are light."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import pytest
import websockets

from api.app import NotificationCenterApp
from api.server import LeanWebSockets, _Writable, uvicorn_options
from core.broker import Mailbox
from core.logs import REQUEST_ID
from tests.conftest import Tenant
from tests.fakes.serve import serve_uvicorn
from tests.wsclient import GraphQLWS

BELL = "subscription { bell { ... on NotificationAdded { unreadCount notification { id title } } } }"
PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"


async def test_an_idle_panel_socket_lets_go_of_its_handshake_and_still_hears_its_bell(app: Any, tenant: Tenant) -> None:
    # given the app served by uvicorn with the service's own options, and alice's bell open
    options = uvicorn_options(app.state.services.settings)
    async with serve_uvicorn(app, ws_ping_interval=None, **options) as (base_url, server):
        alice = tenant.operator("alice")
        async with GraphQLWS(base_url.removeprefix("http://"), alice.token) as ws:
            await ws.subscribe(BELL)
            await asyncio.sleep(0.2)
            # then her socket holds neither the handshake's request headers nor its response
            sockets = [c for c in server.server_state.connections if isinstance(c, LeanWebSockets)]
            assert len(sockets) == 1
            (held,) = sockets
            assert held.request is None and held.response is None
            assert isinstance(held.queue, Mailbox) and isinstance(held.writable, _Writable)
            assert held.queue.empty() and held.queue._items is None, "an idle inbox keeps no deque"
            assert held.scope["headers"], "the app's own copy of the headers stays"
            # and when a ticket comes for her, her bell shows it
            event = {"id": "idle-1", "type": "ticket_created", "recipients": ["alice"], "data": {"ticketNumber": 7}}
            assert (await tenant.service().gql(PUBLISH, {"input": event})).data
            message = (await ws.next(timeout=5.0))["bell"]
            assert message["unreadCount"] == 1 and "7" in message["notification"]["title"]


async def test_the_inbox_hands_messages_over_in_order_and_wakes_its_reader() -> None:
    inbox = Mailbox(sys.maxsize)
    assert inbox.empty() and inbox.qsize() == 0
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()  # nothing yet: the reader waits
    inbox.put_nowait({"n": 1})
    inbox.put_nowait({"n": 2})
    assert await asyncio.wait_for(reader, 1) == {"n": 1}
    assert inbox.qsize() == 1 and await inbox.get() == {"n": 2} and inbox.empty()
    assert inbox._items is None  # emptied: its deque is let go until the next message


async def test_the_write_flag_holds_writers_while_the_client_reads_slowly() -> None:
    flag = _Writable()
    assert flag.is_set() and await flag.wait()
    flag.clear()  # the transport's buffer is full: uvicorn pauses writing
    writers = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in writers)
    flag.set()  # drained: every waiting writer goes on
    assert await asyncio.wait_for(asyncio.gather(*writers), 1) == [True, True, True]


async def test_a_panel_socket_goes_straight_to_graphql_with_its_request_id() -> None:
    # given the app with a recording GraphQL endpoint in place of the real one
    seen: list[tuple[str, str | None]] = []

    async def graphql(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["path"], REQUEST_ID.get()))

    app = NotificationCenterApp(routes=[])
    app.live = graphql
    scope = {"type": "websocket", "path": "/graphql", "headers": [(b"x-request-id", b"panel-7")]}
    # when a panel connects, giving its request id, and another without one
    await app(scope, None, None)
    await app({**scope, "headers": []}, None, None)
    # then both reach it with a request id for their log lines: the panel's, and a new one
    assert seen[0] == ("/graphql", "panel-7")
    assert seen[1][1] and seen[1][1] != "panel-7"
    assert REQUEST_ID.get() is None


async def test_a_writer_cancelled_while_it_waits_leaves_nothing_behind() -> None:
    # given a socket whose client stopped reading (writes paused)
    flag = _Writable()
    flag.clear()
    # when a thousand operations blocked on it end (the client completes them over and over)
    for _ in range(1000):
        writer = asyncio.create_task(flag.wait())
        await asyncio.sleep(0)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    # then the flag keeps none of their futures
    assert not flag._waiters


async def test_a_text_message_that_is_not_utf8_closes_the_socket_with_one_log_line(
    live_server: str, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    alice = tenant.operator("alice")
    caplog.set_level(logging.INFO)
    ids: list[str | None] = []

    class RequestIdOf(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "not UTF-8" in record.getMessage():
                ids.append(REQUEST_ID.get())

    catcher = RequestIdOf()
    logging.getLogger("nc.server").addHandler(catcher)
    async with GraphQLWS(live_server, alice.token, headers={"X-Request-ID": "panel-utf8"}) as ws:
        # when the client sends a text frame of bytes that are not UTF-8
        await ws.ws.send(b"\xff\xfe{}", text=True)
        # then the socket is closed with 1007 (invalid data)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    said = [r for r in caplog.records if "not UTF-8" in r.getMessage() or "Invalid UTF-8" in r.getMessage()]
    logging.getLogger("nc.server").removeHandler(catcher)
    assert len(said) == 1 and said[0].exc_info is None and said[0].levelno == logging.INFO
    assert ids == ["panel-utf8"], "the line carries the socket's request id"
