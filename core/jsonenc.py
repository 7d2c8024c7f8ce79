"""One JSON encoder for what the service sends: orjson (compact, UTF-8, several times faster than
the standard library), falling back to ``json`` for what orjson refuses — integers beyond 64 bits,
which event data may hold (valid JSON; the standard library writes them out in full).

    dumps(value) -> str    compact, non-ASCII kept as is (WebSocket text frames need str)
    dumps_bytes(value)     the same as UTF-8 bytes (a frame written to a socket: no str made)
    size(value) -> int     the bytes of ``dumps(value)`` in UTF-8, without making the str
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def dumps_bytes(value: Any) -> bytes:
    """``dumps(value)`` encoded as UTF-8, without the round trip through str."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def size(value: Any) -> int:
    """UTF-8 bytes of ``value`` as ``dumps`` writes it (what is stored and sent)."""
    try:
        return len(orjson.dumps(value))
    except TypeError:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
