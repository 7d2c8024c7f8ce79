"""Starting and stopping what the benchmark measures, all on 127.0.0.1: `notification-center serve`,
the baselines, the webhook receiver and the load-generator client, each a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from bench.common import SECRET_ENV, free_port, raise_nofile

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def _log_file(path: Path) -> IO[bytes]:
    return open(path, "wb")


@dataclass
class Proc:
    name: str
    process: asyncio.subprocess.Process
    log: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self, grace: float = 15.0) -> None:
        if not self.running:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@dataclass
class Procs:
    """Every process this run started, so each is stopped (by its own handle) whatever happens."""

    tmp: Path
    secret: str
    started: list[Proc] = field(default_factory=list)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NC_")}
        env[SECRET_ENV] = self.secret
        env["PYTHONPATH"] = str(ROOT)
        env.update(extra or {})
        return env

    async def start(self, name: str, args: list[str], env: dict[str, str], port: int | None = None) -> Proc:
        log = self.tmp / f"{name}-{len(self.started)}.log"
        with _log_file(log) as fh:
            process = await asyncio.create_subprocess_exec(
                *args,
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=fh,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=raise_nofile,
            )
        proc = Proc(name, process, log, port)
        self.started.append(proc)
        return proc

    async def wait_http(self, proc: Proc, path: str, seconds: float = 60.0) -> None:
        url = f"http://127.0.0.1:{proc.port}{path}"
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if not proc.running:
                    raise RuntimeError(f"{proc.name} exited with {proc.process.returncode}:\n{proc.tail()}")
                try:
                    if (await client.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{proc.name} was not ready within {seconds} s:\n{proc.tail()}")

    # -- the service -------------------------------------------------------------------------------
    def nc_env(self, data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = self.env(
            {
                "NC_DATA_DIR": str(data_dir),
                "NC_JWT_SECRET": self.secret,
                "NC_GRAPHIQL": "0",
                "NC_LOG_FORMAT": "text",
                "NC_LIMIT_RECIPIENTS_PER_EVENT": "10000",
                "NC_LIMIT_EVENTS_PER_BATCH": "1000",
                # The load generator plays up to 10,000 clients from one address (127.0.0.1):
                # the per-address connection caps would otherwise count them as one client.
                "NC_LIMIT_CONNECTIONS_PER_ADDRESS": "30000",
                "NC_LIMIT_PENDING_WEBSOCKETS_PER_ADDRESS": "30000",
            }
        )
        env.update(extra or {})
        return env

    async def serve(self, name: str, extra: dict[str, str] | None = None, *, with_workers: bool = False) -> Proc:
        """`notification-center serve` (embedded SQLite in a fresh data dir unless NC_DATABASE_URL)."""
        data_dir = self.tmp / f"{name}-data-{len(self.started)}"
        port = free_port()
        args = [PY, "-m", "api.cli", "serve", "--port", str(port), "--log-level", "warning"]
        if with_workers:
            args.append("--with-workers")
        proc = await self.start(name, args, self.nc_env(data_dir, extra), port)
        await self.wait_http(proc, "/readyz")
        await self.profile(proc)
        return proc

    async def profile(self, proc: Proc) -> None:
        """With BENCH_PYSPY=<dir>, py-spy samples the process until it exits and writes its
        collapsed stacks to <dir>/<name>-<pid>.txt (`py-spy` from PATH or BENCH_PYSPY_BIN)."""
        out_dir = os.environ.get("BENCH_PYSPY")
        if not out_dir:
            return
        os.makedirs(out_dir, exist_ok=True)
        binary = os.environ.get("BENCH_PYSPY_BIN", "py-spy")
        output = Path(out_dir) / f"{proc.name}-{proc.pid}.txt"
        args = [binary, "record", "--pid", str(proc.pid), "--rate", "250", "--nonblocking", "-f", "raw"]
        await self.start(f"py-spy-{proc.name}", [*args, "-o", str(output)], self.env())

    async def cli(self, args: list[str], extra: dict[str, str], seconds: float = 120.0) -> str:
        process = await asyncio.create_subprocess_exec(
            PY,
            "-m",
            "api.cli",
            *args,
            cwd=ROOT,
            env=self.nc_env(self.tmp / "cli-data", extra),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), seconds)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        if process.returncode != 0:
            raise RuntimeError(f"notification-center {' '.join(args)} failed:\n{out.decode()[-2000:]}")
        return out.decode()

    async def module(self, name: str, module: str, *args: str, ready: str = "/healthz") -> Proc:
        """One of the bench's own servers: python -m bench.<module> --port P ..."""
        port = free_port()
        proc = await self.start(name, [PY, "-m", module, "--port", str(port), *args], self.env(), port)
        await self.wait_http(proc, ready)
        return proc

    async def stop_all(self) -> None:
        for proc in reversed(self.started):
            await proc.stop()


class Client:
    """The load-generator process: JSON lines on stdout, optionally a line on stdin."""

    def __init__(self, process: asyncio.subprocess.Process, stderr_log: Path) -> None:
        self.process = process
        self.stderr_log = stderr_log

    @classmethod
    async def start(cls, procs: Procs, command: str, *args: str, interactive: bool = False) -> Client:
        log = procs.tmp / f"client-{command}-{len(procs.started)}.err"
        with _log_file(log) as fh:
            process = await asyncio.create_subprocess_exec(
                PY,
                "-m",
                "bench.client",
                command,
                *args,
                cwd=ROOT,
                env=procs.env(),
                stdin=asyncio.subprocess.PIPE if interactive else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=fh,
                preexec_fn=raise_nofile,
                limit=2**24,
            )
        return cls(process, log)

    async def next_event(self, seconds: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), seconds)
            if not line:
                await self.process.wait()
                err = self.stderr_log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the client exited ({self.process.returncode}) without a result:\n{err}")
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "error":
                raise RuntimeError(f"client: {event['error']}")
            return event

    async def send_line(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def result(self, seconds: float) -> dict[str, Any]:
        """The final ``result`` line, within ``seconds`` in all."""
        deadline = time.monotonic() + seconds
        while True:
            event = await self.next_event(max(0.1, deadline - time.monotonic()))
            if event.get("event") == "result":
                await self.process.wait()
                event.pop("event")
                return event

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def run_client(procs: Procs, command: str, *args: str, seconds: float = 120.0) -> dict[str, Any]:
    client = await Client.start(procs, command, *args)
    try:
        return await client.result(seconds)
    finally:
        await client.kill()
