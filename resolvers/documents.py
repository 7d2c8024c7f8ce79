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
measuring walk is linear in the document: a fragment spread three times at each of twelve levels
is measured twelve times, not 3^12 — so the expensive graphql-core rules only ever see documents
whose expansion is small.

The width and fragment limits keep graphql-core's pairwise field-merging check (quadratic in the
selections of one set) small. The static cost: every field counts 1 (a JSON field, such as an
event's ``data``, counts ``event_data_bytes / 1024``: it may be that large); a field with a
``first`` argument (a page) multiplies the list fields it selects (``edges``) by ``first`` — the
literal (at most ``page_size_max``), the argument's default when it is left out, and
``page_size_max`` when it comes from a variable (the plan is per document, so the worst case is
assumed) — and counts the rest (``pageInfo``, ``unreadCount``) once. Aliases count as written.
A field with a sub-selection selected again in its set counts as a duplicate, at most
``duplicate_fields`` in a document (graphql-core's field-merging check is exponential in
duplicated trees).
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
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


@dataclass(frozen=True)
class Measure:
    depth: int
    aliases: int
    cost: int
    #: The most selections (fields and fragment spreads, inline fragments flattened) of one set.
    width: int = 0
    #: Fields that send something out (testChannel), fragments expanded.
    sends: int = 0
    #: The part of ``cost`` that lies under list fields (repeated when the parent is a page).
    list_cost: int = 0
    #: Sub-selected fields selected again in their set, across the document.
    duplicates: int = 0


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
        _check_measure(measure, limits)
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


def _check_measure(measure: Measure, limits: Limits) -> None:
    """QUERY_TOO_COSTLY for the first measure over its limit, with both figures in extensions."""
    checks = (
        ("duplicates", measure.duplicates, limits.duplicate_fields,
         "The query selects a field with a sub-selection again in the same selection set {n} times; the most "
         "is {most}: select each such field once and ask for everything you need inside it"),
        ("selections", measure.width, limits.selections_per_set,
         "One selection set of the query holds {n:,} selections; the most is {most}: select each field once"),
        ("sends", measure.sends, 1,
         "testChannel sends a message: ask for it once per request, not {n} times (aliases and fragments count)"),
        ("depth", measure.depth, limits.query_depth,
         "The query is {n} fields deep; the most is {most}: select less nested data"),
        ("aliases", measure.aliases, limits.query_aliases,
         "The query uses {n:,} aliases (fragments expanded); the most is {most}: split it into several requests"),
        ("cost", measure.cost, limits.query_cost,
         "The query costs {n:,} (every field 1, lists times their page size); the most is {most:,}: ask for "
         "smaller pages or fewer fields, or split it into several requests"),
    )  # fmt: skip
    for name, n, most, text in checks:
        if n > most:
            raise QueryTooCostly(text.format(n=n, most=most), **{name: n, f"max{name.capitalize()}": most})


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


# -- the linear measure --------------------------------------------------------------------------
def measure_document(schema: GraphQLSchema, document: DocumentNode, page_size_max: int, json_cost: int = 1) -> Measure:
    """The most any operation of ``document`` asks for, fragments expanded, each measured once."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    walker = _Walker(schema, fragments, page_size_max, json_cost)
    total = _ZERO
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            m = walker.selection_set(definition.selection_set, schema.get_root_type(definition.operation))
            total = Measure(*(max(a, b) for a, b in zip(_fields(total), _fields(m), strict=True)))
    for definition in fragments.values():  # fragments no operation spreads are measured too
        m = walker.fragment(definition.name.value)
        total = replace(total, width=max(total.width, m.width))
    return replace(total, duplicates=walker.duplicates)


def _fields(m: Measure) -> tuple[int, ...]:
    return (m.depth, m.aliases, m.cost, m.width, m.sends, m.list_cost, m.duplicates)


_ZERO = Measure(0, 0, 0)
#: Root fields that make the service send something (a message, a push): at most once a request.
SENDING_FIELDS = frozenset({"testChannel"})


class _Walker:
    def __init__(
        self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], page_max: int, json_cost: int
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.page_max = page_max
        self.json_cost = json_cost
        self.memo: dict[str, Measure] = {}
        self.visiting: set[str] = set()
        #: Fields with a sub-selection selected again in the same set (each AST node once).
        self.duplicates = 0

    def selection_set(
        self, selection_set: SelectionSetNode | None, parent: Any, seen: Counter[tuple[str, str]] | None = None
    ) -> Measure:
        """``seen`` counts the fields with sub-selections by (type, response key) across this set
        and the inline fragments flattened into it: graphql-core compares same-key fields
        pairwise, recursing into their sub-selections, which is exponential in duplicated trees."""
        if selection_set is None:
            return _ZERO
        seen = Counter() if seen is None else seen
        depth = aliases = cost = width = sends = list_cost = 0
        own = 0  # this set's selections, inline fragments flattened (graphql-core compares them pairwise)
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                m = self.field(selection, parent)
                own += 1
                inner_width = m.width
                if selection.selection_set is not None:
                    key = (
                        getattr(parent, "name", ""),
                        selection.alias.value if selection.alias else selection.name.value,
                    )
                    seen[key] += 1
                    if seen[key] > 1:
                        self.duplicates += 1
                definition = parent.fields.get(selection.name.value) if hasattr(parent, "fields") else None
                listed = definition is not None and _is_list(definition.type)
            elif isinstance(selection, FragmentSpreadNode):
                m = self.fragment(selection.name.value)
                own += 1
                inner_width = 0  # measured once, as a definition of its own
                listed = True  # what it holds is not looked into here: counted as repeated
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                m = self.selection_set(selection.selection_set, inner, seen)
                own += m.width  # flattened: approximately its own selections
                inner_width = 0
                listed = True
            else:  # pragma: no cover - graphql-core has no other selection
                continue
            depth, aliases, cost = max(depth, m.depth), aliases + m.aliases, cost + m.cost
            width, sends = max(width, inner_width), sends + m.sends
            list_cost += m.cost if listed else 0
        return Measure(depth, aliases, cost, max(width, own), sends, list_cost)

    def fragment(self, name: str) -> Measure:
        known = self.memo.get(name)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        if definition is None or name in self.visiting:
            return _ZERO  # unknown fragments and cycles: validation reports them
        self.visiting.add(name)
        try:
            measured = self.selection_set(
                definition.selection_set, self.schema.get_type(definition.type_condition.name.value)
            )
        finally:
            self.visiting.discard(name)
        self.memo[name] = measured
        return measured

    def field(self, node: FieldNode, parent: Any) -> Measure:
        definition = None
        if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            definition = parent.fields.get(node.name.value)
        child_type = _named(definition.type) if definition is not None else None
        inner = self.selection_set(node.selection_set, child_type)
        times = self._page(node, definition)
        own_cost = self.json_cost if getattr(child_type, "name", None) == "JSON" else 1
        # A page (``first``) repeats its list fields (edges) ``first`` times; the rest of the
        # connection (pageInfo, unreadCount) once. Aliases are counted as written, not per item.
        return Measure(
            1 + inner.depth,
            (1 if node.alias is not None else 0) + inner.aliases,
            own_cost + (inner.cost - inner.list_cost) + times * inner.list_cost,
            inner.width,
            (1 if node.name.value in SENDING_FIELDS else 0) + times * inner.sends,
        )

    def _page(self, node: FieldNode, definition: Any) -> int:
        if definition is None or "first" not in definition.args:
            return 1
        given = next((a.value for a in node.arguments or () if a.name.value == "first"), None)
        if given is None:
            default = definition.args["first"].default_value
            return min(default, self.page_max) if isinstance(default, int) and default > 0 else self.page_max
        if isinstance(given, IntValueNode):
            try:
                return max(1, min(int(given.value), self.page_max))
            except ValueError:
                return self.page_max
        if isinstance(given, VariableNode):
            return self.page_max
        return self.page_max


def _is_list(gql_type: Any) -> bool:
    return isinstance(gql_type.of_type if isinstance(gql_type, GraphQLNonNull) else gql_type, GraphQLList)


def _named(gql_type: Any) -> Any:
    while isinstance(gql_type, (GraphQLNonNull, GraphQLList)):
        gql_type = gql_type.of_type
    return gql_type


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
