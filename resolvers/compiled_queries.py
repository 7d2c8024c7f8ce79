"""Compiled queries: the panel's read queries answered without graphql-core's per-field execution.

The settings screens ask the same few documents again and again; executing them costs ~2 ms of
CPU per request, nearly all of it graphql-core collecting fields and completing ~200 leaf values.
Here a validated document is turned once into a plan: the root resolvers (the same functions the
executor calls) run concurrently, and their plain results are shaped by walking the plan. Anything
outside the plan's reach (mutations, directives, fragments on other types, abstract types,
fields with their own resolvers) returns None and takes the ordinary execution path.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    value_from_ast,
)
from graphql.execution.values import get_variable_values

from domain.errors import BadUserInput, ClientError
from resolvers.bounds import check_value
from resolvers.documents import Admitted

#: Root query fields the compiler answers: all read the viewer's own data through the context.
ROOT_FIELDS = frozenset(
    {
        "viewer",
        "notificationCenter",
        "notificationCategories",
        "notificationTypes",
        "channelSettings",
        "melodies",
        "notifications",
        "unreadCount",
        "unreadCounts",
        "systemMessageSettings",
        "reminderSettings",
        "classicSettings",
        "channelDecisions",
    }
)


class _Unsupported(Exception):
    pass


@dataclass(frozen=True)
class Node:
    """How to shape one selected field: response key, Python attribute, GraphQL type, children."""

    key: str
    attribute: str
    kind: str  # "object", "enum", "datetime", "id", "plain", "typename"
    children: tuple[Node, ...] = ()
    typename: str = ""


@dataclass(frozen=True)
class RootCall:
    key: str
    resolver: Any
    #: (python name, the argument's AST value, its GraphQL type): bound to variables per request.
    arguments: tuple[tuple[str, Any, Any], ...]
    node: Node
    field_node: FieldNode


class _Info:
    """What the root resolvers read of strawberry's Info: the context."""

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context


@dataclass(frozen=True)
class CompiledQuery:
    """A plan with its arguments bound to one request's variables."""

    calls: tuple[RootCall, ...]
    arguments: tuple[dict[str, Any], ...]

    async def run(self, context: Any) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
        info = _Info(context)
        results = await asyncio.gather(
            *(
                call.resolver(None, info, **arguments)
                for call, arguments in zip(self.calls, self.arguments, strict=True)
            ),
            return_exceptions=True,
        )
        data: dict[str, Any] = {}
        errors: list[GraphQLError] = []
        for call, result in zip(self.calls, results, strict=True):
            if isinstance(result, ClientError):
                errors.append(GraphQLError(result.message, call.field_node, path=[call.key], original_error=result))
                continue
            if isinstance(result, BaseException):
                raise result
            data[call.key] = _shape(call.node, result)
        # Every root field of the schema is non-null: one error nulls the whole response.
        return (None if errors else data), errors


def _shape(node: Node, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_shape(node, item) for item in value]
    kind = node.kind
    if kind == "object":
        out = {}
        for child in node.children:
            if child.kind == "typename":
                out[child.key] = node.typename
            else:
                out[child.key] = _shape(child, getattr(value, child.attribute))
        return out
    if kind == "enum":
        return value.name if isinstance(value, enum.Enum) else value
    if kind == "datetime":
        return value.isoformat() if isinstance(value, datetime) else value
    if kind == "id":
        return str(value)
    return value


class QueryCompiler:
    """Plans per admitted document (kept on its cache entry, so they are evicted with it) and
    operation name; arguments are bound to each request's variables, never part of a plan."""

    def __init__(self, strawberry_schema: Any) -> None:
        self.strawberry = strawberry_schema
        self.schema = strawberry_schema._schema
        self._names: dict[str, dict[str, str]] = {}

    def compile(
        self, admitted: Admitted, variables: dict[str, Any] | None, operation_name: str | None
    ) -> CompiledQuery | None:
        key = ("query", operation_name)
        if key in admitted.plans:
            plan = admitted.plans[key]
        else:
            try:
                plan = self._compile(admitted.document, operation_name)
            except (_Unsupported, KeyError, TypeError, ValueError, GraphQLError):
                plan = None
            admitted.plans[key] = plan
        if plan is None:
            return None
        calls, variable_definitions = plan
        # Coerced as the executor coerces them (types, defaults, input objects); any mistake is
        # left to the executor, which reports it.
        coerced = get_variable_values(self.schema, variable_definitions, variables or {})
        if isinstance(coerced, list):
            return None
        try:
            return CompiledQuery(calls, tuple(self._bind(call, coerced.coerced) for call in calls))
        except (_Unsupported, KeyError, TypeError, ValueError, GraphQLError):
            return None

    def _bind(self, call: RootCall, variables: dict[str, Any]) -> dict[str, Any]:
        arguments = {}
        for python_name, value_node, arg_type in call.arguments:
            value = value_from_ast(value_node, arg_type, variables)
            if value is Undefined:
                raise _Unsupported
            try:  # the executor's CheckedArguments (resolvers/schema.py) reports it
                check_value(value, arg_type, call.field_node.name.value, self.strawberry.limits)
            except BadUserInput:
                raise _Unsupported from None
            arguments[python_name] = self._python_value(value, arg_type)
        return arguments

    def _compile(self, document: DocumentNode, operation_name: str | None) -> tuple[tuple[RootCall, ...], Any]:
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is not None:
            operations = [o for o in operations if o.name and o.name.value == operation_name]
        if len(operations) != 1 or operations[0].operation is not OperationType.QUERY or operations[0].directives:
            raise _Unsupported
        operation = operations[0]
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        root_type = self.schema.query_type
        calls = []
        for field_node in _collect(operation.selection_set, "Query", fragments):
            name = field_node.name.value
            key = field_node.alias.value if field_node.alias else name
            if name == "__typename":
                raise _Unsupported  # rare at the root; the executor answers it
            if name not in ROOT_FIELDS:
                raise _Unsupported
            field = root_type.fields[name]
            arguments = []
            for arg_name, arg in field.args.items():
                given = next((a for a in field_node.arguments or () if a.name.value == arg_name), None)
                if given is None:
                    continue
                arguments.append((self._python_argument(name, arg_name), given.value, arg.type))
            node = self._node(field_node, key, field.type, fragments)
            calls.append(RootCall(key, self._resolver(name), tuple(arguments), node, field_node))
        return tuple(calls), operation.variable_definitions or ()

    # -- plans -------------------------------------------------------------------------------------
    def _node(
        self, field_node: FieldNode, key: str, gql_type: Any, fragments: dict[str, FragmentDefinitionNode]
    ) -> Node:
        named = gql_type
        while isinstance(named, (GraphQLNonNull, GraphQLList)):
            named = named.of_type
        attribute = ""
        if isinstance(named, GraphQLObjectType):
            if field_node.selection_set is None:
                raise _Unsupported
            children = []
            for child in _collect(field_node.selection_set, named.name, fragments):
                child_key = child.alias.value if child.alias else child.name.value
                if child.name.value == "__typename":
                    children.append(Node(child_key, "", "typename"))
                    continue
                if child.arguments:
                    raise _Unsupported
                child_field = named.fields[child.name.value]
                child_node = self._node(child, child_key, child_field.type, fragments)
                children.append(
                    Node(
                        child_key,
                        self._attribute(named.name, child.name.value),
                        child_node.kind,
                        child_node.children,
                        child_node.typename,
                    )
                )
            return Node(key, attribute, "object", tuple(children), named.name)
        if isinstance(named, GraphQLEnumType):
            return Node(key, attribute, "enum")
        if isinstance(named, GraphQLScalarType):
            if named.name == "DateTime":
                return Node(key, attribute, "datetime")
            if named.name == "ID":
                return Node(key, attribute, "id")
            if named.name in ("String", "Int", "Boolean", "Float", "JSON"):
                return Node(key, attribute, "plain")
        raise _Unsupported  # unions, interfaces, other scalars

    def _attribute(self, type_name: str, field_name: str) -> str:
        names = self._names.get(type_name)
        if names is None:
            definition = self.strawberry.get_type_by_name(type_name)
            converter = self.strawberry.config.name_converter
            names = {}
            for f in definition.fields:
                if f.base_resolver is not None:
                    names[converter.get_graphql_name(f)] = ""  # a field with its own resolver
                else:
                    names[converter.get_graphql_name(f)] = f.python_name
            self._names[type_name] = names
        attribute = names[field_name]
        if not attribute:
            raise _Unsupported
        return attribute

    def _resolver(self, field_name: str) -> Any:
        definition = self.strawberry.get_type_by_name("Query")
        converter = self.strawberry.config.name_converter
        for f in definition.fields:
            if converter.get_graphql_name(f) == field_name and f.base_resolver is not None:
                return f.base_resolver.wrapped_func
        raise _Unsupported

    def _python_argument(self, field_name: str, arg_name: str) -> str:
        definition = self.strawberry.get_type_by_name("Query")
        converter = self.strawberry.config.name_converter
        for f in definition.fields:
            if converter.get_graphql_name(f) == field_name:
                for argument in f.arguments:
                    if converter.get_graphql_name(argument) == arg_name:
                        return argument.python_name
        raise _Unsupported

    def _python_value(self, value: Any, gql_type: Any) -> Any:
        named = gql_type
        while isinstance(named, (GraphQLNonNull, GraphQLList)):
            named = named.of_type
        if value is None or not isinstance(named, GraphQLInputObjectType):
            if isinstance(named, GraphQLEnumType):
                raise _Unsupported
            return value
        definition = self.strawberry.get_type_by_name(named.name)
        converter = self.strawberry.config.name_converter
        kwargs = {}
        for f in definition.fields:
            graphql_name = converter.get_graphql_name(f)
            if graphql_name in value:
                kwargs[f.python_name] = self._python_value(value[graphql_name], named.fields[graphql_name].type)
        return definition.origin(**kwargs)


def _collect(
    selection_set: SelectionSetNode, type_name: str, fragments: dict[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    """Fields selected on an object type, fragments on that very type merged in, first key wins."""
    out: dict[str, FieldNode] = {}
    for selection in selection_set.selections:
        if selection.directives:
            raise _Unsupported
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            if key in out:
                if out[key].selection_set is not None or selection.selection_set is not None:
                    raise _Unsupported  # merging sub-selections: the executor's job
                continue
            out[key] = selection
            continue
        if isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition.name.value if selection.type_condition else type_name
            inner = selection.selection_set
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            condition, inner = fragment.type_condition.name.value, fragment.selection_set
        else:  # pragma: no cover
            raise _Unsupported
        if condition != type_name:
            raise _Unsupported
        for field in _collect(inner, type_name, fragments):
            key = field.alias.value if field.alias else field.name.value
            if key in out:
                if out[key].selection_set is not None or field.selection_set is not None:
                    raise _Unsupported
                continue
            out[key] = field
    return list(out.values())
