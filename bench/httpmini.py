"""A minimal HTTP/1.1 keep-alive client for the load generators.

httpx costs about a millisecond of client CPU per request; on a 2-core machine that would make the
load generator, not the server, the bottleneck of a fast endpoint. This client writes a prebuilt
request and reads ``Content-Length`` (or chunked) bodies, nothing more.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


def build_request(host: str, port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send one prebuilt request; returns (status, body)."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        reader = self.reader
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(None, 2)[1])
        length = 0
        chunked = close = False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await reader.readline()
                    break
                parts.append(await reader.readexactly(size))
                await reader.readline()
            body = b"".join(parts)
        else:
            body = await reader.readexactly(length)
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


class GraphQLPoster:
    """POST /graphql with a bearer token over one keep-alive connection."""

    def __init__(self, host: str, port: int, token: str, path: str = "/graphql") -> None:
        self.conn = Connection(host, port)
        self.host, self.port, self.token, self.path = host, port, token, path

    def request(self, document: str, variables: dict[str, Any] | None = None) -> bytes:
        body = json.dumps({"query": document, "variables": variables or {}}, separators=(",", ":")).encode()
        return self.raw_request(body)

    def raw_request(self, body: bytes) -> bytes:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        return build_request(self.host, self.port, "POST", self.path, body, headers)

    async def post(self, body: bytes) -> tuple[int, bytes]:
        return await self.conn.send(self.raw_request(body))

    async def gql(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        status, body = await self.conn.send(self.request(document, variables))
        result = json.loads(body)
        if status != 200 or result.get("errors"):
            raise RuntimeError(f"HTTP {status}: {body[:500]!r}")
        return result["data"]

    async def close(self) -> None:
        await self.conn.close()
