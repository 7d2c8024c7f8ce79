"""No SSRF: outbound URLs must be https and public unless local testing allows http."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import pytest

from core import urls
from core.urls import UnsafeUrl, check_outbound, check_syntax, is_public, literal_address
from domain.errors import BadUserInput
from models.enums import ChannelKind
from tests.conftest import Tenant


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://192.168.0.10/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://localhost/x",
        "https://printer.local/x",
        "ftp://hooks.example.com/x",
    ],
)
def test_private_loopback_link_local_and_plain_http_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_syntax(url, allow_http=False)


#: Every non-global form of an address, each embedding loopback (or an otherwise private address).
NON_GLOBAL = [
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:8.8.8.8",  # IPv4-mapped, even of a public address: the socket is an IPv4 one
    "::127.0.0.1",  # IPv4-compatible (deprecated; Python 3.11 calls it global)
    "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254, written in hex
    "64:ff9b::7f00:1",  # NAT64 well-known prefix
    "64:ff9b::808:808",  # NAT64 of a public address: the translator sits inside our network
    "64:ff9b:1::a00:1",  # NAT64 local-use prefix
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "::ffff:0:7f00:1",  # IPv4-translated (RFC 2765)
    "fc00::1",  # unique local
    "fe80::1",  # link-local
    "fec0::1",  # site-local (deprecated; Python 3.11 calls it global)
    "ff02::1",  # multicast
    "2001:db8::1",  # documentation
    "3fff::1",  # documentation (RFC 9637)
    "5f00::1",  # segment routing
    "::",
    "::1",
    "0.0.0.0",
    "100.64.0.1",  # carrier-grade NAT
    "192.0.0.1",
    "198.18.0.1",
    "224.0.0.1",
    "255.255.255.255",
]


@pytest.mark.parametrize("address", NON_GLOBAL)
def test_every_non_global_address_form_is_refused_as_a_literal(address: str) -> None:
    assert not is_public(address)
    with pytest.raises(UnsafeUrl, match="non-public"):
        check_syntax(f"https://[{address}]/x" if ":" in address else f"https://{address}/x", allow_http=False)


@pytest.mark.parametrize("address", NON_GLOBAL)
async def test_every_non_global_address_form_is_refused_when_a_name_resolves_to_it(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a public-looking name whose DNS answer is the address (next to a public one)
    async def answers(host: str, port: int) -> list[tuple[object, ...]]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (family, socket.SOCK_STREAM, 6, "", (address, port)),
        ]

    monkeypatch.setattr(urls, "resolve", answers)
    # when / then
    with pytest.raises(UnsafeUrl, match="resolves to a non-public address"):
        await check_outbound("https://hooks.example.com/x", allow_http=False)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "2002:808:808::1"])
def test_global_addresses_are_public(address: str) -> None:
    # 2002:808:808::/48 is the 6to4 network of the public 8.8.8.8
    assert is_public(address)


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f.1", "0x7f000001", "127.1", "0177.0.0.1", "017700000001", "127.0.0.1."]
)
def test_numeric_spellings_of_loopback_are_refused_before_resolving(host: str) -> None:
    # urlsplit keeps them as written, ipaddress rejects them, but getaddrinfo (inet_aton) reads 127.0.0.1
    assert urlsplit(f"https://{host}/x").hostname == host
    assert literal_address(host) == ipaddress.IPv4Address("127.0.0.1")
    with pytest.raises(UnsafeUrl, match="non-public"):
        check_syntax(f"https://{host}/x", allow_http=False)


def test_a_numeric_host_no_resolver_reads_is_not_taken_for_a_name() -> None:
    with pytest.raises(UnsafeUrl, match="neither a name nor an address"):
        check_syntax("https://0x1ffffffff/x", allow_http=False)


def test_public_https_urls_pass_and_local_testing_allows_loopback_http() -> None:
    assert check_syntax("https://hooks.example.com/x", allow_http=False) == "hooks.example.com"
    assert check_syntax("http://127.0.0.1:9000/x", allow_http=True) == "127.0.0.1"


@pytest.mark.parametrize("host", ["0x7f.1", "2130706433", "127.1"])
async def test_hosts_that_resolve_inside_are_refused_at_send_time(host: str) -> None:
    # spellings of 127.0.0.1 that are no IP literal to a parser, but resolve to loopback
    with pytest.raises(UnsafeUrl, match="non-public"):
        await check_outbound(f"https://{host}/x", allow_http=False)


async def test_an_administrator_cannot_point_a_webhook_inside(app, tenant: Tenant) -> None:
    # given a deployment that does not allow http endpoints (the test app does, for local servers)
    from domain.bot_input import BotChannelInput
    from domain.instance_admin import InstanceChanges, update_instance

    changes = InstanceChanges(
        bot_channels=[BotChannelInput(ChannelKind.CUSTOM, True, {"url": "https://169.254.169.254/latest"}, "s")]
    )
    # when / then
    with pytest.raises(BadUserInput, match="non-public"):
        await update_instance(tenant.id, changes, secret_box=app.state.services.secret_box, allow_http=False)


def test_retry_after_as_seconds_or_http_date_is_capped() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    import httpx

    from channels.http import retry_after

    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after(answer("7")) == 7.0
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= retry_after(answer(in_a_minute)) <= 60
    assert retry_after(answer("999999")) == 3600.0
    assert retry_after(answer("soon")) is None
