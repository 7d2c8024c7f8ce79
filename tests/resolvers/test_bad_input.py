"""SPEC §8, bad input: every value a client can get wrong is refused with BAD_USER_INPUT and a
message saying what to change, whether it came in variables or was written in the query text,
on SQLite and PostgreSQL alike — and nothing of the call is written.

The kinds, each checked where every value of it passes (domain/input_text.py):

    control characters   NUL and other C0 controls in text (tab and line breaks allowed);
                         any control character in ids and JSON object keys
    JSON                 finite numbers (floats 0 or 1e-20..1e16), valid Unicode in keys and values,
                         nesting and size —
                         also for JSON written as a literal in the query text
    quoting              an error message quotes at most 40 characters of what was sent
    entity               entity.kind and entity.id in a documented safe form (they become links)
    configuration        non-finite seconds; booleans are not integers
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
import websockets

from core.settings import Settings, SettingsError
from tests.conftest import Tenant

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"
REGISTER = "mutation($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) { id } }"
SETTINGS = "mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) { botScenario } }"
UPSERT = "mutation($inputs: [OperatorInput!]!) { upsertOperators(inputs: $inputs) }"
BELL = "{ notifications { edges { node { data } } } }"
PUSH = {"endpoint": "https://push.example.com/p/1", "p256dh": "x" * 87, "auth": "y" * 22}


def event(**fields: Any) -> dict[str, Any]:
    return {"id": "e-1", "type": "ticket_created", "recipients": ["op-a"], "data": {"ticketNumber": 1}, **fields}


# -- control characters ---------------------------------------------------------------------------
NUL_CASES = [
    ("service", PUBLISH, {"input": event(id="e\u0000")}, "publishEvent(input.id)"),
    ("service", PUBLISH, {"input": event(data={"subject": "a\u0000b"})}, "publishEvent(input.data).subject"),
    ("service", PUBLISH, {"input": event(data={"a\u0000": 1})}, "publishEvent(input.data)"),
    ("service", PUBLISH, {"input": event(recipients=["op-\u0000"])}, "publishEvent(input.recipients[0])"),
    ("service", PUBLISH, {"input": event(actorId="op\u0001")}, "publishEvent(input.actorId)"),
    ("service", PUBLISH, {"input": event(id="e\n1")}, "publishEvent(input.id)"),
    ("operator", REGISTER, {"input": {**PUSH, "userAgent": "Moz\u0000illa"}}, "input.userAgent"),
    ("operator", REGISTER, {"input": {**PUSH, "endpoint": "https://push.example.com/\u0000"}}, "input.endpoint"),
    ("administrator", SETTINGS, {"input": {"botScenario": "a\u0000b"}}, "input.botScenario"),
    ("service", UPSERT, {"inputs": [{"id": "op-\u0000"}]}, "upsertOperators(inputs[0].id)"),
    ("service", UPSERT, {"inputs": [{"id": "op-n", "displayName": "N\u0000"}]}, "inputs[0].displayName"),
    ("operator", "mutation($t: ID!) { setTypeChannels(typeCode: $t, channels: [BELL]) { code } }",
     {"t": "ticket\u0000created"}, "setTypeChannels(typeCode)"),
    ("operator", "query($t: [ID!]) { notifications(filter: {typeCodes: $t}) { edges { cursor } } }",
     {"t": ["a\u0000"]}, "notifications(filter.typeCodes[0])"),
]  # fmt: skip


@pytest.mark.parametrize(("role", "document", "variables", "where"), NUL_CASES, ids=[c[3] for c in NUL_CASES])
async def test_control_characters_in_variables_are_refused_with_where_they_are(
    tenant: Tenant, role: str, document: str, variables: dict[str, Any], where: str
) -> None:
    result = await tenant.caller(role).gql(document, variables)
    assert result.error_code == "BAD_USER_INPUT", result.body
    assert where in result.error_message and "control character U+" in result.error_message
    assert result.body.get("data") in (None, {}) or not any((result.body.get("data") or {}).values())


LITERAL_CASES = [
    ("service", 'mutation { publishEvent(input: {id: "e\\u0000", type: "ticket_created", recipients: ["a"]}) '
     "{ notificationCount } }", "publishEvent(input.id)"),
    ("service", 'mutation { publishEvent(input: {id: "e", type: "ticket_created", recipients: ["a\\u0000"]}) '
     "{ notificationCount } }", "publishEvent(input.recipients[0])"),
    ("service", 'mutation { publishEvent(input: {id: "e", type: "ticket_created", recipients: ["a"], '
     'data: {subject: "x\\u0000"}}) { notificationCount } }', "publishEvent(input.data).subject"),
    ("administrator", 'mutation { updateInstanceSettings(input: {botScenario: "a\\u0000"}) { botScenario } }',
     "input.botScenario"),
    ("service", 'mutation { upsertOperators(inputs: [{id: "op-n", displayName: "N\\u0000"}]) }',
     "inputs[0].displayName"),
    # a read query the compiled path answers: it leaves the refusal to the executor
    ("operator", '{ notifications(filter: {typeCodes: ["a\\u0000"]}) { edges { cursor } } }',
     "notifications(filter.typeCodes[0])"),
]  # fmt: skip


@pytest.mark.parametrize(("role", "document", "where"), LITERAL_CASES, ids=[c[2] for c in LITERAL_CASES])
async def test_control_characters_written_in_the_query_text_are_refused_alike(
    tenant: Tenant, role: str, document: str, where: str
) -> None:
    result = await tenant.caller(role).gql(document)
    assert result.error_code == "BAD_USER_INPUT", result.body
    assert where in result.error_message and "U+0000" in result.error_message


async def test_text_may_hold_tab_and_line_breaks_ids_may_not(tenant: Tenant) -> None:
    admin = tenant.admin()
    accepted = await admin.gql(SETTINGS, {"input": {"botScenario": "line one\n\tline two\r\n"}})
    assert accepted.data == {"updateInstanceSettings": {"botScenario": "line one\n\tline two\r\n"}}
    service = tenant.service()
    published = await service.gql(PUBLISH, {"input": event(recipients=["op-a"], data={"subject": "a\nb\tc"})})
    assert published.data == {"publishEvent": {"notificationCount": 1}}
    refused = await service.gql(PUBLISH, {"input": event(id="e-2", recipients=["op-a\t"])})
    assert refused.error_code == "BAD_USER_INPUT" and "U+0009" in refused.error_message


async def test_a_nothing_of_a_refused_call_is_written(tenant: Tenant) -> None:
    service = tenant.service()
    refused = await service.gql(
        UPSERT, {"inputs": [{"id": "op-fine", "displayName": "Fine"}, {"id": "op-bad", "displayName": "B\u0000"}]}
    )
    assert refused.error_code == "BAD_USER_INPUT"
    accepted = await service.gql(UPSERT, {"inputs": [{"id": "op-fine", "displayName": "Fine"}]})
    assert accepted.data == {"upsertOperators": 1}, "the first call wrote nothing"


async def test_control_characters_over_websocket_are_refused(live_server: str, tenant: Tenant) -> None:
    operator = tenant.operator()
    async with websockets.connect(f"ws://{live_server}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {operator.token}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        payload = {"query": REGISTER, "variables": {"input": {**PUSH, "userAgent": "Moz\u0000illa"}}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT" and "U+0000" in errors[0]["message"]


# -- JSON, whatever its source ---------------------------------------------------------------------
def publish_literal(data: str, event_id: str = "lit") -> str:
    return (
        f'mutation {{ publishEvent(input: {{id: "{event_id}", type: "ticket_created", recipients: ["op-a"], '
        f"data: {data}}}) {{ notificationCount }} }}"
    )


@pytest.mark.parametrize("data", ["{x: 1e999}", "{x: [{y: -1e400}]}", "{ticketNumber: 1, n: {m: 1e309}}"])
async def test_infinity_written_in_the_query_text_is_refused(tenant: Tenant, data: str) -> None:
    service = tenant.service()
    refused = await service.gql(publish_literal(data))
    assert refused.error_code == "BAD_USER_INPUT" and "NaN or Infinity" in refused.error_message
    bell = await tenant.operator("op-a").gql(BELL)
    assert bell.data == {"notifications": {"edges": []}}, "nothing was stored"


@pytest.mark.parametrize("value", [1.5e300, -1e16, 1e-300, 2.5e-21])
async def test_a_number_postgresql_would_write_out_in_full_is_refused(tenant: Tenant, value: float) -> None:
    # A float with an exponent is stored by PostgreSQL's jsonb written out in full (1.5e300: 301
    # digits, read back as an integer): data of 16 KiB read back as ~50x that.
    service = tenant.service()
    for refused in (
        await service.gql(PUBLISH, {"input": event(data={"ticketNumber": 1, "n": {"m": [value]}})}),
        await service.gql(publish_literal(f"{{x: {value!r}}}", "lit-float")),
    ):
        assert refused.error_code == "BAD_USER_INPUT", refused.body
        assert "between 1e-20 and 1e16" in refused.error_message and "data" in refused.error_message
    bell = await tenant.operator("op-a").gql(BELL)
    assert bell.data == {"notifications": {"edges": []}}, "nothing was stored"


async def test_numbers_in_the_range_are_stored_as_sent(tenant: Tenant) -> None:
    service = tenant.service()
    data = {"f": [0.0, -0.5, 1e-20, 9.999e15, 123.456], "big": 10**30, "n": -(2**70)}
    assert (await service.gql(PUBLISH, {"input": event(data=data, recipients=["op-a"])})).data
    bell = await tenant.operator("op-a").gql(BELL)
    assert bell.data["notifications"]["edges"][0]["node"]["data"] == data


async def test_infinity_in_bot_settings_written_in_the_query_text_is_refused(tenant: Tenant) -> None:
    document = (
        "mutation { updateInstanceSettings(input: {botChannels: [{channel: CUSTOM, enabled: false, "
        'settings: {url: "https://hooks.example.com/x", n: 1e999}}]}) { botScenario } }'
    )
    refused = await tenant.admin().gql(document)
    assert refused.error_code == "BAD_USER_INPUT" and "NaN or Infinity" in refused.error_message
    assert "updateInstanceSettings(input.botChannels[0].settings).n" in refused.error_message


async def test_a_lone_surrogate_in_a_data_key_is_refused(tenant: Tenant) -> None:
    service = tenant.service()
    for data in ({"a\udc00": 1}, {"nested": {"b\ud800": "x"}}):
        response = await tenant.http.post(
            "/graphql",  # as \uXXXX escapes: the JSON text itself is valid UTF-8
            content=json.dumps({"query": PUBLISH, "variables": {"input": event(data=data)}}),
            headers={"Authorization": f"Bearer {service.token}", "Content-Type": "application/json"},
        )
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and "lone surrogate" in error["message"]


async def test_data_nesting_written_in_the_query_text_has_the_same_limit(tenant: Tenant) -> None:
    service = tenant.service()
    for depth in (33, 190):
        refused = await service.gql(publish_literal("{a:" * depth + "1" + "}" * depth, f"deep{depth}"))
        assert refused.error_code == "BAD_USER_INPUT" and "deeper than 32 levels" in refused.error_message
        listed = await service.gql(publish_literal("{x:" + "[" * depth + "1" + "]" * depth + "}", f"deepl{depth}"))
        assert listed.error_code == "BAD_USER_INPUT" and "deeper than 32 levels" in listed.error_message
    accepted = await service.gql(publish_literal("{a:" * 32 + "1" + "}" * 32, "deep32"))
    assert accepted.data == {"publishEvent": {"notificationCount": 1}}
    bell = await tenant.operator("op-a").gql(BELL)
    assert len(bell.data["notifications"]["edges"]) == 1


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_data_sent_in_variables_gets_its_32_levels_too(tenant: Tenant) -> None:
    # given event data exactly 32 levels deep, sent in the variables of publishEvent and publishEvents
    service = tenant.service()
    single = await service.gql(PUBLISH, {"input": event(id="v32", recipients=["op-a"], data=nested(32))})
    batch = await service.gql(
        "mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { notificationCount } }",
        {"inputs": [event(id="v32b", recipients=["op-a"], data=nested(32))]},
    )
    # then both are accepted (the variables' own levels do not count against the data's)
    assert single.data == {"publishEvent": {"notificationCount": 1}}
    assert batch.data == {"publishEvents": [{"notificationCount": 1}]}
    # and 33 levels are refused, naming the data
    refused = await service.gql(PUBLISH, {"input": event(id="v33", recipients=["op-a"], data=nested(33))})
    assert refused.error_code == "BAD_USER_INPUT" and "publishEvent(input.data)" in refused.error_message


@pytest.mark.parametrize("control", ["\u007f", "\u0085", "\u009b"])
async def test_del_and_c1_controls_are_refused_in_text(tenant: Tenant, control: str) -> None:
    text = json.loads(f'"a{control}b"')
    refused = await tenant.admin().gql(SETTINGS, {"input": {"botScenario": text}})
    assert refused.error_code == "BAD_USER_INPUT" and "control character" in refused.error_message


# -- messages quote a shortened value --------------------------------------------------------------
async def test_an_over_long_id_is_quoted_short_and_the_limit_is_said(tenant: Tenant) -> None:
    refused = await tenant.service().gql(PUBLISH, {"input": event(id="x" * 5_000)})
    assert refused.error_code == "BAD_USER_INPUT"
    message = refused.error_message
    assert "id must be 1-200 characters" in message and "x" * 40 + "'…" in message and len(message) < 200


async def test_an_unknown_operation_name_is_quoted_short(tenant: Tenant) -> None:
    response = await tenant.http.post(
        "/graphql",
        json={"query": "{ unreadCount }", "operationName": "N" * 120},
        headers={"Authorization": f"Bearer {tenant.operator().token}"},
    )
    message = response.json()["errors"][0]["message"]
    assert "N" * 40 + "'…" in message and message.endswith("name one it defines")


# -- entity ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "entity",
    [
        {"kind": "TICKET", "id": "1\nVisit https://phish.example/login"},
        {"kind": "TICKET", "id": "../../admin?x=1#"},
        {"kind": "TICKET", "id": "a b"},
        {"kind": "TICKET", "id": "x" * 129},
        {"kind": "TICKET/../x", "id": "1"},
    ],
)
async def test_an_entity_outside_the_safe_form_is_refused(tenant: Tenant, entity: dict[str, str]) -> None:
    refused = await tenant.service().gql(PUBLISH, {"input": event(entity=entity)})
    assert refused.error_code == "BAD_USER_INPUT"
    assert "entity.id" in refused.error_message or "entity.kind" in refused.error_message


async def test_an_entity_in_the_safe_form_is_accepted(tenant: Tenant) -> None:
    entity = {"kind": "TICKET", "id": "T-42.a_b:c"}
    accepted = await tenant.service().gql(PUBLISH, {"input": event(entity=entity)})
    assert accepted.data == {"publishEvent": {"notificationCount": 1}}


@pytest.mark.parametrize(
    ("type_code", "data", "refused"),
    [
        ("ticket_created", {"ticketNumber": True}, "data.ticketNumber 'true' names the event's ticket"),
        ("ticket_created", {"ticketNumber": "12 / 3"}, "data.ticketNumber '12 / 3' names the event's ticket"),
        ("chat_message", {"chatId": {"id": 5}, "text": "hi"}, "data.chatId '{\"id\":5}' names the event's chat"),
        ("chat_message", {"chatId": 1.5, "text": "hi"}, "data.chatId '1.5' names the event's chat"),
        # (the chat's key first: a ticket number beside it does not make a bad chatId pass)
        ("chat_message", {"chatId": "c 1", "ticketNumber": 5}, "data.chatId 'c 1' names the event's chat"),
    ],
)
async def test_data_that_would_name_no_entity_is_refused(
    tenant: Tenant, type_code: str, data: dict[str, Any], refused: str
) -> None:
    # (left as it was, the notification was about nothing: never collapsed, never read with its chat)
    answer = await tenant.service().gql(PUBLISH, {"input": event(type=type_code, data=data)})
    assert answer.error_code == "BAD_USER_INPUT" and refused in answer.error_message, answer.error_message
    assert "send a whole number or 1-128 letters" in answer.error_message


@pytest.mark.parametrize(
    ("type_code", "data", "entity"),
    [
        ("chat_message", {"chatId": "c-1", "text": "hi"}, None),
        ("chat_message", {"chatId": 77, "text": "hi"}, None),
        ("ticket_created", {"ticketNumber": 5, "chatId": {"any": "thing"}}, None),  # (the ticket names it)
        ("chat_message", {"chatId": {"id": 5}, "text": "hi"}, {"kind": "CHAT", "id": "c-5"}),  # (sent itself)
    ],
)
async def test_data_that_names_an_entity_or_needs_not_is_accepted(
    tenant: Tenant, type_code: str, data: dict[str, Any], entity: dict[str, str] | None
) -> None:
    fields: dict[str, Any] = {"type": type_code, "data": data} | ({"entity": entity} if entity else {})
    accepted = await tenant.service().gql(PUBLISH, {"input": event(**fields)})
    assert accepted.data == {"publishEvent": {"notificationCount": 1}}, accepted


def test_an_entity_id_is_percent_encoded_in_links() -> None:
    from channels.message import message_for

    row = SimpleNamespace(
        id=7, entity_kind="TICKET", entity_id="../a b?x=1#", type_code="ticket_created", title="T", body=""
    )
    message = message_for(SimpleNamespace(notification=row), "https://panel.example.com")  # type: ignore[arg-type]
    assert message.link == "https://panel.example.com/tickets/..%2Fa%20b%3Fx%3D1%23"


# -- configuration ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["NC_LEASE_SECONDS", "NC_POLL_SECONDS", "NC_RETRY_BASE_SECONDS", "NC_SEND_TIMEOUT_SECONDS"]
)
@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "Infinity"])
def test_seconds_must_be_finite(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})


def test_seconds_past_thirty_days_are_refused() -> None:
    # a lease of 1e12 s would overflow every due time the workers compute
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"NC_LEASE_SECONDS": "1e12"})
    # (the limit in plain seconds, and the value as it was given)
    assert str(refused.value) == "NC_LEASE_SECONDS must be at most 2592000 seconds (30 days), got '1e12'"
    assert Settings.from_env({"NC_LEASE_SECONDS": str(30 * 86_400)}).lease_seconds == 30 * 86_400


def test_an_sqlite_library_without_json_operators_is_refused_for_the_embedded_database_only() -> None:
    from models.db import check_sqlite

    embedded = Settings.from_env({})
    with pytest.raises(SettingsError, match="needs SQLite 3.38.0 or newer, and this Python has SQLite 3.37.2"):
        check_sqlite(embedded, (3, 37, 2))
    check_sqlite(embedded, (3, 38, 0))
    check_sqlite(Settings.from_env({"NC_DATABASE_URL": "postgres://db/nc"}), (3, 7, 17))


def test_priming_is_turned_off_by_zero_seconds_and_other_seconds_are_not() -> None:
    assert Settings.from_env({"NC_DB_PRIME_SECONDS": "0"}).db_prime_seconds == 0
    with pytest.raises(SettingsError, match=r"NC_DB_PRIME_SECONDS must be 0 or more \(0: off\), got '-1'"):
        Settings.from_env({"NC_DB_PRIME_SECONDS": "-1"})
    with pytest.raises(SettingsError, match="NC_LEASE_SECONDS must be above 0, got '0'"):
        Settings.from_env({"NC_LEASE_SECONDS": "0"})


@pytest.mark.parametrize("name", ["NC_LIMIT_OCCURRED_AT_AHEAD_SECONDS", "NC_LIMIT_SNOOZE_SECONDS"])
def test_limits_in_seconds_past_ten_years_are_refused(name: str) -> None:
    # how far ahead an occurredAt or a snooze may be: 1e12 s overflowed the date checked against it
    with pytest.raises(SettingsError, match=f"{name} must be at most"):
        Settings.from_env({name: "999999999999"})
    assert getattr(Settings.from_env({name: str(10 * 365 * 86_400)}).limits, name[9:].lower()) == 10 * 365 * 86_400


async def test_a_boolean_is_not_a_port(tenant: Tenant) -> None:
    settings = {"host": "smtp.example.com", "from": "nc@example.com", "port": True}
    refused = await tenant.admin().gql(
        SETTINGS, {"input": {"botChannels": [{"channel": "EMAIL", "enabled": False, "settings": settings}]}}
    )
    assert refused.error_code == "BAD_USER_INPUT" and "settings.port must be a whole number" in refused.error_message
