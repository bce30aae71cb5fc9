"""The full jobs: backup, merge-apply and restore of 10,000 buckets at c=64, 50 ms.

Per engine, three whole jobs run one after another through `run_job`, each in a fresh
process (`job_child.py`: wall, CPU and peak RSS of that job alone), files and all:

1. backup: every bucket's policy to a backup folder (buckets found by `discover`);
2. merge-apply: a one-statement baseline (`${account_id}`, `${bucket}`) merged into
   every bucket: a GetBucketPolicy, a snapshot of the bucket, a PutBucketPolicy;
3. restore: the backup of step 1 put back: a read, a snapshot, a put (or a delete
   where the bucket had no policy).

The buckets are seeded as in the demo: a third without a policy, the others with their
own. The restore leaves them as seeded; they are seeded again before each engine anyway.

With `production=True` only the backup runs, in the production shape (`_emulator.py`:
TLS, a host per bucket, the test CA given as `connection.ca_file`).

requests = the sum of the records' `attempts` (ListBuckets pages not counted);
ideal = c / latency requests/s; of ideal = requests/s / ideal;
of CPU ceil = CPU seconds / wall seconds (the cores the job's process kept busy).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._emulator import EmulatorProcess
from ._policies import BASELINE, mixed_policy
from ._report import Table, ratio
from .job_child import ChildResult, run_in_child

__all__ = ("CONCURRENCY", "LATENCY_MS", "JobsResult", "run_jobs")

CONCURRENCY = 64
LATENCY_MS = 50.0
PREFIX = "job-"


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job of one engine."""

    job: str
    engine: str
    result: ChildResult


@dataclass(frozen=True, slots=True)
class JobsResult:
    """Every job's measurements, and the table."""

    rows: tuple[JobRow, ...]
    table: Table


def _manifest(emu: EmulatorProcess, engine: str, **job: Any) -> dict[str, Any]:
    connection: dict[str, Any] = {"region": emu.region, "endpoint": emu.endpoint}
    if emu.ca_bundle is not None:
        connection["ca_file"] = str(emu.ca_bundle)
    return {
        "connection": connection,
        "concurrency": CONCURRENCY,
        "engine": engine,
        **job,
    }


def _outcomes(result: ChildResult) -> str:
    return " ".join(f"{name}={count:,}" for name, count in sorted(result.outcomes.items()))


def _table(rows: Sequence[JobRow], buckets: int, *, production: bool = False) -> Table:
    ideal = CONCURRENCY / (LATENCY_MS / 1000)
    shape = "production shape (TLS, a host per bucket): backup of" if production else "full jobs:"
    table = Table(
        f"{shape} {buckets:,} buckets (a third without a policy), c={CONCURRENCY}, "
        f"{LATENCY_MS:.0f} ms latency, each job in a fresh process",
        (
            "job",
            "engine",
            "requests",
            "wall s",
            "buckets/s",
            "requests/s",
            "of ideal",
            "CPU ms/bucket",
            "of CPU ceil",
            "peak RSS MB",
            "exit",
            "outcomes",
        ),
    )
    for row in rows:
        run = row.result
        table.add(
            row.job,
            row.engine,
            f"{run.requests:,}",
            f"{run.wall_s:.1f}",
            f"{ratio(run.buckets, run.wall_s):,.0f}",
            f"{ratio(run.requests, run.wall_s):,.0f}",
            f"{ratio(run.requests, run.wall_s) / ideal:.0%}",
            f"{ratio(run.cpu_s, run.buckets) * 1000:.2f}",
            f"{ratio(run.cpu_s, run.wall_s):.0%}",
            f"{run.rss_peak_mb:.1f}",
            str(run.exit_code),
            _outcomes(run),
        )
    table.notes.append(
        f"ideal = c / latency = {ideal:,.0f} requests/s; requests = sum of attempts "
        "(ListBuckets pages not counted); of CPU ceil = CPU s / wall s."
    )
    return table


def _run_engine(
    emu: EmulatorProcess,
    engine: str,
    buckets: int,
    folder: Path,
    progress: Callable[[str], None],
    *,
    backup_only: bool = False,
) -> list[JobRow]:
    """Backup, merge-apply, then restore that backup, each job in its own process."""
    targets = {"discover": {"prefix": PREFIX}}
    rows: list[JobRow] = []

    def run(name: str, **job: Any) -> ChildResult:
        result = run_in_child(_manifest(emu, engine, **job), folder, emu.env())
        if result.exit_code != 0 or result.buckets != buckets:
            raise RuntimeError(f"the {name} job ({engine}) failed: {result}")
        progress(f"{name} ({engine}): {result.wall_s:.1f} s")
        rows.append(JobRow(name, engine, result))
        return result

    backup = run("backup", action="backup", targets=targets)
    if backup_only:
        return rows
    policy = {"document": BASELINE, "mode": "merge"}
    run("merge-apply", action="apply", targets=targets, policy=policy)
    run("restore", action="restore", source=backup.backup_folder)
    return rows


def run_jobs(
    buckets: int,
    engines: Sequence[str] = ("threads", "aio"),
    *,
    production: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> JobsResult:
    """Backup, merge-apply and restore `buckets` buckets with each engine; with
    `production=True`, the backup alone, in the production shape."""
    rows: list[JobRow] = []
    with (
        EmulatorProcess(latency_ms=LATENCY_MS, production=production) as emu,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for engine in engines:
            emu.seed(PREFIX, buckets, mixed_policy)
            folder = Path(tmp) / engine
            folder.mkdir()
            rows += _run_engine(emu, engine, buckets, folder, progress, backup_only=production)
    return JobsResult(tuple(rows), _table(rows, buckets, production=production))
