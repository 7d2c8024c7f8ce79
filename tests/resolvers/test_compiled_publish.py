"""Compiled publishing answers exactly what GraphQL execution answers — the same results, the same
notifications written, the same errors for every input it does not take itself."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from models.notification import Notification
from resolvers.context import Context
from resolvers.schema import build_schema
from tests.conftest import Tenant

MANY = (
    "mutation Publish($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) "
    "{ eventId duplicate notificationCount deliveriesQueued __typename } }"
)
ONE = "mutation($input: EventInput!) { sent: publishEvent(input: $input) { eventId n: notificationCount } }"


def ticket(event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "ticket_created",
        "recipients": ["alice", "bob"],
        "data": {"ticketNumber": 7, "subject": "Printer"},
        **fields,
    }


async def both_ways(app, tenant: Tenant, document: str, make: Any) -> tuple[Any, Any]:
    """The document run compiled and executed, each with its own event ids (made by ``make(prefix)``)."""
    services = app.state.services
    executed = replace(services, settings=replace(services.settings, compiled_queries=False))
    schema = build_schema(services.settings.limits)
    token = f"Bearer {tenant.service().token}"
    results = []
    for prefix, chosen in (("c", services), ("e", executed)):
        variables = make(prefix)
        results.append(await schema.execute(document, variables, context_value=Context(chosen, token)))
    return results[0], results[1]


def same(compiled: Any, executed: Any) -> None:
    def strip(data: Any) -> Any:
        if isinstance(data, dict):
            return {k: strip(v) for k, v in data.items() if k != "eventId"}
        if isinstance(data, list):
            return [strip(v) for v in data]
        return data

    assert strip(compiled.data) == strip(executed.data)
    assert [e.formatted for e in compiled.errors or []] == [e.formatted for e in executed.errors or []]


async def test_the_usual_batch_is_compiled_and_writes_what_execution_writes(app, tenant: Tenant) -> None:
    schema = build_schema(app.state.services.settings.limits)
    inputs = [ticket("x-1"), ticket("x-2", actorId="bob", entity={"kind": "TICKET", "id": 7})]
    assert schema.publisher.compile(schema.documents.admit(MANY, {"inputs": inputs}), {"inputs": inputs}, None)

    def make(prefix: str) -> dict[str, Any]:
        return {
            "inputs": [
                ticket(f"{prefix}-1"),
                ticket(f"{prefix}-2", actorId="bob", entity={"kind": "TICKET", "id": 7}),
                ticket(f"{prefix}-1"),  # repeated in the batch: a duplicate
                {
                    "id": 1000 if prefix == "c" else 1001,
                    "type": "chat_created",
                    "recipients": [42, "alice"],
                },  # integer IDs
            ]
        }

    compiled, executed = await both_ways(app, tenant, MANY, make)
    assert compiled.errors is None
    assert [r["eventId"] for r in compiled.data["publishEvents"]] == ["c-1", "c-2", "c-1", "1000"]
    assert [r["eventId"] for r in executed.data["publishEvents"]] == ["e-1", "e-2", "e-1", "1001"]
    same(compiled, executed)
    rows = (
        await Notification.filter(instance_id=tenant.id)
        .order_by("id")
        .values("event_id", "type_code", "title", "entity_kind", "entity_id", "data", "channels")
    )

    def by_way(prefix: str) -> list[dict[str, Any]]:
        return [
            {**r, "event_id": r["event_id"].split("-", 1)[-1]}
            for r in rows
            if r["event_id"].startswith(prefix + "-") or (r["event_id"] == "12345" and prefix == "c")
        ]

    # the integer id 12345 is the same key both ways: the second way saw it as a duplicate
    assert by_way("c")[:3] == by_way("e")[:3]


async def test_one_event_with_an_alias_is_compiled_too(app, tenant: Tenant) -> None:
    compiled, executed = await both_ways(app, tenant, ONE, lambda p: {"input": ticket(f"{p}-one")})
    assert compiled.data == {"sent": {"eventId": "c-one", "n": 2}}
    same(compiled, executed)


WRONG = [
    {"id": "w", "type": "ticket_created", "recipients": ["a"], "colour": "red"},  # unknown field
    {"id": "w", "type": "ticket_created"},  # recipients missing
    {"id": True, "type": "ticket_created", "recipients": ["a"]},  # not an ID
    {"id": "w", "type": "ticket_created", "recipients": ["a", None]},  # null in a non-null list
    {"id": "w", "type": "ticket_created", "recipients": ["a"], "entity": {"kind": 5, "id": "1"}},
    {"id": "w", "type": "ticket_created", "recipients": ["a"], "entity": {"kind": "TICKET"}},
    {"id": "w", "type": "ticket_created", "recipients": ["a"], "occurredAt": "yesterday"},
    {"id": "w\u0000", "type": "ticket_created", "recipients": ["a"]},  # a control character
    {"id": "w", "type": "nope", "recipients": ["a"]},  # unknown type: refused by publish
    {"id": "w", "type": "ticket_created", "recipients": ["a"], "data": [1, 2]},  # not an object
    {"id": "w", "type": "ticket_created", "recipients": ["a"], "data": {"x": float("inf")}},
    {"id": "w", "type": "ticket_created", "recipients": []},
    # a kind that upper-cases to a known one ("ı".upper() == "I"): not TICKET, not a kind at all
    {"id": "w", "type": "ticket_created", "recipients": ["a"], "entity": {"kind": "t\u0131cket", "id": "T-77"}},
    {"id": "w", "type": "ticket_created", "recipients": ["a"], "entity": {"kind": "stra\u00dfe", "id": "1"}},
]


@pytest.mark.parametrize("event", WRONG, ids=[str(i) for i in range(len(WRONG))])
async def test_a_wrong_event_gets_the_same_error_either_way(app, tenant: Tenant, event: dict[str, Any]) -> None:
    def make(prefix: str) -> dict[str, Any]:
        unique = f"{prefix}-w" if event.get("id") == "w" else event.get("id")
        return {"inputs": [{**event, "id": unique}] if "id" in event else [event]}

    compiled, executed = await both_ways(app, tenant, MANY, make)
    assert compiled.errors, compiled.data
    messages = [e.formatted for e in compiled.errors]
    assert all(m["extensions"]["code"] in ("BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED") for m in messages)

    def without_ids(result: Any) -> list[str]:
        return [e.message.replace("c-", "").replace("e-", "") for e in result.errors or []]

    # the same message (the generated id aside), and nothing written either way
    assert [m[:40] for m in without_ids(compiled)] == [m[:40] for m in without_ids(executed)]
    assert await Notification.filter(instance_id=tenant.id).count() == 0


async def test_a_service_role_is_still_required(app, tenant: Tenant) -> None:
    services = app.state.services
    schema = build_schema(services.settings.limits)
    operator = tenant.operator("mallory")
    result = await schema.execute(
        MANY, {"inputs": [ticket("m-1")]}, context_value=Context(services, f"Bearer {operator.token}")
    )
    assert result.data is None and result.errors[0].extensions["code"] == "FORBIDDEN"
    assert await Notification.filter(instance_id=tenant.id).count() == 0
