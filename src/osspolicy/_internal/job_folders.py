"""A job's folders (contracts §5): a new report folder and journal, or those of the job
a resume continues, and what its journal says is done.

```
new job ─► lock the report folder (a writing job) ─► report + journal, nothing done
--resume ─► find the job (its id, or the newest unfinished one of this manifest)
         ─► its accounts' credentials the recorded ones? ─► lock ─► journal reopened
         ─► the folders rechecked (`resume_check.py`) ─► report carried on, done skipped
```

A resume that finds nothing says why in one ConfigError: no unfinished job at all, the
newest kept its buckets as conflicts with its plan, or the unfinished one ran another
manifest (named, with the ways to carry on from it). A job kept in memory has no folder
and no journal.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from .accounts import check_recorded_accounts
from .actions import Action
from .errors import ConfigError
from .jobid import new_job_id, parse_job_id
from .journal import JOURNAL_NAME, Journal, find_latest, find_resumable, read_header
from .lock import ReportDirLock
from .manifest import Manifest, manifest_yaml
from .operations import StepResult
from .report import MANIFEST_NAME, SUMMARY_NAME, MemoryReport, ReportWriter
from .results import Target
from .resume_check import recheck
from .resume_hash import outcome_fields, outcome_sha256
from .rollback import WRITING_ACTIONS
from .words import plural

__all__ = ("JobFolders", "not_done", "open_job_folders")


@dataclass
class JobFolders:
    """The job's report side (report + journal) and what it already finished; a job
    kept in memory has no folder and no journal."""

    job_id: str
    report_folder: Path | None
    report: ReportWriter | MemoryReport
    journal: Journal | None
    done: set[str]
    resumed: bool
    #: on resume, the buckets whose record is known without a request (SnapshotLost)
    settled: dict[str, StepResult] = dataclasses.field(default_factory=dict)


async def open_job_folders(
    manifest: Manifest,
    action: Action,
    stack: AsyncExitStack,
    *,
    in_memory: bool,
    resume: str | None,
    started: dict[str, Any],
) -> JobFolders:
    """New report folder and journal, or the resumed job's (contracts §5); nothing at
    all for a job kept in memory (`in_memory`).

    `resume`: None for a new job, "latest" for the newest unfinished job of the
    manifest, else a job id; `started`: what a new job's journal header records of how
    it was started (`resumed.started_with`). The files opened are closed by `stack`.
    """
    if in_memory:
        job_id = new_job_id(action.name)
        return JobFolders(job_id, None, MemoryReport(job_id), None, set(), resumed=False)
    report_dir = Path(manifest.report_dir)
    outcome = outcome_fields(manifest)
    sha = outcome_sha256(outcome)  # the same as manifest_sha256, the baseline read once
    if resume is None:
        job_id = new_job_id(action.name)
        if action.writes:  # one writing job per report folder, before any file or request
            await stack.enter_async_context(ReportDirLock(report_dir, job_id))
        folder = report_dir / job_id
        report = await ReportWriter.create(
            folder, job_id=job_id, manifest_yaml=manifest_yaml(manifest)
        )
        stack.push_async_callback(report.aclose)
        journal = await Journal.create(
            folder / JOURNAL_NAME,
            manifest_sha256=sha if action.resumable else f"{action.name}:{sha}",
            job_id=job_id,
            action=action.name,
            outcome=outcome,
            started_with=started,
        )
        stack.push_async_callback(journal.aclose)
        return JobFolders(job_id, folder, report, journal, set(), resumed=False)
    if not action.resumable:
        raise ConfigError(f"a {action.name} cannot be resumed", hint=f"run the {action.name} again")
    found = await find_resumable(report_dir, sha) if resume == "latest" else report_dir / resume
    if found is None:
        raise await _nothing_to_resume(report_dir, outcome)
    await _check_resumed_accounts(found, outcome)
    if action.writes:
        await stack.enter_async_context(ReportDirLock(report_dir, found.name))
    journal = await Journal.open_for_resume(
        found / JOURNAL_NAME, manifest_sha256=sha, outcome=outcome
    )
    stack.push_async_callback(journal.aclose)
    # the folders first: what they no longer prove is not done (contracts §5)
    settled = await recheck(action.name, Path(manifest.backup_dir), found.name, journal)
    report = await ReportWriter.resume(
        found, carried=await journal.done_results(), job_id=found.name
    )
    stack.push_async_callback(report.aclose)
    done = journal.done_buckets()
    return JobFolders(found.name, found, report, journal, done, resumed=True, settled=settled)


async def _check_resumed_accounts(folder: Path, outcome: dict[str, Any]) -> None:
    """Refuse (exit 2, naming the account) to resume job `folder` with an account whose
    credentials are not the ones its journal header recorded (contracts §14)."""
    header = await read_header(folder)
    if header is not None and header.outcome is not None:
        check_recorded_accounts(
            outcome.get("accounts"),
            header.outcome.get("accounts"),
            recorded_in=f"job {folder.name}",
        )


async def _kept_conflicts(report_dir: Path, outcome: dict[str, Any]) -> ConfigError | None:
    """When the newest job of this manifest kept buckets as conflicts with its plan (the
    rest done), resuming cannot write them: say so, and that a new plan can."""
    latest = await find_latest(report_dir, outcome_sha256(outcome))
    if latest is None:
        return None
    try:
        summary = json.loads(await anyio.Path(latest / SUMMARY_NAME).read_text("utf-8"))
        conflicts = int(summary["counts"].get("conflict", 0))
        plan = summary.get("plan")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not conflicts or plan is None:
        return None
    return ConfigError(
        f"job {latest.name} has nothing left to resume: it kept "
        f"{plural(conflicts, 'bucket')} changed since plan {plan} as conflicts, which a "
        "resume never writes",
        hint=f"plan again (`osspolicy plan {latest / MANIFEST_NAME}`) and run that plan",
    )


async def _nothing_to_resume(report_dir: Path, outcome: dict[str, Any]) -> ConfigError:
    """Why `--resume` found nothing: no unfinished job at all, or only one that ran
    another manifest (named, with the ways to carry on from it)."""
    other = await find_resumable(report_dir, None)
    if other is None:
        conflicts = await _kept_conflicts(report_dir, outcome)
        if conflicts is not None:
            return conflicts
        return ConfigError(
            f"no unfinished job in {report_dir}",
            hint="run without --resume to start a new job",
        )
    kept = other / MANIFEST_NAME
    header = await read_header(other)
    await _check_resumed_accounts(other, outcome)  # the same job but for a credential?
    keys = header.differing(outcome) if header is not None else []
    differ = f" ({', '.join(keys)} differ)" if keys else ""
    undo = (  # only a job that wrote has a snapshot to roll back to
        f", undo it (`osspolicy rollback {other.name} --report-dir {report_dir}`)"
        if parse_job_id(other.name).action in WRITING_ACTIONS
        else ""
    )
    return ConfigError(
        f"no unfinished job of this manifest in {report_dir}; the unfinished job "
        f"{other.name} ran another manifest{differ} (its copy is {kept})",
        hint=(
            f"resume it with that manifest (`osspolicy run {kept} --resume {other.name}`)"
            f"{undo}, or run without --resume to start a new job"
        ),
    )


async def not_done(targets: AsyncIterator[Target], done: set[str]) -> AsyncIterator[Target]:
    """The targets but those the journal says are done (a resume skips them)."""
    async for target in targets:
        if target.bucket not in done:
            yield target
