"""Prometheus metrics (prometheus-client): what an operator of the service watches.

Counters and histograms are updated where things happen (the worker runtime); gauges that are a
question to the database (queue depth, oldest due job) are answered at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()

DELIVERIES = Counter(
    "nc_deliveries_total",
    "Delivery attempts settled, by channel and resulting status",
    ["channel", "status"],
    registry=REGISTRY,
)
PUBLISH_TO_DELIVERED = Histogram(
    "nc_publish_to_delivered_seconds",
    "From the notification's creation to its delivery being sent, by channel",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
PUBLISHING = Histogram(
    "nc_publishing_seconds",
    "Each publishEvent(s) call by phase: waiting (for its transaction to start: on SQLite, for the "
    "transaction before, group commit), writing (its transaction, which on SQLite it may share with "
    "the calls written together with it) and handing_off (from the commit to its answer: on "
    "PostgreSQL the panel's messages to the broker and the hand-off row deleted; on SQLite nearly "
    "nothing, the call being answered at the commit and its messages sent after)",
    ["phase"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge("nc_delivery_queue_depth", "Deliveries due now and not yet sent", registry=REGISTRY)
OLDEST_DUE_AGE = Gauge(
    "nc_delivery_oldest_due_age_seconds", "How long the oldest due delivery has been waiting", registry=REGISTRY
)
LIVE_SUBSCRIPTIONS = Gauge(
    "nc_live_subscriptions",
    "Live GraphQL subscriptions (bell, toasts, reminders) held by this process",
    registry=REGISTRY,
)
DATABASE_ERRORS = Counter(
    "nc_database_errors_total", "Database operations that failed in workers and readiness checks", registry=REGISTRY
)

REFUSED = Counter(
    "nc_requests_refused_total",
    "Requests and connections refused by a limit, by reason "
    "(rate_limited, websockets_per_user, pending_websockets, header_timeout, body_timeout, "
    "token_expired, message_too_big)",
    ["reason"],
    registry=REGISTRY,
)
LIMITER_ERRORS = Counter(
    "nc_rate_limiter_errors_total",
    "Rate-limit checks that could not count (Redis unreachable) and let the request through",
    registry=REGISTRY,
)


class BrokerErrors(Collector):
    """Redis errors as the broker counts them (publish failures, lost subscriptions)."""

    def __init__(self) -> None:
        self.broker: Any = None

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("nc_redis_errors", "Redis errors seen by this process's broker")
        family.add_metric([], float(getattr(self.broker, "errors", 0)))
        yield family


BROKER_ERRORS = BrokerErrors()
REGISTRY.register(BROKER_ERRORS)


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def observe_times(histogram: Any, amount: float, times: int) -> None:
    """``histogram.observe(amount)`` done ``times`` times, at the cost of one (a batch's many
    deliveries share one publish-to-delivered figure). Uses prometheus_client's Histogram child
    internals (``_sum``, ``_buckets``, ``_upper_bounds``), and falls back to a loop without them."""
    buckets, bounds, total = (getattr(histogram, a, None) for a in ("_buckets", "_upper_bounds", "_sum"))
    if buckets is None or bounds is None or total is None:
        for _ in range(times):
            histogram.observe(amount)
        return
    total.inc(amount * times)
    for i, bound in enumerate(bounds):
        if amount <= bound:
            buckets[i].inc(times)
            break
