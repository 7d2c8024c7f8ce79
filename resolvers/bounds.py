"""Bounds on the lists a client sends, checked where each list enters a resolver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from domain.errors import BadUserInput

T = TypeVar("T")


def at_most(items: Sequence[T] | None, most: int, what: str) -> Sequence[T] | None:
    """``items`` unchanged, or BadUserInput when there are more than ``most`` of them."""
    if items is not None and len(items) > most:
        raise BadUserInput(f"{what} takes at most {most} items; you sent {len(items)}: send them in parts")
    return items
