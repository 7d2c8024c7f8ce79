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
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from api.settings import Limits
from domain.errors import ClientError
from resolvers.compiled_query import QueryCompiler
from resolvers.context import Context
from resolvers.mutations import Mutation
from resolvers.queries import Query
from resolvers.subscriptions import Subscription


def _mask(error: GraphQLError) -> bool:
    """Hide internal errors' text; client errors and validation errors keep their message."""
    original = error.original_error
    return original is not None and not isinstance(original, (ClientError, GraphQLError))


def limit_validation_rules(limits: Limits) -> list[Any]:
    return [
        *QueryDepthLimiter(max_depth=limits.query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.query_aliases).validation_rules,
    ]


def extensions(limits: Limits) -> Sequence[Callable[[], SchemaExtension]]:
    """Factories, so each request gets fresh extensions (the parse and validation caches are
    shared module-level LRUs inside strawberry).

    The depth and alias limiters are validation rules. Each limiter instance builds new rule
    classes, and the validation cache is keyed by the rules, so building them per request would
    make every request miss the cache: the rule classes are built once, here, and each request's
    extension only adds them (before the cache looks).
    """
    limit_rules = limit_validation_rules(limits)
    return [
        lambda: MaskErrors(should_mask_error=_mask, error_message="Internal server error"),
        lambda: MaxTokensLimiter(max_token_count=limits.query_tokens),
        lambda: ParserCache(maxsize=256),
        lambda: AddValidationRules(limit_rules),
        lambda: ValidationCache(maxsize=256),
    ]


class NotificationCenterSchema(strawberry.Schema):
    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.limit_rules = tuple(limit_validation_rules(limits))
        self.compiler = QueryCompiler(self)

    async def execute(  # noqa: PLR0917 - strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Any = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """The panel's read queries take the compiled path (compiled_query.py); everything else,
        and anything the compiled path cannot answer, is executed as usual."""
        compiled = None
        if (
            query
            and isinstance(context_value, Context)
            and context_value.settings.compiled_queries
            and (allowed_operation_types is None or OperationType.QUERY in allowed_operation_types)
        ):
            compiled = self.compiler.compile(
                query, variable_values, operation_name, self.limit_rules, self.limits.query_tokens
            )
        if compiled is not None:
            try:
                data, errors = await compiled.run(context_value)
            except Exception:  # noqa: BLE001 - unexpected: let the executor answer (and mask) it
                compiled = None
            else:
                return ExecutionResult(data=data, errors=errors or None)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed_operation_types,
            operation_extensions,
        )

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Log what went wrong inside; a client's own mistakes are answered, not logged as errors."""
        internal = [e for e in errors if _mask(e)]
        if internal:
            super().process_errors(internal, execution_context)


def build_schema(limits: Limits | None = None) -> strawberry.Schema:
    limits = limits or Limits()
    return NotificationCenterSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions(limits),
        limits=limits,
    )


def sdl() -> str:
    """The SDL that schema.graphql must equal."""
    return build_schema().as_str() + "\n"
