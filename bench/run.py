"""The benchmark, in one command:

    .venv/bin/python -m bench.run            # full: about 10 minutes
    .venv/bin/python -m bench.run --quick    # smoke test: 1-2 minutes (CI)
    .venv/bin/python -m bench.run --only fanout,queries

Starts what each section needs on 127.0.0.1 (subprocesses), runs the load from a separate client
process, stops everything, and writes bench/results/latest.json and bench/results/REPORT.md.
A section that fails is recorded (``section_<name>_error``) and the next one runs; the exit code is
1 when any section failed, else 0. No thresholds are enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.common import raise_nofile
from bench.procs import ROOT, Procs
from bench.sections import SECTIONS, Ctx

RESULTS = Path(__file__).resolve().parent / "results"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


async def run(quick: bool, only: set[str] | None, keep: bool) -> tuple[dict[str, Any], list[str], bool]:
    started = time.monotonic()
    results: dict[str, Any] = {
        "meta_mode": "quick" if quick else "full",
        "meta_started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "meta_git_commit": _git_commit(),
        "meta_cpus": os.cpu_count(),
        "meta_python": platform.python_version(),
        # Other load on the machine skews every figure: compare these between runs.
        "meta_loadavg_start": os.getloadavg()[0],
    }
    failed = False
    tmp = Path(tempfile.mkdtemp(prefix="nc-bench-"))
    procs = Procs(tmp, secrets.token_urlsafe(40))
    ctx = Ctx(quick=quick, procs=procs, tmp=tmp)
    try:
        for name, section, quick_limit, full_limit in SECTIONS:
            if only is not None and name not in only:
                continue
            limit = quick_limit if quick else full_limit
            print(f"[{time.monotonic() - started:5.1f}s] {name} (limit {limit:.0f} s)", file=sys.stderr, flush=True)
            first = len(procs.started)
            section_started = time.monotonic()
            try:
                results.update(await asyncio.wait_for(section(ctx), limit))
            except Exception as exc:  # noqa: BLE001 - recorded; the next section runs
                failed = True
                if isinstance(exc, TimeoutError):
                    message = f"did not finish within its {limit:.0f} s limit"
                else:
                    message = f"{type(exc).__name__}: {exc}"
                results[f"section_{name}_error"] = message[:3000]
                print(f"  {name} failed: {message[:500]}", file=sys.stderr, flush=True)
                if os.environ.get("BENCH_TRACEBACK"):
                    traceback.print_exc()
            finally:
                for proc in procs.started[first:]:
                    await proc.stop()
            results[f"meta_section_{name}_s"] = round(time.monotonic() - section_started, 1)
    finally:
        await procs.stop_all()
        if not keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            ctx.notes.append(f"Logs and data kept in {tmp}")
    results["meta_duration_s"] = round(time.monotonic() - started, 1)
    results["meta_loadavg_end"] = os.getloadavg()[0]
    return results, ctx.notes, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts, 1-2 minutes (the CI smoke test)")
    parser.add_argument("--only", help="comma-separated sections: " + ", ".join(s[0] for s in SECTIONS))
    parser.add_argument("--keep", action="store_true", help="keep the temporary logs and data directories")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS,
        help="where latest.json and REPORT.md go (default bench/results, the figures kept in the repository)",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    unknown = (only or set()) - {s[0] for s in SECTIONS}
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}")
    raise_nofile()
    results, notes, failed = asyncio.run(run(args.quick, only, args.keep))
    out = args.results_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    if not report.plots(results, out) and any(k.startswith("growth_") for k in results):
        notes.append("The growth plots were not drawn: matplotlib is not installed (it is in the dev extras).")
    (out / "REPORT.md").write_text(report.markdown(results, notes))
    print(f"\nNotification Center benchmark ({results['meta_mode']}, {results['meta_duration_s']} s)")
    for line in report.summary(results):
        print(f"  {line}")
    for key, value in results.items():
        if key.startswith("section_") and key.endswith("_error"):
            print(f"  {key}: {str(value)[:300]}")
    print(f"  wrote {out / 'latest.json'} and {out / 'REPORT.md'}")
    failed = failed or any(k.endswith("_error") for k in results)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
