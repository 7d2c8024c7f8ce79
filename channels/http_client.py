"""The providers' HTTP client: one pooled aiohttp session per process, and the answers it reads.

    ProviderClient.post(url, json=... | content=..., headers=...) -> Answer (status, headers, body)

Telegram, Viber, WhatsApp and the ECHAT/CUSTOM webhooks are all sent through it (Web Push keeps a
session of its own, driven by pywebpush). Every request: no redirect followed (a redirect could
lead inside the network: a 3xx is handed back as the answer), at most 10 s in all and 5 s to get a
connection, the service's User-Agent, no cookies kept (the pool serves every instance's bots), no
proxy from the environment. Connections are reused per host: at most ``LIMIT`` open in all,
``LIMIT_PER_HOST`` to one host, an idle one kept ``KEEPALIVE_SECONDS``.

Unless the deployment allows local endpoints (``NC_ALLOW_HTTP_ENDPOINTS``), a host name is checked
again when a connection is opened (``PublicOnlyResolver``): the check before the send
(core/urls.py ``check_outbound``) looked it up once, and DNS may answer with an inside address the
second time (DNS rebinding). Literal addresses are judged by that check alone: they cannot change.

A request that got no answer raises one of these (named as httpx named them, so the reasons an
operator reads kept their words when the client changed); none carries aiohttp's text, which
quotes the URL, and a Telegram URL holds the bot token:

    TransportError                  anything else that left the request unanswered
     ├── TimeoutException
     │    ├── ConnectTimeout        no connection within 5 s (waiting for the pool included)
     │    └── ReadTimeout           no whole answer within 10 s
     ├── NetworkError
     │    ├── ConnectError          refused, unreachable, no such name, TLS failure
     │    ├── ReadError             the connection broke while the answer was awaited
     │    └── WriteError            the connection broke while the request was written
     └── RemoteProtocolError        not HTTP, closed before answering, body cut short
    InvalidURL                      aiohttp cannot make a request of the URL
    core.urls.UnsafeUrl             the name resolved to a non-public address when connecting
"""

from __future__ import annotations

import codecs
import json as jsonlib
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict, CIMultiDictProxy

from core.urls import UnsafeUrl, is_public

TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
USER_AGENT = "notification-center/0.1"
LIMIT = 100
#: One slow host (a tenant's webhook) cannot take the whole pool.
LIMIT_PER_HOST = 50
#: Shorter than common servers' keep-alive (uvicorn's is 5 s, nginx's 75 s), as httpx's default was.
KEEPALIVE_SECONDS = 5.0


class TransportError(Exception):
    """The request got no answer; the class name says how (reasons quote it, nothing more)."""


class TimeoutException(TransportError):
    pass


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class NetworkError(TransportError):
    pass


class ConnectError(NetworkError):
    pass


class ReadError(NetworkError):
    pass


class WriteError(NetworkError):
    pass


class RemoteProtocolError(TransportError):
    pass


class InvalidURL(ValueError):
    """aiohttp cannot make a request of the URL (the URL is not repeated: it may hold a token)."""


class Answer:
    """A provider's answer, read whole: what the classifiers (channels/http.py) judge."""

    __slots__ = ("charset", "content", "headers", "status_code")

    def __init__(
        self,
        status_code: int,
        content: bytes = b"",
        headers: Mapping[str, str] | None = None,
        charset: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.content = content
        self.headers: CIMultiDictProxy[str] = (
            headers if isinstance(headers, CIMultiDictProxy) else CIMultiDictProxy(CIMultiDict(headers or {}))
        )
        self.charset = charset

    @property
    def text(self) -> str:
        """The body decoded with the answer's charset when it names a known one, else UTF-8;
        undecodable bytes replaced."""
        encoding = "utf-8"
        if self.charset:
            try:
                encoding = codecs.lookup(self.charset).name
            except LookupError:
                pass
        return self.content.decode(encoding, errors="replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return jsonlib.loads(self.content)

    def __repr__(self) -> str:
        return f"<Answer {self.status_code}>"


class _NonPublicAddress(OSError):
    """Raised inside aiohttp's connector, which wraps resolver failures (OSError) in its own."""


class PublicOnlyResolver(AbstractResolver):
    """Another resolver's answers, refused whole when any address in them is not public."""

    def __init__(self, resolver: AbstractResolver) -> None:
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._resolver.resolve(host, port, family)
        for answer in answers:
            if not is_public(answer["host"]):
                raise _NonPublicAddress(f"the host {host} resolves to a non-public address ({answer['host']})")
        return answers

    async def close(self) -> None:
        await self._resolver.close()


class ProviderClient:
    """The pooled session. Made inside the running loop; ``aclose()`` (or ``async with``) ends it."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: AbstractResolver | None = None,
        timeout: aiohttp.ClientTimeout = TIMEOUT,
    ) -> None:
        resolving = resolver or aiohttp.DefaultResolver()
        self._resolver = resolving if allow_private else PublicOnlyResolver(resolving)
        connector = aiohttp.TCPConnector(
            limit=LIMIT, limit_per_host=LIMIT_PER_HOST, keepalive_timeout=KEEPALIVE_SECONDS, resolver=self._resolver
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )

    async def post(
        self,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """POST ``content``, or ``json`` serialized as httpx did (compact UTF-8), and read the answer whole."""
        if json is not None:
            content = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            async with self.session.post(url, data=content, headers=headers, allow_redirects=False) as response:
                body = await response.read()
                return Answer(response.status, body, response.headers, response.charset)
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
            raise InvalidURL("the URL is not one a request can be made of") from None
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, _NonPublicAddress):
                raise UnsafeUrl(str(exc.os_error)) from None
            raise ConnectError() from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise failure(exc) from None

    async def aclose(self) -> None:
        await self.session.close()
        await self._resolver.close()

    async def __aenter__(self) -> ProviderClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()


def failure(exc: aiohttp.ClientError | TimeoutError) -> TransportError:
    """What kind of failure an aiohttp exception is, as httpx would have named it."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectTimeout()
    if isinstance(exc, TimeoutError):  # the whole 10 s, or a socket read (SocketTimeoutError)
        return ReadTimeout()
    if isinstance(exc, aiohttp.ClientConnectorError):  # DNS, refused, unreachable, TLS
        return ConnectError()
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return RemoteProtocolError()
    if isinstance(exc, aiohttp.ClientConnectionResetError):  # writing to a connection the peer closed
        return WriteError()
    if isinstance(exc, aiohttp.ClientOSError):
        return ReadError()
    return TransportError()
