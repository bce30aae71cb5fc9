"""The Python API (contracts §16): one async function per job.

```
backup(m)  apply(m, confirm=…)  delete(m, confirm=…)  restore(m, confirm=…)
rollback(job_id, confirm=…)  plan(m)  check(m)  validate(m)        ─► JobRun
audit(m or backup folder, fail_on=…)                                 ─► AuditRun
stream(backup, m)  (api_stream.py)                   ─► async iterator of Result
```

Each takes a `Manifest` (or its keys as a mapping, the action filled in) and keyword
options, and returns a `JobRun`. Writing jobs are gated: `confirm` is shown the plan and
says yes or no (`gate.py`), `yes=True` skips the question. Read-only jobs (`plan`,
`check`) run with `report_dir=None` and write nothing. `credentials` gives access keys as
objects (`AccessKey`), `progress` is told how the job goes, `on_result` gets every
record. Errors are one tree under `OssPolicyError`. asyncio only (aiofiles and the SDK's
aio client are asyncio's).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Final, TypedDict

import anyio

from .api_args import access_keys, given_manifest, resume_value
from .audit import AuditRun, backup_folder_of, run_audit
from .backends import Backend
from .errors import ConfigError
from .findings import Severity
from .gate import Confirm, confirmed
from .job import JobRun, OnResult, RunOptions, run_job, validate_job
from .keys import AccessKey
from .manifest import Manifest
from .results import Outcome, Result
from .resumed import resumed
from .rollback import rollback_manifest
from .userstate import find_job

__all__ = (
    "JobProgress",
    "Progress",
    "apply",
    "audit",
    "backup",
    "check",
    "delete",
    "plan",
    "restore",
    "rollback",
    "validate",
)


class _Unset(Enum):
    UNSET = "unset"


#: "the manifest's own" (a `report_dir=None` means: no report folder at all)
_MANIFEST: Final = _Unset.UNSET
Folder = Path | str
#: a manifest, its file's path, or its keys as the YAML file would hold them
ManifestLike = Manifest | str | os.PathLike[str] | Mapping[str, Any]
#: access keys as objects: one for every account of the job, or one per account name
Credentials = AccessKey | Mapping[str, AccessKey]


@dataclass(frozen=True, slots=True)
class JobProgress:
    """How a job goes: told once it started (`finished` 0) and after every record."""

    job_id: str
    #: how many targets it runs, when that is known before listing them
    total: int | None
    finished: int = 0
    failed: int = 0


#: told how a job goes (a progress bar, a log line, a metric)
Progress = Callable[[JobProgress], None]


# -- the jobs ------------------------------------------------------------------------------


async def backup(
    manifest: ManifestLike,
    *,
    resume: str | bool | None = None,
    report_dir: Folder | _Unset = _MANIFEST,
    backup_dir: Folder | _Unset = _MANIFEST,
    on_result: OnResult | None = None,
    progress: Progress | None = None,
    credentials: Credentials | None = None,
    backend: Backend | None = None,
) -> JobRun:
    """Back up every target's policy to a new backup folder (`run.backup_folder`);
    `resume` ("latest", True, or a job id) finishes an unfinished backup instead."""
    m = _manifest(manifest, ("backup",), "backup", report_dir, backup_dir)
    options = RunOptions(resume=resume_value(resume))
    return await _run(m, options, **_how(on_result, progress, credentials, backend))


async def apply(
    manifest: ManifestLike,
    *,
    confirm: Confirm | None = None,
    yes: bool = False,
    plan: str | None = None,
    resume: str | bool | None = None,
    deny_new_access: bool = False,
    report_dir: Folder | _Unset = _MANIFEST,
    backup_dir: Folder | _Unset = _MANIFEST,
    on_result: OnResult | None = None,
    progress: Progress | None = None,
    credentials: Credentials | None = None,
    backend: Backend | None = None,
) -> JobRun:
    """Put the manifest's baseline on every target (merged or replacing), a snapshot of
    each bucket taken before its write. Gated: `confirm(plan)` says yes or no to the plan
    made first (NotConfirmed on a no), or `yes=True`; `plan` writes exactly a saved
    plan. With nothing to write, the plan's run is returned (`run.action == "plan"`).
    `deny_new_access` fails, unwritten, each bucket whose new policy would allow what its
    current one does not (as for `delete`, `restore` and `rollback`)."""
    m = _manifest(manifest, ("apply",), "apply", report_dir, backup_dir)
    options = RunOptions(resume=resume_value(resume), plan=plan, deny_new_access=deny_new_access)
    return await _write(
        m, options, confirm=confirm, yes=yes, **_how(on_result, progress, credentials, backend)
    )


async def delete(
    manifest: ManifestLike,
    *,
    confirm: Confirm | None = None,
    yes: bool = False,
    plan: str | None = None,
    resume: str | bool | None = None,
    deny_new_access: bool = False,
    report_dir: Folder | _Unset = _MANIFEST,
    backup_dir: Folder | _Unset = _MANIFEST,
    on_result: OnResult | None = None,
    progress: Progress | None = None,
    credentials: Credentials | None = None,
    backend: Backend | None = None,
) -> JobRun:
    """Delete every target's policy, each snapshotted first; gated as `apply`."""
    m = _manifest(manifest, ("delete",), "delete", report_dir, backup_dir)
    options = RunOptions(resume=resume_value(resume), plan=plan, deny_new_access=deny_new_access)
    return await _write(
        m, options, confirm=confirm, yes=yes, **_how(on_result, progress, credentials, backend)
    )


async def restore(
    manifest: ManifestLike,
    *,
    confirm: Confirm | None = None,
    yes: bool = False,
    plan: str | None = None,
    resume: str | bool | None = None,
    allow_incomplete: bool = False,
    skip_damaged: bool = False,
    deny_new_access: bool = False,
    report_dir: Folder | _Unset = _MANIFEST,
    backup_dir: Folder | _Unset = _MANIFEST,
    on_result: OnResult | None = None,
    progress: Progress | None = None,
    credentials: Credentials | None = None,
    backend: Backend | None = None,
) -> JobRun:
    """Put every bucket of the backup folder `source` back exactly; gated as `apply`."""
    m = _manifest(manifest, ("restore",), "restore", report_dir, backup_dir)
    options = RunOptions(
        resume=resume_value(resume),
        plan=plan,
        allow_incomplete=allow_incomplete,
        skip_damaged=skip_damaged,
        deny_new_access=deny_new_access,
    )
    return await _write(
        m, options, confirm=confirm, yes=yes, **_how(on_result, progress, credentials, backend)
    )


async def rollback(
    job_id: str,
    *,
    confirm: Confirm | None = None,
    yes: bool = False,
    force: bool = False,
    deny_new_access: bool = False,
    report_dir: Folder = "reports",
    endpoint: str | None = None,
    on_result: OnResult | None = None,
    progress: Progress | None = None,
    credentials: Credentials | None = None,
    backend: Backend | None = None,
) -> JobRun:
    """Put back what job `job_id` changed, from its `-pre` snapshot (found in
    `report_dir`, else in the user's state folder); a bucket changed since is kept as
    a `conflict` unless `force`. Gated as `apply`."""
    found = await anyio.to_thread.run_sync(find_job, job_id, Path(report_dir))
    m = rollback_manifest(found.folder(job_id), endpoint=endpoint)
    options = RunOptions(rollback=True, force=force, deny_new_access=deny_new_access)
    return await _write(
        m, options, confirm=confirm, yes=yes, **_how(on_result, progress, credentials, backend)
    )


async def plan(
    manifest: ManifestLike,
    *,
    deny_new_access: bool = False,
    report_dir: Folder | _Unset | None = _MANIFEST,
    on_result: OnResult | None = None,
    progress: Progress | None = None,
    credentials: Credentials | None = None,
    backend: Backend | None = None,
) -> JobRun:
    """What an apply, delete or restore would change, a diff per bucket and the new
    access it would grant (each record's `new_access`); nothing written to a bucket.
    Its job id, run later with `apply(..., plan=ID)`, writes exactly that; with
    `report_dir=None` nothing is written to disk either. `deny_new_access` fails each
    bucket that would be given new access, as the run would."""
    m = _manifest(manifest, _WRITING, "plan", report_dir)
    options = RunOptions(
        dry_run=True, in_memory=report_dir is None, deny_new_access=deny_new_access
    )
    return await _run(m, options, **_how(on_result, progress, credentials, backend))


async def check(
    manifest: ManifestLike,
    *,
    report_dir: Folder | _Unset | None = _MANIFEST,
    on_result: OnResult | None = None,
    progress: Progress | None = None,
    credentials: Credentials | None = None,
    backend: Backend | None = None,
) -> JobRun:
    """Drift of an apply or restore job: `run.exit_code` 0 compliant, 3 drifted, 1 a
    bucket unreadable; with `report_dir=None` nothing is written to disk."""
    m = _manifest(manifest, ("apply", "restore"), "check", report_dir)
    options = RunOptions(check=True, in_memory=report_dir is None)
    return await _run(m, options, **_how(on_result, progress, credentials, backend))


async def audit(
    target: ManifestLike,
    *,
    fail_on: Severity = "high",
    report_dir: Folder | _Unset | None = _MANIFEST,
    on_result: OnResult | None = None,
    progress: Progress | None = None,
    credentials: Credentials | None = None,
    backend: Backend | None = None,
) -> AuditRun:
    """The findings of every target's policy (contracts §18): read live from the targets
    of a backup, apply or delete manifest (like `check`), or, given a backup folder,
    from its files with no request. `run.exit_code` 1 when a target could not be read,
    else 3 when a finding is at or above `fail_on` ("high", "medium" or "low"), else 0.
    A report folder (`report_dir`; the manifest's, or "reports" for a backup) holds
    `findings.jsonl` and `findings.sarif`; with `report_dir=None` nothing is written."""
    told = _Told(progress, on_result)
    folder = backup_folder_of(target)
    if folder is not None:
        reports = None if report_dir is None else Path(_or(report_dir, "reports"))
        return await run_audit(
            folder, fail_on=fail_on, report_dir=reports, on_start=told.start, on_result=told.result
        )
    m = _manifest(target, _AUDITED, "audit", report_dir)
    return await run_audit(
        m,
        fail_on=fail_on,
        report_dir=None if report_dir is None else Path(m.report_dir),
        on_start=told.start,
        on_result=told.result,
        backend=backend,
        keys=access_keys(m, credentials),
    )


def _or(folder: Folder | _Unset, default: str) -> Folder:
    return default if isinstance(folder, _Unset) else folder


async def validate(manifest: ManifestLike) -> None:
    """Every check of the manifest and its files that needs no request (the baseline,
    the targets file, the backup to restore); raises ConfigError for the first."""
    m = _manifest(manifest, _ANY, "validate")
    await validate_job(m)


# -- the parts -----------------------------------------------------------------------------

_WRITING = ("apply", "delete", "restore")
#: the functions that may run with `report_dir=None`
_IN_MEMORY = ("plan", "check", "audit")
#: the manifests whose targets an audit reads
_AUDITED = ("backup", "apply", "delete")
_ANY = ("backup", "apply", "delete", "restore")


def _manifest(
    given: ManifestLike,
    actions: tuple[str, ...],
    name: str,
    report_dir: Folder | _Unset | None = _MANIFEST,
    backup_dir: Folder | _Unset = _MANIFEST,
) -> Manifest:
    """The manifest a function runs: given, read from its file, or parsed from its keys
    (the action filled in when only one fits, or, for a plan or check, implied by
    `source` (restore) or `policy` (apply)); one of another action is refused."""
    manifest = given_manifest(given, actions, name)
    if manifest.action not in actions:
        raise ConfigError(
            f"osspolicy.{name}() runs {' or '.join(actions)} jobs; this manifest's action "
            f"is {manifest.action}",
            hint=f"call osspolicy.{manifest.action}()" if name in _ANY else None,
        )
    if report_dir is None and name not in _IN_MEMORY:
        raise ConfigError(
            f"osspolicy.{name}() cannot run without a report folder (report_dir=None): "
            "its report and journal are how it is resumed and rolled back",
            hint="give it a report_dir, or leave the manifest's",
        )
    update: dict[str, str] = {}
    if report_dir is not _MANIFEST and report_dir is not None:
        update["report_dir"] = str(report_dir)
    if backup_dir is not _MANIFEST:
        update["backup_dir"] = str(backup_dir)
    return manifest.model_copy(update=update) if update else manifest


class _How(TypedDict):
    on_result: OnResult | None
    progress: Progress | None
    credentials: Credentials | None
    backend: Backend | None


def _how(
    on_result: OnResult | None,
    progress: Progress | None,
    credentials: Credentials | None,
    backend: Backend | None,
) -> _How:
    """The options every job function passes on as they are."""
    return {
        "on_result": on_result,
        "progress": progress,
        "credentials": credentials,
        "backend": backend,
    }


def _close(awaitable: object) -> None:
    """Close a coroutine never awaited (no "was never awaited" warning)."""
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


class _Told:
    """Tells `progress` how the job goes, and passes each record on."""

    def __init__(self, progress: Progress | None, on_result: OnResult | None) -> None:
        if inspect.iscoroutinefunction(progress):  # refused before the job starts
            self._refuse_async()
        self.progress = progress
        self.on_result = on_result
        self.state: JobProgress | None = None

    def start(self, job_id: str, total: int | None) -> None:
        self.state = JobProgress(job_id, total)
        self._tell(self.state)

    @staticmethod
    def _refuse_async() -> None:
        raise ConfigError(  # an async progress would be dropped, never awaited
            "progress= is called, not awaited: give a plain function",
            hint="for async work per record, use on_result= (awaited) instead",
        )

    def _tell(self, state: JobProgress) -> None:
        if self.progress is None:
            return
        told: object = self.progress(state)  # typed None; an async callable's is awaitable
        if inspect.isawaitable(told):
            _close(told)
            self._refuse_async()

    async def result(self, result: Result) -> None:
        if self.state is not None and self.progress is not None:
            failed = self.state.failed + (result.outcome is Outcome.FAILED)
            self.state = dataclasses.replace(
                self.state, finished=self.state.finished + 1, failed=failed
            )
            self._tell(self.state)
        if self.on_result is not None:
            maybe = self.on_result(result)
            if maybe is not None:
                await maybe


async def _run(
    manifest: Manifest,
    options: RunOptions,
    *,
    on_result: OnResult | None,
    progress: Progress | None,
    credentials: Credentials | None,
    backend: Backend | None,
) -> JobRun:
    told = _Told(progress, on_result)
    return await run_job(
        manifest,
        options,
        source=f"osspolicy.{manifest.action}()",
        backend=backend,
        on_result=told.result,
        on_start=told.start,
        keys=access_keys(manifest, credentials),
    )


async def _write(  # noqa: PLR0917 - the jobs' own options, passed on
    manifest: Manifest,
    options: RunOptions,
    confirm: Confirm | None,
    yes: bool,
    on_result: OnResult | None,
    progress: Progress | None,
    credentials: Credentials | None,
    backend: Backend | None,
) -> JobRun:
    """A writing job through the gate; a resume asks about the job that was started.
    `on_result` and `progress` follow the job that writes, not the plan made first for
    `confirm` (its records are in the `PlanToConfirm`'s run)."""
    if confirm is not None and yes:
        raise ConfigError(
            "give confirm= or yes=True, not both: yes=True writes without asking",
            hint="drop yes=True to have confirm decide",
        )
    if options.resume is not None and not yes:
        continuing = await resumed(manifest, options)
        manifest, options = continuing.manifest, continuing.options

    async def run(chosen: RunOptions) -> JobRun:
        told = not chosen.dry_run  # the gate's plan is shown to confirm, not streamed
        return await _run(
            manifest,
            chosen,
            on_result=on_result if told else None,
            progress=progress if told else None,
            credentials=credentials,
            backend=backend,
        )

    report_dir = Path(manifest.report_dir)
    return await confirmed(run, options, report_dir=report_dir, confirm=confirm, yes=yes)
