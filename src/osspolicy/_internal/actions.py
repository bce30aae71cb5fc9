"""One object per action: its targets, its per-bucket step, its folder, whether it writes.

```
action        targets               step                       folder          writes
backup        listed (manifest)     backup_step                <job-id>/       no
apply         listed (manifest)     write_step(apply_decider)  <job-id>-pre/   yes
delete        listed (manifest)     write_step(delete_decider) <job-id>-pre/   yes
restore       the backup's buckets  write_step(restore_decider)<job-id>-pre/   yes
rollback      the snapshot's        write_step(rollback guard) <job-id>-pre/   yes
plan(A)       A's targets           plan_step(A's decider)     none            no
check(A)      A's targets           check_step(A's decider)    none            no
```

`run_job` asks `action_for` for the object and runs it; nothing else in the job runner
depends on which action it is (design.md, "One object per action"). A plan and a check
reuse the decider of the action they look at, so they can never disagree with a run on
what a bucket needs.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio

from .account_book import AccountBook
from .account_streams import AccountSlots, Listing, interleave
from .accounts import Account
from .backends import Backend
from .backup import Backup, BackupEntry
from .backup_writer import BackupWriter
from .baseline import Baseline
from .deciders import ApplyOptions, Decider, apply_decider, delete_decider, restore_decider
from .decision_steps import WriteGate, check_step, plan_step, write_step
from .errors import ConfigError, ListingError, PreflightFailed
from .findings import Finding
from .manifest import Manifest, accounts_of
from .operations import Step, StepResult, backup_step, status_step
from .owner_ids import OwnerIds, look_up_owner_ids, owners_seen
from .plan_findings import PlanInsight, judged
from .report import MemoryReport, ReportWriter
from .results import Target
from .retry import Tries
from .rollback import LaterChanges
from .targets import RegionFallbacks, backup_targets, iter_targets, named_in

__all__ = (
    "Action",
    "Checked",
    "Insight",
    "JobContext",
    "Prepared",
    "action_for",
    "listed_targets",
    "listed_total",
)


@dataclass(frozen=True, slots=True)
class Checked:
    """What the input checks loaded before any request (used again by the run).

    `settled` holds the buckets whose record is known without a request: damaged in
    the backup and skipped on request, missing from an incomplete backup, or named by
    the targets but not in the backup.
    """

    baseline: Baseline | None = None
    backup: Backup | None = None
    settled: Mapping[str, StepResult] = field(default_factory=dict)
    #: a rollback's: what the job it undoes left each bucket at (contracts §15)
    later: LaterChanges | None = None


@dataclass(frozen=True, slots=True)
class JobContext:
    """What an action needs to make its targets and its step."""

    manifest: Manifest
    checked: Checked
    backend: Backend
    new_tries: Callable[[], Tries]
    job_id: str
    resumed: bool
    #: asked before each write (a saved plan's guard, a canary); None: write
    gate: WriteGate | None = None
    #: named buckets sent to the connection's region for want of their own (the summary's)
    region_fallbacks: RegionFallbacks = field(default_factory=RegionFallbacks)
    #: a directory job's accounts and how each went (contracts §17); empty for others
    book: AccountBook = field(default_factory=AccountBook)
    #: a write (or a plan's) that would grant new access fails instead (contracts §18)
    deny_new_access: bool = False
    #: each account's owner id as its listing named it (a backup records them, §18)
    seen_owners: dict[str, str] = field(default_factory=dict)
    #: the job's report folder (None: kept in memory), for files an action adds there
    report_folder: Path | None = None
    #: each account's cap of workers, for a job of several (`account_streams.py`)
    slots: AccountSlots | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """An action ready to run: its step, and the folder it writes (if any).

    `backup` says the folder is the job's backup (complete or not, contracts §2), not
    a pre-change snapshot.
    """

    step: Step
    folder: BackupWriter | None = None
    backup: bool = False
    #: what the step decides a bucket needs (for a canary's read-back); None: no writes
    decide: Decider | None = None
    #: a `get`'s policy bytes by bucket, filled as it runs (readonly.py); None: not kept
    policies: Mapping[str, bytes | None] | None = None
    #: a backup's accounts' owner ids, read once its targets are done (its summary.json
    #: records them, contracts §18); None: not recorded
    owner_ids: Callable[[], Awaitable[OwnerIds]] | None = None
    #: what the job's findings make of its end (an audit's files, exit code and summary
    #: `findings`, a plan's counts); None: no findings
    insight: Insight | None = None

    def closers(self) -> list[Callable[[], Awaitable[None]]]:
        """What the job closes when it ends, however it ends: its folder, its findings."""
        return [closing.aclose for closing in (self.folder, self.insight) if closing is not None]

    @property
    def findings(self) -> tuple[Finding, ...]:
        """An audit kept in memory: its findings (none for any other job)."""
        return self.insight.kept if self.insight is not None else ()


class Insight(Protocol):
    """A job's findings at its end (`findings_log.py`, `plan_findings.py`)."""

    async def finish(
        self, exit_code: int, report: ReportWriter | MemoryReport, extra: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """The job's exit code given the findings and how the job went (its records'
        counts, its summary's `targets_error`), and its summary's additions."""
        ...

    @property
    def kept(self) -> tuple[Finding, ...]:
        """A job kept in memory: its findings."""
        ...

    async def aclose(self) -> None:
        """Close its files (an interrupted or stopped job's stay as far as they got)."""
        ...


class Action(Protocol):
    """One kind of job: where its targets come from, its step, and whether it writes."""

    @property
    def name(self) -> str:
        """The action in the job id and every record."""
        ...

    @property
    def writes(self) -> bool:
        """Whether it sends writes (so the safety gates apply)."""
        ...

    @property
    def resumable(self) -> bool:
        """Whether `--resume` may continue it (plans and checks are run again instead)."""
        ...

    def targets(self, ctx: JobContext) -> AsyncIterator[Target]:
        """Every target once, streamed."""
        ...

    async def total(self, ctx: JobContext) -> int | None:
        """How many targets there are, when that is known without a request."""
        ...

    async def prepare(self, ctx: JobContext) -> Prepared:
        """Open its folder (if any) and make its per-bucket step."""
        ...


# -- targets -----------------------------------------------------------------------------


async def _listed(ctx: JobContext) -> AsyncIterator[Target]:
    """The manifest's targets, the accounts interleaved (`account_streams.py`): a list,
    a file, or discovery.

    An account whose listing its pre-flight stopped (a wrong secret, say) does not keep
    the other accounts from being listed; the listing fails once they were. A
    directory's member whose listing fails is `listing_failed` in the job's book, and
    the others go on (contracts §17)."""
    unlisted: list[ListingError] = []
    ctx.book.listing()
    listings: list[Listing] = [
        (account.name, functools.partial(_account_listed, ctx, account, unlisted))
        for account in accounts_of(ctx.manifest)
    ]
    async for target in interleave(listings, ctx.slots):
        yield target
    if unlisted:
        raise unlisted[0]


async def _account_listed(
    ctx: JobContext, account: Account, unlisted: list[ListingError]
) -> AsyncIterator[Target]:
    """One account's targets; a listing failure that is not the job's is noted (in
    `unlisted`, or the book) and ends only this account's targets."""
    if account.targets is None:  # pragma: no cover - the manifest model requires them
        raise ConfigError(f"accounts: {account.name} has no targets")
    given = 0
    try:
        async for target in iter_targets(
            account.targets,
            region=ctx.manifest.connection.region,
            backend=ctx.backend,
            new_tries=ctx.new_tries,
            account=account.name,
            fallbacks=ctx.region_fallbacks,
            owners=ctx.seen_owners,
        ):
            given += 1
            yield target
        ctx.book.listed(account.name, given)
    except ListingError as exc:
        if ctx.book.listing_failed(account.name, exc):
            return  # a directory's member: its status says so, the others go on
        if not isinstance(exc.cause, PreflightFailed):
            raise
        unlisted.append(exc)


async def _from_backup(ctx: JobContext) -> AsyncIterator[Target]:
    """A restore's targets: the backup's buckets (narrowed by `targets`), the accounts
    interleaved, then every bucket whose record is settled without a request (missing,
    not in the backup)."""
    backup = ctx.checked.backup
    if backup is None:  # pragma: no cover - validate_job opens the backup of a restore
        raise ConfigError("source: required")
    region = ctx.manifest.connection.region
    by_account: dict[str, list[BackupEntry]] = {}
    for entry in backup.entries():
        by_account.setdefault(entry.account, []).append(entry)
    listings: list[Listing] = [
        (account, functools.partial(backup_targets, entries, ctx.manifest.targets, region))
        for account, entries in by_account.items()
    ]
    async for target in interleave(listings, ctx.slots):
        yield target
    for bucket in ctx.checked.settled:
        if backup.get(bucket) is None:
            yield Target(bucket, region)


async def _listed_total(ctx: JobContext) -> int | None:
    """The number of named targets (None when any account discovers its buckets)."""
    total = 0
    for account in accounts_of(ctx.manifest):
        names = await anyio.to_thread.run_sync(named_in, account.targets)
        if names is None:
            return None
        total += len(names)
    return total


async def _backup_total(ctx: JobContext) -> int | None:
    """The number of a restore's targets (None when `discover` narrows them)."""
    backup = ctx.checked.backup
    names = named_in(ctx.manifest.targets)
    if backup is None or (ctx.manifest.targets is not None and names is None):
        return None
    outside = sum(1 for bucket in ctx.checked.settled if backup.get(bucket) is None)
    if names is None:
        return len(backup.entries()) + outside
    return sum(1 for name in names if backup.get(name) is not None) + outside


# -- steps -------------------------------------------------------------------------------


async def _folder(ctx: JobContext, suffix: str, *, snapshot: bool) -> BackupWriter:
    """The job's backup (`suffix` "") or snapshot (`-pre`) folder: new, or its own
    unfinished one on resume (a snapshot is reopened whatever its summary says)."""
    folder = Path(ctx.manifest.backup_dir) / f"{ctx.job_id}{suffix}"
    if ctx.resumed and await anyio.Path(folder).is_dir():
        return await BackupWriter.resume(folder, job_id=ctx.job_id, reopen=snapshot)
    return await BackupWriter.create(folder, job_id=ctx.job_id)


def _settling(step: Step, settled: Mapping[str, StepResult]) -> Step:
    """`step`, except for the buckets whose record is already known."""
    if not settled:
        return step

    async def settle_or_step(target: Target, tries: Tries) -> StepResult:
        done = settled.get(target.bucket)
        return done if done is not None else await step(target, tries)

    return settle_or_step


async def _apply(ctx: JobContext) -> Decider:
    baseline = ctx.checked.baseline
    if baseline is None:  # pragma: no cover - validate_job loads the baseline of an apply
        raise ConfigError("policy: required")
    account_ids: dict[str, str] = {}
    unreachable: dict[str, PreflightFailed] = {}
    if baseline.needs_account_id:  # each account's owner id, looked up once
        found = await look_up_owner_ids(
            accounts_of(ctx.manifest),
            ctx.backend,
            ctx.new_tries,
            listing="account_id",
            needed_for="the baseline's ${account_id}",
        )
        unreachable = dict(found.unreachable)
        account_ids = {name: owner or "" for name, owner in found.ids.items()}
        for name in unreachable:
            account_ids.pop(name, None)
    options = ApplyOptions(baseline, account_ids, ctx.manifest.allow_public, unreachable)
    return apply_decider(ctx.backend, options)


async def _delete(ctx: JobContext) -> Decider:
    return delete_decider(ctx.backend)


async def _restore(ctx: JobContext) -> Decider:
    backup = ctx.checked.backup
    if backup is None:  # pragma: no cover - validate_job opens the backup of a restore
        raise ConfigError("source: required")

    async def backed_up(bucket: str) -> bytes | None:
        entry = backup.get(bucket)
        return None if entry is None else await backup.read_policy(entry)

    return restore_decider(ctx.backend, backed_up)


async def _rollback(ctx: JobContext) -> Decider:
    """A restore of the snapshot that keeps what changed since its job (rollback.py)."""
    restore = await _restore(ctx)
    later = ctx.checked.later
    return restore if later is None else later.decider(restore)


# -- the actions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Backup:
    """Save every target's policy (or that it has none) to a new backup folder."""

    name: str = "backup"
    writes: bool = False
    resumable: bool = True

    def targets(self, ctx: JobContext) -> AsyncIterator[Target]:
        return _listed(ctx)

    async def total(self, ctx: JobContext) -> int | None:
        return await _listed_total(ctx)

    async def prepare(self, ctx: JobContext) -> Prepared:
        folder = await _folder(ctx, "", snapshot=False)

        async def owners() -> OwnerIds:  # as the listings named them: no call of its own
            return owners_seen(accounts_of(ctx.manifest), ctx.seen_owners, ctx.book)

        return Prepared(backup_step(ctx.backend, folder), folder, backup=True, owner_ids=owners)


@dataclass(frozen=True, slots=True)
class _Status:
    """Read each target's policy and Block Public Access and say whether it is public."""

    name: str = "status"
    writes: bool = False
    resumable: bool = False

    def targets(self, ctx: JobContext) -> AsyncIterator[Target]:
        return _listed(ctx)

    async def total(self, ctx: JobContext) -> int | None:
        return await _listed_total(ctx)

    async def prepare(self, ctx: JobContext) -> Prepared:
        return Prepared(status_step(ctx.backend))


@dataclass(frozen=True, slots=True)
class _Change:
    """Make each target what the job wants (snapshot first): apply, delete, restore."""

    name: str
    decider: Callable[[JobContext], Awaitable[Decider]]
    source: Callable[[JobContext], AsyncIterator[Target]]
    count: Callable[[JobContext], Awaitable[int | None]]
    writes: bool = True
    resumable: bool = True

    def targets(self, ctx: JobContext) -> AsyncIterator[Target]:
        return self.source(ctx)

    async def total(self, ctx: JobContext) -> int | None:
        return await self.count(ctx)

    async def prepare(self, ctx: JobContext) -> Prepared:
        decide = await self.decider(ctx)
        snapshot = await _folder(ctx, "-pre", snapshot=True)
        step = write_step(
            ctx.backend, decide, snapshot, ctx.gate, deny_new_access=ctx.deny_new_access
        )

        async def owners() -> OwnerIds:  # as its listings named them (§18): none, null
            return owners_seen(accounts_of(ctx.manifest), ctx.seen_owners, ctx.book)

        settled = _settling(step, ctx.checked.settled)
        return Prepared(settled, snapshot, decide=decide, owner_ids=owners)


@dataclass(frozen=True, slots=True)
class _Preview:
    """Read every target and say what `change` would do, without writing: plan, check."""

    name: str
    change: _Change
    writes: bool = False
    resumable: bool = False

    def targets(self, ctx: JobContext) -> AsyncIterator[Target]:
        return self.change.targets(ctx)

    async def total(self, ctx: JobContext) -> int | None:
        return await self.change.total(ctx)

    async def prepare(self, ctx: JobContext) -> Prepared:
        decide = await self.change.decider(ctx)
        if self.name != "plan":
            return Prepared(_settling(check_step(decide), ctx.checked.settled))
        insight = PlanInsight()  # the findings of each policy the plan would put (§18)
        names = [account.name for account in accounts_of(ctx.manifest)]
        judging = judged(decide, insight, names, ctx.seen_owners)
        step = plan_step(ctx.backend, judging, deny_new_access=ctx.deny_new_access)
        return Prepared(_settling(step, ctx.checked.settled), insight=insight)


BACKUP = _Backup()
STATUS = _Status()
APPLY = _Change("apply", _apply, _listed, _listed_total)
DELETE = _Change("delete", _delete, _listed, _listed_total)
RESTORE = _Change("restore", _restore, _from_backup, _backup_total)
ROLLBACK = _Change("rollback", _rollback, _from_backup, _backup_total)
_BY_MANIFEST: Mapping[str, _Backup | _Change] = {
    "backup": BACKUP,
    "apply": APPLY,
    "delete": DELETE,
    "restore": RESTORE,
}


def action_for(
    manifest: Manifest,
    *,
    dry_run: bool = False,
    check: bool = False,
    rollback: bool = False,
    status: bool = False,
) -> Action:
    """The action object of a manifest, as the command asks for it (run, plan, check,
    rollback, status); a combination that makes no sense is a ConfigError (exit 2)."""
    if status:
        return STATUS
    action = ROLLBACK if rollback else _BY_MANIFEST[manifest.action]
    if not (dry_run or check):
        return action
    kind = "check" if check else "plan"
    if not isinstance(action, _Change) or (check and action is DELETE):
        takes = "an apply or a restore" if check else "an apply, delete or restore"
        raise ConfigError(
            f"{kind} takes {takes} manifest, not a {manifest.action} one",
            hint=f"run `osspolicy run` for a {manifest.action} job",
        )
    return _Preview(kind, action)


#: the manifest's targets and their count, for actions defined elsewhere (readonly.py)
listed_targets = _listed
listed_total = _listed_total
