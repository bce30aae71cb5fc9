"""A plan's findings (contracts §18): what each policy the plan would put breaks, counted
for its summary (`findings`) and shown after its diffs, compactly (counts and the high
ones).

The decider the plan shows is wrapped: each decision that puts a policy is judged as
the bucket would have it. Who the owner is comes from what the job read anyway (its
listing names each account's owner id, `${account_id}` looked it up): with more than
one account, `external-principal` is not judged (another account's id may not be read
yet), and nothing at all is judged without a listing (a restore's plan).
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

    async def finish(
        self,
        exit_code: int,
        report: object,  # noqa: ARG002 - the Insight protocol's: a plan's counts need none
        extra: Mapping[str, Any],  # noqa: ARG002
    ) -> tuple[int, dict[str, Any]]:
        return exit_code, {"findings": self.tally.to_record()}

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
        return decision

    return decide_and_judge


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
