"""Outbound address safety: no SSRF through an admin-configured or client-supplied URL or host.

Every URL the service sends to (push endpoints, provider base URLs, ECHAT/CUSTOM webhooks) must be
https and resolve only to public addresses. ``NC_ALLOW_HTTP_ENDPOINTS=1`` lifts both rules for
local testing (plain http, loopback and private addresses). The check runs again at send time,
after DNS resolution, so a name that later points inside the network is still refused; the HTTP
providers' client checks the addresses once more when it connects (channels/http_client.py), since
DNS may answer differently a second time. The EMAIL channel's SMTP host goes through the same
address check (``resolve_public``), lifted only for the hosts of ``NC_SMTP_ALLOWED_HOSTS``.

``is_public`` is the one place that decides whether an address may be sent to: it takes only
global unicast addresses, and unwraps the IPv6 forms that carry an IPv4 address (mapped,
compatible, NAT64, 6to4, Teredo) rather than trusting ``ipaddress.is_global``, which differs
between Python releases (3.11 calls ``::127.0.0.1`` and ``64:ff9b::7f00:1`` global).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """The URL must not be used: the message says why (and never contains a secret)."""


#: IANA's special-purpose IPv4 blocks (RFC 6890 and later), whatever ``is_global`` says of them.
_NON_GLOBAL_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
    )
)
#: Only addresses here can be public IPv6 (global unicast); everything else (::/8 with the mapped
#: and compatible forms, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, ULA, link- and site-local,
#: multicast, 5f00::/16) is refused outright.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NON_GLOBAL_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments, Teredo 2001::/32 among them
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
#: Host spellings inet_aton (and so getaddrinfo) reads as IPv4: 2130706433, 0x7f.1, 127.1, 0177.0.0.1.
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)


def is_public(address: IPAddress | str) -> bool:
    """True when ``address`` is a global unicast address, whichever way it is written."""
    ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d: the socket goes to a.b.c.d
            return False
        if ip in _SIX_TO_FOUR:  # 2002:AABB:CCDD::/48 is the 6to4 network of AA.BB.CC.DD
            embedded = ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
            return is_public(embedded)
        if ip not in _GLOBAL_UNICAST_V6 or any(ip in net for net in _NON_GLOBAL_V6):
            return False
        return ip.is_global and not ip.is_multicast
    if any(ip in net for net in _NON_GLOBAL_V4):
        return False
    return ip.is_global and not ip.is_multicast


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form the resolver would read as one; None for a name.

    Raises UnsafeUrl for a numeric host no resolver reads as an address (``1.2.3.4.5``, ``0x1g``)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            raise UnsafeUrl(f"has a host that is neither a name nor an address ({host})") from None
    return None


def check_host(host: str) -> None:
    """A literal address must be public; a name must not be a local one."""
    literal = literal_address(host)
    if literal is not None and not is_public(literal):
        raise UnsafeUrl(f"points to a non-public address ({host})")
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith((".localhost", ".local", ".internal")):
        raise UnsafeUrl(f"points to a local host name ({host})")


def check_syntax(url: str, *, allow_http: bool) -> str:
    """Scheme and host, and literal IP addresses; returns the host name."""
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise UnsafeUrl(f"must be an https:// URL, got scheme {parts.scheme or 'none'!r}")
    host = parts.hostname
    if not allow_http:
        check_host(host)
    return host


async def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    """getaddrinfo's TCP answers for ``host``; UnsafeUrl when it does not resolve."""
    try:
        return await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeUrl(f"the host {host} does not resolve") from None


async def resolve_public(host: str, port: int) -> list[tuple[Any, ...]]:
    """The host checked, then resolved: every address must be public. Returns the checked answers
    (connect to one of these, not to the name again: DNS may answer differently next time)."""
    check_host(host)
    infos = await resolve(host, port)
    for info in infos:
        address = str(info[4][0])
        if not is_public(address):
            raise UnsafeUrl(f"the host {host} resolves to a non-public address ({address})")
    return infos


async def check_outbound(url: str, *, allow_http: bool) -> None:
    """Syntax, then every address the host resolves to must be public."""
    host = check_syntax(url, allow_http=allow_http)
    if allow_http:
        return
    await resolve_public(host, urlsplit(url).port or 443)
