"""Peak RSS of a backup job as the bucket count grows (1k, 10k, 100k).

Each backup runs in a fresh process (`job_child.py`), so one size's memory never
pollutes another's and `ru_maxrss` is that job's peak. The settings are the fastest
sensible ones, since memory (not speed) is measured here: `engine: aio`, 256 workers,
1 ms latency, buckets found by ListBuckets (`discover`, as `jobs/backup-all.yaml`), so
the names stream in pages and never sit in the manifest. One bucket in ten has a policy
(`sparse_policy`): every bucket gets its index line, a tenth its own fsynced file,
which keeps the 100,000-bucket run near two minutes on two cores. All sizes use the
same settings, so the growth from 1k to 100k is the job's own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._emulator import EmulatorProcess
from ._policies import sparse_policy
from ._report import Table, ratio
from .job_child import ChildResult, run_in_child

__all__ = ("CONCURRENCY", "LATENCY_MS", "MemoryResult", "run_memory")

CONCURRENCY = 256
LATENCY_MS = 1.0
ENGINE = "aio"
PREFIX = "mem-"


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """Each size's job measurements, and the table."""

    runs: tuple[tuple[int, ChildResult], ...]
    table: Table

    def peak_mb(self, buckets: int) -> float | None:
        """The peak RSS of the backup of `buckets`, if it was measured."""
        return next((r.rss_peak_mb for size, r in self.runs if size == buckets), None)


def _table(runs: Sequence[tuple[int, ChildResult]]) -> Table:
    table = Table(
        f"memory: peak RSS of a backup job, each size in a fresh process (engine: {ENGINE}, "
        f"c={CONCURRENCY}, {LATENCY_MS:g} ms latency, discover, 1 bucket in 10 with a policy)",
        (
            "buckets",
            "policy files",
            "wall s",
            "buckets/s",
            "CPU ms/bucket",
            "of CPU ceil",
            "RSS at start MB",
            "peak RSS MB",
            "growth MB",
            "exit",
        ),
    )
    for size, run in runs:
        table.add(
            f"{size:,}",
            f"{run.outcomes.get('fetched', 0):,}",
            f"{run.wall_s:.1f}",
            f"{ratio(run.buckets, run.wall_s):,.0f}",
            f"{ratio(run.cpu_s, run.buckets) * 1000:.2f}",
            f"{ratio(run.cpu_s, run.wall_s):.0%}",
            f"{run.rss_start_mb:.1f}",
            f"{run.rss_peak_mb:.1f}",
            f"{run.rss_peak_mb - run.rss_start_mb:.1f}",
            str(run.exit_code),
        )
    table.notes.append(
        "RSS at start = after the imports, before the job; growth = peak - start. "
        "CPU counts every thread of the job's process (file writes included)."
    )
    return table


def run_memory(
    sizes: Sequence[int], *, progress: Callable[[str], None] = lambda _: None
) -> MemoryResult:
    """Back up `sizes` buckets, each in its own process, against one emulator process."""
    runs: list[tuple[int, ChildResult]] = []
    with EmulatorProcess(latency_ms=LATENCY_MS) as emu, tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            prefix = f"{PREFIX}{size}-"
            emu.seed(prefix, size, sparse_policy)
            manifest = {
                "action": "backup",
                "targets": {"discover": {"prefix": prefix}},
                "connection": {"region": emu.region, "endpoint": emu.endpoint},
                "concurrency": CONCURRENCY,
                "engine": ENGINE,
            }
            folder = Path(tmp) / str(size)
            folder.mkdir()
            run = run_in_child(manifest, folder, emu.env())
            if run.buckets != size or run.exit_code != 0:
                raise RuntimeError(f"the {size:,}-bucket backup failed: {run}")
            progress(
                f"backup of {size:,} buckets: {run.wall_s:.1f} s, peak RSS {run.rss_peak_mb:.1f} MB"
            )
            runs.append((size, run))
    return MemoryResult(tuple(runs), _table(runs))
