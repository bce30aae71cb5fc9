"""Job level (issue 15): whole osspolicy jobs against the bare pool scripts doing the same calls.

For each shape (the current one: plain HTTP to one host; the production one: TLS, a host
per bucket, `_emulator.py`), each concurrency (64 and 128) and 50 ms latency, over the
same seeded buckets (a third without a policy, as in the demo):

- osspolicy, per engine, three whole jobs, each in a fresh process (`job_child.py`):
  backup (every policy to a file), merge-apply (the baseline merged into every bucket,
  so every bucket changes; a snapshot first, as the job always takes), and restore of
  that backup;
- the bare pool scripts a user writes instead, in this process: a
  `ThreadPoolExecutor(c)` over the SDK's blocking client with its pool sized to the
  threads (`RequestsHttpClient(max_connections=c)`, as `vs.py`'s tuned script):
  - `pool: GET only`: GetBucketPolicy per bucket, the answers kept in memory;
  - `pool: GET + file`: the same, each policy written to a file (no fsync);
  - `pool: GET + PUT`: GetBucketPolicy, the baseline statement merged in (by Sid), a
    PutBucketPolicy: the apply without snapshot, plan or report;
  - `pool: PUT/DELETE`: the policies the GET-only run read put back (a DeleteBucketPolicy
    where there was none): the restore without the read and snapshot the job does first.

The buckets are seeded afresh before every concurrency's group. Every cell runs
`repeats` times, in turns (every cell once, then again), and keeps its fastest run: on
a shared machine a neighbour's burst costs one run of one variant, not the comparison.

x pool = buckets/s over the pool script doing the same job at the same shape and c
(backup: `GET + file`; apply: `GET + PUT`; restore: `PUT/DELETE`); x GET only = backup
buckets/s over `pool: GET only`. CPU is the job's process (jobs) or this process
(scripts; the emulator runs in its own). requests = calls made (jobs: the sum of the
report's attempts, ListBuckets pages not counted).
"""

from __future__ import annotations

import copy
import gc
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import alibabacloud_oss_v2 as oss

from ._emulator import ACCOUNT_ID, EmulatorProcess
from ._policies import BASELINE, mixed_policy
from ._report import Goal, Table, cpu_seconds, ratio
from .job_child import run_in_child

__all__ = ("JobLevelResult", "run_job_level")

LATENCY_MS = 50.0
PREFIX = "jl-"
CURRENT, PRODUCTION = "current", "production"
BACKUP, APPLY, RESTORE = "backup", "merge-apply", "restore"
POOL_GET = "pool: GET only"
POOL_FILE = "pool: GET + file"
POOL_APPLY = "pool: GET + PUT"
POOL_RESTORE = "pool: PUT/DELETE"
#: the pool script each job is measured against
_SCRIPT_FOR = {BACKUP: POOL_FILE, APPLY: POOL_APPLY, RESTORE: POOL_RESTORE}


@dataclass(frozen=True, slots=True)
class Run:
    """One job (an engine's, or a pool script's) at one shape and concurrency."""

    shape: str
    concurrency: int
    job: str
    variant: str
    buckets: int
    requests: int
    wall_s: float
    cpu_s: float
    rss_peak_mb: float | None = None

    @property
    def rate(self) -> float:
        """Buckets per second."""
        return ratio(self.buckets, self.wall_s)


@dataclass(frozen=True, slots=True)
class JobLevelResult:
    """Every kept run, the table and the goals."""

    runs: tuple[Run, ...]
    table: Table

    def get(self, shape: str, concurrency: int, job: str, variant: str) -> Run | None:
        """The kept run of that cell, if it was measured."""
        for run in self.runs:
            if (run.shape, run.concurrency, run.job, run.variant) == (
                shape,
                concurrency,
                job,
                variant,
            ):
                return run
        return None

    def goals(self, peak_rss_mb: float | None) -> Table:
        """Issue 15's job-level goals, per shape, as met / short."""

        def rate(shape: str, c: int, job: str, variant: str) -> float:
            run = self.get(shape, c, job, variant)
            return run.rate if run is not None else float("nan")

        table = Table("Goals (issue 15, job level)", ("goal", "measured", "target", "verdict"))
        for shape in (CURRENT, PRODUCTION):
            goals = (
                Goal(
                    f"{shape}: backup threads c=64 vs pool GET + file",
                    ratio(rate(shape, 64, BACKUP, "threads"), rate(shape, 64, BACKUP, POOL_FILE)),
                    1.0,
                ),
                Goal(
                    f"{shape}: backup threads c=64 vs pool GET only",
                    ratio(rate(shape, 64, BACKUP, "threads"), rate(shape, 64, BACKUP, POOL_GET)),
                    0.85,
                ),
                Goal(
                    f"{shape}: backup aio vs threads, c=128",
                    ratio(rate(shape, 128, BACKUP, "aio"), rate(shape, 128, BACKUP, "threads")),
                    1.5,
                ),
                Goal(
                    f"{shape}: apply threads c=64 vs pool GET + PUT",
                    ratio(rate(shape, 64, APPLY, "threads"), rate(shape, 64, APPLY, POOL_APPLY)),
                    0.8,
                ),
            )
            for goal in goals:
                table.add(*goal.cells())
        rss = Goal(
            "peak RSS, 100,000-bucket backup (memory section)",
            peak_rss_mb if peak_rss_mb is not None else float("nan"),
            150.0,
            unit="MB",
            at_most=True,
        )
        table.add(*rss.cells())
        table.notes.append("Ratios of buckets/s in the job-level table; one run, never a gate.")
        return table


# -- the bare pool scripts


def _client(emu: EmulatorProcess, concurrency: int) -> Any:
    """The SDK's blocking client, its HTTP pool sized to the threads (as `vs.py`)."""
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.EnvironmentVariableCredentialsProvider()
    cfg.region = emu.region
    cfg.endpoint = emu.endpoint
    cfg.http_client = oss.transport.RequestsHttpClient(max_connections=concurrency)
    return oss.Client(cfg)


def _get(client: Any, name: str) -> str | None:
    """GetBucketPolicy; None where the bucket has none (as a script catches it)."""
    try:
        body: str = client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=name)).body
    except oss.exceptions.OperationError as exc:
        inner = exc.unwrap()
        if isinstance(inner, oss.exceptions.ServiceError) and inner.code == "NoSuchBucketPolicy":
            return None
        raise
    return body


def _merged(body: str | None, name: str) -> str:
    """The baseline's statements merged in by Sid, placeholders filled as a script would."""
    document = json.loads(body) if body else {"Version": "1", "Statement": []}
    added = json.loads(
        json.dumps(BASELINE["Statement"])
        .replace("${bucket}", name)
        .replace("${account_id}", ACCOUNT_ID)
    )
    sids = {statement["Sid"] for statement in added}
    kept = [s for s in document.get("Statement", []) if s.get("Sid") not in sids]
    document["Statement"] = kept + copy.deepcopy(added)
    return json.dumps(document)


def _pool_script(
    emu: EmulatorProcess,
    variant: str,
    names: Sequence[str],
    concurrency: int,
    *,
    folder: Path,
    backup: dict[str, str | None],
) -> tuple[int, float, float]:
    """One script over every bucket: (requests, wall s, CPU s). `backup` is filled by
    the GET-only script and read by the PUT/DELETE one. The client and its connections
    are dropped on return, as a script's are (the caller collects them)."""
    client = _client(emu, concurrency)
    folder.mkdir(parents=True, exist_ok=True)

    def get_only(name: str) -> int:
        backup[name] = _get(client, name)
        return 1

    def get_file(name: str) -> int:
        body = _get(client, name)
        if body is not None:
            with (folder / f"{name}.json").open("w", encoding="utf-8") as out:
                out.write(body)  # no fsync, as such a script would
        return 1

    def get_put(name: str) -> int:
        body = _merged(_get(client, name), name)
        client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=name, body=body))
        return 2

    def put_delete(name: str) -> int:
        body = backup[name]
        if body is None:
            client.delete_bucket_policy(oss.DeleteBucketPolicyRequest(bucket=name))
        else:
            client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=name, body=body))
        return 1

    work: Callable[[str], int] = {
        POOL_GET: get_only,
        POOL_FILE: get_file,
        POOL_APPLY: get_put,
        POOL_RESTORE: put_delete,
    }[variant]
    cpu, started = cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        requests = sum(pool.map(work, names))
    return requests, time.perf_counter() - started, cpu_seconds() - cpu


# -- osspolicy's jobs


def _manifest(emu: EmulatorProcess, engine: str, concurrency: int, **job: Any) -> dict[str, Any]:
    connection: dict[str, Any] = {"region": emu.region, "endpoint": emu.endpoint}
    if emu.ca_bundle is not None:
        connection["ca_file"] = str(emu.ca_bundle)
    return {"connection": connection, "concurrency": concurrency, "engine": engine, **job}


def _group(
    emu: EmulatorProcess,
    shape: str,
    concurrency: int,
    *,
    buckets: int,
    engines: Sequence[str],
    folder: Path,
    progress: Callable[[str], None],
) -> list[Run]:
    """Every cell of one shape and concurrency, once: each engine's three jobs, then the
    four pool scripts."""
    names = emu.seed(PREFIX, buckets, mixed_policy)
    runs: list[Run] = []

    def kept(run: Run) -> None:
        progress(
            f"{shape} c={concurrency} {run.job} {run.variant}: {run.rate:,.0f} buckets/s "
            f"in {run.wall_s:.1f} s"
        )
        runs.append(run)

    targets = {"discover": {"prefix": PREFIX}}
    for engine in engines:
        base = folder / engine
        base.mkdir(parents=True)

        def job(name: str, base: Path = base, engine: str = engine, **spec: Any) -> str | None:
            result = run_in_child(_manifest(emu, engine, concurrency, **spec), base, emu.env())
            if result.exit_code != 0 or result.buckets != buckets:
                raise RuntimeError(f"the {name} job ({engine}, {shape}) failed: {result}")
            kept(
                Run(
                    shape,
                    concurrency,
                    name,
                    engine,
                    result.buckets,
                    result.requests,
                    result.wall_s,
                    result.cpu_s,
                    result.rss_peak_mb,
                )
            )
            return result.backup_folder

        source = job(BACKUP, action="backup", targets=targets)
        policy = {"document": BASELINE, "mode": "merge"}
        job(APPLY, action="apply", targets=targets, policy=policy)
        job(RESTORE, action="restore", source=source)

    env = emu.env()  # the SDK reads the key pair from there
    if emu.ca_bundle is not None:  # as a user of the SDK's requests transport passes a CA
        env["REQUESTS_CA_BUNDLE"] = str(emu.ca_bundle)
    backup: dict[str, str | None] = {}
    with patch.dict(os.environ, env), emu.resolving():
        for variant in (POOL_GET, POOL_FILE, POOL_APPLY, POOL_RESTORE):
            requests, wall, cpu = _pool_script(
                emu, variant, names, concurrency, folder=folder / "pool", backup=backup
            )
            gc.collect()  # closes the dropped client's sockets before the next run
            job_name = {POOL_APPLY: APPLY, POOL_RESTORE: RESTORE}.get(variant, BACKUP)
            kept(Run(shape, concurrency, job_name, variant, len(names), requests, wall, cpu))
    return runs


def _table(runs: Sequence[Run], buckets: dict[str, int], repeats: int) -> Table:
    counts = ", ".join(f"{shape} {count:,}" for shape, count in buckets.items())
    best = f", fastest of {repeats} runs in turns" if repeats > 1 else ""
    table = Table(
        f"job level: osspolicy's jobs vs the bare pool scripts, buckets ({counts}; a third "
        f"without a policy), {LATENCY_MS:.0f} ms latency{best}",
        (
            "shape",
            "c",
            "job",
            "variant",
            "requests",
            "wall s",
            "buckets/s",
            "x pool",
            "x GET only",
            "CPU ms/bucket",
            "of CPU ceil",
            "peak RSS MB",
        ),
    )
    by_key = {(r.shape, r.concurrency, r.job, r.variant): r for r in runs}
    for run in runs:
        script = by_key.get((run.shape, run.concurrency, run.job, _SCRIPT_FOR[run.job]))
        get_only = by_key.get((run.shape, run.concurrency, BACKUP, POOL_GET))
        versus_get = (
            f"{ratio(run.rate, get_only.rate):.2f}x"
            if run.job == BACKUP and get_only is not None
            else "-"
        )
        table.add(
            run.shape,
            str(run.concurrency),
            run.job,
            run.variant,
            f"{run.requests:,}",
            f"{run.wall_s:.1f}",
            f"{run.rate:,.0f}",
            f"{ratio(run.rate, script.rate):.2f}x" if script is not None else "-",
            versus_get,
            f"{ratio(run.cpu_s, run.buckets) * 1000:.2f}",
            f"{ratio(run.cpu_s, run.wall_s):.0%}",
            f"{run.rss_peak_mb:.1f}" if run.rss_peak_mb is not None else "-",
        )
    table.notes.append(
        "x pool = buckets/s over the pool script doing that job (backup: GET + file, apply: "
        "GET + PUT, restore: PUT/DELETE) at the same shape and c; x GET only: backups over "
        "pool: GET only."
    )
    table.notes.append(
        "The jobs also list the buckets, take a snapshot before a change (apply, restore) and "
        "write a report; the scripts do only the calls. CPU of a script is this process's."
    )
    return table


def run_job_level(
    buckets: int,
    production_buckets: int,
    concurrencies: Sequence[int] = (64, 128),
    engines: Sequence[str] = ("threads", "aio"),
    *,
    repeats: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> JobLevelResult:
    """Measure every cell in both shapes (`production_buckets` 0: the current shape alone),
    `repeats` times in turns, keeping each cell's fastest run."""
    best: dict[tuple[str, int, str, str], Run] = {}
    counts = {CURRENT: buckets, PRODUCTION: production_buckets}
    counts = {shape: count for shape, count in counts.items() if count > 0}
    for shape, count in counts.items():
        with (
            EmulatorProcess(latency_ms=LATENCY_MS, production=shape == PRODUCTION) as emu,
            tempfile.TemporaryDirectory(prefix="osspolicy-bench-jl-") as tmp,
        ):
            for turn in range(1, repeats + 1):
                for concurrency in concurrencies:
                    folder = Path(tmp) / f"{concurrency}-{turn}"
                    group = _group(
                        emu,
                        shape,
                        concurrency,
                        buckets=count,
                        engines=engines,
                        folder=folder,
                        progress=progress,
                    )
                    for run in group:
                        key = (run.shape, run.concurrency, run.job, run.variant)
                        if key not in best or run.wall_s < best[key].wall_s:
                            best[key] = run
    runs = tuple(best.values())  # in the first turn's order
    return JobLevelResult(runs, _table(runs, counts, repeats))
