"""The journal of a job (contracts §5): what finished, so that a resumed job skips it.

`<report_dir>/<job-id>/journal.jsonl`, append-only, fsynced in small batches:

```
{"journal": 1, "job_id": ..., "manifest_sha256": ..., "action": ..., "started_at": ...}
{...one result record per finished target, as in report.jsonl...}
{"finished": true, "exit_code": 1, "pending": 8, "finished_at": ...}   when the run ended
{...a resumed run's records, then its own finished line...}
```

A job its pre-flight stopped (contracts §15: the endpoint or the credentials are wrong,
nothing to carry on) ends with `"resumable": false`: `--resume` does not find it.

A torn last line is ignored. A job may be resumed with the same effective manifest (same
sha256) while it has a target without a success record (contracts §5): its journal does
not end with a `finished` line (interrupted, or its listing failed), or that line counts
`pending` targets (failed, conflict, skipped). Targets with a success record are
skipped; every other one runs again, except a `conflict` of a job bound to a plan (its
header's `started_with` names the plan): that record is final, as a success is; and a
done target whose files the resume found lost runs again too (`redo`,
`resume_check.py`). Call `mark_finished` only when every target the job knows of got its
record and the listing ran through: a job stopped by a signal, or whose listing failed,
stays resumable and will list again.
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from .appendlog import AppendLog, AsyncClosing
from .atomic import make_private_dir
from .errors import ConfigError
from .jobid import parse_job_id, utc_timestamp
from .jsonfiles import iter_jsonl, json_line, read_jsonl_ends
from .results import Outcome, Result
from .resume_hash import differing_keys

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
    from datetime import datetime
    from pathlib import Path

__all__ = (
    "JOURNAL_NAME",
    "Journal",
    "JournalHeader",
    "find_latest",
    "find_resumable",
    "read_header",
)

JOURNAL_NAME = "journal.jsonl"

_FORMAT = 1
_FSYNC_EVERY = 16
_DAMAGED_HINT = "the journal is damaged; run without --resume to start a new job"


@dataclass(frozen=True, slots=True)
class JournalHeader:
    """The journal's first line: which job, and the sha256 of its effective manifest."""

    job_id: str
    manifest_sha256: str
    action: str | None = None
    started_at: str | None = None
    #: what the hash covers (`resume_hash.outcome_fields`), to name the keys that differ
    outcome: Mapping[str, Any] | None = None
    #: how the job was started, which its resume keeps (`resumed.started_with`)
    started_with: Mapping[str, Any] | None = None

    def to_record(self) -> dict[str, Any]:
        """The header line's JSON object."""
        return {
            "journal": _FORMAT,
            "job_id": self.job_id,
            "manifest_sha256": self.manifest_sha256,
            "action": self.action,
            "started_at": self.started_at,
            "outcome": self.outcome,
            "started_with": self.started_with,
        }

    @property
    def plan(self) -> str | None:
        """The plan the job is bound to (`--plan`, or the one its prompt showed): its
        `conflict` records are final, never run again (contracts §5)."""
        options = (self.started_with or {}).get("options")
        plan = options.get("plan") if isinstance(options, dict) else None
        return plan if isinstance(plan, str) else None

    def differing(self, outcome: Mapping[str, Any] | None) -> list[str]:
        """The keys of `outcome` that differ from the job's (empty when unknown)."""
        if self.outcome is None or outcome is None:
            return []
        return differing_keys(self.outcome, outcome)

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> JournalHeader | None:
        """Read a header line back; None if `record` is not one."""
        if record is None or record.get("journal") != _FORMAT:
            return None
        job_id, sha = record.get("job_id"), record.get("manifest_sha256")
        if not isinstance(job_id, str) or not isinstance(sha, str):
            return None
        action, started = record.get("action"), record.get("started_at")
        outcome, started_with = record.get("outcome"), record.get("started_with")
        return cls(
            job_id,
            sha,
            action if isinstance(action, str) else None,
            started if isinstance(started, str) else None,
            outcome if isinstance(outcome, dict) else None,
            started_with if isinstance(started_with, dict) else None,
        )


def _is_finished_line(record: Mapping[str, Any] | None) -> bool:
    return record is not None and record.get("finished") is True


def _has_pending(finished: Mapping[str, Any]) -> bool:
    """Whether a `finished` line leaves targets to resume (older lines: a failed exit)."""
    if finished.get("resumable") is False:
        return False
    pending = finished.get("pending")
    return bool(pending) if isinstance(pending, int) else finished.get("exit_code") != 0


def _final(result: Result, *, bound: bool) -> bool:
    """Whether `result` is the target's last record: a success, or a `conflict` of a job
    bound to a plan (resume never writes what no plan showed)."""
    return result.succeeded or (bound and result.outcome is Outcome.CONFLICT)


def _note(result: Result, done: set[str], pending: set[str], *, bound: bool = False) -> None:
    """Track `result`: a final record is done; anything else is pending until one is."""
    if _final(result, bound=bound):
        done.add(result.bucket)
        pending.discard(result.bucket)
    else:
        pending.add(result.bucket)


async def _lines(path: Path) -> AsyncGenerator[tuple[int, dict[str, Any]], None]:
    """(line number, record) of every good line; a bad line but the last raises."""

    def bad_line(line_no: int, reason: str) -> ConfigError:
        return ConfigError(reason, place=f"{path} line {line_no}", hint=_DAMAGED_HINT)

    line_no = 0
    async with aclosing(iter_jsonl(path, bad_line=bad_line)) as records:
        async for record in records:
            line_no += 1
            yield line_no, record


def _result(path: Path, line_no: int, record: dict[str, Any]) -> Result:
    try:
        return Result.from_record(record)
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"not a result record ({exc})", place=f"{path} line {line_no}", hint=_DAMAGED_HINT
        ) from exc


class Journal(AsyncClosing):
    """One job's journal, open for appending result records."""

    def __init__(
        self,
        path: Path,
        header: JournalHeader,
        log: AppendLog,
        done: set[str],
        pending: set[str] | None = None,
    ) -> None:
        self.path = path
        self.header = header
        self._log = log
        self._done = done
        #: buckets whose latest record is not a success (run again on resume)
        self._pending = pending if pending is not None else set()
        self._finished = False

    @property
    def job_id(self) -> str:
        """The job this journal belongs to."""
        return self.header.job_id

    @property
    def manifest_sha256(self) -> str:
        """The sha256 of the effective manifest the job started with."""
        return self.header.manifest_sha256

    @property
    def finished(self) -> bool:
        """True once `mark_finished` has written the final line."""
        return self._finished

    @classmethod
    async def create(
        cls,
        path: Path,
        *,
        manifest_sha256: str,
        job_id: str,
        action: str | None = None,
        outcome: Mapping[str, Any] | None = None,
        fsync_every: int = _FSYNC_EVERY,
        started_with: Mapping[str, Any] | None = None,
    ) -> Journal:
        """Start a new journal at `path` (which must not exist) with its header, fsynced."""
        await make_private_dir(path.parent)
        header = JournalHeader(
            job_id, manifest_sha256, action, utc_timestamp(), outcome, started_with
        )
        log = await AppendLog.open(path, exclusive=True, fsync_every=fsync_every)
        await log.append_json(header.to_record())
        await log.flush()
        return cls(path, header, log, set())

    @classmethod
    async def open_for_resume(
        cls,
        path: Path,
        *,
        manifest_sha256: str,
        outcome: Mapping[str, Any] | None = None,
        fsync_every: int = _FSYNC_EVERY,
    ) -> Journal:
        """Reopen a job's journal to append the records of the resumed run.

        Refused (`ConfigError`, exit 2) when there is no journal, it is damaged, the job
        finished with every target done, or the effective manifest's sha256 differs from
        the one it started with. A torn last line is cut off before appending.
        """
        if not await anyio.Path(path).is_file():
            raise ConfigError(
                "no journal.jsonl: this job cannot be resumed",
                place=str(path.parent),
                hint="run without --resume to start a new job",
            )
        header: JournalHeader | None = None
        done: set[str] = set()
        pending: set[str] = set()
        finished: Mapping[str, Any] | None = None
        bound = False
        async with aclosing(_lines(path)) as lines:
            async for line_no, record in lines:
                if line_no == 1:
                    header = JournalHeader.from_record(record)
                    if header is None:
                        break
                    bound = header.plan is not None
                    continue
                finished = record if _is_finished_line(record) else None
                if finished is None:
                    _note(_result(path, line_no, record), done, pending, bound=bound)
        if header is None:
            raise ConfigError(
                "does not start with a journal header line", place=str(path), hint=_DAMAGED_HINT
            )
        if finished is not None and finished.get("resumable") is False:
            raise ConfigError(
                f"job {header.job_id} was stopped before any target finished (its first "
                "call showed the endpoint or the credentials wrong); there is nothing to "
                "resume",
                hint="fix what its summary.json's error says and run without --resume",
            )
        if finished is not None and not pending:
            kept = f" or kept as a conflict with plan {header.plan}" if header.plan else ""
            raise ConfigError(
                f"job {header.job_id} finished with every target done{kept} (exit code "
                f"{finished.get('exit_code')}); there is nothing to resume",
                hint=(
                    "plan again to see what changed, and run that plan"
                    if kept
                    else "run without --resume to start a new job"
                ),
            )
        if header.manifest_sha256 != manifest_sha256:
            keys = header.differing(outcome)
            raise ConfigError(
                f"the manifest changed since job {header.job_id} started"
                + (f" ({', '.join(keys)} differ)" if keys else ""),
                hint=(
                    f"resume with the manifest it started with "
                    f"({path.parent / 'manifest.yaml'}), or run without --resume "
                    f"to start a new job"
                ),
            )
        log = await AppendLog.open(path, fsync_every=fsync_every)
        return cls(path, header, log, done, pending)

    async def record(self, result: Result) -> None:
        """Append `result`'s record (fsynced with the next batch)."""
        await self.record_many((result,))

    async def record_many(self, results: Iterable[Result]) -> None:
        """Append several records in one write."""
        results = list(results)
        log, lines = self.part([json_line(result.to_record()) for result in results])
        await log.append_many(lines)
        self.noted(results)

    def part(self, lines: Sequence[bytes]) -> tuple[AppendLog, Sequence[bytes]]:
        """Where the JSON lines of a batch of records go, for a writer that appends them
        together with its own (`appendlog.append_together`); then call `noted`."""
        if self._finished:
            raise ValueError(f"{self.path}: the journal is finished")
        return self._log, lines

    def noted(self, results: Iterable[Result]) -> None:
        """Count records whose lines were appended (done and pending buckets)."""
        bound = self.header.plan is not None
        for result in results:
            _note(result, self._done, self._pending, bound=bound)

    async def mark_finished(self, exit_code: int, *, resumable: bool = True) -> None:
        """Write the run's final line: every known target has its record and the listing
        ran through; the job stays resumable only while some target is `pending`.
        `resumable=False` (a job its pre-flight stopped) leaves nothing to resume."""
        line: dict[str, Any] = {
            "finished": True,
            "exit_code": exit_code,
            "pending": len(self._pending),
            "finished_at": utc_timestamp(),
        }
        if not resumable:
            line["resumable"] = False
        await self._log.append_json(line)
        await self._log.flush()
        self._finished = True

    def done_buckets(self) -> set[str]:
        """Buckets with a final record (a success, or a conflict with the job's plan): a
        resumed job skips them."""
        return set(self._done)

    def redo(self, buckets: Iterable[str]) -> None:
        """Run `buckets` again although they have a success record (what it left is lost,
        `resume_check.py`): pending until their new record, and left out of
        `done_results`, so the rebuilt report gets only their new record."""
        for bucket in buckets:
            if bucket in self._done:
                self._done.discard(bucket)
                self._pending.add(bucket)

    @property
    def pending(self) -> frozenset[str]:
        """Buckets whose latest record is not a success (of all runs so far)."""
        return frozenset(self._pending)

    async def records(self) -> list[Result]:
        """Every result record in the journal (of all runs), in order."""
        await self._log.flush()
        async with aclosing(_lines(self.path)) as lines:
            return [
                _result(self.path, line_no, record)
                async for line_no, record in lines
                if line_no > 1 and not _is_finished_line(record)
            ]

    async def iter_records(self) -> AsyncGenerator[Result, None]:
        """Every result record in the journal (of all runs), in order, streamed."""
        await self._log.flush()
        async with aclosing(_lines(self.path)) as lines:
            async for line_no, record in lines:
                if line_no > 1 and not _is_finished_line(record):
                    yield _result(self.path, line_no, record)

    async def done_results(self) -> list[Result]:
        """The last final record of each done bucket: what a resumed report carries."""
        bound = self.header.plan is not None
        latest: dict[str, Result] = {}
        for result in await self.records():
            if _final(result, bound=bound) and result.bucket in self._done:
                latest[result.bucket] = result
        return list(latest.values())

    async def flush(self) -> None:
        """Fsync every record appended so far."""
        await self._log.flush()

    async def aclose(self) -> None:
        """Fsync and close; completes even when cancelled."""
        await self._log.aclose()


async def read_header(folder: Path) -> JournalHeader | None:
    """The header of the journal in a job folder, or None when there is none."""
    try:
        first, _ = await read_jsonl_ends(folder / JOURNAL_NAME)
    except OSError:
        return None
    return JournalHeader.from_record(first)


#: jobs that only read and report: never resumed (run them again instead)
_NOT_RESUMABLE = frozenset({"plan", "check"})


async def find_resumable(report_dir: Path, manifest_sha256: str | None) -> Path | None:
    """The newest job folder in `report_dir` whose journal has this manifest sha256 (any
    manifest for None) and a target left to do: no `finished` line, or one with
    `pending` targets. None if there is none. Only the first and last lines of each
    journal are read; plans and checks are never resumed."""
    return await _newest(report_dir, manifest_sha256, unfinished=True)


async def find_latest(report_dir: Path, manifest_sha256: str) -> Path | None:
    """The newest job folder in `report_dir` of this manifest, finished or not (plans
    and checks left out): what `--resume` names when nothing is left to resume."""
    return await _newest(report_dir, manifest_sha256, unfinished=False)


async def _newest(
    report_dir: Path, manifest_sha256: str | None, *, unfinished: bool
) -> Path | None:
    root = anyio.Path(report_dir)
    if not await root.is_dir():
        return None
    candidates: list[tuple[datetime, int, Path]] = []
    async for folder in root.iterdir():
        try:
            job = parse_job_id(folder.name)
        except ValueError:
            continue
        if job.action in _NOT_RESUMABLE:
            continue
        journal = folder / JOURNAL_NAME
        try:
            stat = await journal.stat()
        except OSError:
            continue
        candidates.append((job.started_at, stat.st_mtime_ns, report_dir / folder.name))
    for _, _, folder_path in sorted(candidates, key=lambda c: (c[0], c[1]), reverse=True):
        first, last = await read_jsonl_ends(folder_path / JOURNAL_NAME)
        header = JournalHeader.from_record(first)
        if header is None:
            continue
        if manifest_sha256 is not None and header.manifest_sha256 != manifest_sha256:
            continue
        if not unfinished or last is None or not _is_finished_line(last) or _has_pending(last):
            return folder_path
    return None
