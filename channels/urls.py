"""Outbound URL safety: no SSRF through an admin-configured or client-supplied URL.

Every URL the service sends to (push endpoints, provider base URLs, ECHAT/CUSTOM webhooks) must be
https and resolve only to public addresses. ``NC_ALLOW_HTTP_ENDPOINTS=1`` lifts both rules for
local testing (plain http, loopback and private addresses). The check runs again at send time,
after DNS resolution, so a name that later points inside the network is still refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeUrl(ValueError):
    """The URL must not be used: the message says why (and never contains a secret)."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not ip.is_multicast


def check_syntax(url: str, *, allow_http: bool) -> str:
    """Scheme and host, and literal IP addresses; returns the host name."""
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise UnsafeUrl(f"must be an https:// URL, got scheme {parts.scheme or 'none'!r}")
    host = parts.hostname
    if not allow_http:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and not _is_public(host):
            raise UnsafeUrl(f"points to a non-public address ({host})")
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise UnsafeUrl(f"points to a local host name ({host})")
    return host


async def check_outbound(url: str, *, allow_http: bool) -> None:
    """Syntax, then every address the host resolves to must be public."""
    host = check_syntax(url, allow_http=allow_http)
    if allow_http:
        return
    port = urlsplit(url).port or 443
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UnsafeUrl(f"the host {host} does not resolve") from None
    for info in infos:
        address = str(info[4][0])
        if not _is_public(address):
            raise UnsafeUrl(f"the host {host} resolves to a non-public address ({address})")
