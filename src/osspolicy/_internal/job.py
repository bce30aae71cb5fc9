"""One job from start to finish: checks, folders, journal, engine, records, summary.

```
manifest ─► check_job (no request) ─► action_for ─► backend ─► job folders
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
import functools
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec

import anyio

from .accounts import Account, account_record, check_recorded_accounts
from .actions import Action, Checked, JobContext, Prepared, action_for
from .backends import Backend, ConnectionConfig
from .backends.credentials import account_provider, static_provider
from .backends.oss import OssBackend
from .backends.oss_aio import AioOssBackend
from .backup import Backup, DamagedEntry
from .baseline import load_baseline
from .connection import endpoint_for
from .deadcreds import DeadCredentials
from .engine import Engine, EngineStats
from .errors import (
    BackendError,
    ConfigError,
    Interrupted,
    JobFailed,
    ListingError,
    OssPolicyError,
    PreflightError,
    PreflightFailed,
    Stopped,
)
from .exitcodes import EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, exit_code_for
from .jobid import new_job_id, parse_job_id
from .journal import JOURNAL_NAME, Journal, find_latest, find_resumable, read_header
from .keys import AccessKey
from .lock import ReportDirLock
from .manifest import Manifest, accounts_of, manifest_yaml
from .operations import Done, perform, skipped
from .preflight import NOTE as PREFLIGHT
from .preflight import Preflight
from .ratelimit import RateLimit
from .readonly import GET, policies_of, refuse_in_memory
from .report import (
    JSONL_NAME,
    MANIFEST_NAME,
    SUMMARY_NAME,
    MemoryReport,
    ReportWriter,
    Summary,
    encode,
)
from .results import Outcome, Result, Target
from .resume_check import recheck
from .resume_hash import manifest_sha256, outcome_fields, outcome_sha256
from .resumed import resumed, started_with
from .retry import RetryConfig, Sleep, Tries
from .rollback import WRITING_ACTIONS, later_changes
from .safety import Safety, SavedPlan
from .stopping import Stop
from .targets import check_targets, matches, named_in
from .words import plural

__all__ = (
    "Checked",
    "JobRun",
    "RunOptions",
    "check_job",
    "connection_config",
    "job_accounts",
    "make_backend",
    "run_job",
)

OnResult = Callable[[Result], Awaitable[None] | None]
#: called once the job's folders are open: its id, and how many targets it will run
OnStart = Callable[[str, int | None], None]
#: what a backup's summary.json says of its completeness, repeated in the job's summary
_COMPLETENESS = ("complete", "listing_complete", "missing")


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
        }


async def check_job(
    manifest: Manifest, options: RunOptions = RunOptions(), *, source: str = "manifest"
) -> Checked:
    """Every check that needs no request: targets file, baseline, the backup to restore.

    Raises ConfigError (exit 2) for the first problem; nothing has been sent.
    """
    action = _action(manifest, options)
    if options.in_memory:
        refuse_in_memory(action, resume=options.resume)
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
) -> dict[str, Done]:
    """The restore targets whose record needs no request: damaged (skipped on request),
    missing from an incomplete backup (skipped: it cannot be restored), or named by the
    targets but not in the backup (failed)."""
    settled = {
        d.entry.bucket: Done(
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
            settled[bucket] = Done(
                Outcome.SKIPPED,
                error_message="missing from the backup (its backup job could not read it); "
                "not restored",
                note="missing",
            )
    for bucket in sorted(names or ()):
        if backup.get(bucket) is None and bucket not in settled:
            settled[bucket] = Done(
                Outcome.FAILED,
                error_code="NotInBackup",
                error_message=f"the backup {backup.folder} holds no record of this bucket",
            )
    return settled


def connection_config(manifest: Manifest) -> ConnectionConfig:
    """The backend's connection settings from the manifest."""
    conn = manifest.connection
    # no endpoint: the SDK derives the region's public one (the same URL as ours)
    endpoint = conn.endpoint or (conn.endpoint_template if conn.network == "internal" else None)
    return ConnectionConfig(
        region=conn.region,
        endpoint=endpoint,
        connect_timeout_s=conn.connect_timeout_s,
        read_timeout_s=conn.read_timeout_s,
        call_timeout_s=manifest.timeouts.call_s,
        max_connections=manifest.concurrency,
        ca_file=conn.ca_file,
    )


def job_accounts(manifest: Manifest, backup: Backup | None = None) -> tuple[Account, ...]:
    """The accounts a job signs with: the manifest's; for a restore without `accounts:`,
    those its backup recorded (contracts §2, §10); else the one `default` account.

    A restore whose backup holds buckets of an account it has no credentials for is
    refused before any request (ConfigError naming the account).
    """
    accounts = accounts_of(manifest)
    if manifest.accounts is None and backup is not None and backup.accounts:
        accounts = backup.accounts
    if backup is not None:
        _check_backup_accounts(accounts, backup)
        names = {account.name for account in accounts}
        if unknown := sorted({entry.account for entry in backup.entries()} - names):
            raise ConfigError(
                f"the backup holds buckets of account {', '.join(unknown)}, which this job "
                "has no credentials for",
                place=str(backup.folder),
                hint="name it under accounts: in the manifest",
            )
    return accounts


def _check_backup_accounts(accounts: Sequence[Account], backup: Backup) -> None:
    """Refuse (exit 2, naming the account) an account whose credentials are not the
    ones the backup recorded for it (a URL compares by its sha256, contracts §14)."""
    check_recorded_accounts(
        [account_record(a) for a in accounts],
        (backup.summary or {}).get("accounts"),
        recorded_in=f"the backup {backup.folder}",
    )


async def make_backend(
    manifest: Manifest,
    accounts: Sequence[Account] = (),
    keys: Mapping[str, AccessKey] | None = None,
) -> Backend:
    """The SDK backend the manifest asks for, with each account's credentials resolved
    once, off the event loop; one that cannot be resolved raises here, before any
    request (CredentialsError naming the account and the source, exit 2). An account
    in `keys` signs with that access key instead (the API's `credentials=`)."""
    providers = {}
    for account in accounts or accounts_of(manifest):
        key = (keys or {}).get(account.name)
        providers[account.name] = (
            static_provider(key)
            if key is not None
            else await anyio.to_thread.run_sync(account_provider, account.name, account.credentials)
        )
    if manifest.engine == "aio":
        return AioOssBackend(connection_config(manifest), credentials=providers)
    return OssBackend(connection_config(manifest), credentials=providers)


def _retry_config(manifest: Manifest) -> RetryConfig:
    r = manifest.retry
    return RetryConfig(attempts=r.attempts, base_delay_s=r.base_delay_s, max_delay_s=r.max_delay_s)


def _now() -> datetime:
    return datetime.now(UTC)


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


class _PreflightStop:
    """What a shut pre-flight gate means for the job (contracts §15): before any target
    finished, in a job of one account that is not a resume, the job stops (exit 2, one
    line, nothing to resume); else only that pair's targets are skipped (`preflight`)."""

    def __init__(self, engine: Engine[Target, Result], *, accounts: int) -> None:
        self.engine = engine
        self.accounts = accounts
        self.resumed = False
        self.failure: PreflightFailed | None = None

    @classmethod
    def gates(
        cls, manifest: Manifest, engine: Engine[Target, Result], *, accounts: int
    ) -> tuple[_PreflightStop, Preflight]:
        """The job's gates, and this, told of each that shuts."""
        stopper = cls(engine, accounts=accounts)
        connection = manifest.connection
        gates = Preflight(
            region=connection.region,
            endpoint_for=functools.partial(endpoint_for, connection),
            on_shut=stopper.shut,
        )
        return stopper, gates

    def shut(self, failure: PreflightFailed) -> None:
        """A gate shut: stop the job if nothing has finished yet (and it may)."""
        if self.failure is not None or self.accounts > 1 or self.resumed:
            return
        if self.engine.stats.finished == 0:
            self.failure = failure
            self.engine.stop()

    def skipped(self, action: str, target: Target) -> Result | None:
        """The record of a target left when the job stopped, or None (not stopped)."""
        if self.failure is None:
            return None
        return skipped(action, target, self.failure.reason, note=PREFLIGHT)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Signals:
    """Turns the first SIGINT/SIGTERM into a graceful stop (no new target, no new
    attempt), and the grace's end, or a second signal, into abandoning the calls in
    flight (contracts §14). Later signals are taken and ignored; while the files are
    flushed, `_signals_ignored` ignores them."""

    def __init__(self, engine: Engine[Target, Result], stop: Stop, grace_s: float) -> None:
        self.engine = engine
        self.stop = stop
        self.grace_s = grace_s
        self.received: int | None = None

    async def watch(self) -> None:
        with anyio.open_signal_receiver(*_STOP_SIGNALS) as signals:
            async for signum in signals:
                self.received = signum
                self.engine.stop()
                self.stop.request()
                break
            with anyio.move_on_after(self.grace_s):
                async for _ in signals:
                    break  # a second signal: abandon at once
            self.stop.abandon()
            async for _ in signals:  # later ones: already abandoning, flushing next
                pass

    @property
    def exit_code(self) -> int | None:
        if self.received is None:
            return None
        return EXIT_SIGINT if self.received == signal.SIGINT else EXIT_SIGTERM


@contextmanager
def _signals_ignored(enabled: bool) -> Iterator[None]:
    """SIGINT and SIGTERM ignored inside (while the job's files are flushed, after the
    watcher has stopped taking them), their handlers restored after."""
    if not enabled:
        yield
        return
    kept = {signum: signal.signal(signum, signal.SIG_IGN) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in kept.items():
            signal.signal(signum, handler)


def _action(manifest: Manifest, options: RunOptions) -> Action:
    """The action object the options ask for (`get` is a read-only job of its own)."""
    if options.get:
        return GET
    return action_for(
        manifest,
        dry_run=options.dry_run,
        check=options.check,
        rollback=options.rollback,
        status=options.status,
    )


@dataclass
class _Folders:
    """The job's report side (report + journal) and what it already finished; a job
    kept in memory has no folder and no journal."""

    job_id: str
    report_folder: Path | None
    report: ReportWriter | MemoryReport
    journal: Journal | None
    done: set[str]
    resumed: bool
    #: on resume, the buckets whose record is known without a request (SnapshotLost)
    settled: dict[str, Done] = dataclasses.field(default_factory=dict)


async def _open_folders(
    manifest: Manifest, action: Action, options: RunOptions, stack: AsyncExitStack
) -> _Folders:
    """New report folder and journal, or the resumed job's (contracts §5); nothing at
    all for a job kept in memory."""
    if options.in_memory:
        job_id = new_job_id(action.name)
        return _Folders(job_id, None, MemoryReport(job_id), None, set(), resumed=False)
    report_dir = Path(manifest.report_dir)
    outcome = outcome_fields(manifest)
    sha = outcome_sha256(outcome)  # the same as manifest_sha256, the baseline read once
    if options.resume is None:
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
            started_with=started_with(options),
        )
        stack.push_async_callback(journal.aclose)
        return _Folders(job_id, folder, report, journal, set(), resumed=False)
    if not action.resumable:
        raise ConfigError(f"a {action.name} cannot be resumed", hint=f"run the {action.name} again")
    found = (
        await find_resumable(report_dir, sha)
        if options.resume == "latest"
        else report_dir / options.resume
    )
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
    return _Folders(found.name, found, report, journal, done, resumed=True, settled=settled)


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


async def _not_done(targets: AsyncIterator[Target], done: set[str]) -> AsyncIterator[Target]:
    async for target in targets:
        if target.bucket not in done:
            yield target


_P = ParamSpec("_P")
#: the job whose folders are open in this task (for `JobFailed`: its id, its folder)
_OPEN_JOB: ContextVar[_Folders | None] = ContextVar("_OPEN_JOB", default=None)


def _leaves(group: BaseExceptionGroup[Exception]) -> list[Exception]:
    """Every exception of a (nested) exception group, in order."""
    found: list[Exception] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


def _no_exception_groups(
    run: Callable[_P, Awaitable[JobRun]],
) -> Callable[_P, Awaitable[JobRun]]:
    """`run_job` never raises an ExceptionGroup (contracts §14): a group of one error is
    that error, of several a `JobFailed` naming the first and the count. An OS error
    (the disk, a folder that vanished), and once the job's folders are open any error
    that is not ours (a writer that failed), is a `JobFailed` naming the job, so the
    caller can say how to resume it; ours (a ConfigError, …) are raised as they are."""

    @functools.wraps(run)
    async def guarded(*args: _P.args, **kwargs: _P.kwargs) -> JobRun:
        token = _OPEN_JOB.set(None)
        try:
            return await run(*args, **kwargs)
        except Exception as exc:
            leaves = _leaves(exc) if isinstance(exc, ExceptionGroup) else [exc]
            job = _OPEN_JOB.get()
            first = leaves[0] if leaves else exc
            if isinstance(first, JobFailed) and first.job_id is None and job is not None:
                first.job_id, first.report_folder = job.job_id, str(job.report_folder)
            # a service or network error out of an open job (not one bucket's) is the job's
            ours = isinstance(first, OssPolicyError) and not (
                job is not None and isinstance(first, BackendError)
            )
            if len(leaves) == 1 and (ours or (job is None and not isinstance(first, OSError))):
                if first is exc:
                    raise
                raise first from exc
            raise JobFailed.of(
                first,
                job_id=job.job_id if job is not None else None,
                report_folder=str(job.report_folder) if job is not None else None,
                errors=max(len(leaves), 1),
            ) from first
        finally:
            _OPEN_JOB.reset(token)

    return guarded


@_no_exception_groups
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
    checked = await check_job(manifest, options, source=source)
    action = _action(manifest, options)
    engine = engine if engine is not None else Engine[Target, Result](manifest.concurrency)
    safety = await _safety(manifest, action, options, engine)
    if safety.plan is not None:  # a saved plan's unread buckets are settled too
        checked = dataclasses.replace(checked, settled={**checked.settled, **safety.settled()})
    accounts = job_accounts(manifest, checked.backup)
    backend = backend if backend is not None else await make_backend(manifest, accounts, keys)
    stop = Stop()
    preflight_stop, preflight = _PreflightStop.gates(manifest, engine, accounts=len(accounts))
    new_tries = _tries_factory(manifest, sleep, stop, preflight)
    started_at = _now()
    async with AsyncExitStack() as stack:
        stack.push_async_callback(backend.aclose)
        job = await _open_folders(manifest, action, options, stack)
        if job.settled:  # snapshot lines lost: those buckets are not written
            checked = dataclasses.replace(checked, settled={**checked.settled, **job.settled})
        _OPEN_JOB.set(job)
        preflight_stop.resumed = job.resumed or bool(job.done)
        ctx = JobContext(
            manifest, checked, backend, new_tries, job.job_id, job.resumed, safety.gate
        )
        prepared = await action.prepare(ctx)
        if prepared.folder is not None:
            stack.push_async_callback(prepared.folder.aclose)
        step = safety.step(prepared.step, prepared.decide)
        if on_start is not None:  # for progress: the job's id, and its targets if known
            total = safety.total()
            total = total if total is not None else await action.total(ctx)
            on_start(job.job_id, None if total is None else max(total - len(job.done), 0))

        dead_credentials = DeadCredentials(action.name)

        @dead_credentials.wrap
        async def work(target: Target) -> Result:
            return await perform(
                action.name, target, step, new_tries().at(target.account, target.region)
            )

        def skip(target: Target) -> Result:
            return preflight_stop.skipped(action.name, target) or safety.skip(action.name, target)

        listing = _Listing()
        targets = _not_done(listing.guard(safety.targets(action.targets(ctx))), job.done)
        watcher = _Signals(engine, stop, manifest.timeouts.stop_grace_s)
        async with anyio.create_task_group() as group:
            if handle_signals:
                group.start_soon(watcher.watch)
            await engine.run(targets, work, safety.sink(_sink(job, on_result)), skip)
            group.cancel_scope.cancel()
        safety.finish()
        stack.enter_context(_signals_ignored(handle_signals))  # nothing cuts the flush short
        summary = await _finish(
            job,
            prepared,
            interrupted=watcher.exit_code,
            listing_error=listing.error,
            preflight=preflight_stop.failure,
            extra={
                "max_in_flight": engine.stats.max_in_flight,
                **safety.summary_extra(),
                **dead_credentials.summary_extra(),
                **preflight.summary_extra(),
                **({"warnings": list(warnings)} if warnings else {}),
                **ctx.region_fallbacks.summary_extra(),
            },
            folder_extra={"accounts": [account_record(a) for a in accounts]},
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


def _tries_factory(
    manifest: Manifest,
    sleep: Sleep,
    stop: Stop | None = None,
    preflight: Preflight | None = None,
) -> Callable[[], Tries]:
    """Fresh `Tries` per call, all pacing on one rate limiter per job (every attempt,
    retries too, waits for it), all obeying the job's `stop`, and each behind its
    (account, region)'s pre-flight gate once told whose calls it makes (`Tries.at`)."""
    retry_cfg = _retry_config(manifest)
    rate = manifest.rate_limit
    limiter = RateLimit.per_second(rate).new_state() if rate > 0 else None

    def new_tries() -> Tries:
        if limiter is None:
            return Tries(retry_cfg, sleep=sleep, stop=stop, preflight=preflight)
        return Tries(retry_cfg, sleep=sleep, pace=limiter.acquire, stop=stop, preflight=preflight)

    return new_tries


def _sink(
    job: _Folders, on_result: OnResult | None
) -> Callable[[Sequence[Result]], Awaitable[None]]:
    """Each batch of results: report and journal first, then the caller's callback."""

    async def sink(results: Sequence[Result]) -> None:
        encoded = encode(results)  # once: the report's lines are the journal's too
        journal = job.journal
        also = [journal.part(encoded.jsonl)] if journal is not None else []
        await job.report.write_many(results, encoded, also=also)
        if journal is not None:
            journal.noted(results)
        if on_result is not None:
            for result in results:
                maybe = on_result(result)
                if maybe is not None:
                    await maybe

    return sink


async def _finish(
    job: _Folders,
    prepared: Prepared,
    *,
    interrupted: int | None,
    listing_error: ListingError | None,
    extra: dict[str, Any],
    folder_extra: dict[str, Any],
    started_at: datetime,
    preflight: PreflightFailed | None = None,
) -> Summary:
    """Close the job's files in order: backup summary, journal, report summary last.

    An interrupted job's backup gets no summary.json and its journal no finished line,
    so both stay resumable; a job whose listing failed gets both summaries (saying so:
    `complete: false`) but no finished line, so `--resume` lists again. A job its
    pre-flight stopped (contracts §15) leaves nothing to resume: its backup folder is
    removed (kept, unfinished, if anything reached it), its journal ends
    `resumable: false`, its summary says `error`, exit 2.
    """
    if preflight is not None:
        return await _finish_stopped(job, prepared, preflight, extra, started_at)
    listed = listing_error is None
    exit_code = interrupted
    if exit_code is None:  # a pair whose pre-flight failed leaves its targets undone
        reached = "preflight" not in extra
        exit_code = exit_code_for(job.report.counts, targets_complete=listed and reached)
    if listing_error is not None:
        extra["targets_error"] = f"the targets could not all be listed: {listing_error}"
    folder, journal = prepared.folder, job.journal
    if folder is not None and journal is not None:  # a job in memory has neither
        extra["backup_folder"] = str(folder.folder)
        if interrupted is None:
            written = await folder.finish(
                listing_complete=listed,
                # every target the journal knows must have its line (contracts §2, §5)
                missing=(*journal.pending, *journal.done_buckets()) if prepared.backup else (),
                extra=folder_extra,
            )
            if prepared.backup:
                extra.update({key: written[key] for key in _COMPLETENESS})
    if journal is not None:
        await journal.flush()
        if interrupted is None and listed:
            await journal.mark_finished(exit_code)
    return await job.report.finish(
        started_at=started_at, finished_at=_now(), exit_code=exit_code, extra=extra
    )


async def _finish_stopped(
    job: _Folders,
    prepared: Prepared,
    failure: PreflightFailed,
    extra: dict[str, Any],
    started_at: datetime,
) -> Summary:
    """`_finish` for a job its pre-flight stopped: nothing left for `--resume`."""
    exit_code = EXIT_USAGE
    extra["error"] = failure.reason
    folder, journal = prepared.folder, job.journal
    if folder is not None and journal is not None and not await folder.discard_if_empty():
        extra["backup_folder"] = str(folder.folder)  # something reached it: kept, unfinished
    if journal is not None:
        await journal.flush()
        await journal.mark_finished(exit_code, resumable=False)
    return await job.report.finish(
        started_at=started_at, finished_at=_now(), exit_code=exit_code, extra=extra
    )
