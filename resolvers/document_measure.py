"""Measuring a GraphQL document: one linear walk that bounds what its execution can cost.

``measure_document`` gives the most any operation of a document asks for, fragments expanded
(``Measure``, in counts of fields and selections):

    depth        fields deep, every field counted
    aliases      aliases as written, fragments expanded
    cost         static cost: every field 1, a JSON field (an event's ``data``) ``json_cost``
                 (``event_data_bytes / 1024``: it may be that large); a field with a ``first``
                 argument (a page) multiplies the list fields it selects (``edges``) by ``first``
                 — the literal (at most ``page_size_max``), the argument's default when it is
                 left out, and ``page_size_max`` when it comes from a variable (the plan is per
                 document, so the worst case is assumed) — and counts the rest (``pageInfo``,
                 ``unreadCount``) once
    width        the most selections of one set (inline fragments flattened)
    sends        fields that send something out (``SENDING_FIELDS``: testChannel)
    duplicates   fields with a sub-selection selected again in their set, across the document

``check_measure`` raises QUERY_TOO_COSTLY (both figures in ``extensions``) for the first of them
over its limit. The walk is linear in the document: each fragment is measured once, so a fragment
spread three times at each of twelve levels is measured twelve times, not 3^12. The width limit
keeps graphql-core's pairwise field-merging check (quadratic in the selections of one set) small,
and the duplicates limit its recursion into duplicated trees (exponential in them), so the
expensive graphql-core rules only ever see documents whose expansion is small.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

from core.settings import Limits
from domain.errors import QueryTooCostly


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


def check_measure(measure: Measure, limits: Limits) -> None:
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
