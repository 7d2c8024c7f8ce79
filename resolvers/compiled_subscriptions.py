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


def _entity(n: dict[str, Any]) -> dict[str, Any] | None:
    if n.get("entityKind") and n.get("entityId") is not None:
        return {"kind": n["entityKind"], "id": n["entityId"]}
    return None


#: What each GraphQL type's fields read from a live message (or a nested part of one): a Python
#: expression of ``$`` (the message or part), and the type name of the value when it is an object
#: (in brackets: a list of them).
FIELDS: dict[str, dict[str, tuple[str, str | None]]] = {
    # type name -> field name -> (expression, type name of the value when it is an object)
    "NotificationAdded": {
        "notification": ('$["notification"]', "Notification"),
        "unreadCount": ('$["unreadCount"]', None),
    },
    "NotificationsRead": {
        "ids": ('$["ids"]', None),
        "unreadCount": ('$["unreadCount"]', None),
    },
    "NotificationCollapsed": {
        "notification": ('$["notification"]', "Notification"),
        "unreadCount": ('$["unreadCount"]', None),
    },
    "NotificationsUnread": {
        "ids": ('$["ids"]', None),
        "unreadCount": ('$["unreadCount"]', None),
    },
    "NotificationsArchived": {
        "ids": ('$["ids"]', None),
        "unreadCount": ('$["unreadCount"]', None),
    },
    "NotificationsSnoozed": {
        "ids": ('$["ids"]', None),
        "snoozedUntil": ('$["snoozedUntil"]', None),
        "unreadCount": ('$["unreadCount"]', None),
    },
    "NotificationsUnarchived": {
        "notifications": ('$["notifications"]', "[Notification]"),
        "unreadCount": ('$["unreadCount"]', None),
    },
    "NotificationsReturned": {
        "notifications": ('$["notifications"]', "[Notification]"),
        "unreadCount": ('$["unreadCount"]', None),
    },
    "Notification": {
        "id": ('$["id"]', None),
        "typeCode": ('$["typeCode"]', None),
        "categoryCode": ('$["categoryCode"]', None),
        "title": ('$["title"]', None),
        "body": ('$["body"]', None),
        "entity": ("_entity($)", "EntityRef"),
        "data": ('($.get("data") or {})', None),
        "createdAt": ('$["createdAt"]', None),
        "readAt": ('$.get("readAt")', None),
        "count": ('$.get("count", 1)', None),
        "updatedAt": ('($.get("updatedAt") or $["createdAt"])', None),
        "archivedAt": ('$.get("archivedAt")', None),
        "snoozedUntil": ('$.get("snoozedUntil")', None),
    },
    "EntityRef": {
        "kind": ('$["kind"]', None),
        "id": ('$["id"]', None),
    },
    "Toast": {
        "notification": ('$["notification"]', "Notification"),
        "durationSeconds": ('$["durationSeconds"]', None),
        "sound": ('$.get("sound")', None),
        "repeat": ('$["repeat"]', None),
        "dismissed": ('bool($.get("dismissed"))', None),
    },
    "Reminder": {
        "kind": ('$["kind"]', None),
        "message": ('$["message"]', None),
        "createdAt": ('$["createdAt"]', None),
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

#: A plan per concrete type: a tuple of (response key, field name, expression (FIELDS) or None for
#: ``__typename``, sub-plans or None).
Plan = dict[str, tuple[tuple[str, str, str | None, Any], ...]]
#: A live message shaped: ``shape(message)`` -> the subscription's data.
Shape = Callable[[dict[str, Any]], dict[str, Any]]
#: ``next_message(operation id, message)`` -> the graphql-transport-ws ``next`` message carrying it.
NextMessage = Callable[[str, dict[str, Any]], dict[str, Any]]


class _Unsupported(Exception):
    """The document uses something the compiler leaves to the executor."""


@dataclass(frozen=True)
class Compiled:
    response_key: str
    root_field: str
    arguments: dict[str, Any]
    plan: Plan
    #: The plan made into Python (``_generate``): the data of a message, and its ``next`` message.
    shape: Shape
    next_message: NextMessage
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


def _generate(response_key: str, plan: Plan) -> tuple[Shape, NextMessage]:
    """The plan as two Python functions, compiled once per document: one dict display per
    concrete type instead of walking the plan and calling a getter per field for every message
    (a bell message of the benchmark's document: 1.39 -> 0.50 µs). An object field is shaped in
    line (None stays None), a list of them item by item. Nothing of the client's text reaches
    the source but response keys and type names, written as ``repr`` literals; the expressions
    are FIELDS'; the plan's depth and width are the admitted document's, bounded by its limits."""
    names = iter(range(1_000_000))

    def display(fields: tuple[tuple[str, str, str | None, Any], ...], typename: str, var: str) -> str:
        items = []
        for key, _, expression, sub in fields:
            if expression is None:  # __typename
                value = repr(typename)
            else:
                value = expression.replace("$", var)
                if sub is not None:
                    sub_plan, sub_type, many = sub
                    name = f"_v{next(names)}"
                    inner = display(sub_plan[sub_type], sub_type, name)
                    if many:
                        items_name = f"_v{next(names)}"
                        inner = f"[{inner} for {name} in {items_name}]"
                        name = items_name
                    value = f"(None if ({name} := {value}) is None else {inner})"
            items.append(f"{key!r}: {value}")
        return "{" + ", ".join(items) + "}"

    # The bell's most frequent message first: each branch is one comparison of the type.
    ordered = sorted(plan.items(), key=lambda item: item[0] != "NotificationAdded")
    shaped = [(typename, display(fields, typename, "m")) for typename, fields in ordered]

    def function(signature: str, before: str, after: str) -> str:
        lines = [f"def {signature}:", '    t = m.get("type", "")']
        for typename, body in shaped:
            lines += [f"    if t == {typename!r}:", f"        return {before}{{{response_key!r}: {body}}}{after}"]
        lines.append("    raise KeyError(t)")
        return "\n".join(lines) + "\n"

    source = function("shape(m)", "", "") + function(
        "next_message(i, m)", '{"id": i, "type": "next", "payload": {"data": ', "}}"
    )
    namespace: dict[str, Any] = {"_entity": _entity}
    try:
        exec(compile(source, "<compiled subscription>", "exec"), namespace)  # the source: see the docstring
    except (SyntaxError, RecursionError, MemoryError) as error:  # too deep for Python's parser
        raise _Unsupported from error
    return namespace["shape"], namespace["next_message"]


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
    response_key = root.alias.value if root.alias else root.name.value
    shape, next_message = _generate(response_key, plan)
    compiled = Compiled(
        response_key=response_key,
        root_field=root.name.value,
        arguments={},
        plan=plan,
        shape=shape,
        next_message=next_message,
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
) -> tuple[tuple[str, str, str | None, Any], ...]:
    """The fields a selection set asks of ``typename`` (collected as GraphQL collects them)."""
    if depth > limits.query_depth:
        raise _Unsupported
    collected: dict[str, tuple[str, str, str | None, Any]] = {}
    for selection in selection_set.selections:
        if selection.directives:
            raise _Unsupported
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            if selection.alias:
                counter["aliases"] += 1
            name = selection.name.value
            if key in collected:
                if selection.selection_set is not None or collected[key][3] is not None:
                    raise _Unsupported  # an object selected twice: GraphQL merges its sub-fields
                continue  # a leaf selected twice: valid documents select it identically
            if name == "__typename":
                collected[key] = (key, name, None, None)
                continue
            if selection.arguments:
                raise _Unsupported
            expression, value_type = FIELDS[typename][name]
            sub = None
            if value_type is not None:
                many = value_type.startswith("[")
                value_type = value_type.strip("[]")
                if selection.selection_set is None:
                    raise _Unsupported
                sub_plan = {
                    value_type: _fields(
                        selection.selection_set, value_type, value_type, fragments, counter, depth + 1, limits
                    )
                }
                sub = (sub_plan, value_type, many)
            collected[key] = (key, name, expression, sub)
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
                if entry[0] in collected and (entry[3] is not None or collected[entry[0]][3] is not None):
                    raise _Unsupported  # an object selected twice: GraphQL merges its sub-fields
                collected.setdefault(entry[0], entry)
    return tuple(collected.values())
