"""Rendering a type's title and body from an event's data, in the recipient's locale.

Templates are the catalog's (``TypeDef.templates``), never a client's, and a field the event did
not send renders as an empty string: a render never fails.
"""

from __future__ import annotations

import re
import string
from typing import Any

from models.catalog import TypeDef, pick_locale, text

_FORMATTER = string.Formatter()
_SPACES = re.compile(r"\s{2,}")


#: Each catalog template split once: (literal text, field name or None) pairs.
_PARSED: dict[str, tuple[tuple[str, str | None], ...]] = {}


def _parsed(template: str) -> tuple[tuple[str, str | None], ...]:
    parts = _PARSED.get(template)
    if parts is None:  # the catalog's templates only: a bounded set
        parts = _PARSED[template] = tuple((literal, name) for literal, name, _, _ in _FORMATTER.parse(template))
    return parts


def _render(template: str, data: dict[str, Any]) -> str:
    out = []
    for literal, name in _parsed(template):
        out.append(literal)
        if name is not None:
            value = data.get(name)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                out.append(str(value))
    return _SPACES.sub(" ", "".join(out)).strip(" :—-") or ""


def render(type_def: TypeDef, data: dict[str, Any], locale: str | None) -> tuple[str, str]:
    """(title, body) for one recipient; falls back to the type's title when a template is empty."""
    templates = type_def.templates.get(pick_locale(locale)) or type_def.templates.get("en")
    if templates is None:
        return text(type_def.title, locale), ""
    title = _render(templates[0], data) or text(type_def.title, locale)
    body = _render(templates[1], data)
    return _cut(title, 500), _cut(body, 4000)


def _cut(text: str, most: int) -> str:
    """``text`` in at most ``most`` characters; a cut one ends in an ellipsis."""
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"
