"""The schema, composed from the query, mutation and subscription roots."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from api.settings import Limits
from domain.errors import ClientError
from resolvers.mutations import Mutation
from resolvers.queries import Query
from resolvers.subscriptions import Subscription


def _mask(error: GraphQLError) -> bool:
    """Hide internal errors' text; client errors and validation errors keep their message."""
    original = error.original_error
    return original is not None and not isinstance(original, (ClientError, GraphQLError))


def extensions(limits: Limits) -> Sequence[type[SchemaExtension] | SchemaExtension]:
    return [
        MaskErrors(should_mask_error=_mask, error_message="Internal server error"),
        ParserCache(maxsize=256),
        ValidationCache(maxsize=256),
        QueryDepthLimiter(max_depth=limits.query_depth),
        MaxTokensLimiter(max_token_count=limits.query_tokens),
        MaxAliasesLimiter(max_alias_count=limits.query_aliases),
    ]


def build_schema(limits: Limits | None = None) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions(limits or Limits()),
    )


def sdl() -> str:
    """The SDL that schema.graphql must equal."""
    return build_schema().as_str() + "\n"
