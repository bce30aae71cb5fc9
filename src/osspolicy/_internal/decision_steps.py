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
    "NEW_ACCESS",
    "WriteGate",
    "check_step",
    "plan_step",
    "write_step",
)

#: the error code of a bucket refused for new access (`--deny-new-access`, contracts §18)
NEW_ACCESS = "NewAccess"


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


def _refused_new_access(decision: Decision, found: tuple[str, ...]) -> StepResult | None:
    """The `failed` record (`NewAccess`) of a write that would allow what the bucket's
    policy does not, `found` (`--deny-new-access`); None when it allows nothing new."""
    if not found:
        return None
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return decision.done(
        Outcome.FAILED,
        error_code=NEW_ACCESS,
        error_message=f"would grant new access: {found[0]}{more}; not written (--deny-new-access)",
        new_access=found,
    )


async def _refused(
    backend: Backend,
    tries: Tries,
    target: Target,
    decision: Decision,
    new_access: tuple[str, ...] | None,
) -> StepResult | None:
    """The record of a write that is not sent, before anything is (None: send it): a
    conflict its decider found, `new_access` found (`--deny-new-access`: None when not
    judged), or a public grant the service would refuse (Block Public Access on)."""
    if decision.conflict is not None:
        return _conflict(decision)
    if new_access and (refused := _refused_new_access(decision, new_access)):
        return refused
    blocked = await _blocked(backend, tries, target, decision)
    if blocked:
        return decision.done(
            Outcome.BLOCKED_PUBLIC, error_code="BlockedPublic", error_message=blocked
        )
    return None


def write_step(
    backend: Backend,
    decide: Decider,
    snapshot: SnapshotSink,
    gate: WriteGate | None = None,
    *,
    deny_new_access: bool = False,
) -> Step:
    """Make each bucket what the job wants: snapshot first, then one PUT or DELETE.

    A bucket that needs nothing is `unchanged` and gets no write; with `deny_new_access`
    one whose write would allow something new is `failed` (`NewAccess`), and a public
    grant on a bucket with Block Public Access on is `blocked_public`, both before
    anything is sent; `gate` may hold or refuse a write (contracts §11). With
    `deny_new_access` each write's record says it was judged (`new_access` empty).
    """

    async def step(target: Target, tries: Tries) -> StepResult:
        decision = await decide(target, tries)
        change = decision.change
        if change is Change.NONE:
            return _unchanged(decision, snapshot.recorded(target.bucket))
        judged = decision.new_access(target.bucket) if deny_new_access else None
        refused = await _refused(backend, tries, target, decision, judged)
        if refused is None and gate is not None:
            refused = await gate.admit(target, decision)
        if refused is not None:
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
            new_access=judged,
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


def plan_step(backend: Backend, decide: Decider, *, deny_new_access: bool = False) -> Step:
    """A plan: what the write would be, with the diff and the new access it would grant
    (contracts §18); nothing is sent but reads.

    A bucket with nothing to change is `unchanged`; one the service would refuse is
    still `planned`, with the reason in `error_message`; with `deny_new_access` one that
    would grant new access is `failed` (`NewAccess`), as its run would be. Each record
    keeps the sha256 of the policy read, so that a run of this plan writes only what is
    still as read.
    """

    async def step(target: Target, tries: Tries) -> StepResult:
        decision = await decide(target, tries)
        if decision.change is Change.NONE:
            return decision.done(Outcome.UNCHANGED, new_access=())
        if decision.conflict is not None:  # a run would not write it either
            return _conflict(decision)
        diff = decision.diff(target.bucket)
        found = decision.new_access(target.bucket)
        if deny_new_access and (refused := _refused_new_access(decision, found)):
            return dataclasses.replace(refused, diff=diff)
        blocked = await _blocked(backend, tries, target, decision)
        return decision.done(
            Outcome.PLANNED,
            diff=diff,
            error_message=f"would be refused: {blocked}" if blocked else None,
            new_access=found,
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
