"""The load generators: one process, launched by bench/run.py, reporting JSON lines on stdout.

    python -m bench.client fanout   --port P --mode ours|raw --users N --events E
    python -m bench.client paced    --port P --mode ours|raw --users N --rate R --seconds S
    python -m bench.client spread   --port P --mode ours|raw --users N --events E --batch B --per-event K
    python -m bench.client hold     --port P --users N          (memory: waits for "close" on stdin)
    python -m bench.client http     --port P --path /graphql --document '{...}' --concurrency C --seconds S
    python -m bench.client ingest   --port P --shape 1x1000|1000x1 --requests R
    python -m bench.client delivery --port P --receiver-port Q --operators K --events M

Tokens are minted here with the deployment's secret (environment BENCH_JWT_SECRET) through the
service's own TokenCodec. The last stdout line is ``{"event": "result", ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import time
import uuid
from typing import Any

from bench.common import (
    PUBLISH_EVENT,
    PUBLISH_EVENTS,
    SECRET_ENV,
    codec,
    cpu_seconds,
    latency_summary,
    raise_nofile,
    rounded,
    user_ids,
)
from bench.httpmini import Connection, GraphQLPoster, build_request
from bench.live import LiveClients

HOST = "127.0.0.1"


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def secret() -> str:
    return os.environ[SECRET_ENV]


class Publisher:
    """Publishes one event to recipients: publishEvent on the service, POST /broadcast on raw.

    A pool of keep-alive connections, so paced runs can have several publishes in flight.
    """

    def __init__(self, mode: str, port: int, instance: str, connections: int = 1) -> None:
        self.mode = mode
        self.instance = instance
        token = codec(secret()).issue(instance=instance, user="svc-bench", role="service", ttl_seconds=7200)
        path = "/graphql" if mode == "ours" else "/broadcast"
        self.pool: asyncio.Queue[GraphQLPoster] = asyncio.Queue()
        for _ in range(connections):
            self.pool.put_nowait(GraphQLPoster(HOST, port, token, path))
        self.durations: list[float] = []
        self.failures: list[str] = []

    def body(self, event_id: str, recipients: list[str], data: dict[str, Any]) -> bytes:
        if self.mode == "ours":
            event = {"id": event_id, "type": "ticket_created", "recipients": recipients, "data": data}
            payload: dict[str, Any] = {"query": PUBLISH_EVENT, "variables": {"input": event}}
        else:
            payload = {"instance": self.instance, "recipients": recipients, "data": data}
        return json.dumps(payload, separators=(",", ":")).encode()

    def batch_body(self, events: list[tuple[str, list[str], dict[str, Any]]]) -> bytes:
        if self.mode == "ours":
            inputs = [
                {"id": event_id, "type": "ticket_created", "recipients": recipients, "data": data}
                for event_id, recipients, data in events
            ]
            payload: dict[str, Any] = {"query": PUBLISH_EVENTS, "variables": {"inputs": inputs}}
        else:
            payload = {
                "instance": self.instance,
                "events": [{"recipients": recipients, "data": data} for _, recipients, data in events],
            }
        return json.dumps(payload, separators=(",", ":")).encode()

    async def publish(self, event_id: str, recipients: list[str], data: dict[str, Any]) -> None:
        # Stamped when the publish is due, before waiting for a free connection: time spent queued
        # behind slower publishes counts (no coordinated omission).
        data = dict(data)
        if "sentAt" in data:
            data["sentAt"] = time.time()
        await self._post(lambda: self.body(event_id, recipients, data))

    async def publish_many(self, events: list[tuple[str, list[str], dict[str, Any]]]) -> None:
        """Many events in one request: publishEvents on the service, one POST /broadcast on raw."""
        now = time.time()
        stamped = [(event_id, recipients, {**data, "sentAt": now}) for event_id, recipients, data in events]
        await self._post(lambda: self.batch_body(stamped))

    async def _post(self, build: Any) -> None:
        poster = await self.pool.get()
        try:
            started = time.perf_counter()
            status, body = await poster.post(build())
            self.durations.append(time.perf_counter() - started)
            if status not in (200, 202) or b'"errors"' in body:
                self.failures.append(f"HTTP {status}: {body[:300]!r}")
        except Exception as exc:  # noqa: BLE001 - counted and reported
            self.failures.append(f"{type(exc).__name__}: {exc}"[:300])
            await poster.close()
        finally:
            self.pool.put_nowait(poster)

    async def close(self) -> None:
        while not self.pool.empty():
            await self.pool.get_nowait().close()


def operator_tokens(instance: str, users: list[str]) -> list[str]:
    c = codec(secret())
    return [c.issue(instance=instance, user=u, role="operator", ttl_seconds=7200) for u in users]


async def _live_setup(args: argparse.Namespace, users: list[str]) -> tuple[LiveClients, Publisher, dict[str, Any]]:
    live = LiveClients(HOST, args.port, operator_tokens(args.instance, users), deflate=not args.no_deflate)
    connect_s = await live.connect_all(args.connect_concurrency)
    if live.failed:
        raise RuntimeError(f"{len(live.failed)} of {len(users)} connections failed, e.g. {live.failed[0]}")
    publisher = Publisher(args.mode, args.publish_port or args.port, args.instance, connections=args.publishers)
    tag = uuid.uuid4().hex[:6]

    async def warmup(attempt: int) -> None:
        await publisher.publish(f"warm-{tag}-{attempt}", users, {"ticketNumber": 0, "subject": "warm", "warmup": 1})

    sync_s = await live.sync(warmup)
    publisher.durations.clear()
    if publisher.failures:
        raise RuntimeError(f"warm-up publish failed: {publisher.failures[0]}")
    return live, publisher, {"connect_s": round(connect_s, 2), "sync_s": round(sync_s, 2), "tag": tag}


def _cpu_now(args: argparse.Namespace) -> tuple[float | None, float | None, float | None]:
    """CPU seconds so far: the server's, its event loop thread's, and this client's."""
    if not args.server_pid:
        return None, None, cpu_seconds()
    return cpu_seconds(args.server_pid), cpu_seconds(args.server_pid, main_thread=True), cpu_seconds()


def _cpu_start(args: argparse.Namespace) -> tuple[float | None, float | None, float | None]:
    return _cpu_now(args)


def _cpu_report(args: argparse.Namespace, start: tuple[float | None, float | None, float | None]) -> dict[str, Any]:
    end = _cpu_now(args)
    spent = [rounded(b - a, 2) if a is not None and b is not None else None for a, b in zip(start, end, strict=True)]
    return {"server_cpu_s": spent[0], "server_loop_cpu_s": spent[1], "client_cpu_s": spent[2]}


# -- fan-out -------------------------------------------------------------------------------------
async def fanout(args: argparse.Namespace) -> dict[str, Any]:
    users = user_ids("op-", args.users)
    live, publisher, setup = await _live_setup(args, users)
    expected = args.users * args.events
    cpu = _cpu_start(args)
    first_publish = time.time()
    for e in range(args.events):
        data = {"ticketNumber": e + 1, "subject": "Bench fan-out", "sentAt": 0.0}
        await publisher.publish(f"fan-{setup['tag']}-{e}", users, data)
    publish_s = time.time() - first_publish
    complete = await live.wait(expected, args.deadline)
    result = _live_result(live, publisher, expected, first_publish, complete)
    result.update(setup, publish_s=round(publish_s, 3), **_cpu_report(args, cpu))
    await publisher.close()
    await live.close()
    return result


def _live_result(
    live: LiveClients, publisher: Publisher, expected: int, first_publish: float, complete: bool
) -> dict[str, Any]:
    span = (live.last_receipt or first_publish) - first_publish
    result: dict[str, Any] = {
        "connections": len(live.sockets),
        "expected": expected,
        "received": live.received,
        "complete": complete,
        "messages_per_s": rounded(live.received / span if span > 0 else None),
        "span_s": round(span, 3),
        "errors": live.errors[:5],
        "publish_failures": publisher.failures[:5],
        "unexpected_closes": live.unexpected_closes,
    }
    result.update(latency_summary("", live.latencies))
    result.update(latency_summary("publish_", publisher.durations))
    return result


# -- paced ---------------------------------------------------------------------------------------
async def paced(args: argparse.Namespace) -> dict[str, Any]:
    users = user_ids("op-", args.users)
    live, publisher, setup = await _live_setup(args, users)
    rng = random.Random(7)
    count = int(args.rate * args.seconds)
    expected = count * args.per_event
    tasks: list[asyncio.Task[None]] = []
    cpu = _cpu_start(args)
    started = time.perf_counter()
    first_publish = time.time()
    for i in range(count):
        due = started + i / args.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        recipients = rng.sample(users, args.per_event)
        data = {"ticketNumber": i + 1, "subject": "Bench paced", "sentAt": 0.0}
        tasks.append(asyncio.create_task(publisher.publish(f"paced-{setup['tag']}-{i}", recipients, data)))
    await asyncio.gather(*tasks)
    publish_s = time.perf_counter() - started
    complete = await live.wait(expected, args.deadline)
    result = _live_result(live, publisher, expected, first_publish, complete)
    result.update(
        setup,
        events=count,
        events_per_s=rounded(count / publish_s),
        publish_s=round(publish_s, 3),
        **_cpu_report(args, cpu),
    )
    await publisher.close()
    await live.close()
    return result


# -- spread: many events, a few recipients each, in batches ------------------------------------
async def spread(args: argparse.Namespace) -> dict[str, Any]:
    """``--events`` events, each to ``--per-event`` random operators of ``--users``, sent as
    publishEvents requests of ``--batch`` events, ``--publishers`` requests in flight.

    Every client counts the notification ids it received: the result says how many messages were
    lost (wanted by a client and not received by it, ticket by ticket), how many arrived twice and
    how many reached a client no event listed.
    """
    users = user_ids("op-", args.users)
    live, publisher, setup = await _live_setup(args, users)
    rng = random.Random(11)
    events = [
        (f"spread-{setup['tag']}-{i}", rng.sample(users, args.per_event), {"ticketNumber": i + 1, "subject": "Spread"})
        for i in range(args.events)
    ]
    position = {user: i for i, user in enumerate(users)}
    live.wanted = [set() for _ in users]
    for _, recipients, data in events:
        for user in recipients:
            live.wanted[position[user]].add(data["ticketNumber"])
    batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
    expected = len(events) * args.per_event
    cpu = _cpu_start(args)
    first_publish = time.time()
    started = time.perf_counter()
    pending = iter(batches)

    async def producer() -> None:
        for batch in pending:
            await publisher.publish_many(batch)

    await asyncio.gather(*(producer() for _ in range(args.publishers)))
    publish_s = time.perf_counter() - started
    complete = await live.wait(expected, args.deadline)
    await asyncio.sleep(0.5)  # a late duplicate would arrive now
    result = _live_result(live, publisher, expected, first_publish, complete)
    result.update(
        setup,
        events=len(events),
        lost=live.lost(),
        duplicates=live.duplicates,
        misdelivered=live.misdelivered,
        publish_s=round(publish_s, 3),
        **_cpu_report(args, cpu),
    )
    await publisher.close()
    await live.close()
    return result


# -- hold (memory) -------------------------------------------------------------------------------
async def hold(args: argparse.Namespace) -> dict[str, Any]:
    users = user_ids("idle-", args.users)
    live = LiveClients(
        HOST, args.port, operator_tokens(args.instance, users), deflate=not args.no_deflate, panel=args.panel
    )
    t0 = time.time()
    connect_s = await live.connect_all(args.connect_concurrency)
    emit("subscribed", t0=t0, t1=time.time(), connected=len(live.sockets), failed=len(live.failed))
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    still_open = sum(1 for ws in live.sockets if ws.state.name == "OPEN")
    await live.close()
    return {
        "connected": len(live.sockets),
        "failed": len(live.failed),
        "failures": live.failed[:5],
        "connect_s": round(connect_s, 2),
        "still_open": still_open,
        "unexpected_closes": live.unexpected_closes,
        "command": line.strip(),
    }


# -- HTTP request load ---------------------------------------------------------------------------
async def http(args: argparse.Namespace) -> dict[str, Any]:
    # Many operators, as a panel's load is: one token's requests stay within the per-user rate
    # limit (NC_RATE_LIMIT_USER) that a single closed-loop client would otherwise exceed.
    signer = codec(secret())
    body = json.dumps({"query": args.document, "variables": {}}, separators=(",", ":")).encode()
    requests = [
        build_request(
            HOST,
            args.port,
            "POST",
            args.path,
            body,
            {
                "Content-Type": "application/json",
                "Authorization": "Bearer "
                + signer.issue(instance=args.instance, user=f"{args.user}-{i}", role="operator", ttl_seconds=7200),
            },
        )
        for i in range(args.users)
    ]
    turn = itertools.cycle(requests)
    conns = [Connection(HOST, args.port) for _ in range(args.concurrency)]
    for conn in conns:
        await conn.open()
    status, sample = await conns[0].send(requests[0])
    if status != 200 or b'"errors"' in sample:
        raise RuntimeError(f"HTTP {status}: {sample[:300]!r}")
    latencies: list[float] = []
    failures = 0
    # time.perf_counter, not loop.time(): uvloop's clock has millisecond resolution.
    clock = time.perf_counter
    measure_from = clock() + args.warmup
    measure_to = measure_from + args.seconds

    async def worker(conn: Connection) -> None:
        nonlocal failures
        if args.rate:
            return  # open loop: requests are issued by the schedule below
        while True:
            started = clock()
            if started >= measure_to:
                return
            status, body = await conn.send(next(turn))
            ended = clock()
            if status != 200 or b'"errors"' in body:
                failures += 1
            if started >= measure_from and ended <= measure_to:
                latencies.append(ended - started)

    await asyncio.sleep(0)
    cpu: tuple[float | None, float | None] | None = None

    async def sample_cpu() -> None:
        nonlocal cpu
        await asyncio.sleep(max(0.0, measure_from - clock()))
        cpu = _cpu_start(args)

    async def open_loop() -> None:
        """Requests issued at a fixed rate whether or not earlier ones have answered, each on a
        free connection; latency counts from when the request was due (queueing included)."""
        nonlocal failures
        free: asyncio.Queue[Connection] = asyncio.Queue()
        for conn in conns:
            free.put_nowait(conn)

        async def fire(due: float) -> None:
            nonlocal failures
            conn = await free.get()
            try:
                status, body = await conn.send(next(turn))
            finally:
                free.put_nowait(conn)
            ended = clock()
            if status != 200 or b'"errors"' in body:
                failures += 1
            if due >= measure_from:
                latencies.append(ended - due)

        started, k, fired = clock(), 0, []
        while (due := started + k / args.rate) < measure_to:
            await asyncio.sleep(max(0.0, due - clock()))
            fired.append(asyncio.create_task(fire(due)))
            k += 1
        await asyncio.gather(*fired)

    sampler = asyncio.create_task(sample_cpu())
    await asyncio.gather(*(worker(c) for c in conns), *([open_loop()] if args.rate else []))
    await sampler
    result: dict[str, Any] = {
        "requests": len(latencies),
        "failures": failures,
        "rps": rounded(len(latencies) / args.seconds),
        "response_bytes": len(sample),
        "concurrency": args.concurrency,
    }
    result.update(latency_summary("", latencies))
    assert cpu is not None
    result.update(_cpu_report(args, cpu))
    for conn in conns:
        await conn.close()
    return result


# -- ingestion -----------------------------------------------------------------------------------
async def ingest(args: argparse.Namespace) -> dict[str, Any]:
    events_per_request, recipients_per_event = (int(x) for x in args.shape.split("x"))
    users = user_ids("ing-", max(recipients_per_event, events_per_request, 1000 if args.chats else 0))
    c = codec(secret())
    token = c.issue(instance=args.instance, user="svc-bench", role="service", ttl_seconds=7200)
    poster = GraphQLPoster(HOST, args.port, token)
    tag = uuid.uuid4().hex[:6]
    if args.chats and args.collapse == "off":
        admin = GraphQLPoster(HOST, args.port, c.issue(instance=args.instance, user="adm", role="administrator"))
        await admin.gql('mutation { setTypePolicy(input: {typeCode: "chat_message", collapse: false}) { collapse } }')
        await admin.close()

    def request(r: int) -> bytes:
        if args.chats and r >= 0:
            # chat messages: event j of every request is about chat j % chats, to ten operators each
            # (the same ones every request), so most of them find an unread item to collapse into
            inputs = [
                {
                    "id": f"{tag}-{r}-{j}",
                    "type": "chat_message",
                    "recipients": [
                        users[(j * recipients_per_event + k) % len(users)] for k in range(recipients_per_event)
                    ],
                    "data": {"chatId": j % args.chats, "clientName": "Bench", "text": f"message {r}"},
                }
                for j in range(events_per_request)
            ]
        elif events_per_request == 1 or r < 0:
            inputs = [{"id": f"{tag}-{r}", "type": "ticket_created", "recipients": users, "data": {"ticketNumber": r}}]
        else:
            inputs = [
                {
                    "id": f"{tag}-{r}-{j}",
                    "type": "ticket_created",
                    "recipients": [users[j]],
                    "data": {"ticketNumber": j},
                }
                for j in range(events_per_request)
            ]
        return poster.request(PUBLISH_EVENTS, {"inputs": inputs})

    async def send(r: int) -> tuple[float, int]:
        body = request(r)
        started = time.perf_counter()
        status, raw = await poster.conn.send(body)
        took = time.perf_counter() - started
        result = json.loads(raw)
        if status != 200 or result.get("errors"):
            raise RuntimeError(f"HTTP {status}: {raw[:300]!r}")
        return took, sum(p["notificationCount"] for p in result["data"]["publishEvents"])

    warm_s, _ = await send(-1)  # one event to everyone: creates the operator rows, not measured
    durations: list[float] = []
    notifications = 0
    cpu = _cpu_start(args)
    for r in range(args.requests):
        took, created = await send(r)
        durations.append(took)
        notifications += created
    total = sum(durations)
    result: dict[str, Any] = {
        "requests": args.requests,
        "notifications": notifications,
        "seconds": round(total, 3),
        "notifications_per_s": rounded(notifications / total if total else None),
        "first_request_s": round(warm_s, 3),
    }
    result.update(latency_summary("request_", durations))
    result.update(_cpu_report(args, cpu))
    await poster.close()
    return result


# -- delivery ------------------------------------------------------------------------------------
DELIVERIES = "query($id: ID!) { deliveries(notificationId: $id) { channel status lastError } }"


async def delivery(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    c = codec(secret())
    admin = GraphQLPoster(HOST, args.port, c.issue(instance=args.instance, user="adm", role="administrator"))
    await admin.gql(
        "mutation($url: JSON!) { updateInstanceSettings(input: {botChannels: [{channel: CUSTOM, enabled: true, "
        'settings: $url, secret: "s"}]}) { botChannels { channel enabled } } }',
        {"url": {"url": f"http://127.0.0.1:{args.receiver_port}/hook"}},
    )
    users = user_ids("dlv-", args.operators)
    for token in operator_tokens(args.instance, users):
        operator = GraphQLPoster(HOST, args.port, token)
        await operator.gql('mutation { setTypeChannels(typeCode: "ticket_created", channels: [CUSTOM]) { channels } }')
        await operator.close()
    publisher = Publisher("ours", args.port, args.instance)
    expected = args.operators * args.events
    tag = uuid.uuid4().hex[:6]
    stats_url = f"http://127.0.0.1:{args.receiver_port}/stats"
    async with httpx.AsyncClient(timeout=10) as client:
        before = (await client.get(stats_url)).json()["count"]
        cpu = _cpu_start(args)
        first_publish = time.time()
        for e in range(args.events):
            await publisher.publish(f"dlv-{tag}-{e}", users, {"ticketNumber": e + 1, "subject": "Bench delivery"})
        publish_s = time.time() - first_publish
        if publisher.failures:
            raise RuntimeError(f"publish failed: {publisher.failures[0]}")
        deadline = time.time() + args.deadline
        stats = (await client.get(stats_url)).json()
        while stats["count"] - before < expected and time.time() < deadline:
            await asyncio.sleep(0.05)
            stats = (await client.get(stats_url)).json()
        received = stats["count"] - before
        cpu_report = _cpu_report(args, cpu)
    # Settled: the sampled notifications' CUSTOM rows are SENT (supervisor's delivery log).
    supervisor = GraphQLPoster(HOST, args.port, c.issue(instance=args.instance, user="sup", role="supervisor"))
    pending = list(stats["sample"])
    statuses: dict[str, int] = {}
    while pending and time.time() < deadline:
        still = []
        for nid in pending:
            rows = (await supervisor.gql(DELIVERIES, {"id": nid}))["deliveries"]
            if any(r["channel"] == "CUSTOM" and r["status"] != "SENT" for r in rows) or not rows:
                still.append(nid)
            else:
                for r in rows:
                    statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        pending = still
        if pending:
            await asyncio.sleep(0.05)
    all_sent_at = time.time()
    last = stats["last"] or first_publish
    span = last - first_publish
    await supervisor.close()
    await admin.close()
    await publisher.close()
    return {
        "jobs": expected,
        "received": received,
        "bad_signatures": stats["bad"],
        "complete": received >= expected,
        "publish_s": round(publish_s, 3),
        "span_s": round(span, 3),
        "jobs_per_s": rounded(received / span if span > 0 else None),
        "sampled_sent": not pending,
        "sampled_statuses": statuses,
        "until_sent_s": round(all_sent_at - first_publish, 3),
        **cpu_report,
    }


# -- entry point ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--instance", default="bench")
        p.add_argument("--server-pid", type=int)
        p.add_argument("--deadline", type=float, default=60.0, help="seconds to wait for the last message")
        return p

    for name in ("fanout", "paced", "spread", "hold"):
        p = command(name)
        p.add_argument("--mode", choices=["ours", "raw"], default="ours")
        p.add_argument("--users", type=int, required=True)
        p.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
        p.add_argument("--connect-concurrency", type=int, default=100)
        p.add_argument("--publishers", type=int, default={"paced": 32, "spread": 2}.get(name, 1))
        p.add_argument("--publish-port", type=int, help="publish through this port (another API process)")
    sub.choices["fanout"].add_argument("--events", type=int, required=True)
    sub.choices["paced"].add_argument("--rate", type=float, default=200.0)
    sub.choices["paced"].add_argument("--seconds", type=float, default=10.0)
    sub.choices["paced"].add_argument("--per-event", type=int, default=5)
    sub.choices["spread"].add_argument("--events", type=int, required=True)
    sub.choices["spread"].add_argument("--batch", type=int, default=100)
    sub.choices["spread"].add_argument("--per-event", type=int, default=5)
    sub.choices["hold"].add_argument(
        "--panel", action="store_true", help="each socket also subscribes to reminders and toasts, as the panel page"
    )

    p = command("http")
    p.add_argument("--path", default="/graphql")
    p.add_argument("--document", required=True)
    p.add_argument("--user", default="op-query")
    p.add_argument("--users", type=int, default=1000, help="operators whose tokens the requests take in turn")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--rate", type=float, default=0.0, help="open loop: requests/s (0: closed loop)")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)

    p = command("ingest")
    p.add_argument("--shape", choices=["1x1000", "1000x1", "100x10"], required=True)
    p.add_argument("--requests", type=int, default=10)
    p.add_argument("--chats", type=int, default=0, help="chat_message events about this many chats (0: tickets)")
    p.add_argument("--collapse", choices=["on", "off"], default="on", help="chat_message's collapse rule")

    p = command("delivery")
    p.add_argument("--receiver-port", type=int, required=True)
    p.add_argument("--operators", type=int, default=50)
    p.add_argument("--events", type=int, default=40)
    return parser


COMMANDS = {
    "fanout": fanout,
    "paced": paced,
    "spread": spread,
    "hold": hold,
    "http": http,
    "ingest": ingest,
    "delivery": delivery,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    raise_nofile()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        runner = asyncio.run
    try:
        result = runner(COMMANDS[args.command](args))
    except Exception as exc:  # noqa: BLE001 - reported to the runner as JSON
        emit("error", error=f"{type(exc).__name__}: {exc}"[:1000])
        return 1
    emit("result", **result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
