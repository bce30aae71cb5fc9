"""The live audit as an action (contracts §18): `osspolicy audit JOB.yaml` reads every
target of a backup, apply or delete manifest, like `check`, and judges its policy.

```
prepare: each account's owner id (one ListBuckets each) ─► Owners ─► findings.jsonl
step:    GetBucketPolicy ─► findings.find ─► FindingsLog.add ─► fetched | no_policy
finish:  AuditInsight: findings.sarif, exit 3 for a finding at or above --fail-on
```

Nothing is written to a bucket. A bucket that cannot be read is `failed` (exit 1,
whatever the findings); its record's note names the rules its policy breaks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from .actions import JobContext, Prepared, listed_targets, listed_total
from .backends import Backend
from .errors import ConfigError
from .findings import Owners, Severity, find
from .findings_log import AuditInsight, FindingsLog
from .manifest import Manifest, accounts_of
from .operations import Step, StepResult, parsed_policy
from .owner_ids import OwnerIds, look_up_owner_ids
from .results import Outcome, Target
from .retry import Tries
from .sarif import live_location

__all__ = ("Audit", "audit_action", "audit_step", "findings_note", "not_judged")

#: the manifests whose targets an audit reads (a restore's are a backup: audit that)
_AUDITED = frozenset({"backup", "apply", "delete"})


def findings_note(rules: list[str]) -> str | None:
    """A record's note: the rules its bucket's policy breaks, each once (None: none)."""
    return f"findings: {', '.join(dict.fromkeys(rules))}" if rules else None


def not_judged(owners: OwnerIds) -> tuple[str, ...]:
    """One line per account whose owner id is unknown: what could not be judged."""
    return tuple(
        f"account {name}: owner id unknown ({owners.errors.get(name, 'not recorded')}): "
        "external-principal not judged, wildcard-action only for grants to everyone"
        for name, owner in owners.ids.items()
        if owner is None
    )


def audit_step(backend: Backend, log: FindingsLog, owners: Owners) -> Step:
    """Read one bucket's policy and record its findings."""

    async def step(target: Target, tries: Tries) -> StepResult:
        read = await tries(backend.get_policy, target.bucket, target.region, account=target.account)
        current = parsed_policy(read.body, f"{target.bucket}: current policy")
        found = find(current, bucket=target.bucket, account=target.account, owners=owners)
        await log.add(found)
        outcome = Outcome.FETCHED if read.body is not None else Outcome.NO_POLICY
        return StepResult(
            outcome,
            read.request_id,
            had_policy=read.body is not None,
            note=findings_note([f.rule for f in found]),
        )

    return step


@dataclass(frozen=True, slots=True)
class Audit:
    """Read every target and judge its policy; writes nothing to a bucket."""

    fail_on: Severity
    name: str = "audit"
    writes: bool = False
    resumable: bool = False

    def targets(self, ctx: JobContext) -> AsyncIterator[Target]:
        return listed_targets(ctx)

    async def total(self, ctx: JobContext) -> int | None:
        return await listed_total(ctx)

    async def prepare(self, ctx: JobContext) -> Prepared:
        found = await look_up_owner_ids(
            accounts_of(ctx.manifest), ctx.backend, ctx.new_tries, book=ctx.book
        )
        owners = Owners(found.ids, members=frozenset(ctx.book.member_ids().values()))
        log = await FindingsLog.open(ctx.report_folder)
        insight = AuditInsight(log, self.fail_on, live_location, not_judged(found))
        return Prepared(audit_step(ctx.backend, log, owners), insight=insight)


def audit_action(manifest: Manifest, fail_on: Severity) -> Audit:
    """The audit of a manifest's targets; a restore manifest's are a backup's buckets."""
    if manifest.action not in _AUDITED:
        raise ConfigError(
            f"audit takes a backup, apply or delete manifest (its targets), not a "
            f"{manifest.action} one",
            hint=f"audit its backup folder instead: osspolicy audit {manifest.source}"
            if manifest.source
            else None,
        )
    return Audit(fail_on)
