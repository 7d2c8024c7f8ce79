"""The EMAIL channel's SMTP host: checked like every outbound address, then connected to as checked.

An administrator's SMTP host must be a public name or address (core/urls.py ``is_public``),
checked when it is saved and again before every send, since DNS may have changed since. Private
relays are let through only when listed in ``NC_SMTP_ALLOWED_HOSTS`` (names or addresses).

The connection goes to an address from the answer that was checked, through a socket opened here
and handed to aiosmtplib (``sock=``), never to the name again: a second lookup could answer with an
inside address (DNS rebinding). TLS still verifies the certificate against the configured name.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Any

from core.urls import UnsafeUrl, check_host, is_public, literal_address, resolve


class SmtpHostRefused(UnsafeUrl):
    """The host is not public and not in NC_SMTP_ALLOWED_HOSTS."""


def is_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """True when ``host`` is one of the listed private relays (names case-insensitively,
    addresses in any spelling)."""
    wanted = _normal(host)
    return any(_normal(h) == wanted for h in allowed_hosts)


def _normal(host: str) -> str:
    host = host.strip().strip("[]").lower().rstrip(".")
    try:
        literal = literal_address(host)
    except UnsafeUrl:
        return host
    return str(literal) if literal is not None else host


async def checked_addresses(host: str, port: int, allowed_hosts: Iterable[str]) -> list[tuple[Any, ...]]:
    """getaddrinfo's answers for the host, every one of them public unless the host is allowed.

    Raises SmtpHostRefused for a non-public host, UnsafeUrl when the name does not resolve."""
    if is_allowed(host, allowed_hosts):
        return await resolve(host, port)
    try:
        check_host(host)
    except UnsafeUrl as exc:
        raise SmtpHostRefused(str(exc)) from None
    answers = await resolve(host, port)
    for answer in answers:
        if not is_public(str(answer[4][0])):
            raise SmtpHostRefused(f"resolves to a non-public address ({answer[4][0]})")
    return answers


async def connect(answers: list[tuple[Any, ...]], seconds_each: float) -> socket.socket:
    """A connected non-blocking socket to the first of ``answers`` that accepts, within ``seconds_each``
    each (TimeoutError is an OSError: the last failure is raised when none accepts)."""
    loop = asyncio.get_running_loop()
    last = OSError("the host has no address")
    for family, type_, proto, _, address in answers:
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, address), seconds_each)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    raise last
