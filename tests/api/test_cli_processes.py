"""The CLI's processes when they cannot run: they say why and exit, and never hang."""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parents[2]


def _cli(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NC_")}
    env.update(NC_JWT_SECRET=secrets.token_urlsafe(40), NC_DATA_DIR=str(tmp_path / "data"), **extra)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_worker_without_redis_refuses_to_start(tmp_path: Path) -> None:
    # given no NC_REDIS_URL: its live messages (banner repeats, reminders, fallbacks) would reach no panel
    done = _cli(tmp_path, "worker")
    # then it exits with the reason, in one line, before touching the database
    assert done.returncode == 2
    assert "NC_REDIS_URL" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_a_worker_whose_start_fails_after_connecting_exits(tmp_path: Path) -> None:
    # given a Redis URL its broker refuses, found once the database is open (its SQLite threads
    # kept the process alive after the traceback: a supervisor never saw it fail)
    done = _cli(tmp_path, "worker", NC_REDIS_URL="foo://127.0.0.1/0")
    # then it exits (within the timeout), saying why
    assert done.returncode != 0
    assert "Redis URL" in done.stderr


def test_serve_exits_when_its_database_cannot_be_migrated(tmp_path: Path) -> None:
    # given an embedded database whose operators' table is not the service's
    (tmp_path / "data").mkdir()
    with sqlite3.connect(tmp_path / "data" / "notification-center.sqlite3") as connection:
        connection.execute("CREATE TABLE nc_operator (x INT)")
    # when serve starts on it, its start-up fails; then the process ends (within the timeout), not hangs
    done = _cli(tmp_path, "serve", "--port", "0")
    assert done.returncode != 0
    assert "startup failed" in done.stderr + done.stdout


@pytest.mark.parametrize("ttl", ["1" + "0" * 310, "0", "-5", "315360001"])
def test_a_token_with_a_ttl_no_deployment_should_use_is_refused(tmp_path: Path, ttl: str) -> None:
    # when a token is asked for with a lifetime of nothing, or past ten years (10**310 s made one
    # that every request answered with a server error)
    done = _cli(tmp_path, "token", "--instance", "demo", "--user", "u", "--role", "operator", "--ttl", ttl)
    # then no token is printed, and the range is said
    assert done.returncode == 2 and not done.stdout
    assert "--ttl" in done.stderr and "1-315360000" in done.stderr and "Traceback" not in done.stderr


def test_a_token_with_a_ttl_in_range_is_printed(tmp_path: Path) -> None:
    done = _cli(tmp_path, "token", "--instance", "demo", "--user", "u", "--role", "operator", "--ttl", "315360000")
    assert done.returncode == 0 and done.stdout.count(".") == 2


def test_a_second_embedded_serve_on_the_same_data_directory_refuses_to_start(tmp_path: Path) -> None:
    from tests.served import start_demo_serve

    # given an embedded serve running on a data directory (its workers and in-process broker:
    # a second one's would claim its jobs and send live messages none of its panels hear)
    (tmp_path / "data").mkdir()
    first = start_demo_serve(tmp_path / "data", NC_JWT_SECRET=secrets.token_urlsafe(40))
    try:
        # when another serve starts on the same directory, on another port
        done = _cli(tmp_path, "serve", "--port", "0")
        # then it exits at once, saying why in one line, and the first one still serves
        assert done.returncode == 2, done.stderr
        assert "another `serve` is running on the data directory" in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
        # and so does one given the same database by URL, with workers
        database = f"sqlite:///{(tmp_path / 'data' / 'notification-center.sqlite3').resolve()}"
        by_url = _cli(tmp_path, "serve", "--port", "0", "--with-workers", NC_DATABASE_URL=database)
        assert by_url.returncode == 2 and "another `serve` is running" in by_url.stderr, by_url.stderr
        # and one joined to Redis (its panels' counts would still cross the first one's)
        with_redis = _cli(tmp_path, "serve", "--port", "0", NC_REDIS_URL="redis://127.0.0.1:6379/15")
        assert with_redis.returncode == 2 and "another `serve` is running" in with_redis.stderr, with_redis.stderr
        assert httpx.get(f"{first.base}/readyz", timeout=5).status_code == 200
    finally:
        first.stop()
    # and once the first one stopped, a serve starts there again
    again = start_demo_serve(tmp_path / "data", NC_JWT_SECRET=secrets.token_urlsafe(40))
    again.stop()
