"""The benchmark's sections: each starts what it measures, runs the client, and returns flat figures.

Every section gets a fresh server process (and a fresh embedded database) so the work left
behind by one section (delivery jobs still being settled) never runs during another's
measurement. Each figure is measured in the same invocation as its baseline.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import BELL_PAGE, PANEL_SUBSCRIPTIONS, PUBLISH_EVENTS, TYPES_TAB, codec, rss_kb
from bench.procs import PY, ROOT, Client, Proc, Procs, run_client

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The scaled run's broker (its topics and keys carry the run's own instance ids).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
#: The viewer's whole bell, as rows for the plain endpoint's store.
HISTORY = (
    "{ notifications(first: 100) { edges { node { id typeCode categoryCode title body data createdAt readAt } } } }"
)


@dataclass
class Ctx:
    quick: bool
    procs: Procs
    tmp: Path
    notes: list[str] = field(default_factory=list)

    def say(self, message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)


def _ratio(ours: float | None, base: float | None) -> float | None:
    if ours is None or not base:
        return None
    return round(ours / base, 3)


def _per(value: float | None, count: float | None, scale: float = 1.0) -> float | None:
    if value is None or not count:
        return None
    return round(value / count * scale, 3)


def _cores(us_per_message: float | None, messages_per_s: float | None) -> float | None:
    """The cores a run kept busy: its CPU per message (µs) × messages per second."""
    if us_per_message is None or not messages_per_s:
        return None
    return round(us_per_message * messages_per_s / 1e6, 2)


async def _with_server(start: Awaitable[Proc], use: Callable[[Proc], Awaitable[Any]]) -> Any:
    server = await start
    try:
        return await use(server)
    finally:
        await server.stop()


# -- 1. live fan-out -----------------------------------------------------------------------------
async def fanout(ctx: Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sizes = [100] if ctx.quick else [100, 1000, 5000]
    for n in sizes:
        events = 10 if ctx.quick else max(2, 20_000 // n)
        out[f"fanout_{n}_messages"] = n * events
        out[f"fanout_{n}_events"] = events
        for mode in ("ours", "raw"):
            key = f"fanout_{n}_" + ("" if mode == "ours" else "raw_")
            try:
                r = await _live_run(
                    ctx, "fanout", mode, n, ["--events", str(events)], deadline=30 if ctx.quick else 120
                )
            except Exception as exc:  # noqa: BLE001 - recorded, the next run goes on
                out[f"{key}error"] = f"{type(exc).__name__}: {exc}"[:1500]
                ctx.say(f"fan-out {mode} N={n}: {exc}")
                continue
            out[f"{key}messages_per_s"] = r["messages_per_s"]
            out[f"{key}received"] = r["received"]
            out[f"{key}p50_ms"] = r["p50_ms"]
            out[f"{key}p99_ms"] = r["p99_ms"]
            out[f"{key}max_ms"] = r["max_ms"]
            out[f"{key}connect_s"] = r["connect_s"]
            out[f"{key}publish_p50_ms"] = r["publish_p50_ms"]
            out[f"{key}server_cpu_s"] = r["server_cpu_s"]
            out[f"{key}client_cpu_s"] = r["client_cpu_s"]
            out[f"{key}server_cpu_us_per_message"] = _per(r["server_cpu_s"], r["received"], 1e6)
            # One interpreter's server keeps at most ~1.0 cores busy: near it, the ratio is the two
            # servers' CPU per message.
            out[f"{key}server_cores_busy"] = _cores(out[f"{key}server_cpu_us_per_message"], r["messages_per_s"])
            if r["errors"] or r["publish_failures"] or not r["complete"]:
                out[f"{key}problems"] = {
                    k: r[k] for k in ("complete", "errors", "publish_failures", "unexpected_closes")
                }
            ctx.say(
                f"fan-out {mode:4} N={n:5}: {r['messages_per_s']} msg/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms"
                f" ({r['received']}/{r['expected']})"
            )
        out[f"fanout_{n}_ratio_vs_raw"] = _ratio(
            out.get(f"fanout_{n}_messages_per_s"), out.get(f"fanout_{n}_raw_messages_per_s")
        )
    return out


async def _live_run(ctx: Ctx, command: str, mode: str, n: int, extra: list[str], deadline: float) -> dict[str, Any]:
    start = ctx.procs.serve(f"serve-{command}") if mode == "ours" else ctx.procs.module("raw", "bench.raw_server")

    async def use(server: Proc) -> dict[str, Any]:
        args = ["--port", str(server.port), "--mode", mode, "--users", str(n), "--server-pid", str(server.pid)]
        args += ["--deadline", str(deadline), "--instance", f"bench-{uuid.uuid4().hex[:6]}", *extra]
        result = await run_client(ctx.procs, command, *args, seconds=deadline + 120)
        if mode == "ours":
            result.update(await _publishing_phases(server.port or 0))
        return result

    return await _with_server(start, use)


async def _publishing_phases(port: int) -> dict[str, float | None]:
    """The served process's mean time per publishing call in each phase (``nc_publishing_seconds``:
    waiting for the transaction, writing, handing off), in ms, warm-up calls included."""
    from prometheus_client.parser import text_string_to_metric_families

    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    sums: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "nc_publishing_seconds":
            for sample in family.samples:
                if sample.name.endswith(("_sum", "_count")):
                    sums[(sample.labels["phase"], sample.name.rsplit("_", 1)[1])] = sample.value
    out: dict[str, float | None] = {}
    for phase in ("waiting", "writing", "handing_off"):
        count = sums.get((phase, "count"))
        out[f"publishing_{phase}_ms"] = round(sums[(phase, "sum")] / count * 1e3, 2) if count else None
    return out


# -- 1b. paced publishing ------------------------------------------------------------------------
async def paced(ctx: Ctx) -> dict[str, Any]:
    n, seconds, rate = (100, 2.0, 200.0) if ctx.quick else (1000, 10.0, 200.0)
    out: dict[str, Any] = {"paced_operators": n, "paced_seconds": seconds, "paced_target_events_per_s": rate}
    # Full mode adds a run at a quarter of the rate: the latency when the service keeps up.
    runs = [("ours", rate, "paced_"), ("raw", rate, "paced_raw_")]
    if not ctx.quick:
        runs.append(("ours", rate / 4, f"paced_at_{rate / 4:.0f}_"))
    for mode, run_rate, key in runs:
        extra = ["--rate", str(run_rate), "--seconds", str(seconds), "--per-event", "5"]
        try:
            r = await _live_run(ctx, "paced", mode, n, extra, deadline=20 if ctx.quick else 60)
        except Exception as exc:  # noqa: BLE001
            out[f"{key}error"] = f"{type(exc).__name__}: {exc}"[:1500]
            ctx.say(f"paced {mode}: {exc}")
            continue
        for k in ("events_per_s", "received", "p50_ms", "p90_ms", "p99_ms", "max_ms", "publish_p50_ms"):
            out[f"{key}{k}"] = r[k]
        out[f"{key}publish_p99_ms"] = r["publish_p99_ms"]
        out[f"{key}messages"] = r["expected"]
        out[f"{key}server_cpu_s"] = r["server_cpu_s"]
        if r["errors"] or r["publish_failures"] or not r["complete"]:
            out[f"{key}problems"] = {k: r[k] for k in ("complete", "errors", "publish_failures", "unexpected_closes")}
        ctx.say(
            f"paced {mode:4} {n} ops @{run_rate:.0f}/s: {r['events_per_s']} ev/s, p50 {r['p50_ms']} ms,"
            f" p99 {r['p99_ms']} ms ({r['received']}/{r['expected']})"
        )
    return out


async def paced_scaled(ctx: Ctx) -> dict[str, Any]:
    """1b at scale: two API processes and a worker process on PostgreSQL and Redis; the panels
    subscribe to one API process, the producer publishes through the other."""
    n, seconds, rate = (100, 2.0, 200.0) if ctx.quick else (1000, 10.0, 200.0)
    out: dict[str, Any] = {"paced_scaled_operators": n, "paced_scaled_target_events_per_s": rate}
    reason = await _postgres_unreachable() or await _redis_unreachable()
    if reason:
        out["paced_scaled_skipped"] = reason
        ctx.notes.append(f"Paced publishing at scale not measured: {reason}")
        ctx.say(f"paced scaled: skipped ({reason})")
        return out
    started: list[Proc] = []
    async with bench_database() as url:
        env = {"NC_DATABASE_URL": url, "NC_REDIS_URL": REDIS_URL}
        try:
            await ctx.procs.cli(["migrate"], env)
            panels = await ctx.procs.serve("serve-scaled-panels", env)
            producer = await ctx.procs.serve("serve-scaled-producer", env)
            started += [panels, producer]
            worker = await ctx.procs.start(
                "worker-scaled", [PY, "-m", "api.cli", "worker"], ctx.procs.nc_env(ctx.tmp, env)
            )
            started.append(worker)
            await ctx.procs.profile(worker)
            args = ["--port", str(panels.port), "--publish-port", str(producer.port), "--mode", "ours"]
            args += ["--users", str(n), "--deadline", "60", "--instance", f"bench-{uuid.uuid4().hex[:6]}"]
            args += ["--rate", str(rate), "--seconds", str(seconds), "--per-event", "5"]
            r = await run_client(ctx.procs, "paced", *args, seconds=seconds + 180)
            for k in ("events_per_s", "received", "p50_ms", "p90_ms", "p99_ms", "max_ms", "publish_p50_ms"):
                out[f"paced_scaled_{k}"] = r[k]
            out["paced_scaled_publish_p99_ms"] = r["publish_p99_ms"]
            out["paced_scaled_messages"] = r["expected"]
            out.update({f"paced_scaled_{k}": v for k, v in (await _publishing_phases(producer.port or 0)).items()})
            if r["errors"] or r["publish_failures"] or not r["complete"]:
                out["paced_scaled_problems"] = {
                    k: r[k] for k in ("complete", "errors", "publish_failures", "unexpected_closes")
                }
            ctx.say(
                f"paced scaled {n} ops @{rate:.0f}/s: {r['events_per_s']} ev/s, p50 {r['p50_ms']} ms,"
                f" p99 {r['p99_ms']} ms ({r['received']}/{r['expected']})"
            )
        finally:
            for proc in reversed(started):
                await proc.stop()
    return out


# -- 1d. many events to a few operators each, against raw, alternated -----------------------------
async def spread(ctx: Ctx) -> dict[str, Any]:
    """1,000 operators, 5 recipients per event, events sent through ``publishEvents`` in batches
    of 100, two requests in flight; the raw broadcast gets the same batches. Rounds alternate ours
    / raw; each figure is the mean of its rounds."""
    n, events, rounds = (100, 400, 1) if ctx.quick else (1000, 4000, 2)
    return await _spread(ctx, "spread", n, events, rounds, batch=100, publishers=2)


# -- 1e. the independent configuration: 16 calls of 20 events in flight -------------------------
async def spread16(ctx: Ctx) -> dict[str, Any]:
    """The issue's independent comparison as it was run by hand: 1,000 operators, 5 recipients per
    event, ``publishEvents`` calls of 20 events, 16 in flight (so the service writes many calls per
    transaction, where 1d's two calls of 100 rarely meet); rounds alternate ours / raw."""
    n, events, rounds = (100, 640, 1) if ctx.quick else (1000, 16_000, 3)
    return await _spread(ctx, "spread16", n, events, rounds, batch=20, publishers=16)


async def _spread(
    ctx: Ctx, name: str, n: int, events: int, rounds: int, *, batch: int, publishers: int
) -> dict[str, Any]:
    """Alternated rounds of ``bench.client spread`` against ours and raw: figures under ``name_``
    (ours) and ``name_raw_``, each the mean of its rounds."""
    out: dict[str, Any] = {
        f"{name}_operators": n,
        f"{name}_events": events,
        f"{name}_per_event": 5,
        f"{name}_batch": batch,
        f"{name}_publishers": publishers,
    }
    samples: dict[str, list[dict[str, Any]]] = {"ours": [], "raw": []}
    failed = 0
    for round_ in range(rounds):
        pair: dict[str, dict[str, Any]] = {}
        for mode in ("ours", "raw"):
            extra = ["--events", str(events), "--batch", str(batch), "--per-event", "5"]
            extra += ["--publishers", str(publishers)]
            try:
                # (quick: a few thousand messages take a second; a run that loses some waits it all)
                r = await _live_run(ctx, "spread", mode, n, extra, deadline=10 if ctx.quick else 90)
            except Exception as exc:  # noqa: BLE001 - recorded, the next round goes on
                out[f"{name}_{mode}_error"] = f"{type(exc).__name__}: {exc}"[:1500]
                ctx.say(f"{name} {mode} round {round_ + 1}: {exc}")
                failed += mode == "ours"
                continue
            pair[mode] = r
            ctx.say(
                f"{name} {mode:4} round {round_ + 1}: {r['messages_per_s']} msg/s, p99 {r['p99_ms']} ms,"
                f" lost {r['lost']}, duplicates {r['duplicates']}, misdelivered {r['misdelivered']}"
            )
        # A round counts only with both runs: the ratio compares the same rounds of each.
        if len(pair) == 2:
            samples["ours"].append(pair["ours"])
            samples["raw"].append(pair["raw"])
        elif "ours" in pair:
            for k in ("lost", "duplicates", "misdelivered"):
                out[f"{name}_unpaired_{k}"] = out.get(f"{name}_unpaired_{k}", 0) + pair["ours"][k]
    for mode, key in (("ours", f"{name}_"), ("raw", f"{name}_raw_")):
        runs = samples[mode]
        if not runs:
            continue
        for k in (
            "messages_per_s",
            "p50_ms",
            "p99_ms",
            "server_cpu_s",
            "server_loop_cpu_s",
            "client_cpu_s",
            "publish_p50_ms",
            "publishing_waiting_ms",
            "publishing_writing_ms",
            "publishing_handing_off_ms",
        ):
            values = [r[k] for r in runs if r.get(k) is not None]
            out[f"{key}{k}"] = round(sum(values) / len(values), 2) if values else None
        received = sum(r["received"] for r in runs) / len(runs)
        for what in ("server_cpu", "server_loop_cpu", "client_cpu"):
            out[f"{key}{what}_us_per_message"] = _per(out.get(f"{key}{what}_s"), received, 1e6)
        out[f"{key}lost"] = sum(r["lost"] for r in runs)
        out[f"{key}duplicates"] = sum(r["duplicates"] for r in runs)
        out[f"{key}misdelivered"] = sum(r["misdelivered"] for r in runs)
        out[f"{key}rounds"] = len(runs)
        problems = [r for r in runs if r["errors"] or r["publish_failures"] or not r["complete"]]
        if problems:
            out[f"{key}problems"] = {k: problems[0][k] for k in ("complete", "errors", "publish_failures")}
    out[f"{name}_ratio_vs_raw"] = _ratio(out.get(f"{name}_messages_per_s"), out.get(f"{name}_raw_messages_per_s"))
    out[f"{name}_p99_vs_raw"] = _ratio(out.get(f"{name}_p99_ms"), out.get(f"{name}_raw_p99_ms"))
    # The machine's CPU per message (server and load generator share its cores) and the cores each
    # run kept busy: when raw's run fills the cores, ours can reach at most raw's CPU per message
    # over ours (``cpu_bound_ratio``), however well its threads overlap. The server's own cores
    # show whether one interpreter lock is its limit (a server that never passes ~1.0).
    for key in (f"{name}_", f"{name}_raw_"):
        server, client = out.get(f"{key}server_cpu_us_per_message"), out.get(f"{key}client_cpu_us_per_message")
        machine = round(server + client, 3) if server is not None and client is not None else None
        rate = out.get(f"{key}messages_per_s")
        out[f"{key}machine_cpu_us_per_message"] = machine
        out[f"{key}cores_busy"] = _cores(machine, rate)
        out[f"{key}server_cores_busy"] = _cores(server, rate)
    out[f"{name}_cpu_bound_ratio"] = _ratio(
        out.get(f"{name}_raw_machine_cpu_us_per_message"), out.get(f"{name}_machine_cpu_us_per_message")
    )
    # Exact only when every round of ours ran to its end and none lost, doubled or misdelivered.
    out[f"{name}_exact"] = (
        bool(samples["ours"])
        and not failed
        and not out.get(f"{name}_problems")
        and all(out.get(f"{name}_{k}") == 0 for k in ("lost", "duplicates", "misdelivered"))
        and not any(out.get(f"{name}_unpaired_{k}") for k in ("lost", "duplicates", "misdelivered"))
    )
    return out


async def _redis_unreachable() -> str | None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return f"Redis at {REDIS_URL} is not reachable ({type(exc).__name__})"
    finally:
        await client.aclose()
    return None


# -- 2. ingestion --------------------------------------------------------------------------------
async def ingest(ctx: Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {}
    requests = {"1x1000": 3, "1000x1": 1} if ctx.quick else {"1x1000": 20, "1000x1": 5}
    shapes = ("1x1000", "1000x1")

    async def measure(db: str, server: Proc) -> None:
        for shape in shapes:
            key = f"ingest_{db}_{shape}_"
            try:
                r = await run_client(
                    ctx.procs,
                    "ingest",
                    "--port",
                    str(server.port),
                    "--shape",
                    shape,
                    "--requests",
                    str(requests[shape]),
                    "--server-pid",
                    str(server.pid),
                    "--instance",
                    f"ingest-{uuid.uuid4().hex[:6]}",
                    seconds=180,
                )
            except Exception as exc:  # noqa: BLE001
                out[f"{key}error"] = f"{type(exc).__name__}: {exc}"[:1500]
                out[f"{key}notifications_per_s"] = None
                continue
            out[f"{key}notifications_per_s"] = r["notifications_per_s"]
            out[f"{key}request_p50_ms"] = r["request_p50_ms"]
            out[f"{key}request_max_ms"] = r["request_max_ms"]
            out[f"{key}notifications"] = r["notifications"]
            out[f"{key}server_cpu_s"] = r["server_cpu_s"]
            ctx.say(f"ingest {db:8} {shape:6}: {r['notifications_per_s']} notifications/s")

    await _with_server(ctx.procs.serve("serve-ingest-sqlite"), lambda s: measure("sqlite", s))

    reason = await _postgres_unreachable()
    if reason is not None:
        for shape in shapes:
            out[f"ingest_postgres_{shape}_notifications_per_s"] = None
        out["ingest_postgres_skipped"] = reason
        ctx.notes.append(f"Ingestion on PostgreSQL not measured: {reason}")
        ctx.say(f"ingest postgres: skipped ({reason})")
        return out
    async with bench_database() as url:
        env = {"NC_DATABASE_URL": url}
        await ctx.procs.cli(["migrate"], env)
        await _with_server(ctx.procs.serve("serve-ingest-pg", env, with_workers=True), lambda s: measure("postgres", s))
    return out


# -- 2b. collapse: the same chat messages with chat_message's collapse on and off ---------------------
async def collapse(ctx: Ctx) -> dict[str, Any]:
    """Requests of 100 chat_message events x 10 recipients about 50 chats (so most events find an
    unread item to collapse into), on one embedded server: instances with collapse off and on,
    alternated; the figure is notifications (recipient-events) per second, and CPU per one."""
    requests, rounds = (3, 1) if ctx.quick else (20, 2)
    samples: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}

    async def measure(server: Proc) -> None:
        for _ in range(rounds):
            for mode in ("off", "on"):
                r = await run_client(
                    ctx.procs,
                    "ingest",
                    *("--port", str(server.port), "--shape", "100x10", "--requests", str(requests)),
                    *("--chats", "50", "--collapse", mode, "--server-pid", str(server.pid)),
                    *("--instance", f"collapse-{mode}-{uuid.uuid4().hex[:6]}"),
                    seconds=180,
                )
                samples[mode].append(r)
                ctx.say(f"collapse {mode:3}: {r['notifications_per_s']} notifications/s")

    await _with_server(ctx.procs.serve("serve-collapse"), measure)
    out: dict[str, Any] = {}
    for mode, runs in samples.items():
        if not runs:
            continue
        rates = [r["notifications_per_s"] for r in runs if r.get("notifications_per_s")]
        out[f"collapse_{mode}_notifications_per_s"] = round(sum(rates) / len(rates), 1) if rates else None
        cpu = sum(r.get("server_cpu_s") or 0 for r in runs)
        made = sum(r["notifications"] for r in runs)
        out[f"collapse_{mode}_server_cpu_us_per_notification"] = _per(cpu, made, 1e6)
    # the cost of collapsing: time per notification with it on, over time per notification without
    out["collapse_cost_ratio"] = _ratio(
        out.get("collapse_off_notifications_per_s"), out.get("collapse_on_notifications_per_s")
    )
    return out


@asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database ``nc_bench_<random>`` for one section (its URL), dropped after."""
    import asyncpg

    database = f"nc_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{database}"
    finally:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await conn.close()


async def _postgres_unreachable() -> str | None:
    try:
        import asyncpg

        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
        await conn.close()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable ({type(exc).__name__}: {exc})"[:300]
    return None


# -- 3. delivery ---------------------------------------------------------------------------------
async def delivery(ctx: Ctx) -> dict[str, Any]:
    operators, events = (20, 20) if ctx.quick else (100, 50)
    receiver = await ctx.procs.module("receiver", "bench.receiver", "--secret", "s")
    try:

        async def use(server: Proc) -> dict[str, Any]:
            return await run_client(
                ctx.procs,
                "delivery",
                "--port",
                str(server.port),
                "--receiver-port",
                str(receiver.port),
                "--operators",
                str(operators),
                "--events",
                str(events),
                "--server-pid",
                str(server.pid),
                "--deadline",
                "30" if ctx.quick else "120",
                seconds=300,
            )

        server = ctx.procs.serve("serve-delivery", {"NC_ALLOW_HTTP_ENDPOINTS": "1"})
        r = await _with_server(server, use)
    finally:
        await receiver.stop()
    ctx.say(f"delivery: {r['jobs_per_s']} jobs/s ({r['received']}/{r['jobs']}), all sampled SENT: {r['sampled_sent']}")
    out = {
        "delivery_jobs": r["jobs"],
        "delivery_received": r["received"],
        "delivery_jobs_per_s": r["jobs_per_s"],
        "delivery_span_s": r["span_s"],
        "delivery_until_sent_s": r["until_sent_s"],
        "delivery_jobs_per_s_until_sent": round(r["received"] / r["until_sent_s"], 1) if r["until_sent_s"] else None,
        "delivery_sampled_rows_sent": r["sampled_sent"],
        "delivery_publish_s": r["publish_s"],
        "delivery_server_cpu_s": r["server_cpu_s"],
        "delivery_server_cpu_us_per_job": _per(r["server_cpu_s"], r["received"], 1e6),
    }
    if r["bad_signatures"]:
        out["delivery_bad_signatures"] = r["bad_signatures"]
    return out


# -- 4. queries ----------------------------------------------------------------------------------
async def queries(ctx: Ctx) -> dict[str, Any]:
    seconds, warmup = (0.6, 0.2) if ctx.quick else (5.0, 1.0)
    instance, user = f"query-{uuid.uuid4().hex[:6]}", "op-query"
    out: dict[str, Any] = {}
    server = await ctx.procs.serve("serve-queries")
    plain: Proc | None = None
    try:
        docs = await _query_setup(ctx, server, instance, user)
        store = ctx.tmp / "plain-store.json"
        store.write_text(json.dumps(docs["store"]))
        plain = await ctx.procs.module("plain", "bench.plain_server", "--store", str(store))
        out["queries_documents_match_plain"] = await _same_documents(ctx, plain, instance, user, docs)
        out["queries_types_response_bytes"] = len(json.dumps(docs["types"]))
        for name, document, plain_path in (("types", TYPES_TAB, "/plain/types"), ("bell", BELL_PAGE, "/plain/bell")):
            for concurrency in (1, 64):
                key = f"queries_{name}_c{concurrency}_"
                for target, proc, path in (("", server, "/graphql"), ("plain_", plain, plain_path)):
                    r = await run_client(
                        ctx.procs,
                        "http",
                        "--port",
                        str(proc.port),
                        "--path",
                        path,
                        "--document",
                        document,
                        "--instance",
                        instance,
                        "--user",
                        user,
                        "--concurrency",
                        str(concurrency),
                        "--seconds",
                        str(seconds),
                        "--warmup",
                        str(warmup),
                        "--server-pid",
                        str(proc.pid),
                        seconds=seconds + warmup + 60,
                    )
                    out[f"{key}{target}rps"] = r["rps"]
                    out[f"{key}{target}p50_ms"] = r["p50_ms"]
                    out[f"{key}{target}p99_ms"] = r["p99_ms"]
                    out[f"{key}{target}server_cpu_ms_per_request"] = _per(r["server_cpu_s"], r["requests"], 1e3)
                    out[f"{key}{target}client_cpu_ms_per_request"] = _per(r["client_cpu_s"], r["requests"], 1e3)
                    if r["failures"]:
                        out[f"{key}{target}failures"] = r["failures"]
                out[f"{key}ratio_vs_plain"] = _ratio(out[f"{key}rps"], out[f"{key}plain_rps"])
                ctx.say(
                    f"query {name:5} c={concurrency:2}: {out[f'{key}rps']} req/s (plain {out[f'{key}plain_rps']}),"
                    f" p99 {out[f'{key}p99_ms']} ms (plain {out[f'{key}plain_p99_ms']})"
                )
        # Open loop: the types tab asked 300 times a second (quick: 100), over 32 connections.
        rate = 100 if ctx.quick else 300
        for target, proc, path in (("", server, "/graphql"), ("plain_", plain, "/plain/types")):
            r = await run_client(
                ctx.procs,
                "http",
                *("--port", str(proc.port), "--path", path, "--document", TYPES_TAB),
                *("--instance", instance, "--user", user, "--concurrency", "32", "--rate", str(rate)),
                *("--seconds", str(seconds), "--warmup", str(warmup), "--server-pid", str(proc.pid)),
                seconds=seconds + warmup + 60,
            )
            key = f"queries_types_open_{target}"
            out[f"{key}rate"] = rate
            for figure in ("rps", "p50_ms", "p99_ms", "max_ms"):
                out[f"{key}{figure}"] = r.get(figure)
            if r["failures"]:
                out[f"{key}failures"] = r["failures"]
        ctx.say(
            f"query types open loop {rate}/s: p99 {out['queries_types_open_p99_ms']} ms"
            f" (plain {out['queries_types_open_plain_p99_ms']})"
        )
    finally:
        if plain is not None:
            await plain.stop()
        await server.stop()
    return out


async def _query_setup(ctx: Ctx, server: Proc, instance: str, user: str) -> dict[str, Any]:
    c = codec(ctx.procs.secret)
    operator = c.issue(instance=instance, user=user, role="operator")
    service = c.issue(instance=instance, user="svc", role="service")
    base = f"http://127.0.0.1:{server.port}/graphql"
    async with httpx.AsyncClient(timeout=30) as http:

        async def gql(token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
            response = await http.post(
                base, json={"query": query, "variables": variables or {}}, headers={"Authorization": f"Bearer {token}"}
            )
            body = response.json()
            if body.get("errors"):
                raise RuntimeError(str(body["errors"])[:500])
            return body["data"]

        # A viewer with choices of their own and a bell of 30 items, 5 of them read.
        await gql(
            operator, 'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, SOUND]) { code } }'
        )
        await gql(operator, 'mutation { setTypeChannels(typeCode: "chat_created", channels: [BELL]) { code } }')
        events = [
            {
                "id": f"q-{i}",
                "type": "ticket_created",
                "recipients": [user],
                "data": {"ticketNumber": i, "subject": f"S{i}"},
            }
            for i in range(30)
        ]
        await gql(service, PUBLISH_EVENTS, {"inputs": events})
        rows = (await gql(operator, "{ notifications(first: 100) { edges { node { id } } } }"))["notifications"]
        read = [e["node"]["id"] for e in rows["edges"][3:8]]
        await gql(
            operator, "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { unreadCount } }", {"ids": read}
        )
        types = await gql(operator, TYPES_TAB)
        bell = await gql(operator, BELL_PAGE)
        history = await gql(operator, HISTORY)
    store = {
        "categories": [{"code": c["code"], "title": c["title"]} for c in types["notificationCategories"]],
        "types": [{"categoryCode": c["code"], **t} for c in types["notificationCategories"] for t in c["types"]],
        "notifications": [e["node"] for e in history["notifications"]["edges"]],
    }
    return {"types": {"data": types}, "bell": {"data": bell}, "store": store}


async def _same_documents(ctx: Ctx, plain: Proc, instance: str, user: str, docs: dict[str, Any]) -> bool:
    token = codec(ctx.procs.secret).issue(instance=instance, user=user, role="operator")
    async with httpx.AsyncClient(timeout=10) as http:
        same = True
        for name, path, document in (("types", "/plain/types", TYPES_TAB), ("bell", "/plain/bell", BELL_PAGE)):
            response = await http.post(
                f"http://127.0.0.1:{plain.port}{path}",
                json={"query": document},
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.json() != docs[name]:
                ctx.notes.append(f"The plain endpoint's {name} document differs from the service's")
                same = False
    return same


# -- 7. growth ------------------------------------------------------------------------------------
#: Fan-out sizes and paced rates the growth section walks (full mode; quick mode takes two of each).
GROWTH_N = (100, 300, 1000, 3000, 10000)
GROWTH_RATES = (50, 100, 200, 400)


async def growth(ctx: Ctx) -> dict[str, Any]:
    """Where the curves bend: server CPU per message and p99 as N grows (fan-out of ~20,000
    messages to N bell subscriptions), and p99 as the event rate grows (paced, 1,000 operators,
    5 recipients per event). ``report.plots`` draws them."""
    sizes, rates = ((100, 300), (50, 100)) if ctx.quick else (GROWTH_N, GROWTH_RATES)
    total = 2_000 if ctx.quick else 20_000
    out: dict[str, Any] = {}
    for n in sizes:
        key = f"growth_fanout_{n}_"
        try:
            r = await _live_run(ctx, "fanout", "ours", n, ["--events", str(max(1, total // n))], deadline=120)
        except Exception as exc:  # noqa: BLE001 - one point missing does not end the walk
            out[f"{key}error"] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        out[f"{key}messages_per_s"] = r["messages_per_s"]
        out[f"{key}p99_ms"] = r["p99_ms"]
        out[f"{key}cpu_us_per_message"] = _per(r["server_cpu_s"], r["received"], 1e6)
        ctx.say(f"growth fan-out N={n}: {out[f'{key}cpu_us_per_message']} µs/msg, p99 {r['p99_ms']} ms")
    users, seconds = (100, 2.0) if ctx.quick else (1000, 6.0)
    for rate in rates:
        key = f"growth_paced_{rate}_"
        extra = ["--rate", str(rate), "--seconds", str(seconds), "--per-event", "5"]
        try:
            r = await _live_run(ctx, "paced", "ours", users, extra, deadline=60)
        except Exception as exc:  # noqa: BLE001
            out[f"{key}error"] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        out[f"{key}events_per_s"] = r["events_per_s"]
        out[f"{key}p99_ms"] = r["p99_ms"]
        out[f"{key}cpu_us_per_message"] = _per(r["server_cpu_s"], r["received"], 1e6)
        ctx.say(f"growth paced {rate}/s: {r['events_per_s']} ev/s, p99 {r['p99_ms']} ms")
    return out


# -- 5. memory -----------------------------------------------------------------------------------
async def memory(ctx: Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # (sockets, permessage-deflate offered, panel-shaped: bell + reminders + toasts on each socket)
    runs = (
        [(1000, True, False)]
        if ctx.quick
        else [(1000, True, False), (1000, False, False), (10_000, True, False), (10_000, True, True)]
    )
    for n, deflate, panel in runs:
        key = f"memory_{n}_" + ("" if deflate else "no_deflate_") + ("panels_" if panel else "")
        try:
            r = await _with_server(
                ctx.procs.serve("serve-memory"), lambda s, n=n, d=deflate, p=panel: _hold(ctx, s, n, d, p)
            )
        except Exception as exc:  # noqa: BLE001
            out[f"{key}error"] = f"{type(exc).__name__}: {exc}"[:1500]
            ctx.say(f"memory {n}: {exc}")
            continue
        out.update({f"{key}{k}": v for k, v in r.items()})
        ctx.say(
            f"memory {n:5}{'' if deflate else ' (no deflate)'}{' panels' if panel else ''}:"
            f" {r['kb_per_subscription']} KiB/subscription, {r['kb_per_socket']} KiB/socket,"
            f" {r['subscriptions_per_s']} subscriptions/s, {r['subscriptions_held']} held"
        )
    return out


async def _live_subscriptions(http: httpx.AsyncClient, port: int) -> float:
    text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    for line in text.splitlines():
        if line.startswith("nc_live_subscriptions "):
            return float(line.split()[1])
    raise RuntimeError("no nc_live_subscriptions in /metrics")


async def _hold(ctx: Ctx, server: Proc, n: int, deflate: bool, panel: bool = False) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        base_subs = await _live_subscriptions(http, server.port or 0)
        await asyncio.sleep(0.5)
        before = rss_kb(server.pid)
        args = ["--port", str(server.port), "--users", str(n), "--instance", f"mem-{uuid.uuid4().hex[:6]}"]
        if not deflate:
            args.append("--no-deflate")
        if panel:
            args.append("--panel")
        client = await Client.start(ctx.procs, "hold", *args, interactive=True)
        try:
            event = await client.next_event(180)
            connected = event["connected"]
            wanted = connected * (1 + len(PANEL_SUBSCRIPTIONS) if panel else 1)
            deadline = time.time() + 60
            subs = await _live_subscriptions(http, server.port or 0)
            while subs < base_subs + wanted and time.time() < deadline:
                await asyncio.sleep(0.1)
                subs = await _live_subscriptions(http, server.port or 0)
            all_at = time.time()
            held = int(subs - base_subs)
            await asyncio.sleep(1.0)
            after = rss_kb(server.pid)
            await client.send_line("close")
            result = await client.result(120)
        finally:
            await client.kill()
    assert before is not None and after is not None
    return {
        "rss_before_kb": before,
        "rss_after_kb": after,
        "kb_per_subscription": round((after - before) / held, 1) if held else None,
        "kb_per_socket": round((after - before) / connected, 1) if connected else None,
        "sockets": connected,
        "subscriptions_held": held,
        "subscriptions_per_s": round(held / (all_at - event["t0"]), 1) if held else None,
        "failed": result["failed"],
    }


# -- 6. SQL statements ---------------------------------------------------------------------------
async def sql(ctx: Ctx) -> dict[str, Any]:
    data_dir = ctx.tmp / "sql-data"
    process = await asyncio.create_subprocess_exec(
        PY,
        "-m",
        "bench.sqlcount",
        "--data-dir",
        str(data_dir),
        cwd=ROOT,
        env=ctx.procs.env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"bench.sqlcount failed:\n{err.decode()[-2000:]}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    ctx.say(
        f"sql: bulkUpdateTypes {result['sql_bulk_update_types_statements']} statements,"
        f" publishEvent(1000) {result['sql_publish_event_1000_statements']}"
    )
    return result


SECTIONS: list[tuple[str, Callable[[Ctx], Awaitable[dict[str, Any]]], float, float]] = [
    # name, function, time limit quick (s), time limit full (s)
    ("fanout", fanout, 25, 420),
    ("paced", paced, 25, 150),
    ("paced_scaled", paced_scaled, 45, 240),
    ("spread", spread, 60, 360),
    ("spread16", spread16, 60, 420),
    ("ingest", ingest, 30, 240),
    ("collapse", collapse, 30, 180),
    ("delivery", delivery, 20, 180),
    ("queries", queries, 30, 180),
    ("memory", memory, 45, 240),  # opening 1,000 WebSockets takes ~15 s on a quiet 2-core machine
    ("sql", sql, 20, 120),
    ("growth", growth, 40, 600),
]
