"""Bounds on the lists a client sends, checked where each list enters a resolver; every argument's
text, ids and JSON checked by type (``check_arguments``), whatever their source."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLScalarType

from core.settings import Limits
from domain.errors import BadUserInput
from domain.input_text import check_id, check_json, check_text

T = TypeVar("T")


def at_most(items: Sequence[T] | None, most: int, what: str) -> Sequence[T] | None:
    """``items`` unchanged, or BadUserInput when there are more than ``most`` of them."""
    if items is not None and len(items) > most:
        raise BadUserInput(f"{what} takes at most {most} items; you sent {len(items)}: send them in parts")
    return items


# -- every argument, whatever its source ----------------------------------------------------------
def check_arguments(field: str, arguments: dict[str, Any], definitions: dict[str, Any], limits: Limits) -> None:
    """Every argument of ``field`` as coerced — from variables or written in the query text alike —
    checked by its GraphQL type: ``ID`` by the id rule, ``String`` by the text rule, ``JSON`` by
    ``check_json`` (domain/input_text.py); input objects and lists are walked. BadUserInput names
    the argument's path (``publishEvent(input.data)``)."""
    for name, value in arguments.items():
        definition = definitions.get(name)
        if definition is not None:
            check_value(value, definition.type, f"{field}({name}", limits)


def check_value(value: Any, gql_type: Any, path: str, limits: Limits) -> None:
    """``value`` (of GraphQL type ``gql_type``) checked by the rule of its type; ``path`` names it."""
    if isinstance(gql_type, GraphQLNonNull):
        gql_type = gql_type.of_type
    if value is None:
        return
    if isinstance(gql_type, GraphQLList):
        if isinstance(value, list):
            for i, item in enumerate(value):
                check_value(item, gql_type.of_type, f"{path}[{i}]", limits)
        else:
            check_value(value, gql_type.of_type, path, limits)
    elif isinstance(gql_type, GraphQLInputObjectType):
        for name, field in gql_type.fields.items():
            key = field.out_name or name
            inner = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
            if inner is not None:
                check_value(inner, field.type, f"{path}.{name}", limits)
    elif isinstance(gql_type, GraphQLScalarType):
        if gql_type.name == "JSON":
            check_json(value, limits, what=f"{path})")
        elif isinstance(value, str) and gql_type.name == "ID":
            check_id(value, f"{path})")
        elif isinstance(value, str) and gql_type.name == "String":
            check_text(value, f"{path})")
