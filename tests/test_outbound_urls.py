"""No SSRF: outbound URLs must be https and public unless local testing allows http."""

from __future__ import annotations

import pytest

from channels.urls import UnsafeUrl, check_outbound, check_syntax
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
    from domain.instance_admin import BotChannelInput, InstanceChanges, update_instance

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
