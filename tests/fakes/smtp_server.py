"""A local SMTP server for tests: aiosmtpd on 127.0.0.1, recording every message it accepts.

    async with smtp_server() as smtp:                      # accepts everything
    async with smtp_server(reject={"bob@x.org": "550 5.1.1 No such user"}) as smtp:
    async with smtp_server(credentials=("nc", "pa55")) as smtp:   # AUTH required (no TLS)
    smtp.refuse_next("451 4.3.0 Try again later")           # the next RCPT only

``smtp.messages`` holds what arrived (envelope and parsed message); ``smtp.logins`` the user names
that authenticated. aiosmtpd's ``Controller`` runs the server in a thread of its own, on a socket
bound here to a free port first (no race for the port).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None

    def part(self, content_type: str) -> str:
        """The text of the message's ``text/plain`` or ``text/html`` part."""
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return str(part.get_content())
        raise AssertionError(f"no {content_type} part in {self.message.get_content_type()}")


@dataclass
class RecordingHandler:
    """aiosmtpd handler hooks: reject scripted recipients, require AUTH if asked, record DATA."""

    reject: dict[str, str] = field(default_factory=dict)
    credentials: tuple[str, str] | None = None
    messages: list[ReceivedMail] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    rcpt_script: deque[str] = field(default_factory=deque)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_script:
            return self.rcpt_script.popleft()
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        login = session.login_data.decode() if isinstance(session.login_data, bytes) else None
        self.messages.append(
            ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), message, login)  # type: ignore[arg-type]
        )
        return "250 Message accepted for delivery"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        # No auth_data in the result: aiosmtpd logs the result, and the password must not show.
        if self.credentials is None or not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = (data.login.decode(), data.password.decode()) == self.credentials
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)


class _BoundController(Controller):
    """A Controller serving on a socket that is already bound (port 0: the OS picks one)."""

    def __init__(self, handler: RecordingHandler, sock: socket.socket, **kwargs: Any) -> None:
        self._sock = sock
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], **kwargs)

    def _create_server(self):  # type: ignore[no-untyped-def]
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


@dataclass
class FakeSmtp:
    host: str
    port: int
    handler: RecordingHandler

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.handler.messages

    @property
    def logins(self) -> list[str]:
        return self.handler.logins

    def refuse_next(self, reply: str) -> None:
        """The next RCPT TO gets this reply (each call scripts one), whoever the recipient."""
        self.handler.rcpt_script.append(reply)

    async def wait_for(self, count: int, seconds: float = 5.0) -> list[ReceivedMail]:
        deadline = asyncio.get_running_loop().time() + seconds
        while len(self.messages) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return list(self.messages)


@asynccontextmanager
async def smtp_server(
    *, reject: dict[str, str] | None = None, credentials: tuple[str, str] | None = None
) -> AsyncIterator[FakeSmtp]:
    handler = RecordingHandler(reject=dict(reject or {}), credentials=credentials)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    kwargs: dict[str, Any] = {}
    if credentials is not None:
        kwargs = {"authenticator": handler.authenticate, "auth_require_tls": False}
    controller = _BoundController(handler, sock, **kwargs)
    await asyncio.to_thread(controller.start)
    try:
        yield FakeSmtp("127.0.0.1", controller.port, handler)
    finally:
        await asyncio.to_thread(controller.stop)
        sock.close()
