"""The served app as an attacker meets it: `notification-center serve` in a subprocess, real sockets.

Each test module asks for a server with the settings it attacks (`Served`), reads the process's
memory and CPU from /proc, and counts traceback lines in its log.
"""

from __future__ import annotations

import os
import resource
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster import CLI
from tests.served import DemoServe, start_demo_serve

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    base: str
    port: int
    pid: int
    env: dict[str, str]
    log: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def token(self, user: str, role: str = "operator", ttl: int = 3600, instance: str = "demo") -> str:
        out = subprocess.run(
            [*CLI, "token", "--instance", instance, "--user", user, "--role", role, "--ttl", str(ttl)],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        return out.stdout.strip()

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def open_files_limit(self) -> tuple[int, int]:
        for line in Path(f"/proc/{self.pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
        raise AssertionError("no open-files limit")

    def tracebacks(self) -> int:
        return self.log.read_text().count("Traceback")


def _low_soft_file_limit() -> None:
    """Start the server under the usual 1,024 soft limit, as a fresh shell gives it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[callable]:
    """serve(**env) starts a demo server with those NC_* settings; all stop with the module."""
    started: list[DemoServe] = []

    def start(**overrides: str) -> Served:
        demo = start_demo_serve(
            tmp_path_factory.mktemp("abuse"),
            log_level="info",
            preexec_fn=_low_soft_file_limit,
            NC_LOG_FORMAT="text",
            **overrides,
        )
        started.append(demo)
        return Served(demo.base, demo.port, demo.proc.pid, demo.env, demo.log_path)

    yield start
    for demo in started:
        demo.stop()
