"""Linking bot channels by one-time code (domain/links.py), for TELEGRAM, VIBER and WHATSAPP.

The panel's side goes through GraphQL (startChannelLink, unlinkChannel, channelSettings); the
provider's side calls ``complete_link`` as every provider webhook does (the Telegram webhook
itself is covered in test_channel_telegram.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from tortoise.timezone import now

from domain.links import complete_link
from models.enums import ChannelKind
from models.operator import ChannelLink
from tests.conftest import Caller, Tenant

CONFIGURE = """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) {
  botChannels { channel enabled } } }"""
START = "mutation($c: ChannelKind!) { startChannelLink(channel: $c) { channel code url expiresAt } }"
UNLINK = "mutation($c: ChannelKind!) { unlinkChannel(channel: $c) { kind status target } }"
SETTINGS = "{ channelSettings { channels { kind status target } } }"
BOTS = [
    {"channel": "TELEGRAM", "enabled": True, "settings": {"botUsername": "@acme_bot"}, "secret": "1:T"},
    {"channel": "VIBER", "enabled": True, "settings": {"botUri": "acmebot"}, "secret": "viber-token"},
    {"channel": "WHATSAPP", "enabled": True, "settings": {"phoneNumberId": "1055"}, "secret": "wa-token"},
    {"channel": "ECHAT", "enabled": True, "settings": {"url": "https://echat.example.com/hook"}, "secret": "s"},
]


async def configure(tenant: Tenant, bots: list[dict[str, Any]] = BOTS) -> None:
    result = await tenant.admin().gql(CONFIGURE, {"input": {"botChannels": bots}})
    assert not result.errors, result.errors


async def start(operator: Caller, channel: str) -> dict[str, Any]:
    return (await operator.gql(START, {"c": channel})).data["startChannelLink"]


async def row(operator: Caller, channel: str) -> dict[str, Any]:
    channels = (await operator.gql(SETTINGS)).data["channelSettings"]["channels"]
    return next(c for c in channels if c["kind"] == channel)


async def test_each_bot_channel_gets_its_messengers_link_with_a_fresh_code(tenant: Tenant) -> None:
    # given an instance with the three linkable bots
    await configure(tenant)
    operator = tenant.operator()
    # when the operator starts linking each
    telegram, viber, whatsapp = [await start(operator, c) for c in ("TELEGRAM", "VIBER", "WHATSAPP")]
    # then each URL opens the messenger with the code for its bot
    assert telegram["url"] == f"https://t.me/acme_bot?start={telegram['code']}"
    assert viber["url"] == f"viber://pa?chatURI=acmebot&context={viber['code']}"
    assert whatsapp["url"] == f"https://wa.me/?text={whatsapp['code']}"
    # and the codes fit Telegram's /start payload, differ, and expire in 15 minutes
    codes = {link["code"] for link in (telegram, viber, whatsapp)}
    assert len(codes) == 3 and all(re.fullmatch(r"[A-Za-z0-9_-]{16,64}", c) for c in codes)
    expires = datetime.fromisoformat(telegram["expiresAt"])
    assert timedelta(minutes=14) < expires - now() <= timedelta(minutes=15)
    for channel in ("TELEGRAM", "VIBER", "WHATSAPP"):
        assert (await row(operator, channel))["status"] == "PENDING"


@pytest.mark.parametrize(
    ("channel", "words"),
    [
        ("EMAIL", "EMAIL needs no linking: EMAIL delivers to the email address of your profile"),
        ("ECHAT", "ECHAT needs no linking: ECHAT delivers by your operator id"),
        ("CUSTOM", "CUSTOM needs no linking"),
        ("BROWSER", "registerPushSubscription"),
        ("BELL", "BELL needs no linking"),
    ],
)
async def test_channels_that_need_no_link_say_so(tenant: Tenant, channel: str, words: str) -> None:
    # given an instance with bots configured
    await configure(tenant)
    operator = tenant.operator()
    # when the operator asks to link (or unlink) a channel that is not linked by code
    for mutation in (START, UNLINK):
        result = await operator.gql(mutation, {"c": channel})
        # then they are told why it needs none
        assert result.error_code == "BAD_USER_INPUT"
        assert words in result.error_message


async def test_a_channel_whose_bot_is_not_enabled_cannot_be_linked(tenant: Tenant) -> None:
    # given an instance with no Telegram bot
    operator = tenant.operator()
    # when the operator starts linking Telegram
    result = await operator.gql(START, {"c": "TELEGRAM"})
    # then
    assert result.error_code == "BAD_USER_INPUT"
    assert "TELEGRAM is not offered on this instance" in result.error_message


async def test_the_providers_webhook_completes_the_link_once(tenant: Tenant, new_tenant: Any) -> None:
    # given a pending Viber link
    await configure(tenant)
    operator = tenant.operator("taras")
    code = (await start(operator, "VIBER"))["code"]

    # when the code arrives for another instance or another channel
    other = new_tenant()
    # then it links nothing
    assert await complete_link(other.id, ChannelKind.VIBER, code, target="v-1", label="Taras") is None
    assert await complete_link(tenant.id, ChannelKind.TELEGRAM, code, target="v-1", label="Taras") is None
    assert (await row(operator, "VIBER"))["status"] == "PENDING"

    # when Viber's webhook delivers it
    linked = await complete_link(tenant.id, ChannelKind.VIBER, code, target="v-1", label="Taras")
    # then the link belongs to the operator, and the channel is ready
    assert linked is not None and linked.user_id == "taras"
    assert await row(operator, "VIBER") == {"kind": "VIBER", "status": "READY", "target": "Taras"}

    # when the same code arrives again
    again = await complete_link(tenant.id, ChannelKind.VIBER, code, target="v-2", label="Mallory")
    # then it is spent
    assert again is None
    assert (await ChannelLink.get(operator__user_id="taras", operator__instance_id=tenant.id)).target == "v-1"


async def test_expired_and_malformed_codes_complete_nothing(tenant: Tenant) -> None:
    # given a pending WhatsApp link whose 15 minutes are over
    await configure(tenant)
    operator = tenant.operator()
    code = (await start(operator, "WHATSAPP"))["code"]
    await ChannelLink.filter(code=code).update(code_expires_at=now() - timedelta(seconds=1))
    # when the code arrives, or something that cannot be a code
    for candidate in (code, "", "x" * 65, "../../etc", f"{code} extra"):
        # then nothing is linked
        assert (
            await complete_link(tenant.id, ChannelKind.WHATSAPP, candidate, target="380501112233", label=None) is None
        )
    # and the Channels tab no longer shows it pending
    assert (await row(operator, "WHATSAPP"))["status"] == "NOT_LINKED"


async def test_a_new_code_replaces_the_previous_one(tenant: Tenant) -> None:
    # given an operator who started linking twice
    await configure(tenant)
    operator = tenant.operator()
    first = (await start(operator, "TELEGRAM"))["code"]
    second = (await start(operator, "TELEGRAM"))["code"]
    # when the first link is used
    stale = await complete_link(tenant.id, ChannelKind.TELEGRAM, first, target="1", label="@one")
    # then only the latest code works
    assert stale is None
    assert await complete_link(tenant.id, ChannelKind.TELEGRAM, second, target="2", label="@two") is not None
    assert (await row(operator, "TELEGRAM"))["target"] == "@two"


async def test_relinking_keeps_delivering_to_the_old_chat_until_the_new_code_arrives(tenant: Tenant) -> None:
    # given a linked Telegram channel
    await configure(tenant)
    operator = tenant.operator()
    first = (await start(operator, "TELEGRAM"))["code"]
    await complete_link(tenant.id, ChannelKind.TELEGRAM, first, target="1", label="@old_phone")
    # when the operator starts linking again
    second = (await start(operator, "TELEGRAM"))["code"]
    # then the channel stays ready, on the old chat
    assert (await row(operator, "TELEGRAM"))["status"] == "READY"
    assert (await row(operator, "TELEGRAM"))["target"] == "@old_phone"
    # when the new code arrives from the new chat
    await complete_link(tenant.id, ChannelKind.TELEGRAM, second, target="2", label="@new_phone")
    # then it delivers there
    assert (await row(operator, "TELEGRAM"))["target"] == "@new_phone"


async def test_unlinking_forgets_the_link_and_is_harmless_twice(tenant: Tenant) -> None:
    # given a linked WhatsApp channel
    await configure(tenant)
    operator = tenant.operator()
    code = (await start(operator, "WHATSAPP"))["code"]
    await complete_link(tenant.id, ChannelKind.WHATSAPP, code, target="380501112233", label="+380501112233")
    assert (await row(operator, "WHATSAPP"))["status"] == "READY"
    for _ in range(2):
        # when the operator unlinks it
        unlinked = (await operator.gql(UNLINK, {"c": "WHATSAPP"})).data["unlinkChannel"]
        # then
        assert unlinked == {"kind": "WHATSAPP", "status": "NOT_LINKED", "target": None}
    assert not await ChannelLink.filter(operator__instance_id=tenant.id).exists()


async def test_a_whatsapp_business_phone_goes_into_the_link(tenant: Tenant) -> None:
    # given a WhatsApp bot whose settings name the business phone
    whatsapp = next(b for b in BOTS if b["channel"] == "WHATSAPP")
    await configure(tenant, [{**whatsapp, "settings": {**whatsapp["settings"], "businessPhone": "+380 44 123 4567"}}])
    # when the operator starts linking WhatsApp
    link = await start(tenant.operator(), "WHATSAPP")
    # then the link opens the chat with that number, the code typed in
    assert link["url"] == f"https://wa.me/380441234567?text={link['code']}"
