"""Job history: what the jobs of a report folder did, read back from their files.

`list_jobs(report_dir)` gives one `JobEntry` per job folder (`<report_dir>/<job-id>/`,
contracts §2), newest first: its action and start time (from the job id), its counts per
outcome and exit code (from `summary.json`), and for a job with a backup folder (a
backup, or the `-pre` snapshot of a writing job) that folder's state. `show_job` adds
every failure record and where each file is (`JobDetail`).

Nothing here writes. The files are read as written, whatever their state:

- A job without `summary.json` never finished (killed, or still running): it is
  `unfinished`, with no exit code, and its counts come from `report.jsonl` as far as it
  got (a torn last line is ignored, contracts §2).
- The backup folder is found through the job's recorded `manifest.yaml` (`backup_dir`),
  or the `backup_folder` its summary names. A backup is `complete` only when its own
  `summary.json` says so (contracts §2); one without `summary.json` is unfinished, so
  incomplete. A snapshot has no completeness (rollback needs none): its `complete` is None.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from .backup import INDEX_NAME, MISSING_NAME
from .backup import SUMMARY_NAME as BACKUP_SUMMARY_NAME
from .errors import ConfigError
from .exitcodes import EXIT_DRIFT, EXIT_FAILURES, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM
from .jobid import parse_job_id, utc_timestamp
from .journal import JOURNAL_NAME
from .report import CSV_NAME, JSONL_NAME, MANIFEST_NAME, SUMMARY_NAME
from .results import FAILURE_OUTCOMES, Outcome

__all__ = (
    "BackupState",
    "JobDetail",
    "JobEntry",
    "JobStatus",
    "list_jobs",
    "read_job",
    "show_job",
)

#: how a job ended, in one word (`unfinished`: it has no summary.json)
JobStatus = Literal["ok", "failed", "drift", "interrupted", "unfinished"]
_STATUS_BY_EXIT: Mapping[int, JobStatus] = {
    EXIT_OK: "ok",
    EXIT_FAILURES: "failed",
    EXIT_DRIFT: "drift",
    EXIT_SIGINT: "interrupted",
    EXIT_SIGTERM: "interrupted",
}
_FAILURES = frozenset(str(outcome) for outcome in FAILURE_OUTCOMES)


@dataclass(frozen=True, slots=True)
class BackupState:
    """A job's backup folder (`kind` backup) or pre-change snapshot (`kind` snapshot).

    `exists` is False when the folder named by the job is not there (moved, deleted,
    or never made: a job stopped before its first write). `finished` says whether it has
    its `summary.json`. `complete` is for backups only: True when the summary says so,
    False otherwise (no summary, or `complete: false`); None for a snapshot.
    """

    folder: Path
    kind: Literal["backup", "snapshot"]
    exists: bool
    finished: bool
    complete: bool | None
    listing_complete: bool | None
    missing: int | None
    buckets: int | None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (the folder as a string)."""
        return {
            "folder": str(self.folder),
            "kind": self.kind,
            "exists": self.exists,
            "finished": self.finished,
            "complete": self.complete,
            "listing_complete": self.listing_complete,
            "missing": self.missing,
            "buckets": self.buckets,
        }


@dataclass(frozen=True, slots=True)
class JobEntry:
    """One job of a report folder, as `osspolicy jobs` lists it.

    `counts` holds the outcomes that occurred (per outcome, nonzero only); `exit_code`
    is None for an unfinished job (no `summary.json`), whose counts are those of the
    records it wrote.
    """

    job_id: str
    action: str
    started_at: str
    finished_at: str | None
    status: JobStatus
    exit_code: int | None
    counts: Mapping[str, int]
    total: int
    failed: int
    folder: Path
    backup: BackupState | None

    @property
    def finished(self) -> bool:
        """Whether the job wrote its summary.json."""
        return self.exit_code is not None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data: one object per job of `osspolicy jobs --json`."""
        return {
            "job_id": self.job_id,
            "action": self.action,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "exit_code": self.exit_code,
            "counts": dict(self.counts),
            "total": self.total,
            "failed": self.failed,
            "report": str(self.folder),
            "backup": self.backup.to_json() if self.backup is not None else None,
            "complete": self.backup.complete if self.backup is not None else None,
        }


@dataclass(frozen=True, slots=True)
class JobDetail:
    """One job in full, as `osspolicy show` prints it: its entry, its summary as
    written (None if unfinished), every failure record of its report, and its files."""

    entry: JobEntry
    summary: Mapping[str, Any] | None
    failures: tuple[Mapping[str, Any], ...]
    files: Mapping[str, Path]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data: the object of `osspolicy show --json`."""
        return {
            **self.entry.to_json(),
            "summary": dict(self.summary) if self.summary is not None else None,
            "failures": [dict(record) for record in self.failures],
            "files": {name: str(path) for name, path in self.files.items()},
        }


def _json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when it is missing or not one (a job's file
    that cannot be read is shown as absent, never an error of the whole listing)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSON-lines file, streamed; a line that is not a complete JSON
    object (a torn last line) is skipped."""
    try:
        file = path.open("rb")
    except OSError:
        return
    with file:
        for line in file:
            if not line.endswith(b"\n"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def _recorded_backup_dir(folder: Path) -> Path | None:
    """`backup_dir` of the job's recorded effective manifest (None if unreadable)."""
    try:
        data = yaml.safe_load((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    value = data.get("backup_dir") if isinstance(data, dict) else None
    return Path(value) if isinstance(value, str) and value else None


def _backup_state(
    folder: Path, job_id: str, summary: Mapping[str, Any] | None
) -> BackupState | None:
    """The job's backup folder or snapshot: named by its summary, else looked for in
    the recorded `backup_dir` (`<job-id>` for a backup, `<job-id>-pre` for a snapshot)."""
    named = summary.get("backup_folder") if summary is not None else None
    candidates: list[Path] = []
    if isinstance(named, str) and named:
        candidates.append(Path(named))
    backup_dir = _recorded_backup_dir(folder)
    if backup_dir is not None:
        candidates += [backup_dir / job_id, backup_dir / f"{job_id}-pre"]
    found = next((path for path in candidates if path.is_dir()), None)
    if found is None:
        is_backup = parse_job_id(job_id).action == "backup"
        if candidates and (is_backup or named):
            return BackupState(
                candidates[0], "backup" if is_backup else "snapshot", False, False,
                False if is_backup else None, None, None, None,
            )  # fmt: skip
        return None
    kind: Literal["backup", "snapshot"] = "snapshot" if found.name.endswith("-pre") else "backup"
    written = _json_object(found / BACKUP_SUMMARY_NAME)
    buckets = (
        written.get("buckets")
        if written is not None
        else sum(1 for _ in _records(found / INDEX_NAME))
    )
    complete: bool | None = None
    if kind == "backup":
        complete = written is not None and written.get("complete", True) is True
    missing = written.get("missing") if written is not None else None
    listing = written.get("listing_complete") if written is not None else None
    return BackupState(
        folder=found,
        kind=kind,
        exists=True,
        finished=written is not None,
        complete=complete,
        listing_complete=listing if isinstance(listing, bool) else None,
        missing=missing if isinstance(missing, int) else None,
        buckets=buckets if isinstance(buckets, int) else None,
    )


def _counted(folder: Path) -> dict[str, int]:
    """Records per outcome of the job's report.jsonl (the last record of a bucket)."""
    latest: dict[str, str] = {}
    for record in _records(folder / JSONL_NAME):
        bucket, outcome = record.get("bucket"), record.get("outcome")
        if isinstance(bucket, str) and isinstance(outcome, str):
            latest[bucket] = outcome
    return dict(Counter(latest.values()))


def _started_at(folder: Path, fallback: str) -> str:
    """When the job first started: its journal header's time (milliseconds), else the
    job id's (seconds)."""
    try:
        with (folder / JOURNAL_NAME).open("rb") as file:
            header = json.loads(file.readline())
    except (OSError, ValueError):
        return fallback
    started = header.get("started_at") if isinstance(header, dict) else None
    return started if isinstance(started, str) else fallback


def _status(exit_code: int | None) -> JobStatus:
    if exit_code is None:
        return "unfinished"
    return _STATUS_BY_EXIT.get(exit_code, "failed")


def read_job(folder: Path) -> JobEntry:
    """The entry of one job folder (`<report_dir>/<job-id>`); ValueError if its name is
    not a job id."""
    job = parse_job_id(folder.name)
    summary = _json_object(folder / SUMMARY_NAME)
    exit_code: int | None = None
    finished_at: str | None = None
    if summary is not None and isinstance(summary.get("exit_code"), int):
        exit_code = summary["exit_code"]
        raw = summary.get("counts")
        counts = {str(k): v for k, v in (raw if isinstance(raw, dict) else {}).items() if v}
        finished = summary.get("finished_at")
        finished_at = finished if isinstance(finished, str) else None
    else:
        summary = None
        counts = _counted(folder)
    ordered = {str(o): counts[str(o)] for o in Outcome if counts.get(str(o))}
    return JobEntry(
        job_id=folder.name,
        action=job.action,
        started_at=_started_at(folder, utc_timestamp(job.started_at)),
        finished_at=finished_at,
        status=_status(exit_code),
        exit_code=exit_code,
        counts=MappingProxyType(ordered),
        total=sum(ordered.values()),
        failed=sum(n for outcome, n in ordered.items() if outcome in _FAILURES),
        folder=folder,
        backup=_backup_state(folder, folder.name, summary),
    )


def _job_folders(report_dir: Path) -> list[Path]:
    if not report_dir.is_dir():
        raise ConfigError(
            "no such report folder",
            place=str(report_dir),
            hint="pass --report-dir (the report_dir of your manifests)",
        )
    found: list[Path] = []
    for folder in report_dir.iterdir():
        try:
            parse_job_id(folder.name)
        except ValueError:
            continue
        if folder.is_dir():
            found.append(folder)
    return found


def list_jobs(report_dir: Path) -> list[JobEntry]:
    """Every job of `report_dir` (paths made absolute), newest first (by start time, to
    the millisecond); ConfigError if the folder is missing. Folders whose name is not a
    job id are left out."""
    entries = [read_job(folder) for folder in _job_folders(report_dir.absolute())]
    return sorted(entries, key=lambda entry: (entry.started_at, entry.job_id), reverse=True)


def show_job(report_dir: Path, job_id: str) -> JobDetail:
    """One job in full: its entry, summary, every failure record, and its files.

    ConfigError (exit 2) when `job_id` is not a job id or has no folder in `report_dir`.
    """
    try:
        parse_job_id(job_id)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="pick one from `osspolicy jobs`") from None
    folder = report_dir.absolute() / job_id
    if not folder.is_dir():
        raise ConfigError(
            f"no job {job_id} in {report_dir}",
            hint="pick one from `osspolicy jobs`, or pass --report-dir",
        )
    entry = read_job(folder)
    failures = tuple(
        record for record in _latest(folder / JSONL_NAME) if record.get("outcome") in _FAILURES
    )
    files = {
        name: folder / file
        for name, file in (
            ("report", JSONL_NAME),
            ("csv", CSV_NAME),
            ("journal", JOURNAL_NAME),
            ("manifest", MANIFEST_NAME),
            ("summary", SUMMARY_NAME),
        )
        if (folder / file).is_file()
    }
    if entry.backup is not None and entry.backup.exists:
        files[entry.backup.kind] = entry.backup.folder
        if (entry.backup.folder / MISSING_NAME).is_file():
            files["missing"] = entry.backup.folder / MISSING_NAME
    summary = _json_object(folder / SUMMARY_NAME) if entry.finished else None
    return JobDetail(entry, summary, failures, MappingProxyType(files))


def _latest(path: Path) -> list[dict[str, Any]]:
    """The last record of each bucket, in the order of their first record."""
    latest: dict[str, dict[str, Any]] = {}
    for record in _records(path):
        latest[str(record.get("bucket"))] = record
    return list(latest.values())
