"""Findings as the `osspolicy` command prints them (plain strings; contracts §18): an
audit's counts and high findings, a plan's compact lines, a baseline's list.

The input is the `findings` record a job's summary keeps (`FindingsTally.to_record`) or
`Finding` values; nothing here prints or decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .console_text import visible
from .findings import RULES_BY_ID, SEVERITIES, Finding
from .words import plural

__all__ = (
    "baseline_lines",
    "count_line",
    "finding_line",
    "high_lines",
    "not_judged_lines",
    "plan_lines",
    "table_rows",
)


def finding_line(severity: str, bucket: str, rule: str, message: str) -> str:
    """`  high  BUCKET  RULE: MESSAGE`: one finding (the message quotes the policy: shown
    `visible`, so a Sid cannot erase the line that reports it)."""
    return f"  {severity:<6} {visible(bucket)}  {rule}: {visible(message)}"


def count_line(record: Mapping[str, Any]) -> str:
    """`8 findings in 6 buckets: 1 high, 2 medium, 5 low`."""
    by_severity = record.get("by_severity") or {}
    severities = ", ".join(f"{int(by_severity.get(s, 0)):,} {s}" for s in SEVERITIES)
    total, buckets = int(record.get("total", 0)), int(record.get("buckets", 0))
    return f"{plural(total, 'finding')} in {plural(buckets, 'bucket')}: {severities}"


def table_rows(record: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(severity, rule, count) of each rule found, the most severe first."""
    by_rule = record.get("by_rule") or {}
    rows = [
        (RULES_BY_ID[rule].severity, rule, f"{int(count):,}")
        for rule, count in by_rule.items()
        if rule in RULES_BY_ID and count
    ]
    return sorted(rows, key=lambda row: SEVERITIES.index(row[0]))


def high_lines(record: Mapping[str, Any], *, where: str) -> list[str]:
    """The first high findings, then how many more there are and where."""
    shown = list(record.get("high") or ())
    lines = [
        finding_line("high", str(h.get("bucket")), str(h.get("rule")), str(h.get("message")))
        for h in shown
    ]
    more = int((record.get("by_severity") or {}).get("high", 0)) - len(shown)
    if more > 0:
        lines.append(f"  … and {more:,} more high findings in {where}")
    return lines


def not_judged_lines(record: Mapping[str, Any]) -> list[str]:
    """What could not be judged, and why (an account's owner id unknown)."""
    return [f"not judged: {line}" for line in record.get("not_judged") or ()]


def plan_lines(record: Mapping[str, Any] | None) -> list[str]:
    """A plan's findings, compactly: the counts by severity and rule, then the high ones
    (nothing when the plan puts no policy)."""
    if not record:
        return []
    total = int(record.get("total", 0))
    unjudged = not_judged_lines(record)
    if total == 0:
        return ["No findings in the policies this plan would put.", *unjudged]
    rules = ", ".join(f"{rule} {count}" for _severity, rule, count in table_rows(record))
    return [
        f"findings in the policies this plan would put: {count_line(record)} ({rules})",
        *high_lines(record, where="the report's summary.json (osspolicy audit lists all)"),
        *unjudged,
    ]


def baseline_lines(findings: Iterable[Finding]) -> list[str]:
    """A baseline's findings, every one (a baseline has a few statements)."""
    found = sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
    if not found:
        return []
    by = {s: sum(1 for f in found if f.severity == s) for s in SEVERITIES}
    counts = ", ".join(f"{by[s]} {s}" for s in SEVERITIES)
    head = f"baseline: {plural(len(found), 'finding')} ({counts}); plan and audit judge each"
    return [
        f"{head} bucket's policy",
        *(finding_line(f.severity, "baseline", f.rule, f.message) for f in found),
    ]
