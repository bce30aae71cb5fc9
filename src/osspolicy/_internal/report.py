"""A job's report folder (contracts §2): records streamed to JSONL and CSV, summary last.

```
<report_dir>/<job-id>/     0700
  manifest.yaml            the effective manifest, written first (atomic)
  report.jsonl             one record per finished target (`Result.to_record()`)
  report.csv               the same records and columns, header once
  journal.jsonl            `journal.py`'s, for resume
  summary.json             written last (atomic): counts, failures, times, exit code
```

On resume the report is rebuilt from the journal: `ReportWriter.resume` rewrites
`report.jsonl` and `report.csv` (atomically) with exactly the success records the journal
carries, one per bucket, and every other target is run again and gets its record then.
Whatever the report held for a bucket that is run again (a failure, a skip, or a record
the journal never got) is dropped, so the report ends with exactly one record per target
across all runs. The journal, not the report, is the source of truth because it is the
file resume reads to decide what to skip.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import anyio

from .appendlog import AppendLog, AsyncClosing, append_together
from .atomic import make_new_dir, remove_file, remove_temp_files, write_atomic
from .errors import ConfigError
from .jobid import utc_timestamp
from .jsonfiles import json_line, write_json_atomic
from .report_lines import COLUMNS, Lines, csv_line, csv_row, encode
from .results import (
    DRIFT_OUTCOMES,
    FAILURE_OUTCOMES,
    FOREIGN,
    OVERWRITE,
    SUCCESS_OUTCOMES,
    Change,
    Outcome,
    Result,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime
    from pathlib import Path

__all__ = (
    "CHANGE_KINDS",
    "COLUMNS",
    "CSV_NAME",
    "DIFFS_SHOWN",
    "JSONL_NAME",
    "LISTED_MAX",
    "MANIFEST_NAME",
    "SUMMARY_NAME",
    "Lines",
    "MemoryReport",
    "ReportWriter",
    "Summary",
    "change_kind",
    "encode",
)

JSONL_NAME = "report.jsonl"
CSV_NAME = "report.csv"
MANIFEST_NAME = "manifest.yaml"
SUMMARY_NAME = "summary.json"
#: failures (and skips) listed by bucket in the summary; the counts cover all of them
LISTED_MAX = 100
#: diffs of changing buckets kept for the console (all of them are in the report)
DIFFS_SHOWN = 20
#: the kinds of change a plan or a check counts (contracts §12)
CHANGE_KINDS = ("create", "modify", "delete", "unchanged")

_FSYNC_EVERY = 64
_LISTED_KEYS = ("bucket", "outcome", "error_code", "error_message")
_SUMMARY_KEYS = frozenset(
    {"job_id", "exit_code", "started_at", "finished_at", "wall_time_s", "buckets_per_s"}
    | {"total", "succeeded", "failed", "skipped", "drifted", "counts", "changes"}
    | {"failures", "skips", "overwrite", "foreign_resources", "new_access"}
)


@dataclass(frozen=True, slots=True)
class Summary:
    """What `summary.json` holds: the job's counts, its first failures, times, exit code.

    `failures` and `skips` list up to `LISTED_MAX` records each as mappings with
    `bucket`, `outcome`, `error_code` and `error_message`; `failed` and `skipped` count
    all of them. `wall_time_s` and `buckets_per_s` are of this run; the counts are of
    the whole report (all runs of a resumed job).
    """

    job_id: str
    exit_code: int
    started_at: str
    finished_at: str
    wall_time_s: float
    buckets_per_s: float
    counts: Mapping[Outcome, int]
    total: int
    succeeded: int
    failed: int
    skipped: int
    drifted: int
    #: records by kind of change (create, modify, delete, unchanged) of this report
    changes: Mapping[str, int]
    failures: tuple[Mapping[str, str | None], ...]
    skips: tuple[Mapping[str, str | None], ...]
    #: (bucket, diff) of the first `DIFFS_SHOWN` changing buckets of this run
    diffs: tuple[tuple[str, str], ...]
    extra: Mapping[str, Any]
    #: buckets (the first `LISTED_MAX`) whose write overwrites (or would overwrite) a
    #: change made since the job a rollback undoes (`--force`), and how many in all
    overwrites: tuple[str, ...] = ()
    overwritten: int = 0
    #: (bucket, note) of the first `LISTED_MAX` records whose policy names other
    #: buckets (a warning to show, not only to record), and how many in all
    foreign: tuple[tuple[str, str], ...] = ()
    foreign_count: int = 0
    #: (bucket, lines) of the first `LISTED_MAX` records granting new access; None: none judged
    new_access: tuple[tuple[str, tuple[str, ...]], ...] = ()
    new_access_count: int | None = None

    def _new_access(self) -> dict[str, Any]:
        return {"count": self.new_access_count, "buckets": dict(self.new_access)}

    def to_record(self) -> dict[str, Any]:
        """The JSON object of `summary.json` (`extra` keys at the top level, last);
        `overwrite` only when a forced rollback overwrites later changes."""
        overwrite = (
            {"overwrite": {"count": self.overwritten, "buckets": list(self.overwrites)}}
            if self.overwritten
            else {}
        )
        return {
            "job_id": self.job_id,
            "exit_code": self.exit_code,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "wall_time_s": self.wall_time_s,
            "buckets_per_s": self.buckets_per_s,
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "skipped": self.skipped,
            "drifted": self.drifted,
            "counts": {str(outcome): count for outcome, count in self.counts.items()},
            "changes": dict(self.changes),
            "failures": [dict(item) for item in self.failures],
            "skips": [dict(item) for item in self.skips],
            **overwrite,
            **(
                {"foreign_resources": {"count": self.foreign_count, "notes": dict(self.foreign)}}
                if self.foreign_count
                else {}
            ),
            **({} if self.new_access_count is None else {"new_access": self._new_access()}),
            **self.extra,
        }


def change_kind(result: Result) -> str | None:
    """The kind of change a record made or would make: create, modify, delete or
    unchanged (None for records without a change, e.g. a backup's or a failure's)."""
    if result.change is Change.NONE:
        return "unchanged"
    if result.change is Change.DELETE:
        return "delete"
    if result.change is Change.PUT and result.outcome not in FAILURE_OUTCOMES:
        return "modify" if result.had_policy else "create"
    return None


class _Tally:
    """Counts per outcome and the first failures, skips and diffs, as records stream by."""

    def __init__(self) -> None:
        self.counts: Counter[Outcome] = Counter()
        self.changes: Counter[str] = Counter()
        self.failures: list[Mapping[str, str | None]] = []
        self.skips: list[Mapping[str, str | None]] = []
        self.diffs: list[tuple[str, str]] = []
        self.overwrites: list[str] = []
        self.overwritten = 0
        self.foreign: list[tuple[str, str]] = []
        self.foreign_count = 0
        self.new_access: list[tuple[str, tuple[str, ...]]] = []
        self.new_access_count: int | None = None

    def add(self, result: Result) -> None:
        self.counts[result.outcome] += 1
        if result.new_access is not None:
            self.new_access_count = (self.new_access_count or 0) + bool(result.new_access)
            if result.new_access and len(self.new_access) < LISTED_MAX:
                self.new_access.append((result.bucket, result.new_access))
        if (result.note or "").startswith(OVERWRITE) and result.outcome not in FAILURE_OUTCOMES:
            self.overwritten += 1
            if len(self.overwrites) < LISTED_MAX:
                self.overwrites.append(result.bucket)
        if result.note and result.note.startswith(FOREIGN):
            self.foreign_count += 1
            if len(self.foreign) < LISTED_MAX:
                self.foreign.append((result.bucket, result.note))
        kind = change_kind(result)
        if kind is not None and result.outcome not in FAILURE_OUTCOMES:
            self.changes[kind] += 1
        if result.diff and len(self.diffs) < DIFFS_SHOWN:
            self.diffs.append((result.bucket, result.diff))
        listed = (
            self.failures
            if result.outcome in FAILURE_OUTCOMES
            else self.skips
            if result.outcome is Outcome.SKIPPED
            else None
        )
        if listed is not None and len(listed) < LISTED_MAX:
            record = result.to_record()
            listed.append(MappingProxyType({key: record[key] for key in _LISTED_KEYS}))

    def count(self, outcomes: Iterable[Outcome]) -> int:
        return sum(self.counts[outcome] for outcome in outcomes)


class ReportWriter(AsyncClosing):
    """Streams a job's records to `report.jsonl` and `report.csv`; `finish` writes the summary.

    `write` may be called from many tasks: each record goes to both files in the same
    order. Both files are fsynced every `fsync_every` records and on `flush`/`finish`.
    """

    def __init__(
        self, folder: Path, job_id: str, jsonl: AppendLog, csv_log: AppendLog, tally: _Tally
    ) -> None:
        self.folder = folder
        self.job_id = job_id
        self._jsonl = jsonl
        self._csv = csv_log
        self._tally = tally
        self._lock = anyio.Lock()
        self._written_this_run = 0

    @classmethod
    async def create(
        cls,
        folder: Path,
        *,
        job_id: str,
        manifest_yaml: str,
        fsync_every: int = _FSYNC_EVERY,
    ) -> ReportWriter:
        """Start the report of a new job in `folder`, which must not exist yet."""
        try:
            await make_new_dir(folder)
        except FileExistsError as exc:
            raise ConfigError(
                "the report folder exists already",
                place=str(folder),
                hint="a new job never writes into another job's folder; start it again",
            ) from exc
        await write_atomic(folder / MANIFEST_NAME, manifest_yaml.encode())
        jsonl = await AppendLog.open(folder / JSONL_NAME, exclusive=True, fsync_every=fsync_every)
        csv_log = await AppendLog.open(
            folder / CSV_NAME, exclusive=True, fsync_every=fsync_every, jsonl=False
        )
        await csv_log.append(csv_line(COLUMNS))
        await csv_log.flush()
        return cls(folder, job_id, jsonl, csv_log, _Tally())

    @classmethod
    async def resume(
        cls,
        folder: Path,
        *,
        carried: Iterable[Result],
        job_id: str | None = None,
        fsync_every: int = _FSYNC_EVERY,
    ) -> ReportWriter:
        """Reopen the report of an unfinished job, keeping exactly the `carried` records.

        `carried` is what the run being resumed will not do again: the journal's success
        records (`Journal.done_results()`). `report.jsonl` and `report.csv` are rewritten
        atomically with them (one per bucket, the last one given wins); every other record
        is dropped, as its bucket is run again. A stale `summary.json` is removed.
        `job_id` defaults to the folder's name.
        """
        if not await anyio.Path(folder).is_dir():
            raise ConfigError("no such report folder; the job cannot be resumed", place=str(folder))
        await remove_file(folder / SUMMARY_NAME)
        await remove_temp_files(folder)
        by_bucket = {result.bucket: result for result in carried}
        records = [result.to_record() for result in by_bucket.values()]
        tally = _Tally()
        for result in by_bucket.values():
            tally.add(result)
        await write_atomic(
            folder / JSONL_NAME,
            b"".join(json_line(record) for record in records),
        )
        await write_atomic(
            folder / CSV_NAME,
            csv_line(COLUMNS) + b"".join(csv_row(record) for record in records),
        )
        jsonl = await AppendLog.open(folder / JSONL_NAME, fsync_every=fsync_every)
        csv_log = await AppendLog.open(folder / CSV_NAME, fsync_every=fsync_every, jsonl=False)
        return cls(folder, job_id or folder.name, jsonl, csv_log, tally)

    @property
    def counts(self) -> Mapping[Outcome, int]:
        """Records per outcome so far (all runs)."""
        return MappingProxyType(dict(self._tally.counts))

    @property
    def failure_count(self) -> int:
        """Records so far whose outcome counts as a failure (contracts §3)."""
        return self._tally.count(FAILURE_OUTCOMES)

    async def write(self, result: Result) -> None:
        """Append `result`'s record to both files (whole, even if cancelled meanwhile)."""
        await self.write_many((result,))

    async def write_many(
        self,
        results: Sequence[Result],
        encoded: Lines | None = None,
        *,
        also: Sequence[tuple[AppendLog, Sequence[bytes]]] = (),
    ) -> None:
        """Append several records to both files in the given order, in one thread hop
        with the lines `also` given (the journal's: `encoded`'s JSON lines again)."""
        encoded = encoded if encoded is not None else encode(results)
        with anyio.CancelScope(shield=True):
            async with self._lock:
                await append_together(
                    [(self._jsonl, encoded.jsonl), (self._csv, encoded.csv), *also]
                )
                for result in results:
                    self._tally.add(result)
                self._written_this_run += len(results)

    async def flush(self) -> None:
        """Fsync both files."""
        await self._jsonl.flush()
        await self._csv.flush()

    async def finish(
        self,
        *,
        started_at: datetime,
        finished_at: datetime,
        exit_code: int,
        extra: Mapping[str, Any] | None = None,
    ) -> Summary:
        """Close both files and write `summary.json` last; returns what it holds.

        `started_at`/`finished_at` are this run's (aware datetimes); `extra` keys are added
        at the top level of `summary.json` and may not replace the summary's own.
        """
        if clash := _SUMMARY_KEYS & (extra or {}).keys():
            raise ValueError(f"extra summary keys clash with the summary's: {sorted(clash)}")
        await self.aclose()
        summary = _summary(
            self.job_id,
            self._tally,
            self._written_this_run,
            started_at=started_at,
            finished_at=finished_at,
            exit_code=exit_code,
            extra=extra,
        )
        await write_json_atomic(self.folder / SUMMARY_NAME, summary.to_record())
        return summary

    async def aclose(self) -> None:
        """Fsync and close both files without a summary (an unfinished job)."""
        with anyio.CancelScope(shield=True):
            await self._jsonl.aclose()
            await self._csv.aclose()


def _summary(
    job_id: str,
    tally: _Tally,
    written: int,
    *,
    started_at: datetime,
    finished_at: datetime,
    exit_code: int,
    extra: Mapping[str, Any] | None,
) -> Summary:
    """The summary of a job's records (`written` of them in this run)."""
    if clash := _SUMMARY_KEYS & (extra or {}).keys():
        raise ValueError(f"extra summary keys clash with the summary's: {sorted(clash)}")
    wall = max((finished_at - started_at).total_seconds(), 0.0)
    return Summary(
        job_id=job_id,
        exit_code=exit_code,
        started_at=utc_timestamp(started_at),
        finished_at=utc_timestamp(finished_at),
        wall_time_s=round(wall, 3),
        buckets_per_s=round(written / wall, 1) if wall > 0 else 0.0,
        counts=MappingProxyType({outcome: tally.counts[outcome] for outcome in Outcome}),
        total=tally.count(Outcome),
        succeeded=tally.count(SUCCESS_OUTCOMES),
        failed=tally.count(FAILURE_OUTCOMES),
        skipped=tally.counts[Outcome.SKIPPED],
        drifted=tally.count(DRIFT_OUTCOMES),
        changes=MappingProxyType({kind: tally.changes[kind] for kind in CHANGE_KINDS}),
        failures=tuple(tally.failures),
        skips=tuple(tally.skips),
        diffs=tuple(tally.diffs),
        extra=MappingProxyType(dict(extra or {})),
        overwrites=tuple(tally.overwrites),
        overwritten=tally.overwritten,
        foreign=tuple(tally.foreign),
        foreign_count=tally.foreign_count,
        new_access=tuple(tally.new_access),
        new_access_count=tally.new_access_count,
    )


class MemoryReport:
    """A read-only job's records kept in memory instead of a report folder (contracts
    §16: `report_dir=None`, nothing written); the same counts and summary as a file."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.results: list[Result] = []
        self._tally = _Tally()

    @property
    def counts(self) -> Mapping[Outcome, int]:
        """Records per outcome so far."""
        return MappingProxyType(dict(self._tally.counts))

    async def write_many(
        self,
        results: Sequence[Result],
        encoded: Lines | None = None,  # noqa: ARG002 - the file writer's signature
        *,
        also: Sequence[tuple[AppendLog, Sequence[bytes]]] = (),
    ) -> None:
        """Keep the records (nothing else may be written beside them)."""
        if also:
            raise ValueError("a report kept in memory writes no file beside it")
        self.results.extend(results)
        for result in results:
            self._tally.add(result)

    async def finish(
        self,
        *,
        started_at: datetime,
        finished_at: datetime,
        exit_code: int,
        extra: Mapping[str, Any] | None = None,
    ) -> Summary:
        """The summary `ReportWriter.finish` would write, returned only."""
        return _summary(
            self.job_id,
            self._tally,
            len(self.results),
            started_at=started_at,
            finished_at=finished_at,
            exit_code=exit_code,
            extra=extra,
        )

    async def aclose(self) -> None:
        """Nothing to close."""
