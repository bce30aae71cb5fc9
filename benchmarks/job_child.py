"""One osspolicy job in a fresh process: its wall time, CPU and peak RSS, as one JSON line.

`python -m benchmarks.job_child` reads `{"manifest": {...}, "base": "<folder>"}` on
stdin, runs the job with `run_job` and prints a `ChildResult` as JSON on stdout. The
process does nothing else, so its peak RSS is the job's (plus the interpreter and the
imports, reported apart as `rss_start_mb`) and no other job's memory pollutes it.
The credentials come from the environment the parent sets.

Requests are counted from `report.jsonl` (the sum of `attempts`) after the job, outside
the measured time.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio

from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import parse_manifest
from osspolicy._internal.report import JSONL_NAME

__all__ = ("ChildResult", "run_in_child")

#: the folder holding the `benchmarks` package, where `python -m benchmarks...` works
_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class ChildResult:
    """What one job in its own process measured."""

    exit_code: int
    buckets: int
    requests: int
    outcomes: dict[str, int]
    wall_s: float
    cpu_s: float
    rss_start_mb: float
    rss_peak_mb: float
    max_in_flight: int
    backup_folder: str | None


def _peak_rss_mb() -> float:
    """This process's peak resident set size so far: `VmHWM` of /proc/self/status.

    Not `ru_maxrss`: Linux carries it over fork and exec, so a child of a big parent
    starts with the parent's peak (the benchmark's own 70 MB showed up as every job's).
    `VmHWM` belongs to the address space that exec made new. `ru_maxrss` is the fallback
    where /proc is missing.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:  # noqa: PTH123
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _count(report: Path) -> tuple[int, Counter[str]]:
    """The requests (sum of attempts) and the outcomes of a job's report."""
    requests, outcomes = 0, Counter[str]()
    with report.open("rb") as lines:
        for line in lines:
            record = json.loads(line)
            requests += int(record["attempts"] or 0)
            outcomes[record["outcome"]] += 1
    return requests, outcomes


def _run(manifest_data: dict[str, Any], base: Path) -> ChildResult:
    manifest = parse_manifest(manifest_data, source="bench.yaml", base=base)
    rss_start = _peak_rss_mb()

    async def job() -> JobRun:
        return await run_job(manifest, RunOptions())

    cpu_start, started = _cpu_s(), time.perf_counter()
    run = anyio.run(job)
    wall, cpu = time.perf_counter() - started, _cpu_s() - cpu_start
    rss_peak = _peak_rss_mb()
    requests, outcomes = _count(run.report_folder / JSONL_NAME)
    return ChildResult(
        exit_code=run.exit_code,
        buckets=run.summary.total,
        requests=requests,
        outcomes=dict(outcomes),
        wall_s=wall,
        cpu_s=cpu,
        rss_start_mb=rss_start,
        rss_peak_mb=rss_peak,
        max_in_flight=run.stats.max_in_flight,
        backup_folder=str(run.backup_folder) if run.backup_folder is not None else None,
    )


def run_in_child(manifest: dict[str, Any], base: Path, env: dict[str, str]) -> ChildResult:
    """Run `manifest` in a fresh `python -m benchmarks.job_child`; its measurements."""
    request = json.dumps({"manifest": manifest, "base": str(base)})
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.job_child"],
        input=request,
        capture_output=True,
        text=True,
        env=env,
        cwd=_ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the job process failed ({done.returncode}): {done.stderr[-2000:]}")
    return ChildResult(**json.loads(done.stdout))


def main() -> None:
    """Read the job on stdin, run it, print its measurements."""
    request = json.load(sys.stdin)
    result = _run(request["manifest"], Path(request["base"]))
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
