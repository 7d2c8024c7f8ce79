"""The schema, built from the query, mutation and subscription roots (resolvers/root.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import strawberry
from graphql import GraphQLError, GraphQLResolveInfo
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from core.logs import loggable
from core.settings import Limits
from domain.errors import ClientError
from resolvers.bounds import check_arguments
from resolvers.compiled_mutations import PublishCompiler
from resolvers.compiled_queries import QueryCompiler
from resolvers.context import Context
from resolvers.documents import AdmittedDocuments, Documents, InvalidDocument
from resolvers.root import Mutation, Query, Subscription

logger = logging.getLogger("nc.graphql")


def _mask(error: GraphQLError) -> bool:
    """Hide internal errors' text; client errors and validation errors keep their message."""
    original = error.original_error
    return original is not None and not isinstance(original, (ClientError, GraphQLError))


class CodedErrors(MaskErrors):
    """Every error a client sees has an ``extensions.code``: internal ones are masked as
    INTERNAL_SERVER_ERROR, client ones that graphql-core raised without one (a variable of the
    wrong type, say) get BAD_USER_INPUT; suggestions go when introspection is off."""

    def __init__(self, scrub: Any) -> None:
        super().__init__(should_mask_error=_mask, error_message="Internal server error")
        self.scrub = scrub

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        return masked

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return coded(super()._process_errors(errors), self.scrub)


#: A client's error message is at most this long (some quote what the client sent).
MESSAGE_CHARS = 500


def coded(errors: list[GraphQLError], scrub: Any) -> list[GraphQLError]:
    """Each error with a code, a bounded message, and no traceback kept alive: a client error's
    frames hold what the client sent, and would wait for a full garbage collection."""
    for error in errors:
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}
        message = scrub(error.message)
        error.message = message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 1] + "…"
        original = error.original_error
        if isinstance(original, (ClientError, GraphQLError)) or original is None:
            error.__traceback__ = None
            if original is not None:
                original.__traceback__ = None
    return errors


def client_errors(error: ClientError, scrub: Any = str) -> list[GraphQLError]:
    """A client's mistake found before execution, as the (coded) GraphQL errors it answers with."""
    error.__traceback__ = None
    if isinstance(error, InvalidDocument):
        return coded(error.errors, scrub)
    return coded([GraphQLError(error.message, extensions=error.extensions)], scrub)


class CheckedArguments(SchemaExtension):
    """Every field's arguments, as coerced — from variables or written in the query text alike —
    pass ``check_arguments`` (text, ids, JSON by type) before the resolver runs: the one place
    every argument passes, so a refused value is never half-written."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self.limits = limits

    def resolve(self, _next: Any, root: Any, info: GraphQLResolveInfo, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            definition = info.parent_type.fields[info.field_name]
            check_arguments(info.field_name, kwargs, definition.args, self.limits)
        return _next(root, info, *args, **kwargs)


class NotificationCenterSchema(strawberry.Schema):
    """strawberry's schema with every operation admitted first (resolvers/documents.py) and the
    panel's read queries answered by compiled plans (compiled_queries.py)."""

    documents: Documents | None = None  # set once strawberry has built the GraphQL schema

    def __init__(self, *args: Any, limits: Limits, introspection: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.documents = Documents(self._schema, limits, introspection=introspection)
        self.compiler = QueryCompiler(self)
        self.publisher = PublishCompiler(self._schema, limits)

    @property
    def admission(self) -> Documents:
        """The documents, once ``__init__`` has set them: every operation comes after it (only
        ``get_extensions``, called by strawberry's ``__init__``, runs before and reads ``documents``)."""
        assert self.documents is not None
        return self.documents

    def get_extensions(self, sync: bool = False) -> list[SchemaExtension]:
        extensions = super().get_extensions(sync)
        if self.documents is not None:
            extensions.append(CodedErrors(self.documents.scrub))
            extensions.append(AdmittedDocuments(self.documents))
            extensions.append(CheckedArguments(self.limits))
        return extensions

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Any = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Admit the document; the panel's read queries take the compiled path; everything else,
        and anything the compiled path cannot answer, is executed as usual. Subscriptions are never
        executed here (strawberry would run one as a query over HTTP): they live on WebSockets."""
        allowed_operation_types = set(allowed_operation_types or OperationType) - {OperationType.SUBSCRIPTION}
        if query:
            try:
                admitted = self.admission.admit(query, variable_values, operation_name)
            except ClientError as error:
                return self._refused(error)
            compiling = isinstance(context_value, Context) and context_value.settings.compiled_queries
            if compiling and OperationType.QUERY in allowed_operation_types:
                compiled = self.compiler.compile(admitted, variable_values, operation_name)
                if compiled is not None:
                    try:
                        data, errors = await compiled.run(context_value)
                    except Exception:  # noqa: BLE001 - unexpected: let the executor answer (and mask) it
                        pass
                    else:
                        return self._scrubbed(ExecutionResult(data=data, errors=errors or None))
            if compiling and OperationType.MUTATION in allowed_operation_types:
                # A producer's publishEvent(s): it writes, so a failure is reported, never retried
                # by the executor (a second try could publish twice).
                publishing = self.publisher.compile(admitted, variable_values, operation_name)
                if publishing is not None:
                    data, errors = await publishing.run(cast(Context, context_value))
                    return self._scrubbed(ExecutionResult(data=data, errors=errors or None))
        # errors of executed operations are coded by the CodedErrors extension
        try:
            return await super().execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed_operation_types,
                operation_extensions,
            )
        finally:
            if isinstance(context_value, Context):
                await context_value.viewer_written()

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Any = None,
    ) -> Any:
        """WebSocket operations (and ``subscribe``): admitted first, like ``execute``."""
        if query:
            try:
                self.admission.admit(query, variable_values, operation_name)
            except ClientError as error:
                return _once(PreExecutionError(data=None, errors=client_errors(error, self.admission.scrub)))
        return await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )

    def _refused(self, error: ClientError) -> ExecutionResult:
        errors = client_errors(error, self.admission.scrub)
        self.process_errors(errors)
        return ExecutionResult(data=None, errors=errors)

    def _scrubbed(self, result: ExecutionResult) -> ExecutionResult:
        if result.errors:
            coded(result.errors, self.admission.scrub)
        return result

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Server faults are logged with their traceback (strawberry's way); a client's mistakes
        get one line each, without one."""
        internal = [e for e in errors if _mask(e)]
        if internal:
            super().process_errors(internal, execution_context)
        for error in errors:
            if not _mask(error):
                code = (error.extensions or {}).get("code", "GRAPHQL_ERROR")
                logger.info("client error %s: %s", code, loggable(error.message))


async def _once(result: Any) -> AsyncIterator[Any]:
    yield result


def build_schema(limits: Limits | None = None, *, introspection: bool = True) -> NotificationCenterSchema:
    limits = limits or Limits()
    return NotificationCenterSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[],
        limits=limits,
        introspection=introspection,
    )


def sdl() -> str:
    """The SDL that schema.graphql must equal."""
    return build_schema().as_str() + "\n"
