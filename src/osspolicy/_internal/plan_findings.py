"""A plan's findings (contracts §18): what each policy the plan would put breaks, counted
for its summary (`findings`) and shown after its diffs, compactly (counts and the high
ones).

The decider the plan shows is wrapped: each decision that puts a policy is judged as
the bucket would have it. Who the owner is comes from what the job read anyway (its
listing names each account's owner id, `${account_id}` looked it up): with more than
one account, `external-principal` is not judged (another account's id may not be read
yet), nor is it without a listing (a restore's or a rollback's plan): the plan's summary
says so under `findings.not_judged`, and its console after the findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .baseline import Baseline
from .deciders import Decider, Decision
from .errors import ConfigError
from .findings import Finding, Owners, find
from .findings_log import FindingsTally
from .operations import parsed_policy
from .results import Change, Target
from .retry import Tries

__all__ = ("PlanInsight", "baseline_findings", "judged")


@dataclass(frozen=True, slots=True)
class PlanInsight:
    """The findings of the policies a plan would put; the exit code is the plan's."""

    tally: FindingsTally = field(default_factory=FindingsTally)
    #: accounts whose policies were judged without their owner id (why, by account)
    unknown_owner: dict[str, str] = field(default_factory=dict)

    async def finish(
        self,
        exit_code: int,
        report: object,  # noqa: ARG002 - the Insight protocol's: a plan's counts need none
        extra: Mapping[str, Any],  # noqa: ARG002
    ) -> tuple[int, dict[str, Any]]:
        record = self.tally.to_record()
        if self.unknown_owner:  # never silently: what the plan did not judge, and why
            record["not_judged"] = [
                f"account {name}: owner id unknown ({why}): external-principal not judged, "
                "wildcard-action only for grants to everyone"
                for name, why in sorted(self.unknown_owner.items())
            ]
        return exit_code, {"findings": record}

    @property
    def kept(self) -> tuple[Finding, ...]:
        return ()

    async def aclose(self) -> None:
        """Nothing to close."""


def judged(
    decide: Decider, insight: PlanInsight, accounts: Sequence[str], seen: Mapping[str, str]
) -> Decider:
    """`decide`, its every PUT's policy judged into `insight` (a conflict is not put)."""

    async def decide_and_judge(target: Target, tries: Tries) -> Decision:
        decision = await decide(target, tries)
        if decision.change is Change.PUT and decision.conflict is None:
            insight.tally.add(_findings(decision, target, accounts, seen))
            if (why := _owner_unknown(target.account, accounts, seen)) is not None:
                insight.unknown_owner.setdefault(target.account, why)
        return decision

    return decide_and_judge


def _owner_unknown(account: str, accounts: Sequence[str], seen: Mapping[str, str]) -> str | None:
    """Why `account`'s owner id is not known to the plan (None: it is, and so is every
    other account's): a restore's or rollback's plan lists nothing, so knows none."""
    if seen.get(account) is None:
        return "no listing of this plan named it (a restore's or rollback's plan lists none)"
    if len(accounts) > 1:
        return "a plan of several accounts may not have read the others' yet"
    return None


def baseline_findings(baseline: Baseline) -> list[Finding]:
    """A baseline's findings before rendering (`osspolicy validate`): no bucket, no owner
    id yet, so `foreign-resource` and `external-principal` wait for plan and audit; in
    merge mode the bucket's own statements complete the policy, so `no-https-only` too."""
    found = find(baseline.document, bucket=None, account="", owners=Owners())
    return [f for f in found if baseline.mode == "replace" or f.rule != "no-https-only"]


def _findings(
    decision: Decision, target: Target, accounts: Sequence[str], seen: Mapping[str, str]
) -> list[Finding]:
    try:
        wanted = decision.desired if decision.parsed else parsed_policy(decision.body, "")
    except ConfigError:  # bytes that do not parse (a restore's): nothing to judge
        return []
    ids = {name: seen.get(name) if len(accounts) == 1 else None for name in accounts}
    ids[target.account] = seen.get(target.account)
    return find(wanted, bucket=target.bucket, account=target.account, owners=Owners(ids))
