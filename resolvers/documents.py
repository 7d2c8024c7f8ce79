"""Admitting GraphQL documents: bounded work for every operation, before anything executes.

Every operation — over HTTP or WebSocket, executed or compiled — passes ``Documents.admit`` first::

    admit(query, variables)
     ├── variables: at most ``variables_bytes`` of JSON, ``variable_values`` values,
     │   ``json_depth`` levels of nesting ............................ BAD_USER_INPUT
     ├── document text: at most ``document_chars`` ....................... BAD_USER_INPUT
     ├── cache hit (keyed by the text alone) ............................. the parsed document
     ├── parse with at most ``query_tokens`` tokens ................. GRAPHQL_PARSE_FAILED
     ├── measure (one walk, each fragment measured once): fragments defined, selections
     │   in one set, depth counting every field, aliases, testChannel fields and static
     │   cost as expanded ........................................... QUERY_TOO_COSTLY
     ├── operationName: one the document defines (or none, with one operation) BAD_USER_INPUT
     └── validate (graphql-core's rules; introspection refused when it is off)
                                                               GRAPHQL_VALIDATION_FAILED

Only documents that passed are cached, in one LRU bounded by entries and by characters of text
(``document_cache_entries``, ``document_cache_chars``); nothing is keyed by variable values. The
measure and its limits are in resolvers/document_measure.py (one linear walk); the fragment limit
checked here, like its width limit, keeps graphql-core's pairwise field-merging check small.
``AdmittedDocuments`` hands strawberry the document admitted here, so neither parse nor validation
runs twice.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from core.settings import Limits
from domain.errors import BadUserInput, ClientError, QueryTooCostly
from domain.input_text import VARIABLES_NESTING, check_json, shown
from resolvers.document_measure import check_measure, measure_document

_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class InvalidDocument(ClientError):
    """The document does not parse or does not validate: graphql-core's own errors, with codes."""

    code = "GRAPHQL_VALIDATION_FAILED"

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__(errors[0].message)
        self.errors = errors


@dataclass
class Admitted:
    """A document that passed every check, as the cache keeps it."""

    query: str
    document: DocumentNode
    cost: int
    depth: int
    #: Compiled plans by operation name (resolvers/compiled_*.py), evicted with the document.
    plans: dict[Any, Any] = field(default_factory=dict)


class Documents:
    """The one place documents are parsed, measured, validated and cached."""

    def __init__(self, schema: GraphQLSchema, limits: Limits, *, introspection: bool) -> None:
        self.schema = schema
        self.limits = limits
        self.introspection = introspection
        rules: list[Any] = [*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule]
        if not introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self.rules = tuple(rules)
        self._cache: OrderedDict[str, Admitted] = OrderedDict()
        self._cached_chars = 0

    # -- the entry point ---------------------------------------------------------------------------
    def admit(self, query: str, variables: Any = None, operation_name: Any = None) -> Admitted:
        """The admitted document for ``query``; raises BadUserInput, InvalidDocument or
        QueryTooCostly (each a ClientError with its ``extensions.code``)."""
        if operation_name is not None and (not isinstance(operation_name, str) or len(operation_name) > 128):
            raise BadUserInput(
                "operationName must be the name of an operation in the document (at most 128 characters)"
            )
        check_json(variables, self.limits, what="variables", controls=False, outer_levels=VARIABLES_NESTING)
        known = self._cache.get(query)
        if known is not None:
            self._cache.move_to_end(query)
            _check_operation_name(known.document, operation_name)
            return known
        limits = self.limits
        if len(query) > limits.document_chars:
            raise BadUserInput(
                f"The GraphQL document has {len(query):,} characters; the most is {limits.document_chars:,}: "
                "send a smaller document (persisted fragments and comments count too)"
            )
        try:
            document = parse(query, max_tokens=limits.query_tokens)
        except GraphQLSyntaxError as error:
            raise InvalidDocument([_coded(error, "GRAPHQL_PARSE_FAILED")]) from None
        fragment_count = sum(isinstance(d, FragmentDefinitionNode) for d in document.definitions)
        if fragment_count > limits.fragments_per_document:
            raise QueryTooCostly(
                f"The document defines {fragment_count} fragments; the most is {limits.fragments_per_document}: "
                "merge them or split the request",
                fragments=fragment_count,
                maxFragments=limits.fragments_per_document,
            )
        measure = measure_document(
            self.schema, document, limits.page_size_max, json_cost=max(1, limits.event_data_bytes // 1024)
        )
        check_measure(measure, limits)
        _check_operation_name(document, operation_name)
        errors = validate(self.schema, document, self.rules, max_errors=20, hide_suggestions=not self.introspection)
        if errors:
            raise InvalidDocument([_coded(e, "GRAPHQL_VALIDATION_FAILED") for e in errors])
        admitted = Admitted(query, document, measure.cost, measure.depth)
        self._remember(admitted)
        return admitted

    def cached(self, query: str) -> Admitted | None:
        return self._cache.get(query)

    def scrub(self, message: str) -> str:
        """Error text as a client may see it: no "Did you mean ..." when introspection is off."""
        return message if self.introspection else _SUGGESTION.sub("", message)

    def __len__(self) -> int:
        return len(self._cache)

    @property
    def cached_chars(self) -> int:
        return self._cached_chars

    def _remember(self, admitted: Admitted) -> None:
        size = len(admitted.query)
        if size > self.limits.document_cache_chars:
            return
        self._cache[admitted.query] = admitted
        self._cached_chars += size
        while len(self._cache) > self.limits.document_cache_entries or (
            self._cached_chars > self.limits.document_cache_chars
        ):
            _, evicted = self._cache.popitem(last=False)
            self._cached_chars -= len(evicted.query)


def _check_operation_name(document: DocumentNode, operation_name: str | None) -> None:
    names = [d.name.value if d.name else None for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None and operation_name not in names:
        raise BadUserInput(f"The document has no operation named {shown(operation_name)}: name one it defines")
    if operation_name is None and len(names) > 1:
        raise BadUserInput(f"The document defines {len(names)} operations: say which to run in operationName")


def _coded(error: GraphQLError, code: str) -> GraphQLError:
    """graphql-core's error with its locations, a short message and an ``extensions.code``."""
    return GraphQLError(
        error.message, nodes=error.nodes, source=error.source, positions=error.positions, extensions={"code": code}
    )


# -- strawberry's side ---------------------------------------------------------------------------
class AdmittedDocuments(SchemaExtension):
    """Hands strawberry the document ``Documents.admit`` already parsed and validated, so neither
    step runs twice (and strawberry's own unbounded-by-size caches are not used)."""

    def __init__(self, documents: Documents) -> None:
        super().__init__()
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            admitted = self.documents.cached(context.query)
            if admitted is None:
                admitted = self.documents.admit(context.query, context.variables)
            context.graphql_document = admitted.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and context.graphql_document is not None:
            if self.documents.cached(context.query) is not None:
                context.pre_execution_errors = []
            else:  # evicted meanwhile by other requests: validate again, with the same rules
                context.pre_execution_errors = validate(
                    self.documents.schema, context.graphql_document, self.documents.rules, max_errors=20
                )
        yield
