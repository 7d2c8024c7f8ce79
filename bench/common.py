"""Shared bits of the benchmark: GraphQL documents, tokens, /proc readings, percentiles, ports."""

from __future__ import annotations

import os
import resource
import socket
from typing import Any

#: The bell subscription every live client holds: the notification's data carries ``sentAt``.
BELL_SUBSCRIPTION = """subscription { bell { __typename
  ... on NotificationAdded { unreadCount notification { id typeCode title data } }
  ... on NotificationsRead { ids unreadCount } } }"""

#: What the panel page (panel/app.js) holds beside its bell, on the same socket.
PANEL_SUBSCRIPTIONS = (
    "subscription { reminders { kind message createdAt } }",
    "subscription { toasts { durationSeconds sound repeat dismissed notification { id title } } }",
)

PUBLISH_EVENT = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount deliveriesQueued } }"
PUBLISH_EVENTS = (
    "mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { notificationCount deliveriesQueued } }"
)

#: Section 4 (a): the whole types tab.
TYPES_TAB = (
    "{ notificationCategories { code title types { code title description availability mandatory "
    "mandatoryChannels selectableChannels channels melody editable } } }"
)
#: Section 4 (b): the first bell page.
BELL_PAGE = (
    "{ notifications(first: 20) { edges { cursor node { id typeCode title body createdAt readAt } } "
    "pageInfo { hasNextPage endCursor } unreadCount } }"
)

SECRET_ENV = "BENCH_JWT_SECRET"


def codec(secret: str) -> Any:
    """The service's own token signer (services.auth.TokenCodec) for a bench secret."""
    from core.settings import Secret, Settings
    from services.auth import TokenCodec

    return TokenCodec(Settings(jwt_secret=Secret(secret)))


def user_ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(count)]


def raise_nofile() -> None:
    """Soft open-files limit up to the hard limit (thousands of sockets per process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int | None:
    """VmRSS of a process in KiB, from /proc/<pid>/status."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None = None, *, main_thread: bool = False) -> float | None:
    """User + system CPU seconds a process has used (this process when ``pid`` is None), or with
    ``main_thread`` only its main thread's (the event loop's: the rest is the database's thread)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        with open(f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After "pid (comm)": state is field 3, utime 14 and stime 15 (1-based) -> 11 and 12 here.
    return (int(fields[11]) + int(fields[12])) / _TICK


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(p / 100.0 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_summary(prefix: str, seconds: list[float]) -> dict[str, float | None]:
    values = sorted(seconds)
    out: dict[str, float | None] = {}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99)):
        v = percentile(values, p)
        out[f"{prefix}{name}_ms"] = None if v is None else round(v * 1000, 2)
    out[f"{prefix}max_ms"] = round(values[-1] * 1000, 2) if values else None
    return out


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
