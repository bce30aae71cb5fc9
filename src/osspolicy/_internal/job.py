"""One job from start to finish: checks, folders, journal, engine, records, summary.

```
manifest ─► validate_job (no request) ─► action_for ─► backend ─► job folders
         ─► engine(action.targets, action.step) ─► sink ─► finish
                                                     │
                            report.jsonl/csv + journal.jsonl (+ the action's folder)
```

Which action it is (backup, apply, delete, restore, rollback, plan, check) is the
action object's business (`actions.py`); this module runs any of them the same way.

The CLI is a thin layer over `run_job`; tests call it directly. Every check that needs no
request comes first (a ConfigError: exit 2, nothing sent). SIGINT/SIGTERM stop the engine
gracefully (contracts §14: no new attempt, so buffered targets and those waiting for a
retry are `skipped`, note `interrupted`; calls in flight get `timeouts.stop_grace_s`,
then, or at a second signal, are abandoned: `failed`, `Interrupted`), everything is
flushed, and the exit code is 130/143. `--resume` reopens the job's folders: what the
journal says succeeded is skipped, the rest runs again (contracts §5) — once the folders
are checked (`resume_check.py`): a backup's done bucket its folder no longer proves runs
again, and a bucket whose snapshot line is lost is `failed` `SnapshotLost`, not written.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from .account_book import AccountBook, account_counts
from .account_streams import AccountSlots, capped
from .actions import Action, Checked, JobContext, action_for
from .audit_action import audit_action
from .backends import Backend
from .backup import Backup, DamagedEntry
from .baseline import load_baseline
from .deadcreds import DeadCredentials
from .engine import Engine, EngineStats
from .errors import (
    ConfigError,
    Interrupted,
    ListingError,
    PreflightError,
    Stopped,
)
from .findings import Finding, Severity
from .job_backend import accounts_and_backend, tries_factory
from .job_finish import finish_job
from .job_folders import JobFolders, not_done, open_job_folders
from .job_guard import OPEN_JOB, no_exception_groups
from .keys import AccessKey
from .manifest import Manifest
from .operations import StepResult, perform
from .preflight_stop import PreflightStop
from .readonly import GET, policies_of, refuse_in_memory
from .report import JSONL_NAME, MemoryReport, Summary, encode
from .results import Outcome, Result, Target
from .resume_hash import manifest_sha256
from .resumed import resumed, started_with
from .retry import Sleep
from .rollback import later_changes
from .safety import Safety, SavedPlan
from .stop_signals import SignalWatcher, signals_ignored
from .stopping import Stop
from .targets import check_targets, matches, named_in

__all__ = (
    "Checked",
    "JobRun",
    "OnResult",
    "OnStart",
    "RunOptions",
    "run_job",
    "validate_job",
)

OnResult = Callable[[Result], Awaitable[None] | None]
#: called once the job's folders are open: its id, and how many targets it will run
OnStart = Callable[[str, int | None], None]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run a job, beyond its manifest (the CLI's flags)."""

    dry_run: bool = False
    #: None: a new job; "latest": the newest unfinished job of the manifest; else a job id
    resume: str | None = None
    allow_incomplete: bool = False
    skip_damaged: bool = False
    #: read every target and report drift (contracts §12) instead of running the job
    check: bool = False
    #: the manifest restores a job's own -pre snapshot (`osspolicy rollback`)
    rollback: bool = False
    #: write exactly what this plan job showed (contracts §11: `run --plan PLAN_JOB_ID`)
    plan: str | None = None
    #: read each target's policy, public grant and Block Public Access (`osspolicy status`)
    status: bool = False
    #: the manifest keys flags set now (`connection.endpoint` for `--endpoint`): a resume
    #: tells them from the manifest's own values (contracts §5, `resumed.py`)
    overrides: tuple[str, ...] = ()
    #: a rollback overwrites buckets changed since the job it undoes (contracts §15)
    force: bool = False
    #: nothing written: no report folder, journal, lock or backup; the records come back
    #: in `JobRun.results` (contracts §16 `report_dir=None`; read-only jobs only)
    in_memory: bool = False
    #: read each target's policy and keep its bytes in `JobRun.policies` (`osspolicy get`)
    get: bool = False
    #: a bucket whose write would grant new access is `failed` (`NewAccess`), not
    #: written; its plan says so too (contracts §18 `--deny-new-access`)
    deny_new_access: bool = False
    #: read each target and judge its policy (contracts §18); the value is `--fail-on`
    audit: Severity | None = None


@dataclass(frozen=True, slots=True)
class JobRun:
    """What a finished (or stopped) job leaves: where its files are and how it went."""

    job_id: str
    action: str
    #: None: a job kept in memory (`RunOptions.in_memory`)
    report_folder: Path | None
    backup_folder: Path | None
    summary: Summary
    exit_code: int
    stats: EngineStats
    #: a job kept in memory: its records (a job with a folder: see its report.jsonl)
    results: tuple[Result, ...] = ()
    #: a `get`: each bucket's policy bytes as OSS sent them (None: no policy)
    policies: Mapping[str, bytes | None] = dataclasses.field(default_factory=dict)
    #: an audit kept in memory: its findings (with a folder: see its findings.jsonl)
    findings: tuple[Finding, ...] = ()

    def records(self) -> list[dict[str, Any]]:
        """The job's records: those kept in memory, or its report.jsonl read back."""
        if self.report_folder is None:
            return [result.to_record() for result in self.results]
        text = (self.report_folder / JSONL_NAME).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def to_json(self) -> dict[str, Any]:
        """The one object `--json` prints (contracts §12)."""
        extra = self.summary.extra
        return {
            "job_id": self.job_id,
            "action": self.action,
            "exit_code": self.exit_code,
            "counts": {str(k): v for k, v in self.summary.counts.items() if v},
            "report": str(self.report_folder) if self.report_folder is not None else None,
            "backup": str(self.backup_folder) if self.backup_folder is not None else None,
            "complete": extra.get("complete"),
            **account_counts(extra),
            **(
                {"new_access": self.summary.new_access_count}
                if self.summary.new_access_count is not None
                else {}
            ),
        }


async def validate_job(
    manifest: Manifest, options: RunOptions = RunOptions(), *, source: str = "manifest"
) -> Checked:
    """Every check that needs no request: targets file, baseline, the backup to restore.

    Raises ConfigError (exit 2) for the first problem; nothing has been sent.
    """
    action = _action(manifest, options)
    if options.in_memory:
        refuse_in_memory(action, resume=options.resume)
    if options.deny_new_access and not (action.writes or action.name == "plan"):
        raise ConfigError(
            f"--deny-new-access judges what a job writes; a {action.name} job writes no policy",
            hint="give it to apply, delete, restore or rollback (or their plan), or leave it out",
        )
    if manifest.targets is not None:
        check_targets(manifest.targets, source=source)
    baseline = (
        load_baseline(manifest.policy, allow_lockout=manifest.allow_lockout)
        if manifest.policy is not None
        else None
    )
    if manifest.action != "restore" or manifest.source is None:
        return Checked(baseline=baseline)
    backup = await Backup.open(
        Path(manifest.source),
        allow_incomplete=options.allow_incomplete or options.rollback,
        allow_empty=options.rollback,  # a snapshot of a job that changed nothing
    )
    damaged = await backup.verify(skip_damaged=options.skip_damaged)
    later = await later_changes(manifest, force=options.force) if options.rollback else None
    return Checked(backup=backup, settled=await _settled(manifest, backup, damaged), later=later)


async def _settled(
    manifest: Manifest, backup: Backup, damaged: list[DamagedEntry]
) -> dict[str, StepResult]:
    """The restore targets whose record needs no request: damaged (skipped on request),
    missing from an incomplete backup (skipped: it cannot be restored), or named by the
    targets but not in the backup (failed)."""
    settled = {
        d.entry.bucket: StepResult(
            Outcome.SKIPPED,
            error_message=f"damaged in the backup: {d.path.name} {d.problem}",
            note="damaged",
        )
        for d in damaged
    }
    names = named_in(manifest.targets)
    rules = manifest.targets.discover if manifest.targets is not None else None
    for bucket in await backup.missing():
        wanted = (names is None or bucket in names) and (
            rules is None
            or (bucket.startswith(rules.prefix) and matches(bucket, rules.region or "", rules))
        )
        if wanted:
            settled[bucket] = StepResult(
                Outcome.SKIPPED,
                error_message="missing from the backup (its backup job could not read it); "
                "not restored",
                note="missing",
            )
    for bucket in sorted(names or ()):
        if backup.get(bucket) is None and bucket not in settled:
            settled[bucket] = StepResult(
                Outcome.FAILED,
                error_code="NotInBackup",
                error_message=f"the backup {backup.folder} holds no record of this bucket",
            )
    return settled


class _Listing:
    """Keeps a failure of the target listing (ListBuckets, a buckets file) as the job's
    own error: the targets listed before it still run; the job then fails, unfinished."""

    def __init__(self) -> None:
        self.error: ListingError | None = None

    async def guard(self, targets: AsyncIterator[Target]) -> AsyncIterator[Target]:
        try:
            async for target in targets:
                yield target
        except ListingError as exc:
            if not isinstance(exc.cause, Interrupted):  # else: stopped, not failed
                self.error = exc
        except Stopped:  # a stop signal during the listing: no more targets
            return


def _action(manifest: Manifest, options: RunOptions) -> Action:
    """The action object the options ask for (`get` is a read-only job of its own)."""
    if options.get:
        return GET
    if options.audit is not None:
        return audit_action(manifest, options.audit)
    return action_for(
        manifest,
        dry_run=options.dry_run,
        check=options.check,
        rollback=options.rollback,
        status=options.status,
    )


@no_exception_groups
async def run_job(
    manifest: Manifest,
    options: RunOptions = RunOptions(),
    *,
    source: str = "manifest",
    backend: Backend | None = None,
    on_result: OnResult | None = None,
    on_start: OnStart | None = None,
    sleep: Sleep = anyio.sleep,
    handle_signals: bool = False,
    engine: Engine[Target, Result] | None = None,
    keys: Mapping[str, AccessKey] | None = None,
) -> JobRun:
    """Run the job the manifest describes and return where its files are.

    All input checks come first (ConfigError, nothing sent); a missing credential is
    found when the backend is made, also before any request. Then, whatever the
    action: folders → targets → engine(step) → sink → finish.
    """
    warnings: tuple[str, ...] = ()
    if options.resume is not None and not (options.dry_run or options.check):
        continuing = await resumed(manifest, options)
        manifest, options, warnings = continuing.manifest, continuing.options, continuing.warnings
    checked = await validate_job(manifest, options, source=source)
    action = _action(manifest, options)
    engine = engine if engine is not None else Engine[Target, Result](manifest.concurrency)
    safety = await _safety(manifest, action, options, engine)
    if safety.plan is not None:  # a saved plan's unread buckets are settled too
        checked = dataclasses.replace(checked, settled={**checked.settled, **safety.settled()})
    reach, accounts, backend = await accounts_and_backend(
        manifest,
        checked.backup,
        backend,
        keys,
        sleep=sleep,
        stop=safety.stopper.stop,  # max_failed_accounts (contracts §17)
        resume=options.resume,  # a directory's members recorded at the job's start
    )
    stop = Stop()
    preflight_stop, preflight = PreflightStop.gates(
        manifest, engine, accounts=reach.accounts_at_least(len(accounts))
    )
    new_tries = tries_factory(manifest, sleep, stop, preflight)
    started_at = datetime.now(UTC)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(backend.aclose)
        job = await open_job_folders(
            manifest,
            action,
            stack,
            in_memory=options.in_memory,
            resume=options.resume,
            started=started_with(options) | reach.started(),  # a directory's members
        )
        if job.settled:  # snapshot lines lost: those buckets are not written
            checked = dataclasses.replace(checked, settled={**checked.settled, **job.settled})
        OPEN_JOB.set(job)
        preflight_stop.resumed = job.resumed or bool(job.done)
        ctx = JobContext(
            reach.manifest,
            checked,
            backend,
            new_tries,
            job.job_id,
            job.resumed,
            safety.gate,
            book=reach.book,
            deny_new_access=options.deny_new_access,
            report_folder=job.report_folder,
            slots=AccountSlots.of(  # each account its cap of workers (contracts §17)
                accounts=len(accounts), concurrency=engine.workers, cap=manifest.account_concurrency
            ),
        )
        await reach.carried(job.journal if job.resumed else None)
        prepared = await action.prepare(ctx)
        for close in prepared.closers():  # however the job ends
            stack.push_async_callback(close)
        step = safety.step(prepared.step, prepared.decide)
        if on_start is not None:  # for progress: the job's id, and its targets if known
            total = safety.total()
            total = total if total is not None else await action.total(ctx)
            on_start(job.job_id, None if total is None else max(total - len(job.done), 0))

        dead_credentials = DeadCredentials(action.name)

        @reach.book.guard(action.name)  # a directory's member it could not reach: skipped
        @dead_credentials.wrap
        async def work(target: Target) -> Result:
            return await perform(
                action.name, target, step, new_tries().at(target.account, target.region)
            )

        def skip(target: Target) -> Result:
            return preflight_stop.skipped(action.name, target) or safety.skip(action.name, target)

        listing = _Listing()
        targets = not_done(listing.guard(safety.targets(action.targets(ctx))), job.done)
        watcher = SignalWatcher(engine, stop, manifest.timeouts.stop_grace_s)
        async with anyio.create_task_group() as group:
            if handle_signals:
                group.start_soon(watcher.watch)
            await engine.run(
                *capped(
                    ctx.slots, targets, work, safety.sink(_sink(job, on_result, reach.book)), skip
                )
            )
            group.cancel_scope.cancel()
        safety.finish()
        stack.enter_context(signals_ignored(handle_signals))  # nothing cuts the flush short
        summary = await finish_job(
            job,
            prepared,
            interrupted=watcher.exit_code,
            listing_error=listing.error or reach.book.listing_error(),
            preflight=preflight_stop.failure,
            extra={
                "max_in_flight": engine.stats.max_in_flight,
                **safety.summary_extra(),
                **dead_credentials.summary_extra(),
                **preflight.summary_extra(),
                **({"warnings": list(warnings)} if warnings else {}),
                **ctx.region_fallbacks.summary_extra(),
                **reach.summary_extra(),
                **(ctx.slots.summary_extra() if ctx.slots is not None else {}),
            },
            folder_extra=reach.folder_extra(accounts),
            started_at=started_at,
        )
    if preflight_stop.failure is not None:
        raise PreflightError(preflight_stop.failure.reason)
    folder = prepared.folder.folder if prepared.folder is not None else None
    return JobRun(
        job.job_id,
        action.name,
        job.report_folder,
        folder,
        summary,
        summary.exit_code,
        engine.stats,
        results=tuple(job.report.results) if isinstance(job.report, MemoryReport) else (),
        policies=dict(policies_of(prepared)),
        findings=prepared.findings,
    )


async def _safety(
    manifest: Manifest, action: Action, options: RunOptions, engine: Engine[Target, Result]
) -> Safety:
    """The job's canary, failure threshold and saved plan (contracts §11)."""
    plan_id = options.plan

    async def load_plan() -> SavedPlan:
        if plan_id is None:  # pragma: no cover - only called with a plan id
            raise ValueError("no plan")
        if not action.writes:
            raise ConfigError(f"--plan runs a plan's writes; a {action.name} job writes nothing")
        return await SavedPlan.load(
            Path(manifest.report_dir), plan_id, manifest_sha256=manifest_sha256(manifest)
        )

    return await Safety.open(
        writes=action.writes,
        engine=engine,
        canary=manifest.canary,
        max_failures=manifest.max_failures,
        max_failure_rate=manifest.max_failure_rate,
        plan=load_plan if plan_id is not None else None,
    )


def _sink(
    job: JobFolders, on_result: OnResult | None, book: AccountBook
) -> Callable[[Sequence[Result]], Awaitable[None]]:
    """Each batch of results: report and journal first, then the caller's callback
    (counted per account on the way, for a directory job's book)."""

    async def sink(results: Sequence[Result]) -> None:
        encoded = encode(results)  # once: the report's lines are the journal's too
        journal = job.journal
        also = [journal.part(encoded.jsonl)] if journal is not None else []
        await job.report.write_many(results, encoded, also=also)
        if journal is not None:
            journal.noted(results)
        for result in results if book else ():
            book.observe(result)
        if on_result is not None:
            for result in results:
                maybe = on_result(result)
                if maybe is not None:
                    await maybe

    return sink
