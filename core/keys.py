"""Ids as parts of keys and topics.

A key made of an instance's id and a user's id joined by a separator (``/`` in a broker topic and a
rate limit's key, ``:`` in a WebSocket slot's) is ambiguous when the ids may hold that separator,
as ids in tokens may: instance ``a/b``'s user ``c`` and instance ``a``'s user ``b/c`` would share
one live stream, one rate budget and one count of open connections. ``key_part`` makes each id one
unambiguous part.
"""

from __future__ import annotations

#: What ``key_part`` escapes: the escape itself, then every separator a key uses.
_ESCAPES = (("%", "%25"), ("/", "%2F"), (":", "%3A"))


def key_part(value: str) -> str:
    """``value`` as one part of a key: ``%``, ``/`` and ``:`` escaped (``%25``, ``%2F``, ``%3A``),
    anything else as it is; two different values never give the same part."""
    if "%" in value or "/" in value or ":" in value:
        for char, escaped in _ESCAPES:
            value = value.replace(char, escaped)
    return value
