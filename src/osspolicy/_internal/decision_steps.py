"""What is done with a decision (`deciders.py`): written (`write_step`: the snapshot
first, then PUT or DELETE), shown (`plan_step`: planned / unchanged, with a diff) or
checked (`check_step`: drifted / compliant, with a diff).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from .backends import Backend
from .deciders import Decider, Decision
from .errors import Interrupted, Stopped
from .operations import EARLIER_RUN, SnapshotSink, Step, StepResult, failure
from .results import Change, Outcome, Target
from .retry import Tries

__all__ = (
    "WriteGate",
    "check_step",
    "plan_step",
    "write_step",
)


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
