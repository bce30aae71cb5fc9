"""Per-bucket steps: each target ends with exactly one `Result`.

A step is an async function `(target, tries) -> Done`; `perform()` runs it with a fresh
`Tries` (retries + attempt count), times it and turns every failure into the bucket's own
`failed` record. This is the one place errors become records: a bucket that fails never
stops the others, and no exception escapes to the engine.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from .backends import Backend
from .errors import BackendError, ConfigError
from .results import Change, Outcome, Result, Target
from .retry import Tries

__all__ = ("BackupSink", "Done", "Step", "backup_step", "perform", "skipped")


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


Step = Callable[[Target, Tries], Awaitable[Done]]


class BackupSink(Protocol):
    """Where a backup (or a pre-change snapshot) puts one bucket's policy."""

    async def add(
        self, bucket: str, region: str | None, body: bytes | None, request_id: str | None
    ) -> str | None:
        """Store the policy durably; return the file written, or None for no policy."""
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
