"""Where a job's findings go: counted, appended to `findings.jsonl` as they come, and
written as `findings.sarif` at the end; and what they make of the job's exit code.

```
audit step ─► FindingsLog.add ─► findings.jsonl (appended)      ─┐
                               ─► FindingsTally (counts, first    ├─► AuditInsight.finish:
                                  high ones)                      │   findings.sarif, exit 3
plan's decider ─► PlanInsight ─► FindingsTally ───────────────────┴─► summary.json `findings`
```

The tally is what `summary.json` keeps under `findings` (contracts §18; `--json` shows its
counts): the total, the buckets with any, the counts by severity and by rule, and the
first high findings for the console. A job kept in memory keeps its findings in a list
instead of a file (`kept`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from .appendlog import AppendLog
from .audit_coverage import AuditCoverage, notifications, unread_records_sync
from .exitcodes import EXIT_DRIFT, EXIT_OK
from .findings import RULES, SEVERITIES, Finding, Severity, at_or_above
from .jsonfiles import json_line
from .report import JSONL_NAME, MemoryReport, ReportWriter
from .sarif import SARIF_NAME, Location, document, read_findings_sync, write_sarif_sync

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = (
    "FINDINGS_NAME",
    "HIGH_SHOWN",
    "AuditInsight",
    "FindingsLog",
    "FindingsTally",
)

FINDINGS_NAME = "findings.jsonl"
#: high findings kept for the console (all of them are in the files)
HIGH_SHOWN = 20


class FindingsTally:
    """Counts of findings by rule and severity, and the first high ones."""

    def __init__(self) -> None:
        self.by_rule: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()
        self.buckets = 0
        self.high: list[Finding] = []

    def add(self, findings: Sequence[Finding]) -> None:
        """Count one bucket's findings (all of them at once)."""
        if findings:
            self.buckets += 1
        for finding in findings:
            self.by_rule[finding.rule] += 1
            self.by_severity[finding.severity] += 1
            if finding.severity == "high" and len(self.high) < HIGH_SHOWN:
                self.high.append(finding)

    @property
    def total(self) -> int:
        return sum(self.by_severity.values())

    def any_at_or_above(self, threshold: Severity) -> bool:
        """Whether a finding is `threshold` or more severe."""
        return any(n and at_or_above(s, threshold) for s, n in self.by_severity.items())

    def to_record(self) -> dict[str, Any]:
        """`summary.json`'s `findings`."""
        return {
            "total": self.total,
            "buckets": self.buckets,
            "by_severity": {severity: self.by_severity[severity] for severity in SEVERITIES},
            "by_rule": {rule.id: self.by_rule[rule.id] for rule in RULES if self.by_rule[rule.id]},
            "high": [
                {
                    "bucket": f.bucket,
                    "rule": f.rule,
                    "statement": f.statement,
                    "message": f.message,
                }
                for f in self.high
            ],
        }


class FindingsLog:
    """A job's findings: `findings.jsonl` in its report folder (or a list in memory),
    and their tally. `add` may be called from many tasks."""

    def __init__(self, folder: Path | None, log: AppendLog | None) -> None:
        self.folder = folder
        self._log = log
        self.tally = FindingsTally()
        #: a job kept in memory: every finding, in the order found
        self.kept: list[Finding] = []

    @classmethod
    async def open(cls, folder: Path | None) -> FindingsLog:
        """`folder`'s new `findings.jsonl`, or (None) a log kept in memory."""
        if folder is None:
            return cls(None, None)
        return cls(folder, await AppendLog.open(folder / FINDINGS_NAME, exclusive=True))

    @property
    def path(self) -> Path | None:
        return None if self.folder is None else self.folder / FINDINGS_NAME

    @property
    def sarif_path(self) -> Path | None:
        return None if self.folder is None else self.folder / SARIF_NAME

    async def add(self, findings: Sequence[Finding]) -> None:
        """One bucket's findings, appended whole and counted."""
        if self._log is None:
            self.kept.extend(findings)
        elif findings:
            await self._log.append_many([json_line(f.to_record()) for f in findings])
        self.tally.add(findings)

    async def write_sarif(self, location: Location, head: Callable[[], Mapping[str, Any]]) -> None:
        """Close `findings.jsonl` and write `findings.sarif` from it (nothing in memory);
        `head` (the log without its results) is built in the same worker thread, since
        its notifications read the report's records."""
        if self._log is None or self.folder is None:
            return
        await self._log.aclose()
        path, sarif = self.folder / FINDINGS_NAME, self.folder / SARIF_NAME

        def write() -> None:
            write_sarif_sync(sarif, head(), read_findings_sync(path), location)

        await anyio.to_thread.run_sync(write)

    async def aclose(self) -> None:
        """Close `findings.jsonl` (an unfinished job's stays as far as it got)."""
        if self._log is not None:
            await self._log.aclose()


@dataclass(frozen=True, slots=True)
class AuditInsight:
    """An audit's end: `findings.sarif` written, exit 3 for a finding at or above
    `fail_on` when every target was read (contracts §4, §18), the summary's `findings`."""

    log: FindingsLog
    fail_on: Severity
    location: Location
    #: what could not be judged, and why (an account's owner id unknown)
    not_judged: tuple[str, ...] = ()
    backup: Path | None = None

    async def finish(
        self, exit_code: int, report: ReportWriter | MemoryReport, extra: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """The job's exit code and its summary's `findings`, with what was not judged
        (`coverage`; the SARIF log's notifications name each bucket of it)."""
        if exit_code == EXIT_OK and self.log.tally.any_at_or_above(self.fail_on):
            exit_code = EXIT_DRIFT
        coverage = AuditCoverage.of(report.counts, extra, exit_code)
        records = None
        if isinstance(report, ReportWriter):  # its records on disk, for the notifications
            await report.flush()
            records = report.folder / JSONL_NAME

        def head() -> dict[str, Any]:
            unread = unread_records_sync(records) if records is not None else iter(())
            return document(
                version=version("osspolicy"),
                exit_code=exit_code,
                successful=coverage.complete,
                backup=self.backup,
                notifications=notifications(coverage, unread, self.not_judged),
            )

        await self.log.write_sarif(self.location, head)
        record = self.log.tally.to_record()
        record["fail_on"] = self.fail_on
        record["coverage"] = coverage.to_record()
        if self.not_judged:
            record["not_judged"] = list(self.not_judged)
        if self.log.folder is not None:
            record["files"] = {"findings": str(self.log.path), "sarif": str(self.log.sarif_path)}
        return exit_code, {"findings": record}

    @property
    def kept(self) -> tuple[Finding, ...]:
        return tuple(self.log.kept)

    async def aclose(self) -> None:
        await self.log.aclose()
