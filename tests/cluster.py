"""A scaled deployment for tests: PostgreSQL database, private Redis, API and worker processes.

Everything runs as real subprocesses of the `notification-center` command, as an operator of the
service would run them: `migrate`, two `serve` processes on two ports, and `worker` processes. The
Redis server is private to the test (its own port) so a test can kill and restart it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from core.settings import Secret, Settings
from services.auth import TokenCodec

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "api.cli"]
POSTGRES_URL = os.environ.get("NC_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def unavailable() -> str | None:
    """Why a scaled deployment can't run here, or None."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    try:
        conn = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1), timeout=3)
        await conn.close()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at {POSTGRES_URL} is not reachable ({type(exc).__name__})"
    return None


@dataclass
class Cluster:
    tmp: Path
    database: str = field(default_factory=lambda: f"nc_scaled_{uuid.uuid4().hex[:10]}")
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(40))
    redis_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: list[Any] = field(default_factory=list)
    redis: subprocess.Popen | None = None
    #: Settings a test changes for the processes it starts from then on (e.g. NC_RUN_WORKERS).
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        base = POSTGRES_URL.rsplit("/", 1)[0]
        return f"{base}/{self.database}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NC_")}
        env.update(
            NC_DATABASE_URL=self.database_url,
            NC_REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            NC_JWT_SECRET=self.secret,
            NC_ALLOW_HTTP_ENDPOINTS="1",
            NC_POLL_SECONDS="0.2",
            NC_LEASE_SECONDS="2",
            NC_RETRY_BASE_SECONDS="0.1",
            NC_LOG_FORMAT="json",
            NC_DATA_DIR=str(self.tmp),
        )
        env.update(self.overrides)
        return env

    def tokens(self) -> TokenCodec:
        return TokenCodec(Settings(database_url=self.database_url, jwt_secret=Secret(self.secret)))

    # -- PostgreSQL ----------------------------------------------------------------------------
    async def create_database(self) -> None:
        conn = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
        try:
            await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()
        await self.run_cli("migrate")

    async def drop_database(self) -> None:
        conn = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await conn.close()

    async def query(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url.replace("postgres://", "postgresql://", 1))
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    # -- Redis -----------------------------------------------------------------------------------
    async def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await wait_port(self.redis_port)

    def kill_redis(self) -> None:
        assert self.redis is not None
        self.redis.kill()
        self.redis.wait()

    # -- processes ---------------------------------------------------------------------------------
    async def run_cli(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            *CLI, *args, env=self.env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def start_serve(self, name: str) -> str:
        """A `serve` process, not waited for: its base URL."""
        port = free_port()
        self._start(name, "serve", "--port", str(port), "--log-level", "warning")
        return f"http://127.0.0.1:{port}"

    async def serve(self, name: str) -> str:
        base = self.start_serve(name)
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"{base}/readyz", timeout=1)).status_code == 200:
                        return base
                except httpx.HTTPError:
                    pass
                assert self.processes[name].poll() is None, self.log(name).read_text()
                await asyncio.sleep(0.1)
        raise AssertionError(f"{name} did not become ready:\n{self.log(name).read_text()}")

    async def worker(self, name: str, *, concurrency: int = 8, env: dict[str, str] | None = None) -> None:
        """A `worker` process; ``env`` adds to (or overrides) the cluster's NC_ settings."""
        self._start(name, "worker", "--concurrency", str(concurrency), "--log-level", "info", env=env)
        for _ in range(100):
            if "started" in self.log(name).read_text():
                return
            assert self.processes[name].poll() is None, self.log(name).read_text()
            await asyncio.sleep(0.1)
        raise AssertionError(f"{name} did not start:\n{self.log(name).read_text()}")

    def _start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = open(self.log(name), "w")
        self.logs.append(log)
        self.processes[name] = subprocess.Popen(
            [*CLI, *args], env={**self.env, **(env or {})}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )

    def kill(self, name: str) -> None:
        """kill -9: no graceful stop, leases left behind."""
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()

    async def stop_all(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.redis is not None and self.redis.poll() is None:
            self.kill_redis()
        for log in self.logs:
            log.close()


async def wait_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@asynccontextmanager
async def deployment(tmp_path: Path) -> AsyncIterator[Cluster]:
    """A cluster with its own database and Redis, torn down after; skipped (failed under CI=true)
    when PostgreSQL or redis-server is missing."""
    reason = await unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; under CI=true the scale-out tests must run")
        pytest.skip(reason)
    c = Cluster(tmp_path)
    await c.create_database()
    await c.start_redis()
    try:
        yield c
    finally:
        await c.stop_all()
        await c.drop_database()
