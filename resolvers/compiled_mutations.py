"""Compiled publishing: a producer's ``publishEvent``/``publishEvents`` answered without graphql-core's
and strawberry's per-value coercion.

A batch of 100 events is ~1,000 input values; coercing them through graphql-core's
``coerce_input_value`` and then strawberry's ``convert_argument`` (dataclasses, type resolution per
value) cost about a fifth of a publish's CPU, more than writing its notifications. Here a validated
document of the usual shape — one root field, its events passed as the one variable the operation
declares, a selection of ``PublishResult``'s plain fields — is planned once; per request the
variable's JSON is checked field by field against ``EventInput`` (the same rules the schema states:
ID = string or integer, required fields present, no unknown fields) and by the domain's
``validate`` (which holds ``check_arguments``' rules for events, resolvers/bounds.py, and more),
then handed to the same function the resolvers call, marked as validated. Anything else — another
shape, a literal argument, a value the fast check does not accept — returns None and takes the
ordinary execution path, which reports the mistake exactly as it always has.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    print_ast,
)

from core.settings import Limits
from domain.entities import entity_of, unusable_entity_key
from domain.errors import BadUserInput, ClientError
from domain.events import Event, validate
from resolvers.context import Context
from resolvers.documents import Admitted
from resolvers.events.mutations import publish

log = logging.getLogger(__name__)

#: Root fields compiled here: the argument's name, its declared variable type, a list or one event.
FIELDS = {
    "publishEvents": ("inputs", "[EventInput!]!", True),
    "publishEvent": ("input", "EventInput!", False),
}
#: PublishResult's fields as the Published record names them.
RESULT = {
    "eventId": "event_id",
    "duplicate": "duplicate",
    "notificationCount": "notification_count",
    "deliveriesQueued": "deliveries_queued",
}
EVENT_FIELDS = frozenset({"id", "type", "recipients", "actorId", "entity", "data", "occurredAt"})


@dataclass(frozen=True)
class Plan:
    key: str
    field: str
    argument: str
    variable: str
    many: bool
    #: (response key, Published attribute; None for __typename)
    selection: tuple[tuple[str, str | None], ...]
    field_node: FieldNode


@dataclass(frozen=True)
class CompiledPublish:
    plan: Plan
    events: list[Event]

    async def run(self, context: Context) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
        plan = self.plan
        try:
            results = await publish(context, self.events, validated=True)
        except ClientError as error:
            return None, [GraphQLError(error.message, plan.field_node, path=[plan.key], original_error=error)]
        except Exception:
            # As the executor masks a server fault: logged with its traceback, the client told no more.
            log.exception("%s failed", plan.field)
            internal = {"code": "INTERNAL_SERVER_ERROR"}
            return None, [GraphQLError("Internal server error", plan.field_node, path=[plan.key], extensions=internal)]
        shaped = [
            {
                key: ("PublishResult" if attribute is None else getattr(r, attribute))
                for key, attribute in plan.selection
            }
            for r in results
        ]
        return {plan.key: shaped if plan.many else shaped[0]}, []


class _Unsupported(Exception):
    pass


class PublishCompiler:
    def __init__(self, schema: GraphQLSchema, limits: Limits) -> None:
        self.schema = schema
        self.limits = limits

    def compile(
        self, admitted: Admitted, variables: dict[str, Any] | None, operation_name: str | None
    ) -> CompiledPublish | None:
        key = ("publish", operation_name)
        if key not in admitted.plans:
            try:
                admitted.plans[key] = _plan(admitted, operation_name)
            except _Unsupported:
                admitted.plans[key] = None
        plan: Plan | None = admitted.plans[key]
        if plan is None or not variables or plan.variable not in variables:
            return None
        value = variables[plan.variable]
        try:
            given = [_event(v) for v in value] if plan.many and isinstance(value, list) else None
            if not plan.many:
                given = [_event(value)]
            if given is None:
                raise _Unsupported
            events = [_as_event(e) for e in given]
            # The domain's rules hold every rule check_arguments applies to EventInput (ids, text,
            # JSON) and more: what they refuse, the ordinary path reports as it always has.
            validate(events, self.limits)
        except (_Unsupported, BadUserInput):
            return None
        return CompiledPublish(plan, events)


def _plan(admitted: Admitted, operation_name: str | None) -> Plan:
    operations = [d for d in admitted.document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or len(admitted.document.definitions) != 1:
        raise _Unsupported
    operation = operations[0]
    if operation.operation is not OperationType.MUTATION or operation.directives:
        raise _Unsupported
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        raise _Unsupported
    node = selections[0]
    if node.name.value not in FIELDS or node.directives or node.selection_set is None:
        raise _Unsupported
    argument, declared, many = FIELDS[node.name.value]
    arguments = node.arguments or ()
    if len(arguments) != 1 or arguments[0].name.value != argument:
        raise _Unsupported
    given = arguments[0].value
    definitions = operation.variable_definitions or ()
    if not isinstance(given, VariableNode) or len(definitions) != 1:
        raise _Unsupported
    definition = definitions[0]
    if (
        definition.variable.name.value != given.name.value
        or print_ast(definition.type) != declared
        or definition.default_value is not None
        or definition.directives
    ):
        raise _Unsupported
    selection: list[tuple[str, str | None]] = []
    for child in node.selection_set.selections:
        if not isinstance(child, FieldNode) or child.directives or child.arguments or child.selection_set:
            raise _Unsupported
        name = child.name.value
        if name != "__typename" and name not in RESULT:
            raise _Unsupported
        selection.append((child.alias.value if child.alias else name, RESULT.get(name)))
    return Plan(
        key=node.alias.value if node.alias else node.name.value,
        field=node.name.value,
        argument=argument,
        variable=given.name.value,
        many=many,
        selection=tuple(selection),
        field_node=node,
    )


def _id(value: Any) -> str:
    """GraphQL's ID input: a string, or an integer given as a number."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _Unsupported


def _event(value: Any) -> dict[str, Any]:
    """One EventInput as graphql-core would coerce it (GraphQL field names), or _Unsupported."""
    if not isinstance(value, dict) or not value.keys() <= EVENT_FIELDS:
        raise _Unsupported
    if value.get("occurredAt") is not None:
        raise _Unsupported  # a DateTime: the executor parses it
    recipients = value.get("recipients")
    if not isinstance(recipients, list):
        raise _Unsupported
    out: dict[str, Any] = {
        "id": _id(value.get("id")),
        "type": _id(value.get("type")),
        "recipients": [_id(r) for r in recipients],
        "actorId": None if value.get("actorId") is None else _id(value["actorId"]),
        "data": value.get("data"),
        "entity": None,
        "occurredAt": None,
    }
    entity = value.get("entity")
    if entity is not None:
        if not isinstance(entity, dict) or entity.keys() != {"kind", "id"} or not isinstance(entity["kind"], str):
            raise _Unsupported
        out["entity"] = {"kind": entity["kind"], "id": _id(entity["id"])}
    return out


def _as_event(e: dict[str, Any]) -> Event:
    entity = e["entity"]
    # JSON of any shape as given: publish refuses one that is not an object
    data = e["data"] if e["data"] is not None else {}
    kind, entity_id = (entity["kind"], entity["id"]) if entity else (None, None)
    # The entity publish would give it (domain.entities.with_entity), given at once: not a second
    # Event; but not from the next key when the first one sent cannot name it (validate refuses it).
    if isinstance(data, dict) and (entity or unusable_entity_key(e["type"], data) is None):
        kind, entity_id = entity_of(e["type"], kind, entity_id, data)
    return Event(
        id=e["id"],
        type=e["type"],
        recipients=e["recipients"],
        actor_id=e["actorId"],
        entity_kind=kind,
        entity_id=entity_id,
        data=data,
        occurred_at=None,
    )
