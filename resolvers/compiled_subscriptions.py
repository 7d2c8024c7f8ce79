"""Compiled subscriptions: each live message shaped by a plan instead of a GraphQL execution.

A subscription's selection set is fixed for its whole life, and every message it carries is a
flat dict (domain.live). Running graphql-core's executor for each message of each subscriber costs
~10x more than the message itself, so, as graphql-jit does for JavaScript, the selection set is
turned once into a plan (nested tuples: response key, field, sub-plan) that builds the response
dict directly. Documents the compiler does not cover (directives, unknown shapes, invalid ones)
return None and take the ordinary execution path, which also reports their errors.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
)

from core.settings import Limits
from resolvers.context import Context
from resolvers.documents import Admitted
from resolvers.live_sources import (
    CONTRACT_EVENTS,
    LiveSink,
    bell_members,
    bell_messages,
    reminder_messages,
    toast_messages,
)

#: What each GraphQL type's fields read from a live message (or a nested part of one).
Getter = Callable[[dict[str, Any]], Any]


def _entity(n: dict[str, Any]) -> dict[str, Any] | None:
    if n.get("entityKind") and n.get("entityId") is not None:
        return {"kind": n["entityKind"], "id": n["entityId"]}
    return None


FIELDS: dict[str, dict[str, tuple[Getter, str | None]]] = {
    # type name -> field name -> (getter, type name of the value when it is an object)
    "NotificationAdded": {
        "notification": (lambda m: m["notification"], "Notification"),
        "unreadCount": (lambda m: m["unreadCount"], None),
    },
    "NotificationsRead": {
        "ids": (lambda m: m["ids"], None),
        "unreadCount": (lambda m: m["unreadCount"], None),
    },
    "NotificationCollapsed": {
        "notification": (lambda m: m["notification"], "Notification"),
        "unreadCount": (lambda m: m["unreadCount"], None),
    },
    "NotificationsUnread": {
        "ids": (lambda m: m["ids"], None),
        "unreadCount": (lambda m: m["unreadCount"], None),
    },
    "NotificationsArchived": {
        "ids": (lambda m: m["ids"], None),
        "unreadCount": (lambda m: m["unreadCount"], None),
    },
    "NotificationsSnoozed": {
        "ids": (lambda m: m["ids"], None),
        "snoozedUntil": (lambda m: m["snoozedUntil"], None),
        "unreadCount": (lambda m: m["unreadCount"], None),
    },
    "NotificationsUnarchived": {
        "notifications": (lambda m: m["notifications"], "Notification"),
        "unreadCount": (lambda m: m["unreadCount"], None),
    },
    "NotificationsReturned": {
        "notifications": (lambda m: m["notifications"], "Notification"),
        "unreadCount": (lambda m: m["unreadCount"], None),
    },
    "Notification": {
        "id": (lambda n: n["id"], None),
        "typeCode": (lambda n: n["typeCode"], None),
        "categoryCode": (lambda n: n["categoryCode"], None),
        "title": (lambda n: n["title"], None),
        "body": (lambda n: n["body"], None),
        "entity": (_entity, "EntityRef"),
        "data": (lambda n: n.get("data") or {}, None),
        "createdAt": (lambda n: n["createdAt"], None),
        "readAt": (lambda n: n.get("readAt"), None),
        "count": (lambda n: n.get("count", 1), None),
        "updatedAt": (lambda n: n.get("updatedAt") or n["createdAt"], None),
        "archivedAt": (lambda n: n.get("archivedAt"), None),
        "snoozedUntil": (lambda n: n.get("snoozedUntil"), None),
    },
    "EntityRef": {
        "kind": (lambda e: e["kind"], None),
        "id": (lambda e: e["id"], None),
    },
    "Toast": {
        "notification": (lambda t: t["notification"], "Notification"),
        "durationSeconds": (lambda t: t["durationSeconds"], None),
        "sound": (lambda t: t.get("sound"), None),
        "repeat": (lambda t: t["repeat"], None),
        "dismissed": (lambda t: bool(t.get("dismissed")), None),
    },
    "Reminder": {
        "kind": (lambda r: r["kind"], None),
        "message": (lambda r: r["message"], None),
        "createdAt": (lambda r: r["createdAt"], None),
    },
}
#: Abstract types: the message's "type" names its concrete type.
UNIONS = {
    "BellEvent": frozenset(
        {
            "NotificationAdded",
            "NotificationsRead",
            "NotificationCollapsed",
            "NotificationsUnread",
            "NotificationsArchived",
            "NotificationsSnoozed",
            "NotificationsUnarchived",
            "NotificationsReturned",
        }
    )
}
ROOTS: dict[str, str] = {"bell": "BellEvent", "toasts": "Toast", "reminders": "Reminder"}

#: A plan per concrete type: a tuple of (response key, field name, getter, sub-plans or None).
Plan = dict[str, tuple[tuple[str, str, Getter | None, Any], ...]]


class _Unsupported(Exception):
    """The document uses something the compiler leaves to the executor."""


@dataclass(frozen=True)
class Compiled:
    response_key: str
    root_field: str
    arguments: dict[str, Any]
    plan: Plan
    #: The bell events the document names (live_sources.bell_members).
    members: frozenset[str] = CONTRACT_EVENTS

    def source(self, ctx: Context, sink: LiveSink | None = None) -> AsyncGenerator[dict[str, Any], None]:
        """The subscription's messages; the bell's and the toasts' may go to ``sink`` instead
        (live_sources.LiveSink)."""
        if self.root_field == "bell":
            return bell_messages(ctx, self.arguments.get("after"), self.members, sink)
        if self.root_field == "toasts":
            return toast_messages(ctx, sink)
        return reminder_messages(ctx)

    def shape(self, message: dict[str, Any]) -> dict[str, Any]:
        return {self.response_key: _apply(self.plan, message.get("type", ""), message)}


def _apply(plan: Plan, typename: str, value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, field, getter, sub in plan[typename]:
        if field == "__typename":
            out[key] = typename
            continue
        result = getter(value)  # type: ignore[misc]
        if sub is not None and result is not None:
            sub_plan, sub_type = sub
            if isinstance(result, list):
                result = [_apply(sub_plan, sub_type, item) for item in result]
            else:
                result = _apply(sub_plan, sub_type, result)
        out[key] = result
    return out


def compile_subscription(
    admitted: Admitted,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    limits: Limits,
) -> Compiled | None:
    """A plan for an admitted (parsed, measured, valid) subscription on bell, toasts or
    reminders; None for anything else. The plan is made once per document and operation and
    kept with the document (``Admitted.plans``): every subscription of the same document shares
    it (~2.5 KiB each, 10,000 idle panels), and only its arguments are its own."""
    key = ("subscription", operation_name)
    if key not in admitted.plans:
        try:
            admitted.plans[key] = _compile(admitted.document, operation_name, limits)
        except (_Unsupported, KeyError):
            admitted.plans[key] = None
    shared: tuple[Compiled, tuple[ArgumentNode, ...], dict[str, Any]] | None = admitted.plans[key]
    if shared is None:
        return None
    compiled, argument_nodes, defaults = shared
    try:
        arguments = _arguments(argument_nodes, variables or {}, defaults)
    except _Unsupported:
        return None
    return replace(compiled, arguments=arguments) if arguments else compiled


def _arguments(
    argument_nodes: tuple[ArgumentNode, ...], variables: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    """The root field's arguments (``after``) from the document and this subscription's variables
    (a variable not given takes its default in the document, as GraphQL has it)."""
    arguments: dict[str, Any] = {}
    for argument in argument_nodes:
        if isinstance(argument.value, StringValueNode):
            arguments[argument.name.value] = argument.value.value
        elif isinstance(argument.value, VariableNode):
            name = argument.value.name.value
            value = variables[name] if name in variables else defaults.get(name)
            if not isinstance(value, (str, type(None))):
                raise _Unsupported  # the executor coerces it and says what is wrong
            arguments[argument.name.value] = value
        else:
            raise _Unsupported  # null literals and the like: the executor handles them
    return arguments


def _compile(
    document: DocumentNode, operation_name: str | None, limits: Limits
) -> tuple[Compiled, tuple[ArgumentNode, ...], dict[str, Any]]:
    """The document's plan (without arguments), its root field's argument nodes and the
    operation's variable defaults (strings and nulls; any other default goes to the executor)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.SUBSCRIPTION:
        raise _Unsupported
    operation = operations[0]
    if operation.directives:
        raise _Unsupported
    roots = operation.selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode) or roots[0].directives:
        raise _Unsupported
    root = roots[0]
    if root.name.value not in ROOTS or root.selection_set is None:
        raise _Unsupported
    for argument in root.arguments or ():
        if not isinstance(argument.value, (StringValueNode, VariableNode)):
            raise _Unsupported  # null literals and the like: the executor handles them
    defaults: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        default = definition.default_value
        if isinstance(default, StringValueNode):
            defaults[definition.variable.name.value] = default.value
        elif default is not None and not isinstance(default, NullValueNode):
            raise _Unsupported  # the executor coerces it and says what is wrong
    counter = {"aliases": 0}
    root_type = ROOTS[root.name.value]
    concrete = UNIONS.get(root_type, frozenset({root_type}))
    plan = {t: _fields(root.selection_set, t, root_type, fragments, counter, 2, limits) for t in concrete}
    if counter["aliases"] > limits.query_aliases:
        raise _Unsupported
    compiled = Compiled(
        response_key=root.alias.value if root.alias else root.name.value,
        root_field=root.name.value,
        arguments={},
        plan=plan,
        members=bell_members(root.selection_set, fragments),
    )
    return compiled, tuple(root.arguments or ()), defaults


def _fields(
    selection_set: SelectionSetNode,
    typename: str,
    abstract: str,
    fragments: dict[str, FragmentDefinitionNode],
    counter: dict[str, int],
    depth: int,
    limits: Limits,
) -> tuple[tuple[str, str, Getter | None, Any], ...]:
    """The fields a selection set asks of ``typename`` (collected as GraphQL collects them)."""
    if depth > limits.query_depth:
        raise _Unsupported
    collected: dict[str, tuple[str, str, Getter | None, Any]] = {}
    for selection in selection_set.selections:
        if selection.directives:
            raise _Unsupported
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            if selection.alias:
                counter["aliases"] += 1
            name = selection.name.value
            if key in collected:
                continue  # the same key twice: valid documents select it identically
            if name == "__typename":
                collected[key] = (key, name, None, None)
                continue
            if selection.arguments:
                raise _Unsupported
            getter, value_type = FIELDS[typename][name]
            sub = None
            if value_type is not None:
                if selection.selection_set is None:
                    raise _Unsupported
                sub_plan = {
                    value_type: _fields(
                        selection.selection_set, value_type, value_type, fragments, counter, depth + 1, limits
                    )
                }
                sub = (sub_plan, value_type)
            collected[key] = (key, name, getter, sub)
        else:
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition.name.value if selection.type_condition else typename
                inner = selection.selection_set
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments[selection.name.value]
                condition, inner = fragment.type_condition.name.value, fragment.selection_set
            else:  # pragma: no cover - graphql-core has no other selection kinds
                raise _Unsupported
            if condition not in (typename, abstract):
                continue
            for entry in _fields(inner, typename, abstract, fragments, counter, depth, limits):
                collected.setdefault(entry[0], entry)
    return tuple(collected.values())
