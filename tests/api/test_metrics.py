"""/metrics in Prometheus format: deliveries, queue, subscriptions, latency."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Tenant


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_metrics_count_deliveries_and_latency(http, tenant: Tenant) -> None:
    before = samples((await http.get("/metrics")).text)
    key = ("nc_deliveries_total", (("channel", "BELL"), ("status", "SENT")))
    await tenant.service().gql(
        'mutation { publishEvent(input: {id: "m1", type: "ticket_created", recipients: ["a", "b"]}) { notificationCount } }'
    )
    for _ in range(100):
        after = samples((await http.get("/metrics")).text)
        if after.get(key, 0) >= before.get(key, 0) + 2:
            break
        await asyncio.sleep(0.05)
    assert after[key] >= before.get(key, 0) + 2
    assert after[("nc_publish_to_delivered_seconds_count", (("channel", "BELL"),))] >= 2
    assert ("nc_delivery_queue_depth", ()) in after
    assert ("nc_delivery_oldest_due_age_seconds", ()) in after
    assert ("nc_live_subscriptions", ()) in after
    assert ("nc_redis_errors_total", ()) in after
    # The call's phases: waiting for the transaction, writing, handing the panel's messages off.
    for phase in ("waiting", "writing", "handing_off"):
        count = ("nc_publishing_seconds_count", (("phase", phase),))
        assert after[count] >= before.get(count, 0) + 1
    writing = ("nc_publishing_seconds_sum", (("phase", "writing"),))
    assert after[writing] > before.get(writing, 0)
