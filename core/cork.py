"""Writes held back for one stretch of a fan-out, then made one write per socket.

A publishing batch gives one recipient several messages at once (a busy ticket's events, several
producers' calls written together); each was a system call of its own, and a TCP segment the
client woke up for. Inside ``corked()`` a socket's frames (``hold``) are kept in order and
written together when the stretch ends — always before the event loop runs anything else, since
a stretch has no ``await`` — or as soon as they reach ``FLUSH_BYTES``, so that the transport's
own flow control (its high-water mark) still sees them come.

    with corked():
        for topic, message in stretch:
            fanout.offer(topic, message)    # a socket's send_text_now -> hold(socket, frame)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

#: A socket's held frames are written once they reach this many bytes.
FLUSH_BYTES = 16 * 1024


class Corkable(Protocol):
    def write_held(self, data: bytes) -> None:
        """Write ``data`` (whole frames, in order) to the socket now."""
        ...


class _Held:
    __slots__ = ("chunks", "size")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0


_held: dict[Corkable, _Held] | None = None


@contextmanager
def corked() -> Iterator[None]:
    """Hold sockets' frames until the block ends (nested blocks join the outer one). The block must
    not await: what is held is written when it ends, in the same step of the event loop."""
    global _held
    if _held is not None:
        yield
        return
    held: dict[Corkable, _Held] = {}
    _held = held
    try:
        yield
    finally:
        _held = None
        for socket, frames in held.items():
            if frames.chunks:
                socket.write_held(frames.chunks[0] if len(frames.chunks) == 1 else b"".join(frames.chunks))


def hold(socket: Corkable, frame: bytes) -> bool:
    """Keep ``frame`` for ``socket`` until the corked block ends (True), or False outside one: the
    caller writes it itself."""
    held = _held
    if held is None:
        return False
    frames = held.get(socket)
    if frames is None:
        frames = held[socket] = _Held()
    frames.chunks.append(frame)
    frames.size += len(frame)
    if frames.size >= FLUSH_BYTES:
        data = b"".join(frames.chunks)
        frames.chunks, frames.size = [], 0
        socket.write_held(data)
    return True
