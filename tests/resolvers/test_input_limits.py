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
