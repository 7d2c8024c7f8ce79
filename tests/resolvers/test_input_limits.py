"""Every list a client sends is capped where it enters, with BAD_USER_INPUT naming the list."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant

CODES = [f"code-{i}" for i in range(1_001)]

CASES = [
    (
        "mutation($v: [ID!]!) { markNotificationsRead(ids: $v) { unreadCount } }",
        [str(i) for i in range(1_001)],
        "markNotificationsRead(ids)",
    ),
    (
        "mutation($v: [ID!]!) { bulkUpdateTypes(input: {action: RESET_TO_DEFAULTS, typeCodes: $v}) { updated { code } } }",
        CODES,
        "bulkUpdateTypes(typeCodes)",
    ),
    (
        "query($v: [ID!]!) { notifications(filter: {typeCodes: $v}) { edges { cursor } } }",
        CODES,
        "notifications(filter.typeCodes)",
    ),
    (
        "mutation($v: [SystemMessageSettingInput!]!) { updateSystemMessageSettings(input: $v) { code } }",
        [{"code": c, "enabled": True} for c in CODES],
        "updateSystemMessageSettings(input)",
    ),
    (
        "mutation($v: [ChannelToggleInput!]) { updateChannelSettings(input: {channels: $v}) { banner { durationSeconds } } }",
        [{"kind": "BELL", "enabled": True}] * 11,
        "updateChannelSettings(channels)",
    ),
]


@pytest.mark.parametrize(("document", "items", "where"), CASES, ids=[c[2] for c in CASES])
async def test_a_list_over_its_cap_is_refused_with_its_name(
    tenant: Tenant, document: str, items: list, where: str
) -> None:
    operator = tenant.operator()
    result = await operator.gql(document, {"v": items})
    assert result.error_code == "BAD_USER_INPUT"
    assert result.error_message.startswith(f"{where} takes at most ")
    assert f"you sent {len(items)}" in result.error_message


async def test_one_call_may_not_create_more_than_its_recipients_per_call(tenant: Tenant) -> None:
    # given five events of 4,001 recipients each: each within recipients per event, 20,005 together
    from models.notification import Notification, ProcessedEvent

    events = [
        {
            "id": f"wide-{e}",
            "type": "ticket_created",
            "recipients": [f"u{e}-{i}" for i in range(4_001)],
            "data": {"ticketNumber": e},
        }
        for e in range(5)
    ]
    many = "mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { notificationCount } }"
    # when they come in one call
    result = await tenant.service().gql(many, {"inputs": events})
    # then the call is refused before anything is written, saying what to change
    [error] = result.errors
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == (
        "At most 20000 recipients in one call (all its events together), got 20005: split the batch"
    )
    assert await ProcessedEvent.filter(instance_id=tenant.id).count() == 0
    assert await Notification.filter(instance_id=tenant.id).count() == 0
    # and four of them in one call go through
    result = await tenant.service().gql(many, {"inputs": events[:4]})
    assert [r["notificationCount"] for r in result.data["publishEvents"]] == [4_001] * 4
