"""System messages, Reminders and the classic (simplified) settings, and operators' profiles."""

from __future__ import annotations

from tests.conftest import Tenant


async def test_system_messages_default_on_and_switch(tenant: Tenant) -> None:
    operator = tenant.operator(locale="uk")
    rows = (await operator.gql("{ systemMessageSettings { code title enabled } }")).data["systemMessageSettings"]
    assert [r["code"] for r in rows] == [
        "fastline_started",
        "fastline_transferred_to_operator",
        "fastline_answer_failed",
        "fastline_finished",
    ]
    assert all(r["enabled"] for r in rows) and rows[0]["title"].startswith("Fast Line розпочав")
    result = await operator.gql(
        'mutation { updateSystemMessageSettings(input: [{code: "fastline_finished", enabled: false}]) { code enabled } }'
    )
    assert {r["code"]: r["enabled"] for r in result.data["updateSystemMessageSettings"]}["fastline_finished"] is False
    bad = await operator.gql(
        'mutation { updateSystemMessageSettings(input: [{code: "nope", enabled: false}]) { code } }'
    )
    assert bad.error_code == "BAD_USER_INPUT" and "fastline_started" in bad.error_message


async def test_reminder_settings_with_range_checks(tenant: Tenant) -> None:
    operator = tenant.operator()
    defaults = (
        await operator.gql("{ reminderSettings { notReadyEnabled notReadyAfterMinutes notReadyRepeatMinutes } }")
    ).data
    assert defaults["reminderSettings"] == {
        "notReadyEnabled": True,
        "notReadyAfterMinutes": 10,
        "notReadyRepeatMinutes": 10,
    }
    ok = await operator.gql(
        "mutation { updateReminderSettings(input: {notReadyAfterMinutes: 5, notReadyRepeatMinutes: 0}) { notReadyAfterMinutes notReadyRepeatMinutes } }"
    )
    assert ok.data["updateReminderSettings"] == {"notReadyAfterMinutes": 5, "notReadyRepeatMinutes": 0}
    bad = await operator.gql(
        "mutation { updateReminderSettings(input: {notReadyAfterMinutes: 0}) { notReadyAfterMinutes } }"
    )
    assert bad.error_code == "BAD_USER_INPUT" and "notReadyAfterMinutes must be between 1 and 480" in bad.error_message


async def test_classic_settings(tenant: Tenant) -> None:
    operator = tenant.operator()
    assert (await operator.gql("{ classicSettings { browserEnabled soundEnabled } }")).data["classicSettings"] == {
        "browserEnabled": True,
        "soundEnabled": True,
    }
    result = await operator.gql(
        "mutation { updateClassicSettings(input: {soundEnabled: false}) { browserEnabled soundEnabled } }"
    )
    assert result.data["updateClassicSettings"] == {"browserEnabled": True, "soundEnabled": False}


async def test_upsert_operators_creates_and_updates_profiles(tenant: Tenant) -> None:
    service = tenant.service()
    created = await service.gql(
        'mutation { upsertOperators(inputs: [{id: "u1", email: "u1@example.com", locale: "uk", displayName: "Ulyana"}, {id: "u2"}]) }'
    )
    assert created.data["upsertOperators"] == 2
    await service.gql('mutation { upsertOperators(inputs: [{id: "u1", displayName: "Ulyana K."}]) }')
    viewer = (await tenant.operator("u1").gql("{ viewer { displayName email locale } }")).data["viewer"]
    assert viewer == {"displayName": "Ulyana K.", "email": "u1@example.com", "locale": "uk"}


async def test_upsert_operators_input_errors_write_nothing(tenant: Tenant) -> None:
    service = tenant.service()
    for inputs, words in (
        ('[{id: "a", email: "not-an-email"}]', "not an email"),
        ('[{id: "a", locale: "english please"}]', "language tag"),
        ('[{id: "a"}, {id: "a"}]', "twice"),
        ("[]", "empty"),
        ('[{id: "a", role: SERVICE}]', "SERVICE"),
    ):
        result = await service.gql(f"mutation {{ upsertOperators(inputs: {inputs}) }}")
        assert result.error_code == "BAD_USER_INPUT", inputs
        assert words in result.error_message


async def test_query_limits(tenant: Tenant) -> None:
    operator = tenant.operator()
    aliases = " ".join(f"a{i}: unreadCount" for i in range(40))
    result = await operator.gql(f"{{ {aliases} }}")
    assert result.errors and "aliases" in result.error_message.lower()
    huge = "{ " + " ".join("unreadCount" for _ in range(3000)) + " }"
    assert (await operator.gql(huge)).errors


async def test_oversized_request_bodies_are_refused(http, tenant: Tenant) -> None:
    caller = tenant.operator()
    body = '{"query": "{ unreadCount }", "variables": {"pad": "' + "x" * (5 * 1024 * 1024) + '"}}'
    response = await http.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {caller.token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_query_depth_is_limited_and_valid_documents_are_admitted_once() -> None:
    from core.settings import Limits
    from resolvers.schema import build_schema

    schema = build_schema(Limits(query_depth=2))
    deep = await schema.execute("{ notifications { edges { node { id } } } }")
    assert deep.errors and "4 fields deep; the most is 2" in deep.errors[0].message
    assert deep.errors[0].extensions["code"] == "QUERY_TOO_COSTLY"
    # a valid document is parsed and validated once, then served from the cache
    for _ in range(3):
        await schema.execute("{ __typename }")
    assert len(schema.documents) == 1 and schema.documents.cached("{ __typename }") is not None
