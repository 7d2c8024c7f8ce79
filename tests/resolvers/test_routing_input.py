"""Attention routing's inputs (issue 15): every mistake is BAD_USER_INPUT saying what to change, and
nothing of the request is written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Tenant

CHANNELS = """mutation($routing: [ChannelRoutingInput!]!) {
  updateChannelSettings(input: {routing: $routing}) { channels { kind routingMode } } }"""
HOURS = "mutation($input: WorkingHoursInput!) { setWorkingHours(input: $input) { timezone days { day from to } } }"
READ_HOURS = "{ workingHours { timezone days { day from to } } }"
INSTANCE = """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) {
  digestWindowSeconds routing { channel mode escalateAfterMinutes } } }"""
TYPE_POLICY = """mutation($input: TypePolicyInput!) { setTypePolicy(input: $input) {
  alwaysOn digestWindowSeconds routing { channel mode } } }"""
UPSERT = "mutation($inputs: [OperatorInput!]!) { upsertOperators(inputs: $inputs) }"


@pytest.mark.parametrize(
    ("routing", "says"),
    [
        ([{"channel": "TELEGRAM", "mode": "ESCALATE_AFTER"}], "needs escalateAfterMinutes between 1 and 10080"),
        ([{"channel": "TELEGRAM", "mode": "ESCALATE_AFTER", "escalateAfterMinutes": 0}], "between 1 and 10080"),
        ([{"channel": "TELEGRAM", "mode": "WHEN_AWAY", "escalateAfterMinutes": 5}], "applies to ESCALATE_AFTER only"),
        ([{"channel": "BANNER", "mode": "WHEN_AWAY"}], "BANNER is shown in the panel"),
        ([{"channel": "EMAIL", "mode": "ALWAYS"}, {"channel": "EMAIL", "mode": "WHEN_AWAY"}], "appears twice"),
        ([{"channel": "EMAIL", "escalateAfterMinutes": 3}], "without a mode"),
    ],
)
async def test_a_wrong_routing_mode_is_refused_and_nothing_changes(
    tenant: Tenant, routing: list[dict[str, Any]], says: str
) -> None:
    operator = tenant.operator("olena")
    # with a valid change first in the list: it must not be written either
    refused = await operator.gql(CHANNELS, {"routing": [{"channel": "CUSTOM", "mode": "WHEN_AWAY"}, *routing]})
    assert refused.error_code == "BAD_USER_INPUT" and says in refused.error_message, refused.body
    channels = (await operator.gql("{ channelSettings { channels { kind routingMode } } }")).data
    assert all(c["routingMode"] is None for c in channels["channelSettings"]["channels"])
    for target, query, data in (
        ("instance", INSTANCE, {"input": {"routing": routing}}),
        ("type policy", TYPE_POLICY, {"input": {"typeCode": "ticket_created", "routing": routing}}),
    ):
        refused = await tenant.admin().gql(query, data)
        assert refused.error_code == "BAD_USER_INPUT" and says in refused.error_message, (target, refused.body)


async def test_digest_windows_and_unlisted_types_are_bounded(tenant: Tenant) -> None:
    admin = tenant.admin()
    refused = await admin.gql(INSTANCE, {"input": {"digestWindowSeconds": 86401}})
    assert refused.error_code == "BAD_USER_INPUT" and "between 0 (no digests) and 86400" in refused.error_message
    refused = await admin.gql(TYPE_POLICY, {"input": {"typeCode": "ticket_created", "digestWindowSeconds": -2}})
    assert refused.error_code == "BAD_USER_INPUT"
    refused = await admin.gql(TYPE_POLICY, {"input": {"typeCode": "chat_message", "alwaysOn": True}})
    assert refused.error_code == "BAD_USER_INPUT" and "takes collapse alone" in refused.error_message
    both = {"typeCode": "ticket_created", "alwaysOn": True, "digestWindowSeconds": 30}
    refused = await admin.gql(TYPE_POLICY, {"input": both})
    assert refused.error_code == "BAD_USER_INPUT" and "never digested" in refused.error_message
    # -1 returns a type to the instance's window
    set_ = await admin.gql(TYPE_POLICY, {"input": {"typeCode": "ticket_created", "digestWindowSeconds": 30}})
    assert set_.data["setTypePolicy"]["digestWindowSeconds"] == 30
    back = await admin.gql(TYPE_POLICY, {"input": {"typeCode": "ticket_created", "digestWindowSeconds": -1}})
    assert back.data["setTypePolicy"]["digestWindowSeconds"] is None


async def test_working_hours_are_checked_and_read_back(tenant: Tenant) -> None:
    operator = tenant.operator("olena")
    # the zone database's old names are zones too; surrounding spaces are dropped
    alias = await operator.gql(HOURS, {"input": {"timezone": " Europe/Kiev ", "days": []}})
    assert alias.data["setWorkingHours"] == {"timezone": "Europe/Kiev", "days": []}
    refused = await operator.gql(HOURS, {"input": {"timezone": "Moon/Base", "days": []}})
    assert refused.error_code == "BAD_USER_INPUT" and "IANA time zone" in refused.error_message
    refused = await operator.gql(
        HOURS, {"input": {"timezone": "UTC", "days": [{"day": "MONDAY", "from": "18:00", "to": "09:00"}]}}
    )
    assert refused.error_code == "BAD_USER_INPUT" and "split a night shift" in refused.error_message
    refused = await operator.gql(
        HOURS, {"input": {"timezone": "UTC", "days": [{"day": "MONDAY", "from": "00:00", "to": "00:30"}] * 29}}
    )
    assert refused.error_code == "BAD_USER_INPUT" and "at most 28" in refused.error_message
    days = [{"day": "FRIDAY", "from": "09:00", "to": "13:00"}, {"day": "MONDAY", "from": "09:00", "to": "18:00"}]
    saved = await operator.gql(HOURS, {"input": {"timezone": "Europe/Kyiv", "days": days}})
    expected = {"timezone": "Europe/Kyiv", "days": [days[1], days[0]]}  # in weekday order
    assert saved.data["setWorkingHours"] == expected
    assert (await operator.gql(READ_HOURS)).data["workingHours"] == expected


async def test_the_platform_sets_working_hours_from_its_calendars(tenant: Tenant) -> None:
    service = tenant.service()
    hours = {"timezone": "America/New_York", "days": [{"day": "TUESDAY", "from": "08:00", "to": "16:30"}]}
    refused = await service.gql(
        UPSERT, {"inputs": [{"id": "ivan"}, {"id": "iryna", "workingHours": {"timezone": "Nowhere", "days": []}}]}
    )
    assert refused.error_code == "BAD_USER_INPUT" and refused.error_message.startswith("inputs[1].workingHours")
    assert (await service.gql(UPSERT, {"inputs": [{"id": "ivan", "workingHours": hours}, {"id": "iryna"}]})).data
    assert (await tenant.operator("ivan").gql(READ_HOURS)).data["workingHours"] == hours
    assert (await tenant.operator("iryna").gql(READ_HOURS)).data["workingHours"] == {"timezone": "UTC", "days": []}
    # a later upsert without workingHours keeps them
    assert (await service.gql(UPSERT, {"inputs": [{"id": "ivan", "displayName": "Ivan"}]})).data
    assert (await tenant.operator("ivan").gql(READ_HOURS)).data["workingHours"] == hours


async def test_digits_other_than_ascii_in_a_span_and_odd_zone_names_are_refused(tenant: Tenant) -> None:
    # "²³".isdigit() is true but int() refuses it: it must be BAD_USER_INPUT, not an internal error
    for value in ("²³:00", "٠٩:٠٠", "０９:００"):
        days = [{"day": "MONDAY", "from": value, "to": "23:30"}]
        refused = await tenant.operator("olena").gql(HOURS, {"input": {"timezone": "UTC", "days": days}})
        assert refused.error_code == "BAD_USER_INPUT" and '"HH:MM"' in refused.error_message, refused.body
        refused = await tenant.service().gql(
            UPSERT, {"inputs": [{"id": "ivan", "workingHours": {"timezone": "UTC", "days": days}}]}
        )
        assert refused.error_code == "BAD_USER_INPUT", refused.body
    for zone in ("localtime", "Factory"):
        refused = await tenant.operator("olena").gql(HOURS, {"input": {"timezone": zone, "days": []}})
        assert refused.error_code == "BAD_USER_INPUT" and "IANA time zone" in refused.error_message
