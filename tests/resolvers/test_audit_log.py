"""The audit log: every settings mutation leaves one entry — who, when, from which client, before
and after, never a secret — that administrators read in pages; kept as long as the history."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from tortoise.timezone import now

from domain.retention import prune
from models.audit import AuditEntry
from tests.conftest import Caller, GraphQLResult, Tenant

LOG = """query($filter: AuditLogFilter, $first: Int!, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id action subject actorUserId actorRole client before after createdAt } }
    pageInfo { hasNextPage endCursor } } }"""
SAVE = """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) { mandatoryChannels } }"""
SET_POLICY = """mutation($input: TypePolicyInput!) { setTypePolicy(input: $input) { typeCode } }"""
RETRY = """mutation($filter: DeliveryLogFilter) { retryDeliveries(filter: $filter) { ids } }"""
SECRET = "hook-signing-secret-7f3a"
OPERATOR_MUTATIONS: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "setTypeChannels",
        'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, SOUND], melody: "chime") { code } }',
        {},
        {"types": {"ticket_created": {"channels": ["BELL", "SOUND"], "melody": "chime"}}},
    ),
    (
        "updateChannelSettings",
        "mutation { updateChannelSettings(input: {channels: [{kind: SOUND, enabled: false}],"
        " banner: {durationSeconds: 12}}) { channels { kind } } }",
        {"channelsOff": [], "banner": {"durationSeconds": 8}},
        {"channelsOff": ["SOUND"], "banner": {"durationSeconds": 12}},
    ),
    (
        "updateSystemMessageSettings",
        'mutation { updateSystemMessageSettings(input: [{code: "fastline_started", enabled: false}]) { code } }',
        {},
        {"systemMessages": {"fastline_started": False}},
    ),
    (
        "updateReminderSettings",
        "mutation { updateReminderSettings(input: {notReadyAfterMinutes: 15}) { notReadyAfterMinutes } }",
        {"reminders": {"notReadyAfterMinutes": 10}},
        {"reminders": {"notReadyAfterMinutes": 15}},
    ),
    (
        "updateClassicSettings",
        "mutation { updateClassicSettings(input: {soundEnabled: false}) { soundEnabled } }",
        {"classic": {"soundEnabled": True}},
        {"classic": {"soundEnabled": False}},
    ),
]


async def send(
    caller: Caller, query: str, variables: dict[str, Any] | None = None, **headers: str | bytes
) -> GraphQLResult:
    """A request with the client's own headers (X-NC-Client, User-Agent)."""
    response = await caller.http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {caller.token}", **headers},
    )
    return GraphQLResult(response.status_code, response.json())


async def entries(admin: Caller, flt: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    page = (await admin.gql(LOG, {"filter": flt, "first": 100})).data["auditLog"]
    return [edge["node"] for edge in page["edges"]]


async def test_a_bot_channel_change_is_audited_with_its_secret_shown_only_as_changed(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    admin = tenant.admin()
    bot = {
        "channel": "CUSTOM",
        "enabled": True,
        "settings": {"url": "http://127.0.0.1:9/hook"},
        "secret": SECRET,
    }
    # when the administrator configures a webhook channel with its signing secret, from a named client
    headers = {"X-NC-Client": "acme-admin-console/2.1", "User-Agent": "Mozilla/5.0"}
    saved = await send(admin, SAVE, {"input": {"botChannels": [bot]}}, **headers)
    assert saved.data
    # then one entry says who, from which client, and what changed; the secret only as "changed"
    [entry] = await entries(admin)
    assert (entry["action"], entry["subject"], entry["actorUserId"], entry["actorRole"], entry["client"]) == (
        "updateInstanceSettings",
        "instance",
        admin.user,
        "ADMINISTRATOR",
        "acme-admin-console/2.1",
    )
    assert entry["before"] == {}
    assert entry["after"] == {
        "botChannels": {
            "CUSTOM": {
                "enabled": True,
                "settings": {"url": "http://127.0.0.1:9/hook"},
                "hasSecret": True,
                "hasWebhookSecretToken": False,
                "secret": "changed",
            }
        }
    }
    assert SECRET not in json.dumps(entry)
    assert SECRET not in json.dumps(list(await AuditEntry.filter(instance_id=tenant.id).values()), default=str)

    # when they make BROWSER mandatory from a client that only sends its User-Agent
    assert (await send(admin, SAVE, {"input": {"mandatoryChannels": ["BROWSER"]}}, **{"User-Agent": "curl/8.5"})).data
    # then the newest entry holds just that change
    newest = (await entries(admin))[0]
    assert (newest["before"], newest["after"], newest["client"]) == (
        {"mandatoryChannels": []},
        {"mandatoryChannels": ["BROWSER"]},
        "curl/8.5",
    )


async def test_a_type_policy_change_is_audited_and_a_refused_one_leaves_nothing(tenant: Tenant) -> None:
    admin = tenant.admin()
    # when a change is refused, and then one is saved
    refused = await admin.gql(SET_POLICY, {"input": {"typeCode": "sla_expired", "mandatoryChannels": ["TELEGRAM"]}})
    assert refused.error_code == "BAD_USER_INPUT"
    saved = await admin.gql(SET_POLICY, {"input": {"typeCode": "sla_expired", "mandatoryChannels": ["BROWSER"]}})
    assert saved.data
    # then only the saved one is in the log, with the type's rule before and after
    [entry] = await entries(admin)
    assert (entry["action"], entry["subject"]) == ("setTypePolicy", "type:sla_expired")
    assert (entry["before"], entry["after"]) == ({"mandatoryChannels": []}, {"mandatoryChannels": ["BROWSER"]})


async def test_each_operator_settings_mutation_leaves_one_entry_with_what_it_changed(tenant: Tenant) -> None:
    olena = tenant.operator("olena")
    admin = tenant.admin()
    for action, query, before, after in OPERATOR_MUTATIONS:
        # when the operator changes their own settings
        assert "errors" not in (await olena.gql(query)).body, action
        # then exactly one new entry names the change
        found = await entries(admin, {"actions": [action]})
        assert len(found) == 1, (action, found)
        [entry] = found
        assert (entry["subject"], entry["actorUserId"], entry["actorRole"]) == ("operator:olena", "olena", "OPERATOR")
        assert (entry["before"], entry["after"]) == (before, after), action
    assert len(await entries(admin)) == len(OPERATOR_MUTATIONS)


async def test_a_bulk_action_and_a_retry_each_leave_one_entry(tenant: Tenant) -> None:
    olena = tenant.operator("olena")
    admin = tenant.admin()
    bulk = """mutation { bulkUpdateTypes(input: {action: ADD_CHANNELS, typeCodes: ["ticket_created", "ticket_closed"],
      channels: [SOUND]}) { updated { code } } }"""
    # when the operator adds SOUND to two types at once and the administrator retries the dead letters
    assert "errors" not in (await olena.gql(bulk)).body
    assert (await admin.gql(RETRY, {"filter": {"statuses": ["FAILED"]}})).data["retryDeliveries"] == {"ids": []}
    # then each left one entry
    retry, bulk_entry = await entries(admin)
    assert (retry["action"], retry["subject"], retry["after"]) == ("retryDeliveries", "deliveries", {"queued": []})
    assert bulk_entry["action"] == "bulkUpdateTypes"
    assert set(bulk_entry["after"]["types"]) == {"ticket_created", "ticket_closed"}
    assert all("SOUND" in t["channels"] for t in bulk_entry["after"]["types"].values())


async def test_the_log_pages_in_constant_statements_and_only_for_its_administrators(
    tenant: Tenant, new_tenant: Any, sql: Any
) -> None:
    admin = tenant.admin()
    for n in range(6):
        assert (await admin.gql(SAVE, {"input": {"negativeCsatThreshold": 1 + n % 4}})).data
    # when the administrator reads one entry, then every entry, then a page after a cursor
    await admin.gql(LOG, {"first": 1})
    sql.statements.clear()
    one = (await admin.gql(LOG, {"first": 1})).data["auditLog"]
    one_count = sql.count
    sql.statements.clear()
    many = (await admin.gql(LOG, {"first": 10})).data["auditLog"]
    assert sql.count == one_count == 1, sql.statements
    rest = (await admin.gql(LOG, {"first": 10, "after": one["pageInfo"]["endCursor"]})).data["auditLog"]
    # then the pages agree with each other
    assert len(many["edges"]) == 6 and not many["pageInfo"]["hasNextPage"] and one["pageInfo"]["hasNextPage"]
    assert [e["node"]["id"] for e in rest["edges"]] == [e["node"]["id"] for e in many["edges"][1:]]
    # and another instance's administrator, operators and supervisors see none of it
    assert await entries(new_tenant().admin()) == []
    for caller in (tenant.operator(), tenant.caller("supervisor")):
        assert (await caller.gql(LOG, {"first": 5})).error_code == "FORBIDDEN"
    for variables in ({"first": 0}, {"first": 101}, {"first": 5, "after": "nope"}):
        assert (await admin.gql(LOG, variables)).error_code == "BAD_USER_INPUT"


async def test_entries_past_retention_are_pruned_with_the_history(tenant: Tenant) -> None:
    admin = tenant.admin()
    assert (await admin.gql(SAVE, {"input": {"negativeCsatThreshold": 3}})).data
    assert (await admin.gql(SAVE, {"input": {"negativeCsatThreshold": 4}})).data
    oldest = await AuditEntry.filter(instance_id=tenant.id).order_by("id").first()
    assert oldest is not None
    await AuditEntry.filter(id=oldest.id).update(created_at=now() - timedelta(days=91))
    # when the retention job runs (90 days)
    await prune(90)
    # then only the recent entry is left
    [entry] = await entries(admin)
    assert entry["after"] == {"negativeCsatThreshold": 4}


async def test_filter_values_longer_than_their_columns_are_refused_with_the_field(tenant: Tenant) -> None:
    admin = tenant.admin()
    for name, field in (
        ("subjects", "filter.subjects"),
        ("actorUserIds", "filter.actorUserIds"),
        ("actions", "filter.actions"),
    ):
        [error] = (await admin.gql(LOG, {"filter": {name: ["x" * 300]}, "first": 5})).errors
        assert (error["extensions"]["code"], error["extensions"].get("field")) == ("BAD_USER_INPUT", field), error


async def test_a_collapse_rule_is_audited_as_it_takes_effect_and_the_client_keeps_its_letters(tenant: Tenant) -> None:
    admin = tenant.admin()
    panel = "Панель адміна".encode()  # a header of UTF-8 bytes, as a browser page's fetch sends it
    policy = 'mutation { setTypePolicy(input: {typeCode: "chat_message", collapse: false}) { collapse } }'
    assert (await send(admin, policy, **{"X-NC-Client": panel})).data["setTypePolicy"] == {"collapse": False}
    [entry] = await entries(admin, {"subjects": ["type:chat_message"]})
    # chat_message collapses by the catalog: the entry says it was on, and is off now
    assert (entry["before"], entry["after"]) == ({"collapse": True}, {"collapse": False})
    assert entry["client"] == "Панель адміна"
