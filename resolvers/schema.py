"""The schema, composed from the query, mutation and subscription roots."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
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


def extensions(limits: Limits) -> Sequence[Callable[[], SchemaExtension]]:
    """Factories, so each request gets fresh extensions (the parse and validation caches are
    shared module-level LRUs inside strawberry).

    The depth and alias limiters are validation rules. Each limiter instance builds new rule
    classes, and the validation cache is keyed by the rules, so building them per request would
    make every request miss the cache: the rule classes are built once, here, and each request's
    extension only adds them (before the cache looks).
    """
    limit_rules = [
        *QueryDepthLimiter(max_depth=limits.query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.query_aliases).validation_rules,
    ]
    return [
        lambda: MaskErrors(should_mask_error=_mask, error_message="Internal server error"),
        lambda: MaxTokensLimiter(max_token_count=limits.query_tokens),
        lambda: ParserCache(maxsize=256),
        lambda: AddValidationRules(limit_rules),
        lambda: ValidationCache(maxsize=256),
    ]


class NotificationCenterSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Log what went wrong inside; a client's own mistakes are answered, not logged as errors."""
        internal = [e for e in errors if _mask(e)]
        if internal:
            super().process_errors(internal, execution_context)


def build_schema(limits: Limits | None = None) -> strawberry.Schema:
    return NotificationCenterSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions(limits or Limits()),
    )


def sdl() -> str:
    """The SDL that schema.graphql must equal."""
    return build_schema().as_str() + "\n"
