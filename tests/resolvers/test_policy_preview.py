"""Policy preview: what a change of the instance's policy would do to each operator's effective
channels, computed with the resolution delivery uses, written nowhere."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tortoise import Tortoise

from tests.channels.test_channel_telegram import configure
from tests.conftest import Caller, Tenant
from tests.fakes.telegram_bot_api import FakeBotApi, serve_bot_api

PREVIEW_TYPE = """query($input: TypePolicyInput!) { previewTypePolicy(input: $input) {
  operators changes { typeCode channel turnedOn turnedOff turnedOnSample turnedOffSample } } }"""
PREVIEW_INSTANCE = """query($input: InstanceSettingsInput!) { previewInstanceSettings(input: $input) {
  operators changes { typeCode channel turnedOn turnedOff turnedOnSample turnedOffSample } } }"""
SET_POLICY = """mutation($input: TypePolicyInput!) { setTypePolicy(input: $input) { typeCode mandatoryChannels } }"""
SAVE = """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) { extendedTypesEnabled } }"""
CHOOSE = """mutation($channels: [ChannelKind!]!) { setTypeChannels(typeCode: "sla_expired", channels: $channels) {
  channels } }"""
SWITCH_OFF = """mutation { updateChannelSettings(input: {channels: [{kind: TELEGRAM, enabled: false}]}) {
  channels { kind enabled } } }"""
TYPE_CHANNELS = """{ notificationTypes { code channels } }"""


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with serve_bot_api(f"123:TOKEN{uuid.uuid4().hex}") as api:
        yield api


async def row_counts(instance_id: str) -> dict[str, int]:
    """The instance's rows in every table of the service that holds some (the other tests' workers
    may be changing theirs meanwhile)."""
    counts = {}
    for model in Tortoise.apps["models"].values():
        fields = model._meta.fields_map
        if model._meta.db_table == "nc_instance":
            scope = {"id": instance_id}
        elif "instance_id" in fields:
            scope = {"instance_id": instance_id}
        elif "operator" in fields:
            scope = {"operator__instance_id": instance_id}
        elif "delivery" in fields:
            scope = {"delivery__instance_id": instance_id}
        else:
            continue
        counts[model._meta.db_table] = await model.filter(**scope).count()
    assert len(counts) >= 12, counts
    return counts


async def sla_channels(caller: Caller) -> list[str]:
    types = (await caller.gql(TYPE_CHANNELS)).data["notificationTypes"]
    return next(t["channels"] for t in types if t["code"] == "sla_expired")


async def three_operators(tenant: Tenant, api: FakeBotApi) -> tuple[Caller, dict[str, Caller]]:
    """olena chose TELEGRAM for sla_expired, taras kept the defaults, ivan switched TELEGRAM off."""
    assert "errors" not in await configure(tenant, api)
    admin = tenant.admin()
    assert "errors" not in (await admin.gql(SAVE, {"input": {"extendedTypesEnabled": True}})).body
    people = {name: tenant.operator(name) for name in ("olena", "taras", "ivan")}
    assert "errors" not in (await people["olena"].gql(CHOOSE, {"channels": ["BELL", "TELEGRAM"]})).body
    assert "errors" not in (await people["taras"].gql(CHOOSE, {"channels": ["BELL", "BANNER"]})).body
    assert "errors" not in (await people["ivan"].gql(SWITCH_OFF)).body
    return admin, people


async def test_making_telegram_mandatory_for_sla_expired_names_exactly_whose_channels_change(
    tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given three operators, one of whom already gets SLA alerts on Telegram
    admin, people = await three_operators(tenant, bot_api)
    before = await row_counts(tenant.id)
    # when the administrator previews making TELEGRAM mandatory for sla_expired
    result = await admin.gql(PREVIEW_TYPE, {"input": {"typeCode": "sla_expired", "mandatoryChannels": ["TELEGRAM"]}})
    # then exactly taras and ivan (who switched it off) would get it, and nothing else changes
    preview = result.data["previewTypePolicy"]
    assert preview["operators"] == 3
    assert preview["changes"] == [
        {
            "typeCode": "sla_expired",
            "channel": "TELEGRAM",
            "turnedOn": 2,
            "turnedOff": 0,
            "turnedOnSample": ["ivan", "taras"],
            "turnedOffSample": [],
        }
    ]
    # and nothing was written
    assert await row_counts(tenant.id) == before
    assert "TELEGRAM" not in await sla_channels(people["taras"])

    # when the administrator saves the same change
    assert (
        "errors"
        not in (
            await admin.gql(SET_POLICY, {"input": {"typeCode": "sla_expired", "mandatoryChannels": ["TELEGRAM"]}})
        ).body
    )
    # then what the preview named is what the operators now have
    for caller in people.values():
        assert "TELEGRAM" in await sla_channels(caller)


async def test_an_instance_preview_counts_each_type_and_channel_that_turns_off(
    tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given three operators, olena with TELEGRAM chosen for sla_expired
    admin, _ = await three_operators(tenant, bot_api)
    before = await row_counts(tenant.id)
    # when the administrator previews disabling the Telegram bot
    bot = {"channel": "TELEGRAM", "enabled": False}
    preview = (await admin.gql(PREVIEW_INSTANCE, {"input": {"botChannels": [bot]}})).data["previewInstanceSettings"]
    # then only olena's TELEGRAM for sla_expired turns off, and nothing was written
    assert preview["changes"] == [
        {
            "typeCode": "sla_expired",
            "channel": "TELEGRAM",
            "turnedOn": 0,
            "turnedOff": 1,
            "turnedOnSample": [],
            "turnedOffSample": ["olena"],
        }
    ]
    assert await row_counts(tenant.id) == before


async def test_preview_takes_the_same_statements_for_one_operator_as_for_many(tenant: Tenant, sql: Any) -> None:
    admin = tenant.admin()
    variables = {"input": {"typeCode": "ticket_created", "mandatoryChannels": ["BROWSER"]}}
    # given one operator
    await tenant.operator("a").gql(SWITCH_OFF.replace("TELEGRAM", "SOUND"))
    await admin.gql(PREVIEW_TYPE, variables)
    sql.statements.clear()
    one = (await admin.gql(PREVIEW_TYPE, variables)).data["previewTypePolicy"]
    one_count = sql.count
    # when nine more join and the preview is asked again
    for n in range(9):
        await tenant.operator(f"b{n}").gql(SWITCH_OFF.replace("TELEGRAM", "SOUND"))
    sql.statements.clear()
    many = (await admin.gql(PREVIEW_TYPE, variables)).data["previewTypePolicy"]
    # then the statements are as many
    assert (one["operators"], many["operators"]) == (1, 10)
    assert many["changes"][0]["turnedOn"] == 10
    assert sql.count == one_count, sql.statements


async def test_preview_refuses_what_saving_refuses_and_sees_only_its_instance(
    tenant: Tenant, new_tenant: Any, bot_api: FakeBotApi
) -> None:
    # given an instance A with operators and a Telegram bot
    await three_operators(tenant, bot_api)
    other = new_tenant().admin()
    # when B's administrator previews the same change (B offers no TELEGRAM)
    refused = await other.gql(PREVIEW_TYPE, {"input": {"typeCode": "sla_expired", "mandatoryChannels": ["TELEGRAM"]}})
    browser = await other.gql(PREVIEW_TYPE, {"input": {"typeCode": "sla_expired", "mandatoryChannels": ["BROWSER"]}})
    unknown = await other.gql(PREVIEW_TYPE, {"input": {"typeCode": "no_such_type", "mandatory": True}})
    # then it is refused as saving would be, and B's preview sees none of A's operators
    assert refused.error_code == "BAD_USER_INPUT" and "not offered" in refused.error_message
    assert browser.data["previewTypePolicy"] == {"operators": 0, "changes": []}
    assert unknown.error_code == "BAD_USER_INPUT"
    for caller in (tenant.operator(), tenant.caller("supervisor")):
        assert (await caller.gql(PREVIEW_INSTANCE, {"input": {}})).error_code == "FORBIDDEN"
