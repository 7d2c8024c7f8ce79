"""`notification-center serve --demo` in a subprocess, for the tests that use the real command."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.cluster import CLI, free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class DemoServe:
    proc: subprocess.Popen[bytes]
    base: str
    port: int
    env: dict[str, str]
    log_path: Path
    log: IO[str]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def start_demo_serve(
    data_dir: Path,
    *,
    log_level: str = "warning",
    port: int | None = None,
    preexec_fn: Callable[[], None] | None = None,
    args: tuple[str, ...] = (),
    **settings: str,
) -> DemoServe:
    """Start `serve --demo` on ``port`` (a free one by default) with a clean environment plus
    ``NC_DATA_DIR`` and ``settings`` (NC_* variables), ``args`` added to the command, and wait until /readyz answers 200 (30 s,
    else the test fails with the server's log). A restart on the same data dir appends to its log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NC_")}
    env.update(NC_DATA_DIR=str(data_dir), **settings)
    port = port or free_port()
    log_path = data_dir / "serve.log"
    log = open(log_path, "a")
    proc = subprocess.Popen(
        [*CLI, "serve", "--demo", "--port", str(port), "--log-level", log_level, *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        preexec_fn=preexec_fn,
    )
    served = DemoServe(proc, f"http://127.0.0.1:{port}", port, env, log_path, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{served.base}/readyz", timeout=1).status_code == 200:
                return served
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            served.stop()
            pytest.fail(f"serve exited:\n{log_path.read_text()}")
        time.sleep(0.2)
    served.stop()
    pytest.fail("serve did not become ready in 30 s")
