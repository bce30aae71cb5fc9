"""What a bucket needs (contracts §6): read its policy, compare it with what the job
wants, and say so in a `Decision` — the same decision a run writes, a plan shows and a
check checks (`decision_steps.py`), so the three can never disagree.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .backends import Backend, PolicyRead
from .baseline import Baseline
from .errors import PreflightFailed
from .new_access import describe as describe_new_access
from .operations import StepResult, parsed_policy
from .policy import (
    diff as policy_diff,
)
from .policy import (
    policies_equal,
    text_diff,
)
from .policy_inspect import foreign_resources, public_statements
from .results import FOREIGN, UNKNOWN, After, Change, Outcome, Target, policy_sha256
from .retry import Tries

__all__ = (
    "ApplyOptions",
    "BackupBytes",
    "Decider",
    "Decision",
    "apply_decider",
    "delete_decider",
    "restore_decider",
)


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
        new_access: tuple[str, ...] | None = None,
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
            new_access=new_access,
        )

    def new_access(self, bucket: str) -> tuple[str, ...]:
        """What the wanted policy allows that the current one does not, one line per
        statement (contracts §18; empty: nothing new, or nothing to change)."""
        if self.change is Change.NONE:
            return ()
        current = parsed_policy(self.read.body, f"{bucket}: current policy")
        desired = self.desired if self.parsed else parsed_policy(self.body, f"{bucket}: wanted")
        return tuple(describe_new_access(current, desired))

    def diff(self, bucket: str) -> str:
        """The unified diff from the current policy to the wanted one ("" if equal).

        Canonical texts (contracts §6); where those are equal but the bytes are not (a
        restore wants the exact bytes back), the diff of the bytes themselves.
        """
        current = parsed_policy(self.read.body, f"{bucket}: current policy")
        desired = self.desired if self.parsed else parsed_policy(self.body, f"{bucket}: wanted")
        found = policy_diff(current, desired, bucket=bucket)
        if found or self.parsed or self.read.body == self.body:
            return found
        return text_diff(self.read.body, self.body, bucket=bucket)


Decider = Callable[[Target, Tries], Awaitable[Decision]]
BackupBytes = Callable[[str], Awaitable[bytes | None]]


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
        current = parsed_policy(read.body, f"{target.bucket}: current policy")
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
