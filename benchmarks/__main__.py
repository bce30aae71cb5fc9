"""`python -m benchmarks` (`make bench`): every benchmark side by side, then the goals.

Sections, each printing one table (details in each module's docstring and README.md):

- vs: a sequential SDK loop, a ThreadPoolExecutor script (SDK pool, and pool sized to
  the threads) and osspolicy's two engines, at concurrency 1, 16, 64, 128, 50 ms latency
  (`vs.py`);
- memory: peak RSS of a backup job of 1k, 10k and 100k buckets, each in a fresh process
  (`memory.py`);
- jobs: backup, merge-apply and restore of 10,000 buckets at c=64, 50 ms, per engine
  (`jobs.py`);
- production: the vs comparison (the tuned ThreadPoolExecutor script and both engines)
  and the backup job, in the production shape: TLS, a host per bucket, 50 ms (`vs.py`,
  `jobs.py` with `production=True`);
- jobs-vs: backup, merge-apply and restore of 5,000 buckets (1,000 in the production
  shape), both engines, c=64 and c=128, 50 ms, against the bare ThreadPoolExecutor
  scripts doing the same calls, in the current and the production shape, with issue 15's
  job-level goals (`job_level.py`);
- startup: the median start-up of `osspolicy --version`, `--help` and a shell
  completion, each in new processes, against the interpreter alone (`startup.py`);
- directory: a backup over a Resource Directory of 200 members x 50 buckets against the
  same 10,000 buckets in one account, in the production shape, c=64, 50 ms: wall time,
  AssumeRole calls, peak RSS and their ratio (`directory.py`, issue 22).

The emulator always runs in its own process, so the client's CPU and interpreter lock
are its own. Definitions used throughout:

    ideal              = concurrency / latency                (calls/s)
    of ideal           = throughput / ideal
    CPU ceiling        = 1 / (CPU seconds per call)           (calls/s one core could do)
    of CPU ceiling     = throughput * CPU seconds per call    (cores busy)

The goals of issues 7 and 13 (and, after jobs-vs, issue 15's) close the output as met /
short with the measured ratio; the exit code is 0 whatever they say (a benchmark reports,
it does not gate). `--quick` runs tiny counts (under a minute) as a smoke check; `--only`
picks sections; `--jobs-vs-buckets N[,M]` shrinks the jobs-vs section; `--capacity` also
runs `benchmarks.emulator_capacity` (is the emulator ever the bottleneck?).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._report import Goal, Table, ratio
from .directory import run_directory
from .job_level import run_job_level
from .jobs import run_jobs
from .memory import run_memory
from .startup import run_startup
from .vs import AIO, SEQUENTIAL, THREADS, TPE_TUNED, VsResult, run_vs

SECTIONS = ("vs", "memory", "jobs", "production", "jobs-vs", "startup", "directory")
#: the repository root: where `python -m benchmarks...` works
ROOT = Path(__file__).resolve().parent.parent
#: the 100,000-bucket backup the memory goal is about
GOAL_RSS_BUCKETS = 100_000


@dataclass(frozen=True, slots=True)
class Settings:
    """How much work each section does."""

    concurrencies: tuple[int, ...]
    rounds: int
    #: runs of each CPU-bound vs cell, the best kept
    repeats: int
    max_calls: int
    memory_sizes: tuple[int, ...]
    job_buckets: int
    job_engines: tuple[str, ...]
    production_concurrencies: tuple[int, ...]
    #: rounds and calls per cell in the production shape: a new TLS connection per call
    #: makes the script's calls ~50x dearer than over a reused connection
    production_rounds: int
    production_max_calls: int
    #: buckets of the jobs-vs section, per shape, and its runs per cell (in turns)
    jobs_vs_buckets: int
    jobs_vs_production_buckets: int
    jobs_vs_repeats: int
    #: the directory section: members, and buckets of each
    directory_members: int
    directory_buckets_per_member: int


FULL = Settings(
    concurrencies=(1, 16, 64, 128),
    rounds=50,
    repeats=3,
    max_calls=3200,
    memory_sizes=(1_000, 10_000, 100_000),
    job_buckets=10_000,
    job_engines=("threads", "aio"),
    production_concurrencies=(16, 64, 128),
    production_rounds=10,
    production_max_calls=1280,
    jobs_vs_buckets=5_000,
    #: not 5,000: the scripts' CA bundle per connection makes that ~80 minutes here
    jobs_vs_production_buckets=1_000,
    jobs_vs_repeats=2,
    directory_members=200,
    directory_buckets_per_member=50,
)
QUICK = Settings(
    concurrencies=(1, 16, 64, 128),
    rounds=4,
    repeats=1,
    max_calls=512,
    memory_sizes=(200, 1_000),
    job_buckets=300,
    job_engines=("threads", "aio"),
    production_concurrencies=(16, 64),
    production_rounds=4,
    production_max_calls=256,
    jobs_vs_buckets=200,
    jobs_vs_production_buckets=100,
    jobs_vs_repeats=1,
    directory_members=20,
    directory_buckets_per_member=5,
)


def _progress(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the tables."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def _source_state() -> str:
    """The commit measured, and whether src/ has uncommitted changes (they are measured
    too: the package is installed editable)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        changed = git("status", "--porcelain", "--", "src").splitlines()
    except OSError:
        return "source: unknown (no git)"
    if not commit:
        return "source: unknown (not a git checkout)"
    dirty = f", {len(changed)} uncommitted file(s) in src/" if changed else ", src/ clean"
    return f"source: commit {commit}{dirty}"


def _goals(
    vs: VsResult | None,
    peak_rss_mb: float | None,
    *,
    quick: bool,
    production: VsResult | None = None,
) -> Table:
    """The issue's goals as met / short, from whatever sections ran."""

    def throughput(variant: str, concurrency: int, of: VsResult | None = vs) -> float:
        cell = of.get(variant, concurrency) if of is not None else None
        return cell.throughput if cell is not None else float("nan")

    goals = [
        Goal(
            "engine: threads vs ThreadPoolExecutor (pool = c), c=64",
            ratio(throughput(THREADS, 64), throughput(TPE_TUNED, 64)),
            1.0,
        ),
        Goal(
            "engine: threads (c=64) vs the sequential loop",
            ratio(throughput(THREADS, 64), throughput(SEQUENTIAL, 1)),
            40.0,
        ),
        Goal(
            "engine: aio vs engine: threads, c=128",
            ratio(throughput(AIO, 128), throughput(THREADS, 128)),
            1.8,
        ),
        Goal(
            "production shape: engine: threads vs ThreadPoolExecutor (pool = c), c=64",
            ratio(throughput(THREADS, 64, production), throughput(TPE_TUNED, 64, production)),
            1.0,
        ),
        Goal(
            f"peak RSS, {GOAL_RSS_BUCKETS:,}-bucket backup",
            peak_rss_mb if peak_rss_mb is not None else float("nan"),
            150.0,
            unit="MB",
            at_most=True,
        ),
    ]
    table = Table("Goals (issues 7 and 13)", ("goal", "measured", "target", "verdict"))
    for goal in goals:
        table.add(*goal.cells())
    table.notes.append(
        "Throughput ratios are of calls/s in the vs table; the run never fails on them."
    )
    if quick:
        table.notes.append("--quick: the counts are too small for these verdicts to mean much.")
    return table


def _show(table: Table, started: float) -> None:
    """Print a section's table and how long the section took."""
    print(f"\n{table.render()}", flush=True)
    print(f"(section: {time.perf_counter() - started:.0f} s; {_load()})", flush=True)


def _capacity() -> None:
    print("\nEmulator capacity (benchmarks.emulator_capacity)", flush=True)
    subprocess.run([sys.executable, "-m", "benchmarks.emulator_capacity"], cwd=ROOT, check=False)


def _engines(text: str) -> tuple[str, ...]:
    engines = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in engines if name not in {"threads", "aio"}]
    if unknown or not engines:
        raise argparse.ArgumentTypeError(f"engines are threads and aio, not {text!r}")
    return engines


def _counts(text: str) -> tuple[int, int]:
    counts = [int(part) for part in text.split(",")]
    if len(counts) not in (1, 2) or min(counts) < 0:
        raise argparse.ArgumentTypeError(f"N or N,M (bucket counts), not {text!r}")
    return counts[0], counts[-1]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny counts (under a minute): a smoke check"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        help="run only this section (repeatable); default: all",
    )
    parser.add_argument(
        "--engines",
        type=_engines,
        default=None,
        help="engines of the jobs sections, comma-separated (default: threads,aio; the "
        "directory section: threads)",
    )
    parser.add_argument(
        "--jobs-vs-buckets",
        type=_counts,
        default=None,
        metavar="N[,M]",
        help="buckets of the jobs-vs section: N in both shapes, or N current and M production",
    )
    parser.add_argument(
        "--jobs-vs-repeats", type=int, default=None, help="runs per jobs-vs cell (default: 2)"
    )
    parser.add_argument(
        "--capacity", action="store_true", help="also run benchmarks.emulator_capacity (~10 s)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the chosen sections, print their tables and the goals, and the total time."""
    args = _parse(argv)
    settings = QUICK if args.quick else FULL
    engines: tuple[str, ...] = args.engines or settings.job_engines
    sections = args.only or list(SECTIONS)
    started = time.perf_counter()
    print(
        f"osspolicy benchmarks ({'quick' if args.quick else 'full'}): Python "
        f"{platform.python_version()}, {os.cpu_count()} cores, {_load()}; {_source_state()}",
        flush=True,
    )

    vs: VsResult | None = None
    peak_rss_mb: float | None = None
    if "vs" in sections:
        section = time.perf_counter()
        vs = run_vs(
            settings.concurrencies,
            settings.rounds,
            settings.max_calls,
            repeats=settings.repeats,
            progress=_progress,
        )
        _show(vs.table, section)
    if "memory" in sections:
        section = time.perf_counter()
        memory = run_memory(settings.memory_sizes, progress=_progress)
        peak_rss_mb = memory.peak_mb(GOAL_RSS_BUCKETS)
        _show(memory.table, section)
    if "jobs" in sections:
        section = time.perf_counter()
        jobs = run_jobs(settings.job_buckets, engines, progress=_progress)
        _show(jobs.table, section)
    production: VsResult | None = None
    if "production" in sections:
        section = time.perf_counter()
        production = run_vs(
            settings.production_concurrencies,
            settings.production_rounds,
            settings.production_max_calls,
            repeats=settings.repeats,
            production=True,
            progress=_progress,
        )
        _show(production.table, section)
        section = time.perf_counter()
        backups = run_jobs(settings.job_buckets, engines, production=True, progress=_progress)
        _show(backups.table, section)

    goals = _goals(vs, peak_rss_mb, quick=args.quick, production=production)
    print(f"\n{goals.render()}", flush=True)
    if "jobs-vs" in sections:
        section = time.perf_counter()
        current, in_production = args.jobs_vs_buckets or (
            settings.jobs_vs_buckets,
            settings.jobs_vs_production_buckets,
        )
        job_level = run_job_level(
            current,
            in_production,
            engines=engines,
            repeats=args.jobs_vs_repeats or settings.jobs_vs_repeats,
            progress=_progress,
        )
        _show(job_level.table, section)
        print(f"\n{job_level.goals(peak_rss_mb).render()}", flush=True)
    if "startup" in sections:
        section = time.perf_counter()
        startup = run_startup(3 if args.quick else 11, progress=_progress)
        _show(startup.table, section)
        print(f"\n{startup.goals_table().render()}", flush=True)
    if "directory" in sections:
        section = time.perf_counter()
        directory = run_directory(
            settings.directory_members,
            settings.directory_buckets_per_member,
            args.engines or ("threads",),
            progress=_progress,
        )
        _show(directory.table, section)
    if args.capacity:
        _capacity()
    elapsed = time.perf_counter() - started
    print(f"\nTotal wall time: {elapsed:.0f} s ({elapsed / 60:.1f} min); {_load()}")


if __name__ == "__main__":
    main()
