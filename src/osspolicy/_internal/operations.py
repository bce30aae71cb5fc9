"""Per-bucket steps: each target ends with exactly one `Result` (the deciders of the
writing actions: `deciders.py`; what is done with a decision: `decision_steps.py`).

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

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .backends import Backend
from .errors import BackendError, ConfigError, PreflightFailed, Stopped
from .policy import parse_policy
from .policy_inspect import public_statements
from .preflight import NOTE as PREFLIGHT
from .redact import redact_text
from .results import UNKNOWN, After, Change, Outcome, Result, Target
from .retry import Tries

__all__ = (
    "EARLIER_RUN",
    "BackupSink",
    "SnapshotSink",
    "Step",
    "StepResult",
    "backup_step",
    "failure",
    "parsed_policy",
    "perform",
    "skipped",
    "status_step",
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
    #: what the wanted policy allows that the bucket's does not (contracts §18); None:
    #: not judged
    new_access: tuple[str, ...] | None = None


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
        new_access=done.new_access,
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


def parsed_policy(body: bytes | None, source: str) -> dict[str, Any] | None:
    """The policy read (None: the bucket has none), parsed; `source` names it in an error."""
    return None if body is None else parse_policy(body, source=source)


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
        current = parsed_policy(read.body, f"{target.bucket}: current policy")
        public = public_statements(current)
        note = (
            f"public: {'yes (' + ', '.join(public) + ')' if public else 'no'}; "
            f"block public access: {'on' if blocked else 'off'}"
        )
        outcome = Outcome.FETCHED if read.body is not None else Outcome.NO_POLICY
        return StepResult(outcome, read.request_id, had_policy=read.body is not None, note=note)

    return step
