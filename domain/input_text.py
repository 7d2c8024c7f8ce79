"""What a client's text, ids and JSON may hold (SPEC §8): one rule for each, used wherever they enter.

    check_text(value, where)   free text (String): no control characters but tab, line feed and
                               carriage return; valid Unicode (no lone surrogates)
    check_id(value, where)     identifiers (ID, JSON object keys): no control characters at all
                               (C0, DEL, C1); valid Unicode
    check_json(value, limits)  any JSON value, from variables or written in the query text: finite
                               numbers (floats 0 or 1e-20 to 1e16 in size), keys and strings as
                               above, at most ``json_depth`` levels of nesting, ``variable_values``
                               values and ``variables_bytes`` bytes
    shown(value)               a client's text as an error message quotes it: at most 40 characters

Each raises BadUserInput naming where the fault is and what to change. PostgreSQL refuses NUL in
text and jsonb and non-finite jsonb numbers, and a JSON reader refuses bare Infinity: refusing them
here, for every source, keeps both databases and every reader of the stored data alike.
"""

from __future__ import annotations

import math
import re
from typing import Any

from core.settings import Limits
from domain.errors import BadUserInput

#: C0 controls but tab, line feed and carriage return; DEL and the C1 controls.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Every control character: C0, DEL and C1.
_ID_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

#: How much of a client's text an error message quotes.
SHOWN_CHARS = 40


def shown(value: Any, most: int = SHOWN_CHARS) -> str:
    """``value`` quoted for an error message, cut to ``most`` characters (with "…") so the message
    still has room to say what is wrong."""
    text = str(value)
    return repr(text) if len(text) <= most else repr(text[:most]) + "…"


def check_text(value: str, where: str) -> None:
    """Free text: refused when it holds a control character other than tab and line breaks."""
    found = _TEXT_CONTROL.search(value)
    if found is not None:
        raise BadUserInput(
            f"{where} holds the control character U+{ord(found.group()):04X}: remove it "
            "(text may hold tab and line breaks, no other control characters)"
        )
    _check_unicode(value, where)


def check_lengths(values: list[str] | None, most: int, where: str) -> None:
    """Each of a filter's values at most ``most`` characters (what the column holds), and an id:
    BadUserInput naming ``where`` (e.g. "filter.userIds") otherwise."""
    for value in values or ():
        if len(value) > most:
            raise BadUserInput(f"{where} holds a value of {len(value)} characters; at most {most}", field=where)
        check_id(value, where)


def check_id(value: str, where: str) -> None:
    """An identifier: refused when it holds any control character."""
    found = _ID_CONTROL.search(value)
    if found is not None:
        raise BadUserInput(
            f"{where} holds the control character U+{ord(found.group()):04X}: remove it "
            "(ids and keys may hold no control characters, no tab or line break either)"
        )
    _check_unicode(value, where)


def _check_unicode(value: str, where: str) -> None:
    if not value.isascii() and _SURROGATE.search(value) is not None:
        raise BadUserInput(f"{where} is not valid Unicode (a lone surrogate): send UTF-8 text")


def _clean(value: str, controls: re.Pattern[str] | None) -> bool:
    """True when ``value`` passes: no character ``controls`` matches, no lone surrogate."""
    return (controls is None or controls.search(value) is None) and (
        value.isascii() or _SURROGATE.search(value) is None
    )


def _path(trail: Any) -> str:
    """``trail`` (nested (parent, key) pairs) as ``a.b[2].c``."""
    parts: list[str] = []
    while trail is not None:
        trail, key = trail
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return "".join(reversed(parts))


#: Levels the variables of a request may add around a JSON argument (the variables object, an
#: input object, a list of them, the input object inside): the JSON value itself still gets
#: ``Limits.json_depth`` levels of its own, checked by type per argument.
VARIABLES_NESTING = 4

#: JSON numbers with a fraction or an exponent (floats) are 0 or this size (their absolute value):
#: PostgreSQL's jsonb writes a stored number out in full, so 1.5e300 came back as 301 digits (an
#: integer) and 16 KiB of data as ~800 KiB. Within the range a float reads back as sent: Python
#: writes one of 1e16 or more with an exponent, and jsonb reads that back as an integer.
FLOAT_SMALLEST = 1e-20
FLOAT_LARGEST = 1e16


def _portable_float(value: float) -> bool:
    """Finite, and 0 or in the range both databases read back as sent (NaN is not)."""
    return value == 0.0 or FLOAT_SMALLEST <= abs(value) < FLOAT_LARGEST


def check_json(value: Any, limits: Limits, *, what: str, controls: bool = True, outer_levels: int = 0) -> None:
    """Refuse JSON (already decoded or coerced) that is not portable or over the size, value-count
    or nesting limits — iteratively: O(values), no recursion. ``what`` names it in the message
    ("variables", "publishEvent(input.data)"). ``controls=False`` leaves control characters to the
    check by type (the variables as a whole: their ids and texts are told apart per argument);
    ``outer_levels`` are levels around the JSON values that the depth limit does not count.

    Every publishing call checks its events this way (~1,500 values for 100 events): a quick pass
    that only answers "all fine?" goes first, and the full pass, which keeps each value's path
    for the message, runs only when the quick one finds something (or a type it does not know)."""
    if value is None or _all_fine(value, limits, controls, limits.json_depth + outer_levels):
        return
    _check_json_in_full(value, limits, what=what, controls=controls, outer_levels=outer_levels)


def _all_fine(value: Any, limits: Limits, controls: bool, max_depth: int) -> bool:
    """True when ``_check_json_in_full`` would find nothing wrong with ``value``; False when it
    might (it then says what). The same rules and sums, without the paths."""
    text_bad = _TEXT_CONTROL if controls else None
    key_bad = _ID_CONTROL if controls else None
    max_values, max_bytes, max_chars = limits.variable_values, limits.variables_bytes, limits.string_chars
    max_items = _max_items(limits)
    values = 0
    size = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        values += 1
        kind = type(item)
        if kind is str:
            size += len(item) + 2
            if len(item) > max_chars or not _fine_text(item, text_bad):
                return False
        elif kind is dict:
            if depth > max_depth:
                return False
            size += 2 + len(item)
            inner_depth = depth + 1
            for key, inner in item.items():
                if type(key) is not str or len(key) > max_chars or not _fine_text(key, key_bad):
                    return False
                size += len(key) + 3
                push((inner, inner_depth))
        elif kind is list:
            if depth > max_depth or len(item) > max_items:
                return False
            size += 2 + len(item)
            inner_depth = depth + 1
            for inner in item:
                push((inner, inner_depth))
        elif kind is int or kind is bool or item is None:
            size += 8
        elif kind is float:
            size += 8
            if not _portable_float(item):
                return False
        else:
            return False  # a type the full pass judges
        if values > max_values or size > max_bytes:
            return False
    return True


def _fine_text(value: str, controls: re.Pattern[str] | None) -> bool:
    """``_clean`` with a shortcut for the usual ASCII text: printable ASCII holds no control
    character and no surrogate."""
    if value.isascii() and (controls is None or value.isprintable()):
        return True
    return _clean(value, controls)


def _max_items(limits: Limits) -> int:
    # a deployment that raises a domain list limit (recipients per event, say) raises this with it
    return max(limits.list_items, limits.recipients_per_event, limits.operators_per_upsert, limits.events_per_batch)


def _check_json_in_full(value: Any, limits: Limits, *, what: str, controls: bool = True, outer_levels: int = 0) -> None:
    """``check_json``'s rules, keeping each value's path for the message."""
    text_check = check_text if controls else _check_unicode
    key_check = check_id if controls else _check_unicode
    # The checks' messages (which walk the trail) are built only for a value that fails.
    text_bad = _TEXT_CONTROL if controls else None
    key_bad = _ID_CONTROL if controls else None
    if value is None:
        return
    values = 0
    size = 0
    stack: list[tuple[Any, int, Any]] = [(value, 1, None)]
    max_values, max_bytes = limits.variable_values, limits.variables_bytes
    max_depth = limits.json_depth + outer_levels
    deepest = f"{limits.json_depth} levels" + (f" (past the request's own {outer_levels})" if outer_levels else "")
    max_items = _max_items(limits)
    while stack:
        item, depth, trail = stack.pop()
        values += 1
        if isinstance(item, dict):
            if depth > max_depth:
                raise BadUserInput(f"{what}{_path(trail)}: objects and lists nest deeper than {deepest}: flatten them")
            size += 2 + len(item)
            for key, inner in item.items():
                if not isinstance(key, str):  # pragma: no cover - JSON keys are strings
                    raise BadUserInput(f"{what}{_path(trail)}: object keys must be strings")
                size += len(key) + 3
                if len(key) > limits.string_chars:
                    raise BadUserInput(
                        f"A key in {what}{_path(trail)} has {len(key):,} characters; the most is "
                        f"{limits.string_chars:,}"
                    )
                if not _clean(key, key_bad):
                    key_check(key, f"The key {shown(key)} in {what}{_path(trail)}")
                stack.append((inner, depth + 1, (trail, key)))
        elif isinstance(item, list):
            if depth > max_depth:
                raise BadUserInput(f"{what}{_path(trail)}: objects and lists nest deeper than {deepest}: flatten them")
            if len(item) > max_items:
                raise BadUserInput(
                    f"A list in {what}{_path(trail)} has {len(item):,} items; the most is {max_items:,}: "
                    "send it in parts"
                )
            size += 2 + len(item)
            stack.extend((inner, depth + 1, (trail, i)) for i, inner in enumerate(item))
        elif isinstance(item, str):
            size += len(item) + 2
            if len(item) > limits.string_chars:
                raise BadUserInput(
                    f"A string in {what}{_path(trail)} has {len(item):,} characters; the most is "
                    f"{limits.string_chars:,}"
                )
            if not _clean(item, text_bad):
                text_check(item, f"The string {what}{_path(trail)}")
        else:
            size += 8
            if isinstance(item, float) and not _portable_float(item):
                if not math.isfinite(item):
                    raise BadUserInput(
                        f"{what}{_path(trail)} is NaN or Infinity: JSON numbers must be finite "
                        "(1e999 and -1e400 overflow to Infinity)"
                    )
                raise BadUserInput(
                    f"{what}{_path(trail)} is {item!r}: a JSON number with a fraction or an exponent must be 0 or "
                    "between 1e-20 and 1e16 in size (PostgreSQL stores it written out in full); send a larger "
                    "one as an integer or a string"
                )
        if values > max_values:
            raise BadUserInput(f"{what}: more than {max_values:,} values; send fewer items per request")
        if size > max_bytes:
            raise BadUserInput(f"{what}: larger than {max_bytes:,} bytes; send fewer or smaller items")
