"""The providers' HTTP client (channels/http_client.py) against local sockets: what it sends, what
it reads back, how each way of getting no answer is named, and the address check at connect time."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest

from channels.base import RetryLater
from channels.http import network_failure
from channels.http_client import (
    LIMIT,
    LIMIT_PER_HOST,
    TIMEOUT,
    USER_AGENT,
    Answer,
    ConnectError,
    ConnectTimeout,
    InvalidURL,
    ProviderClient,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    TransportError,
)
from core.urls import UnsafeUrl
from tests.fakes.dns import FixedResolver

TOKEN = "123456:AAE-secret-token"
SHORT = aiohttp.ClientTimeout(total=1.0, connect=0.5)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def listening(handler: Handler) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 running ``handler`` for each connection; yields its port."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    line, *fields = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (f.split(":", 1) for f in fields if ":" in f)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return line, headers, body


def http_answer(status: str, body: bytes = b"", headers: tuple[str, ...] = ()) -> bytes:
    head = "\r\n".join((f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers))
    return head.encode() + b"\r\n\r\n" + body


class Recorder:
    """Answers every request on a connection with the next scripted answer; records requests."""

    def __init__(self, *answers: bytes) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.connections = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                self.requests.append(await read_request(reader))
                writer.write(self.answers.pop(0))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_a_post_sends_compact_json_with_the_user_agent_and_reads_the_answer_whole() -> None:
    # given a provider answering JSON with a Retry-After
    body = '{"ok":false,"description":"caf\u00e9"}'.encode()
    server = Recorder(
        http_answer("429 Too Many Requests", body, ("Content-Type: application/json; charset=utf-8", "Retry-After: 7"))
    )
    async with listening(server) as port, ProviderClient(allow_private=True) as client:
        # when a JSON body is posted with a header of the caller's
        answer = await client.post(
            f"http://127.0.0.1:{port}/bot{TOKEN}/sendMessage", json={"text": "Принтер", "n": 1}, headers={"X-A": "b"}
        )
    # then the request was the compact UTF-8 JSON httpx sent, with the service's User-Agent
    [(line, headers, sent)] = server.requests
    assert line == f"POST /bot{TOKEN}/sendMessage HTTP/1.1"
    assert sent == '{"text":"Принтер","n":1}'.encode()
    assert headers["content-type"] == "application/json"
    assert (headers["user-agent"], headers["x-a"]) == (USER_AGENT, "b")
    # and the answer has its status, headers (any case), text in its charset, and JSON
    assert answer.status_code == 429
    assert answer.headers.get("retry-after") == "7" and answer.headers["RETRY-AFTER"] == "7"
    assert answer.text == '{"ok":false,"description":"café"}'
    assert answer.json() == {"ok": False, "description": "café"}


async def test_raw_content_is_sent_as_given() -> None:
    server = Recorder(http_answer("204 No Content"))
    async with listening(server) as port, ProviderClient(allow_private=True) as client:
        answer = await client.post(
            f"http://127.0.0.1:{port}/hook", content=b'{"a": 1}', headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 204 and answer.content == b""
    assert server.requests[0][2] == b'{"a": 1}'


async def test_a_redirect_is_handed_back_not_followed() -> None:
    # given a provider that redirects to another server
    elsewhere = Recorder(http_answer("200 OK", b"inside"))
    async with listening(elsewhere) as inside_port:
        redirecting = Recorder(
            http_answer("307 Temporary Redirect", headers=(f"Location: http://127.0.0.1:{inside_port}/",))
        )
        async with listening(redirecting) as port, ProviderClient(allow_private=True) as client:
            # when the client posts to it
            answer = await client.post(f"http://127.0.0.1:{port}/hook", json={})
    # then the redirect is the answer and the other server got nothing
    assert answer.status_code == 307
    assert answer.headers["location"] == f"http://127.0.0.1:{inside_port}/"
    assert elsewhere.requests == []


async def test_connections_are_reused_and_cookies_are_not_kept() -> None:
    # given a provider that sets a cookie
    server = Recorder(http_answer("200 OK", b"{}", ("Set-Cookie: session=abc; Path=/",)), http_answer("200 OK", b"{}"))
    async with listening(server) as port, ProviderClient(allow_private=True) as client:
        # when two requests follow each other
        for _ in range(2):
            assert (await client.post(f"http://127.0.0.1:{port}/hook", json={})).status_code == 200
    # then they went over one connection, and the second did not send the first answer's cookie
    assert server.connections == 1
    assert "cookie" not in server.requests[1][1]


async def test_the_session_is_pooled_with_the_services_timeouts() -> None:
    async with ProviderClient(allow_private=True) as client:
        session = client.session
        assert (TIMEOUT.total, TIMEOUT.connect) == (10, 5)
        assert session.timeout == TIMEOUT
        assert session.connector is not None
        assert (session.connector.limit, session.connector.limit_per_host) == (LIMIT, LIMIT_PER_HOST)
        assert session.headers["User-Agent"] == USER_AGENT


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.close()


async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HELLO THERE\r\n\r\n")
    await writer.drain()
    writer.close()


async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    await writer.drain()
    writer.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.read()  # until the client gives up
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("handler", "scheme", "kind"),
    [
        (close_at_once, "http", RemoteProtocolError),
        (reset, "http", ReadError),
        (not_http, "http", RemoteProtocolError),
        (cut_short, "http", RemoteProtocolError),
        (silent, "http", ReadTimeout),  # connected, never answered
        (silent, "https", ConnectTimeout),  # TLS never set up
    ],
)
async def test_each_way_of_getting_no_answer_has_its_kind_and_no_url(
    handler: Handler, scheme: str, kind: type[TransportError]
) -> None:
    # given a server that fails the request in its own way
    async with listening(handler) as port, ProviderClient(allow_private=True, timeout=SHORT) as client:
        # when the client posts to it, a token in the path
        with pytest.raises(TransportError) as failed:
            await client.post(f"{scheme}://127.0.0.1:{port}/bot{TOKEN}/sendMessage", json={})
    # then the failure is named as httpx named it, and nothing in it quotes the URL
    assert type(failed.value) is kind
    assert str(failed.value) == "" and failed.value.__cause__ is None and failed.value.__suppress_context__
    assert network_failure(failed.value, "Telegram") == RetryLater(
        f"Telegram could not be reached ({kind.__name__}): retrying"
    )


async def test_a_refused_connection_and_an_unknown_name_are_connect_errors() -> None:
    # given a port nobody listens on, and a name that does not exist
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for allow_private in (True, False):
        async with ProviderClient(allow_private=allow_private, resolver=FixedResolver(), timeout=SHORT) as client:
            for url in (f"http://127.0.0.1:{port}/bot{TOKEN}/x", f"http://nothing-here.example/bot{TOKEN}/x"):
                # when the client posts there
                with pytest.raises(ConnectError) as failed:
                    await client.post(url, json={})
                # then it could not connect, and says no more
                assert str(failed.value) == ""
                assert network_failure(failed.value, "Viber") == RetryLater(
                    "Viber could not be reached (ConnectError): retrying"
                )


async def test_a_url_no_request_can_be_made_of_is_invalid_and_not_repeated() -> None:
    async with ProviderClient(allow_private=True) as client:
        for url in (f"https://[::1/bot{TOKEN}/x", f"https:///bot{TOKEN}/x", f"ftp://example.com/bot{TOKEN}/x"):
            with pytest.raises(InvalidURL) as invalid:
                await client.post(url, json={})
            assert TOKEN not in str(invalid.value)


def test_an_answer_decodes_with_its_charset_or_utf8_and_refuses_what_is_not_json() -> None:
    assert Answer(200, "é".encode()).text == "é"
    assert Answer(200, "é".encode("latin-1"), charset="iso-8859-1").text == "é"
    assert Answer(200, "é".encode(), charset="no-such-charset").text == "é"
    assert Answer(200, b"\xff").text == "\ufffd"
    with pytest.raises(ValueError):
        Answer(502, b"<html>Bad Gateway</html>").json()


async def test_a_name_resolving_inside_the_network_is_refused_when_connecting() -> None:
    # given a server on loopback, and a DNS answer that sends a public-looking name to it
    server = Recorder(http_answer("200 OK", b"{}"))
    async with listening(server) as port:
        for addresses in (("127.0.0.1",), ("93.184.215.14", "127.0.0.1"), ("::ffff:10.0.0.1",)):
            async with ProviderClient(allow_private=False, resolver=FixedResolver(*addresses)) as client:
                # when the client posts to that name
                with pytest.raises(UnsafeUrl) as refused:
                    await client.post(f"http://hooks.example.com:{port}/hook", json={})
            # then it is refused, saying which address, and nothing is sent
            inside = next(a for a in addresses if a != "93.184.215.14")
            assert str(refused.value) == f"the host hooks.example.com resolves to a non-public address ({inside})"
        assert server.requests == []

        # when the deployment allows local endpoints (NC_ALLOW_HTTP_ENDPOINTS), the same answer is used
        async with ProviderClient(allow_private=True, resolver=FixedResolver("127.0.0.1")) as client:
            answer = await client.post(f"http://hooks.example.com:{port}/hook", json={})
        # then the request reaches the server
        assert answer.status_code == 200
        assert server.requests[0][1]["host"] == f"hooks.example.com:{port}"
