"""Per-bucket steps: each target ends with exactly one `Result`.

A step is an async function `(target, tries) -> Done`; `perform()` runs it with a fresh
`Tries` (retries + attempt count), times it and turns every failure into the bucket's own
`failed` record. This is the one place errors become records: a bucket that fails never
stops the others, and no exception escapes to the engine.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .backends import Backend, PolicyRead
from .baseline import Baseline
from .errors import BackendError, ConfigError
from .policy import (
    diff,
    foreign_resources,
    is_public,
    parse_policy,
    policies_equal,
    public_statements,
)
from .results import Change, Outcome, Result, Target
from .retry import Tries

__all__ = (
    "ApplyOptions",
    "BackupSink",
    "Done",
    "SnapshotSink",
    "Step",
    "apply_step",
    "backup_step",
    "delete_step",
    "perform",
    "restore_step",
    "skipped",
)


@dataclass(frozen=True, slots=True)
class Done:
    """What a step achieved for one bucket (the parts of a Result a step decides)."""

    outcome: Outcome
    request_id: str | None = None
    change: Change | None = None
    snapshot: str | None = None
    diff: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    note: str | None = None


Step = Callable[[Target, Tries], Awaitable[Done]]


class BackupSink(Protocol):
    """Where a backup (or a pre-change snapshot) puts one bucket's policy."""

    async def add(
        self, bucket: str, region: str | None, body: bytes | None, request_id: str | None
    ) -> str | None:
        """Store the policy durably; return the file written, or None for no policy."""
        ...


class SnapshotSink(BackupSink, Protocol):
    """A job's `-pre` snapshot: a backup whose `add` keeps a bucket's first record."""

    @property
    def folder(self) -> Path:
        """The snapshot folder."""
        ...


async def perform(action: str, target: Target, step: Step, tries: Tries) -> Result:
    """Run `step` for one target and return its one record, whatever happens."""
    started = time.monotonic()
    try:
        done = await step(target, tries)
    except BackendError as exc:
        done = Done(
            Outcome.FAILED,
            request_id=exc.request_id,
            error_code=exc.code,
            error_message=exc.message,
        )
    except ConfigError as exc:  # e.g. a policy that renders too large for this bucket
        done = Done(Outcome.FAILED, error_code="InvalidPolicy", error_message=str(exc))
    except OSError as exc:  # the disk, not the service: still this bucket's own record
        done = Done(Outcome.FAILED, error_code="LocalIOError", error_message=str(exc))
    return Result(
        bucket=target.bucket,
        region=target.region,
        action=action,
        outcome=done.outcome,
        attempts=tries.count,
        request_id=done.request_id,
        error_code=done.error_code,
        error_message=done.error_message,
        duration_ms=round((time.monotonic() - started) * 1000),
        change=done.change,
        snapshot=done.snapshot,
        diff=done.diff,
        note=done.note,
    )


def skipped(action: str, target: Target, reason: str) -> Result:
    """The record of a target the job did not attempt (stopped, or the user asked)."""
    return Result(
        bucket=target.bucket,
        region=target.region,
        action=action,
        outcome=Outcome.SKIPPED,
        error_message=reason,
    )


def backup_step(backend: Backend, sink: BackupSink) -> Step:
    """Backup: read the policy and store it exactly, or record that there is none."""

    async def step(target: Target, tries: Tries) -> Done:
        read = await tries(backend.get_policy, target.bucket, target.region)
        await sink.add(target.bucket, target.region, read.body, read.request_id)
        outcome = Outcome.FETCHED if read.body is not None else Outcome.NO_POLICY
        return Done(outcome, request_id=read.request_id)

    return step


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    """What an apply job decides once for all buckets."""

    baseline: Baseline
    account_id: str = ""
    allow_public: bool = False
    dry_run: bool = False


async def _write(
    backend: Backend,
    tries: Tries,
    target: Target,
    *,
    read: PolicyRead,
    change: Change,
    body: bytes | None,
    snapshot: SnapshotSink | None,
) -> Done:
    """Send the write `change` calls for, after the bucket's snapshot is on disk."""
    if change is Change.NONE:
        return Done(Outcome.UNCHANGED, request_id=read.request_id, change=change)
    if snapshot is None:  # pragma: no cover - run_job always gives writes a snapshot
        raise ValueError("no snapshot, no write")
    # durable before the write; on resume the first snapshot of a bucket wins
    stored = await snapshot.add(target.bucket, target.region, read.body, read.request_id)
    where = stored or str(snapshot.folder / "index.jsonl")  # no policy: its index line
    if change is Change.PUT and body is not None:
        reply = await tries(backend.put_policy, target.bucket, body, target.region)
        return Done(Outcome.APPLIED, reply.request_id, change=change, snapshot=where)
    reply = await tries(backend.delete_policy, target.bucket, target.region)
    return Done(Outcome.DELETED, reply.request_id, change=change, snapshot=where)


def _planned(
    target: Target,
    read: PolicyRead,
    change: Change,
    current: dict[str, Any] | None,
    desired: dict[str, Any] | None,
    **extra: str | None,
) -> Done:
    """A plan's record: the change that would be sent and the diff of the policies."""
    return Done(
        Outcome.PLANNED,
        read.request_id,
        change=change,
        diff=diff(current, desired, bucket=target.bucket),
        error_message=extra.get("error_message"),
        note=extra.get("note"),
    )


def _current(target: Target, read: PolicyRead) -> dict[str, Any] | None:
    if read.body is None:
        return None
    return parse_policy(read.body, source=f"{target.bucket}: current policy")


def apply_step(backend: Backend, snapshot: SnapshotSink | None, options: ApplyOptions) -> Step:
    """Apply: merge (or replace) the rendered baseline; write only what differs.

    A bucket already equal to its target (contracts §6) is `unchanged` and gets no
    write; a public grant on a bucket with Block Public Access on is `blocked_public`
    before anything is sent, unless `allow_public`.
    """
    baseline = options.baseline

    async def step(target: Target, tries: Tries) -> Done:
        read = await tries(backend.get_policy, target.bucket, target.region)
        current = _current(target, read)
        desired = baseline.desired(
            current,
            bucket=target.bucket,
            region=target.region or "",
            account_id=options.account_id,
        )
        body: bytes | None = None
        if desired is None:
            change = Change.NONE if current is None else Change.DELETE
        elif current is not None and policies_equal(current, desired):
            change = Change.NONE
        else:
            change = Change.PUT
            body = baseline.body(desired)
        foreign = foreign_resources(desired, target.bucket)
        note = f"resources naming other buckets: {', '.join(foreign)}" if foreign else None
        blocked = None
        public = change is Change.PUT and is_public(desired) and not options.allow_public
        if public and await tries(backend.get_block_public_access, target.bucket, target.region):
            blocked = (
                f"public grant ({', '.join(public_statements(desired))}) while Block "
                "Public Access is on; switch it off for this bucket or set allow_public"
            )
        if options.dry_run:
            refused = f"would be refused: {blocked}" if blocked else None
            return _planned(
                target, read, change, current, desired, error_message=refused, note=note
            )
        if blocked:
            return Done(
                Outcome.BLOCKED_PUBLIC,
                read.request_id,
                change=change,
                error_code="BlockedPublic",
                error_message=blocked,
                note=note,
            )
        done = await _write(
            backend, tries, target, read=read, change=change, body=body, snapshot=snapshot
        )
        return dataclasses.replace(done, note=note)

    return step


def delete_step(backend: Backend, snapshot: SnapshotSink | None, *, dry_run: bool) -> Step:
    """Delete: remove every target's policy, snapshot first; none there is `unchanged`."""

    async def step(target: Target, tries: Tries) -> Done:
        read = await tries(backend.get_policy, target.bucket, target.region)
        change = Change.NONE if read.body is None else Change.DELETE
        if dry_run:
            return _planned(target, read, change, _current(target, read), None)
        return await _write(
            backend, tries, target, read=read, change=change, body=None, snapshot=snapshot
        )

    return step


BackupBytes = Callable[[str], Awaitable[bytes | None]]


def restore_step(
    backend: Backend, snapshot: SnapshotSink | None, backed_up: BackupBytes, *, dry_run: bool
) -> Step:
    """Restore: put the backed-up bytes back exactly, or delete where there was none.

    `backed_up(bucket)` gives the verified bytes of the backup (None: no policy). A
    bucket whose current policy is byte-equal is `unchanged` and gets no write.
    """

    async def step(target: Target, tries: Tries) -> Done:
        wanted = await backed_up(target.bucket)
        read = await tries(backend.get_policy, target.bucket, target.region)
        if read.body == wanted:
            change = Change.NONE
        else:
            change = Change.PUT if wanted is not None else Change.DELETE
        if dry_run:
            goal = parse_policy(wanted, source=f"{target.bucket}: backup") if wanted else None
            return _planned(target, read, change, _current(target, read), goal)
        return await _write(
            backend, tries, target, read=read, change=change, body=wanted, snapshot=snapshot
        )

    return step
