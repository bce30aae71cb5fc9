"""One job from start to finish: checks, folders, journal, engine, records, summary.

```
manifest ─► check_job (no request) ─► backend ─► job folders ─► engine(targets, step) ─► sink
                                                                          │
                                             report.jsonl/csv + journal.jsonl ◄─┘
```

The CLI is a thin layer over `run_job`; tests call it directly. Every check that needs no
request comes first (a ConfigError: exit 2, nothing sent). SIGINT/SIGTERM stop the engine
gracefully (in-flight calls finish, buffered targets are `skipped`), everything is
flushed, and the exit code is 130/143. `--resume` reopens the job's folders: what the
journal says succeeded is skipped, the rest runs again (contracts §5).
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from .backends import Backend, ConnectionConfig
from .backends.oss import OssBackend
from .backends.oss_aio import AioOssBackend
from .backup import Backup, BackupWriter
from .baseline import Baseline, load_baseline
from .engine import Engine, EngineStats
from .errors import BackendError, ConfigError
from .exitcodes import EXIT_FAILURES, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM
from .jobid import new_job_id, parse_job_id
from .journal import Journal, find_resumable
from .manifest import Manifest, manifest_sha256, manifest_yaml
from .operations import (
    ApplyOptions,
    Done,
    Step,
    apply_step,
    backup_step,
    delete_step,
    perform,
    restore_step,
    skipped,
)
from .ratelimit import RateLimit
from .report import MANIFEST_NAME, ReportWriter, Summary
from .results import Outcome, Result, Target
from .retry import RetryConfig, Sleep, Tries
from .rollback import WRITING_ACTIONS
from .targets import backup_targets, check_targets, iter_targets

__all__ = (
    "Checked",
    "JobRun",
    "RunOptions",
    "check_job",
    "connection_config",
    "make_backend",
    "run_job",
)

OnResult = Callable[[Result], Awaitable[None] | None]
JOURNAL_NAME = "journal.jsonl"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run a job, beyond its manifest (the CLI's flags)."""

    dry_run: bool = False
    #: None: a new job; "latest": the newest unfinished job of the manifest; else a job id
    resume: str | None = None
    allow_incomplete: bool = False
    skip_damaged: bool = False


@dataclass(frozen=True, slots=True)
class Checked:
    """What `check_job` loaded while checking the inputs (used again by the run)."""

    baseline: Baseline | None = None
    backup: Backup | None = None
    damaged: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobRun:
    """What a finished (or stopped) job leaves: where its files are and how it went."""

    job_id: str
    report_folder: Path
    backup_folder: Path | None
    summary: Summary
    exit_code: int
    stats: EngineStats


async def check_job(
    manifest: Manifest, options: RunOptions = RunOptions(), *, source: str = "manifest"
) -> Checked:
    """Every check that needs no request: targets file, baseline, the backup to restore.

    Raises ConfigError (exit 2) for the first problem; nothing has been sent.
    """
    if manifest.targets is not None:
        check_targets(manifest.targets, source=source)
    baseline = load_baseline(manifest.policy) if manifest.policy is not None else None
    if manifest.action != "restore" or manifest.source is None:
        return Checked(baseline=baseline)
    backup = await Backup.open(Path(manifest.source), allow_incomplete=options.allow_incomplete)
    damaged = await backup.verify(skip_damaged=options.skip_damaged)
    reasons = {d.entry.bucket: f"damaged in the backup: {d.path.name} {d.problem}" for d in damaged}
    return Checked(backup=backup, damaged=reasons)


def connection_config(manifest: Manifest) -> ConnectionConfig:
    """The backend's connection settings from the manifest."""
    conn = manifest.connection
    return ConnectionConfig(
        region=conn.region,
        endpoint=conn.endpoint,
        connect_timeout_s=conn.connect_timeout_s,
        read_timeout_s=conn.read_timeout_s,
        max_connections=manifest.concurrency,
    )


def make_backend(manifest: Manifest) -> Backend:
    """The SDK backend the manifest asks for; a missing credential raises here, before
    any request (CredentialsError, exit 2)."""
    if manifest.engine == "aio":
        return AioOssBackend(connection_config(manifest))
    return OssBackend(connection_config(manifest))


def _retry_config(manifest: Manifest) -> RetryConfig:
    r = manifest.retry
    return RetryConfig(attempts=r.attempts, base_delay_s=r.base_delay_s, max_delay_s=r.max_delay_s)


def _now() -> datetime:
    return datetime.now(UTC)


class _Listing:
    """Keeps a failure of the target listing (ListBuckets) as the job's own error."""

    def __init__(self) -> None:
        self.error: BackendError | None = None

    async def guard(self, targets: AsyncIterator[Target]) -> AsyncIterator[Target]:
        try:
            async for target in targets:
                yield target
        except BackendError as exc:
            self.error = exc


class _Signals:
    """Turns the first SIGINT/SIGTERM into a graceful engine stop."""

    def __init__(self, engine: Engine[Target, Result]) -> None:
        self.engine = engine
        self.received: int | None = None

    async def watch(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                self.received = signum
                self.engine.stop()
                return

    @property
    def exit_code(self) -> int | None:
        if self.received is None:
            return None
        return EXIT_SIGINT if self.received == signal.SIGINT else EXIT_SIGTERM


@dataclass
class _Folders:
    """The job's report side (report + journal) and what it already finished."""

    job_id: str
    report_folder: Path
    report: ReportWriter
    journal: Journal
    done: set[str]
    resumed: bool


async def _open_folders(manifest: Manifest, options: RunOptions, stack: AsyncExitStack) -> _Folders:
    """New report folder and journal, or the resumed job's (contracts §5)."""
    report_dir = Path(manifest.report_dir)
    sha = manifest_sha256(manifest)
    if options.resume is None:
        job_id = new_job_id("plan" if options.dry_run else manifest.action)
        folder = report_dir / job_id
        report = await ReportWriter.create(
            folder, job_id=job_id, manifest_yaml=manifest_yaml(manifest)
        )
        stack.push_async_callback(report.aclose)
        journal = await Journal.create(
            folder / JOURNAL_NAME,
            manifest_sha256=f"plan:{sha}" if options.dry_run else sha,
            job_id=job_id,
            action=manifest.action,
        )
        stack.push_async_callback(journal.aclose)
        return _Folders(job_id, folder, report, journal, set(), resumed=False)
    if options.dry_run:
        raise ConfigError("a plan cannot be resumed", hint="run the plan again")
    found = (
        await find_resumable(report_dir, sha)
        if options.resume == "latest"
        else report_dir / options.resume
    )
    if found is None:
        raise await _nothing_to_resume(report_dir)
    journal = await Journal.open_for_resume(found / JOURNAL_NAME, manifest_sha256=sha)
    stack.push_async_callback(journal.aclose)
    report = await ReportWriter.resume(
        found, carried=await journal.done_results(), job_id=found.name
    )
    stack.push_async_callback(report.aclose)
    return _Folders(found.name, found, report, journal, journal.done_buckets(), resumed=True)


async def _nothing_to_resume(report_dir: Path) -> ConfigError:
    """Why `--resume` found nothing: no unfinished job at all, or only one that ran
    another manifest (named, with the ways to carry on from it)."""
    other = await find_resumable(report_dir, None)
    if other is None:
        return ConfigError(
            f"no unfinished job in {report_dir}",
            hint="run without --resume to start a new job",
        )
    kept = other / MANIFEST_NAME
    undo = (  # only a job that wrote has a snapshot to roll back to
        f", undo it (`osspolicy rollback {other.name} --report-dir {report_dir}`)"
        if parse_job_id(other.name).action in WRITING_ACTIONS
        else ""
    )
    return ConfigError(
        f"no unfinished job of this manifest in {report_dir}; the unfinished job "
        f"{other.name} ran another manifest (its copy is {kept})",
        hint=(
            f"resume it with that manifest (`osspolicy run {kept} --resume {other.name}`)"
            f"{undo}, or run without --resume to start a new job"
        ),
    )


async def _writer(folder: Path, job_id: str, *, resumed: bool) -> BackupWriter:
    """A backup or snapshot folder: new, or the resumed job's own unfinished one."""
    if resumed and await anyio.Path(folder).is_dir():
        return await BackupWriter.resume(folder, job_id=job_id)
    return await BackupWriter.create(folder, job_id=job_id)


async def _account_id(backend: Backend, tries: Tries) -> str:
    page = await tries(backend.list_buckets_page, "", "", 1)
    return page.owner_id or ""


async def _prepare_step(
    manifest: Manifest,
    checked: Checked,
    backend: Backend,
    new_tries: Callable[[], Tries],
    *,
    job: _Folders,
    dry_run: bool,
) -> tuple[Step, BackupWriter | None]:
    """The per-bucket step of the manifest's action, and the folder it writes."""
    backup_dir = Path(manifest.backup_dir)
    if manifest.action == "backup":
        writer = await _writer(backup_dir / job.job_id, job.job_id, resumed=job.resumed)
        return backup_step(backend, writer), writer
    snapshot = None
    if not dry_run:
        snapshot = await _writer(backup_dir / f"{job.job_id}-pre", job.job_id, resumed=job.resumed)
    if manifest.action == "apply" and checked.baseline is not None:
        baseline = checked.baseline
        account_id = await _account_id(backend, new_tries()) if baseline.needs_account_id else ""
        options = ApplyOptions(baseline, account_id, manifest.allow_public, dry_run)
        return apply_step(backend, snapshot, options), snapshot
    if manifest.action == "restore" and checked.backup is not None:
        backup = checked.backup

        async def backed_up(bucket: str) -> bytes | None:
            entry = backup.get(bucket)
            return None if entry is None else await backup.read_policy(entry)

        step = restore_step(backend, snapshot, backed_up, dry_run=dry_run)
        return _skipping(step, checked.damaged), snapshot
    return delete_step(backend, snapshot, dry_run=dry_run), snapshot


def _skipping(step: Step, reasons: dict[str, str]) -> Step:
    """`step`, except that the buckets in `reasons` are skipped at the user's request."""
    if not reasons:
        return step

    async def skip_or_step(target: Target, tries: Tries) -> Done:
        reason = reasons.get(target.bucket)
        if reason is not None:
            return Done(Outcome.SKIPPED, error_message=reason)
        return await step(target, tries)

    return skip_or_step


def _targets(
    manifest: Manifest,
    checked: Checked,
    backend: Backend,
    new_tries: Callable[[], Tries],
) -> AsyncIterator[Target]:
    if checked.backup is not None:
        return backup_targets(
            checked.backup.entries(), manifest.targets, manifest.connection.region
        )
    if manifest.targets is None:  # pragma: no cover - the manifest model requires it here
        raise ConfigError("targets: required")
    return iter_targets(
        manifest.targets, region=manifest.connection.region, backend=backend, new_tries=new_tries
    )


async def _not_done(targets: AsyncIterator[Target], done: set[str]) -> AsyncIterator[Target]:
    async for target in targets:
        if target.bucket not in done:
            yield target


async def run_job(
    manifest: Manifest,
    options: RunOptions = RunOptions(),
    *,
    source: str = "manifest",
    backend: Backend | None = None,
    on_result: OnResult | None = None,
    sleep: Sleep = anyio.sleep,
    handle_signals: bool = False,
    engine: Engine[Target, Result] | None = None,
) -> JobRun:
    """Run the job the manifest describes and return where its files are.

    All input checks come first (ConfigError, nothing sent); a missing credential is
    found when the backend is made, also before any request.
    """
    checked = await check_job(manifest, options, source=source)
    backend = backend if backend is not None else make_backend(manifest)
    retry_cfg = _retry_config(manifest)
    engine = engine if engine is not None else Engine[Target, Result](manifest.concurrency)
    action = "plan" if options.dry_run else manifest.action

    # one limiter per job, shared by every worker; every attempt (retries too) waits for it
    rate = manifest.rate_limit
    limiter = RateLimit.per_second(rate).new_state() if rate > 0 else None

    def new_tries() -> Tries:
        if limiter is None:
            return Tries(retry_cfg, sleep=sleep)
        return Tries(retry_cfg, sleep=sleep, pace=limiter.acquire)

    started_at = _now()
    async with AsyncExitStack() as stack:
        stack.push_async_callback(backend.aclose)
        job = await _open_folders(manifest, options, stack)
        step, writer = await _prepare_step(
            manifest, checked, backend, new_tries, job=job, dry_run=options.dry_run
        )
        if writer is not None:
            stack.push_async_callback(writer.aclose)

        async def work(target: Target) -> Result:
            return await perform(action, target, step, new_tries())

        def skip(target: Target) -> Result:
            return skipped(action, target, "the job was stopped before this bucket")

        sink = _sink(job, on_result)
        listing = _Listing()
        targets = _not_done(
            listing.guard(_targets(manifest, checked, backend, new_tries)), job.done
        )
        watcher = _Signals(engine)
        async with anyio.create_task_group() as group:
            if handle_signals:
                group.start_soon(watcher.watch)
            await engine.run(targets, work, sink, skip)
            group.cancel_scope.cancel()

        summary = await _finish(
            job,
            writer,
            interrupted=watcher.exit_code,
            listing_error=listing.error,
            engine=engine,
            started_at=started_at,
        )
    backup_folder = writer.folder if writer is not None else None
    return JobRun(
        job.job_id, job.report_folder, backup_folder, summary, summary.exit_code, engine.stats
    )


def _sink(
    job: _Folders, on_result: OnResult | None
) -> Callable[[Sequence[Result]], Awaitable[None]]:
    """Each batch of results: report and journal first, then the caller's callback."""

    async def sink(results: Sequence[Result]) -> None:
        await job.report.write_many(results)
        await job.journal.record_many(results)
        if on_result is not None:
            for result in results:
                maybe = on_result(result)
                if maybe is not None:
                    await maybe

    return sink


async def _finish(
    job: _Folders,
    writer: BackupWriter | None,
    *,
    interrupted: int | None,
    listing_error: BackendError | None,
    engine: Engine[Target, Result],
    started_at: datetime,
) -> Summary:
    """Close the job's files in order: backup summary, journal, report summary last.

    An interrupted job's backup gets no summary.json and its journal no finished line,
    so both stay resumable.
    """
    exit_code = interrupted
    if exit_code is None:
        failed = job.report.failure_count or listing_error is not None
        exit_code = EXIT_FAILURES if failed else EXIT_OK
    if writer is not None and interrupted is None:
        await writer.finish()
    await job.journal.flush()
    if interrupted is None:
        await job.journal.mark_finished(exit_code)
    backup_folder = writer.folder if writer is not None else None
    return await job.report.finish(
        started_at=started_at,
        finished_at=_now(),
        exit_code=exit_code,
        extra=_extra(backup_folder, engine.stats, listing_error),
    )


def _extra(
    backup_folder: Path | None, stats: EngineStats, listing_error: BackendError | None
) -> dict[str, Any]:
    extra: dict[str, Any] = {"max_in_flight": stats.max_in_flight}
    if listing_error is not None:
        extra["targets_error"] = f"listing the buckets failed: {listing_error}"
    if backup_folder is not None:
        extra["backup_folder"] = str(backup_folder)
    return extra
