"""Per-bucket steps: each target ends with exactly one `Result`.

A step is an async function `(target, tries) -> StepResult`; `perform()` runs it with a
fresh `Tries` (retries + attempt count), times it, makes its `StepResult` the bucket's
`Result`, and turns every failure into the bucket's own `failed` record. This is the one
place errors become records: a bucket that fails never stops the others, and no exception
escapes to the engine.

The actions that change policies (apply, delete, restore) first *decide* what a bucket
needs (a `Decider`: read the policy, compare it with what the job wants, contracts §6);
the same decision is then written (`write_step`), shown (`plan_step`) or checked
(`check_step`), so a plan, a check and a run can never disagree on what a bucket needs.

```
decide(target) ─► Decision(read, change, body) ─┬─► write_step: snapshot, then PUT/DELETE
                                                ├─► plan_step:  planned / unchanged + diff
                                                └─► check_step: drifted / compliant + diff
```

Every record of a write step says what the bucket is at after it (`sha256_after`,
contracts §15): the sha256 of the bytes sent, or meant to be sent when the write
failed; null after a delete; the bytes already there when `unchanged`. A record of a
bucket the step never tried to write (blocked, refused, a read that failed) does not
carry it. A decider may also find a bucket that must not be written (`conflict`: a
rollback's bucket changed since the job it undoes); that is a `conflict` record, in a
run and in its plan alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .backends import Backend, PolicyRead
from .baseline import Baseline
from .errors import BackendError, ConfigError, Interrupted, PreflightFailed, Stopped
from .policy import (
    diff as policy_diff,
)
from .policy import (
    parse_policy,
    policies_equal,
    text_diff,
)
from .policy_inspect import foreign_resources, public_statements
from .preflight import NOTE as PREFLIGHT
from .redact import redact_text
from .results import FOREIGN, UNKNOWN, After, Change, Outcome, Result, Target, policy_sha256
from .retry import Tries

__all__ = (
    "EARLIER_RUN",
    "ApplyOptions",
    "BackupBytes",
    "BackupSink",
    "Decider",
    "Decision",
    "SnapshotSink",
    "Step",
    "StepResult",
    "WriteGate",
    "apply_decider",
    "backup_step",
    "check_step",
    "delete_decider",
    "failure",
    "perform",
    "plan_step",
    "restore_decider",
    "skipped",
    "status_step",
    "write_step",
)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What a step achieved for one bucket (the parts of a Result a step decides)."""

    outcome: Outcome
    request_id: str | None = None
    change: Change | None = None
    had_policy: bool | None = None
    snapshot: str | None = None
    diff: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    note: str | None = None
    read_sha256: str | None = None
    canary: bool = False
    #: what the bucket is at after this step's write (contracts §15); UNKNOWN: no write
    sha256_after: After = UNKNOWN


Step = Callable[[Target, Tries], Awaitable[StepResult]]


def failure(exc: Exception) -> StepResult:
    """The `failed` record of an error in one bucket's step: the bucket fails alone, the
    others go on (contracts §14: nothing unexpected).

    A target whose (account, region) failed its pre-flight is `skipped`, or `failed` with
    the service's code if its call was that first call, both noted `preflight`. A
    service error keeps its code and request id, a policy that renders too large for
    this bucket is `InvalidPolicy`, the disk `LocalIOError`; anything else (a bug, a
    library's own exception) is recorded under its class name, its message redacted. A
    stop signal's Stopped (no new attempt) is no failure: `skipped`, note `interrupted`.
    """
    while isinstance(exc, ExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]  # a step's own task group: named by its first error
    if isinstance(exc, Stopped):  # no new attempt after a stop signal (contracts §14)
        return StepResult(Outcome.SKIPPED, error_message=str(exc), note="interrupted")
    if isinstance(exc, PreflightFailed):  # its pair's first call failed (contracts §15)
        sent = exc.sent  # else it waited for that call: nothing was sent for it
        return StepResult(
            Outcome.FAILED if sent else Outcome.SKIPPED,
            request_id=exc.request_id if sent else None,
            error_code=exc.code if sent else None,
            error_message=exc.reason,
            note=PREFLIGHT,
        )
    if isinstance(exc, BackendError):
        return StepResult(
            Outcome.FAILED,
            request_id=exc.request_id,
            error_code=exc.code,
            error_message=exc.message,
        )
    if isinstance(exc, ConfigError):
        return StepResult(Outcome.FAILED, error_code="InvalidPolicy", error_message=str(exc))
    if isinstance(exc, OSError):
        return StepResult(Outcome.FAILED, error_code="LocalIOError", error_message=str(exc))
    return StepResult(
        Outcome.FAILED,
        error_code=type(exc).__name__,
        error_message=redact_text(str(exc)) or type(exc).__name__,
    )


#: the note of a bucket found as wanted whose snapshot an earlier run of the job took: that
#: run's write may have landed (its record lost to a kill or a full disk), so the bucket
#: keeps the snapshot a rollback needs (contracts §2: the first snapshot wins)
EARLIER_RUN = "snapshot taken by an earlier run of this job"


class BackupSink(Protocol):
    """Where a backup (or a pre-change snapshot) puts one bucket's policy."""

    async def add(
        self,
        bucket: str,
        region: str | None,
        body: bytes | None,
        request_id: str | None,
        *,
        account: str = ...,
    ) -> str | None:
        """Store the policy durably; return the file written, or None for no policy."""
        ...


class SnapshotSink(BackupSink, Protocol):
    """A job's `-pre` snapshot: a backup whose `add` keeps a bucket's first record."""

    @property
    def folder(self) -> Path:
        """The snapshot folder."""
        ...

    def recorded(self, bucket: str) -> str | None:
        """Where the snapshot already records `bucket` (its policy file, or its index for a
        bucket without policy), or None: on resume, a snapshot line of an earlier run."""
        ...


async def perform(action: str, target: Target, step: Step, tries: Tries) -> Result:
    """Run `step` for one target and return its one record, whatever happens (any
    exception becomes its `failed` record; a cancellation is not an exception here)."""
    started = time.monotonic()
    try:
        done = await step(target, tries)
    except Exception as exc:  # every error is the bucket's own record
        done = failure(exc)
    return Result(
        bucket=target.bucket,
        region=target.region,
        action=action,
        outcome=done.outcome,
        account=target.account,
        attempts=tries.count,
        request_id=done.request_id,
        error_code=done.error_code,
        error_message=done.error_message,
        duration_ms=round((time.monotonic() - started) * 1000),
        change=done.change,
        had_policy=done.had_policy,
        read_sha256=done.read_sha256,
        canary=done.canary,
        snapshot=done.snapshot,
        diff=done.diff,
        note=done.note,
        sha256_after=done.sha256_after,
    )


def skipped(action: str, target: Target, reason: str, *, note: str | None = None) -> Result:
    """The record of a target the job did not attempt (stopped, or the user asked)."""
    return Result(
        bucket=target.bucket,
        region=target.region,
        action=action,
        outcome=Outcome.SKIPPED,
        account=target.account,
        error_message=reason,
        note=note,
    )


def backup_step(backend: Backend, sink: BackupSink) -> Step:
    """Backup: read the policy and store it exactly, or record that there is none."""

    async def step(target: Target, tries: Tries) -> StepResult:
        read = await tries(backend.get_policy, target.bucket, target.region, account=target.account)
        await sink.add(
            target.bucket, target.region, read.body, read.request_id, account=target.account
        )
        outcome = Outcome.FETCHED if read.body is not None else Outcome.NO_POLICY
        return StepResult(outcome, request_id=read.request_id, had_policy=read.body is not None)

    return step


def status_step(backend: Backend) -> Step:
    """Status: whether the bucket has a policy, whether it is public (the one rule of
    `policy_inspect.is_public`) and whether Block Public Access is on; nothing is written.
    The record is `fetched` or `no_policy`, and its note says the rest."""

    async def step(target: Target, tries: Tries) -> StepResult:
        read = await tries(backend.get_policy, target.bucket, target.region, account=target.account)
        blocked = await tries(
            backend.get_block_public_access, target.bucket, target.region, account=target.account
        )
        current = _parsed(read.body, f"{target.bucket}: current policy")
        public = public_statements(current)
        note = (
            f"public: {'yes (' + ', '.join(public) + ')' if public else 'no'}; "
            f"block public access: {'on' if blocked else 'off'}"
        )
        outcome = Outcome.FETCHED if read.body is not None else Outcome.NO_POLICY
        return StepResult(outcome, read.request_id, had_policy=read.body is not None, note=note)

    return step


# -- deciding what a bucket needs ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """What one bucket needs: its policy as read, the change, and the bytes to send.

    `desired` is the parsed policy the job wants (None: no policy) when the decider
    parsed it anyway (apply); otherwise `diff()` parses `body` only when asked. `public`
    names the statements of a PUT that grant access to everyone (apply, unless
    `allow_public`): on a bucket with Block Public Access on that PUT is refused.
    """

    read: PolicyRead
    change: Change
    body: bytes | None = None
    desired: Mapping[str, Any] | None = None
    parsed: bool = False
    public: tuple[str, ...] = ()
    note: str | None = None
    #: why this bucket must not be written although it needs a change (its `conflict`
    #: record's message); None: it may be
    conflict: str | None = None

    @property
    def had_policy(self) -> bool:
        """Whether the bucket had a policy when it was read."""
        return self.read.body is not None

    @property
    def read_sha256(self) -> str | None:
        """The sha256 of the policy as read (None: there was none)."""
        return None if self.read.body is None else hashlib.sha256(self.read.body).hexdigest()

    @property
    def sha256_after(self) -> str | None:
        """What the bucket is at once this decision is carried out: the sha256 of the
        bytes to send (PUT), None (DELETE), the bytes already there (no change)."""
        if self.change is Change.PUT:
            return policy_sha256(self.body)
        if self.change is Change.DELETE:
            return None
        return self.read_sha256

    def done(
        self,
        outcome: Outcome,
        *,
        request_id: str | None = None,
        snapshot: str | None = None,
        diff: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        sha256_after: After = UNKNOWN,
    ) -> StepResult:
        """A record of this decision: what was read, the change, and the rest given."""
        return StepResult(
            outcome,
            request_id or self.read.request_id,
            self.change,
            self.had_policy,
            snapshot=snapshot,
            diff=diff,
            error_code=error_code,
            error_message=error_message,
            note=self.note,
            read_sha256=self.read_sha256,
            sha256_after=sha256_after,
        )

    def diff(self, bucket: str) -> str:
        """The unified diff from the current policy to the wanted one ("" if equal).

        Canonical texts (contracts §6); where those are equal but the bytes are not (a
        restore wants the exact bytes back), the diff of the bytes themselves.
        """
        current = _parsed(self.read.body, f"{bucket}: current policy")
        desired = self.desired if self.parsed else _parsed(self.body, f"{bucket}: wanted")
        found = policy_diff(current, desired, bucket=bucket)
        if found or self.parsed or self.read.body == self.body:
            return found
        return text_diff(self.read.body, self.body, bucket=bucket)


Decider = Callable[[Target, Tries], Awaitable[Decision]]
BackupBytes = Callable[[str], Awaitable[bytes | None]]


def _parsed(body: bytes | None, source: str) -> dict[str, Any] | None:
    return None if body is None else parse_policy(body, source=source)


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    """What an apply job decides once for all buckets."""

    baseline: Baseline
    #: each account's owner id, for `${account_id}` (only looked up when it is used)
    account_ids: Mapping[str, str] = dataclasses.field(default_factory=dict)
    allow_public: bool = False
    #: accounts whose owner id could not be read: their pre-flight failed (contracts §15)
    unreachable: Mapping[str, PreflightFailed] = dataclasses.field(default_factory=dict)


def apply_decider(backend: Backend, options: ApplyOptions) -> Decider:
    """Apply: merge (or replace) the rendered baseline; a bucket already equal to it
    (canonical equality, contracts §6) needs no change."""
    baseline = options.baseline

    async def decide(target: Target, tries: Tries) -> Decision:
        if (unreachable := options.unreachable.get(target.account)) is not None:
            raise unreachable.waited()  # no owner id to render the baseline with
        read = await tries(backend.get_policy, target.bucket, target.region, account=target.account)
        current = _parsed(read.body, f"{target.bucket}: current policy")
        desired = baseline.desired(
            current,
            bucket=target.bucket,
            region=target.region or "",
            account_id=options.account_ids.get(target.account, ""),
        )
        body: bytes | None = None
        if desired is None:
            change = Change.NONE if current is None else Change.DELETE
        elif current is not None and policies_equal(current, desired):
            change = Change.NONE
        else:
            change = Change.PUT
            body = baseline.body(desired, bucket=target.bucket)
        foreign = foreign_resources(desired, target.bucket)
        public = change is Change.PUT and not options.allow_public
        return Decision(
            read,
            change,
            body,
            desired,
            parsed=True,
            public=tuple(public_statements(desired)) if public else (),
            note=f"{FOREIGN}: {', '.join(foreign)}" if foreign else None,
        )

    return decide


def delete_decider(backend: Backend) -> Decider:
    """Delete: every policy goes; a bucket without one needs no change."""

    async def decide(target: Target, tries: Tries) -> Decision:
        read = await tries(backend.get_policy, target.bucket, target.region, account=target.account)
        change = Change.NONE if read.body is None else Change.DELETE
        return Decision(read, change, parsed=True)

    return decide


def restore_decider(backend: Backend, backed_up: BackupBytes) -> Decider:
    """Restore: the backed-up bytes exactly, or no policy where there was none.

    `backed_up(bucket)` gives the verified bytes of the backup (None: no policy). A
    bucket whose current policy is byte-equal needs no change (restore's own rule).
    """

    async def decide(target: Target, tries: Tries) -> Decision:
        wanted = await backed_up(target.bucket)
        read = await tries(backend.get_policy, target.bucket, target.region, account=target.account)
        if read.body == wanted:
            change = Change.NONE
        else:
            change = Change.PUT if wanted is not None else Change.DELETE
        return Decision(read, change, wanted)

    return decide


# -- what is done with a decision ------------------------------------------------------


async def _blocked(backend: Backend, tries: Tries, target: Target, decision: Decision) -> str:
    """Why the service would refuse the PUT ("" if it would not): a public grant while
    the bucket's Block Public Access is on."""
    if not decision.public:
        return ""
    if not await tries(
        backend.get_block_public_access, target.bucket, target.region, account=target.account
    ):
        return ""
    return (
        f"public grant ({', '.join(decision.public)}) while Block Public Access is on; "
        "switch it off for this bucket or set allow_public"
    )


class WriteGate(Protocol):
    """Asked by `write_step` before each write (after the snapshot is decided): None
    lets the write go; a `StepResult` is the bucket's record instead (a conflict with a saved
    plan, a skip because a canary failed). It may wait (the canary's first writes)."""

    async def admit(self, target: Target, decision: Decision) -> StepResult | None:
        """None to write, or the record to keep instead of writing."""
        ...


def write_step(
    backend: Backend, decide: Decider, snapshot: SnapshotSink, gate: WriteGate | None = None
) -> Step:
    """Make each bucket what the job wants: snapshot first, then one PUT or DELETE.

    A bucket that needs nothing is `unchanged` and gets no write; a public grant on a
    bucket with Block Public Access on is `blocked_public` before anything is sent;
    `gate` may hold or refuse a write (contracts §11).
    """

    async def step(target: Target, tries: Tries) -> StepResult:
        decision = await decide(target, tries)
        change = decision.change
        if change is Change.NONE:
            return _unchanged(decision, snapshot.recorded(target.bucket))
        if decision.conflict is not None:
            return _conflict(decision)
        blocked = await _blocked(backend, tries, target, decision)
        if blocked:
            return decision.done(
                Outcome.BLOCKED_PUBLIC, error_code="BlockedPublic", error_message=blocked
            )
        if gate is not None and (refused := await gate.admit(target, decision)) is not None:
            return refused
        # durable before the write; on resume the first snapshot of a bucket wins
        stored = await snapshot.add(
            target.bucket,
            target.region,
            decision.read.body,
            decision.read.request_id,
            account=target.account,
        )
        where = stored or str(snapshot.folder / "index.jsonl")  # no policy: its index line
        put = change is Change.PUT and decision.body is not None
        # the record of this write, `sha256_after` included, from before it is sent: a
        # write that fails (or is abandoned) keeps what it meant to leave behind
        sent = decision.done(
            Outcome.APPLIED if put else Outcome.DELETED,
            snapshot=where,
            sha256_after=decision.sha256_after,
        )
        try:
            if put and decision.body is not None:
                reply = await tries(
                    backend.put_policy,
                    target.bucket,
                    decision.body,
                    target.region,
                    account=target.account,
                )
            else:
                reply = await tries(
                    backend.delete_policy, target.bucket, target.region, account=target.account
                )
        except Stopped:  # not sent: the stop came first (skipped, by `failure`)
            raise
        except Exception as exc:  # whatever it was, the write may have landed
            return _failed_write(sent, exc)
        return dataclasses.replace(sent, request_id=reply.request_id)

    return step


def _unchanged(decision: Decision, earlier: str | None) -> StepResult:
    """The `unchanged` record of a bucket already as wanted; one that an earlier run of
    the job snapshotted (its write may have landed) keeps that snapshot and says so."""
    done = decision.done(Outcome.UNCHANGED, sha256_after=decision.sha256_after)
    if earlier is None:
        return done
    return dataclasses.replace(done, snapshot=earlier, note=EARLIER_RUN)


def _failed_write(sent: StepResult, exc: Exception) -> StepResult:
    """The `failed` record of a write: the error's, with the `sha256_after` of what the
    write was to leave and the snapshot taken before it (`sent`, the record it would have
    had). The write may have landed, so a resume must find that snapshot line
    (`resume_check.py`)."""
    failed = failure(exc)
    if isinstance(exc, Interrupted):  # it may have landed: keep what was decided (§14)
        return dataclasses.replace(
            sent,
            outcome=Outcome.FAILED,
            request_id=failed.request_id,
            error_code=failed.error_code,
            error_message=failed.error_message,
        )
    return dataclasses.replace(failed, sha256_after=sent.sha256_after, snapshot=sent.snapshot)


def _conflict(decision: Decision) -> StepResult:
    """The `conflict` record of a bucket its decider says must not be written."""
    return decision.done(
        Outcome.CONFLICT, error_code="ChangedSince", error_message=decision.conflict
    )


def plan_step(backend: Backend, decide: Decider) -> Step:
    """A plan: what the write would be, with the diff; nothing is sent but reads.

    A bucket with nothing to change is `unchanged`; one the service would refuse is
    still `planned`, with the reason in `error_message`. Each record keeps the sha256 of
    the policy read, so that a run of this plan writes only what is still as read.
    """

    async def step(target: Target, tries: Tries) -> StepResult:
        decision = await decide(target, tries)
        if decision.change is Change.NONE:
            return decision.done(Outcome.UNCHANGED)
        if decision.conflict is not None:  # a run would not write it either
            return _conflict(decision)
        blocked = await _blocked(backend, tries, target, decision)
        return decision.done(
            Outcome.PLANNED,
            diff=decision.diff(target.bucket),
            error_message=f"would be refused: {blocked}" if blocked else None,
        )

    return step


def check_step(decide: Decider) -> Step:
    """A drift check: `compliant` when the job would change nothing, else `drifted`
    with the change and the diff (contracts §12)."""

    async def step(target: Target, tries: Tries) -> StepResult:
        decision = await decide(target, tries)
        if decision.change is Change.NONE:
            return decision.done(Outcome.COMPLIANT)
        return decision.done(Outcome.DRIFTED, diff=decision.diff(target.bucket))

    return step
