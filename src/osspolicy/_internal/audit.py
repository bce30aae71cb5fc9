"""`osspolicy audit` (contracts §18): the findings of every target's policy, live or from
a backup, as a report folder with `findings.jsonl` and `findings.sarif`.

```
audit(JOB.yaml)     ─► run_job(RunOptions(audit=fail_on)) (audit_action.py: reads, like check)
audit(BACKUP_DIR)   ─► audit_backup (no request)
                    ─► AuditRun: the job's summary, exit code, findings
```

Exit codes (contracts §4): 1 when a target could not be read (an incomplete backup's
missing buckets count as unread), else 3 when a finding is at or above `fail_on`
(default high), else 0.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audit_backup import audit_backup
from .audit_coverage import AuditCoverage
from .backends import Backend
from .errors import ConfigError
from .findings import Finding, Severity
from .findings_log import FINDINGS_NAME
from .job import JobRun, OnResult, OnStart, RunOptions, run_job
from .keys import AccessKey
from .manifest import Manifest
from .report import JSONL_NAME, Summary
from .results import Result
from .sarif import SARIF_NAME, read_findings_sync

__all__ = ("FAIL_ON", "AuditRun", "backup_folder_of", "run_audit")

#: the levels `--fail-on` takes
FAIL_ON: tuple[Severity, ...] = ("high", "medium", "low")


@dataclass(frozen=True, slots=True)
class AuditRun:
    """A finished audit: where its files are, how it went, and its findings.

    `findings` holds every finding of an audit kept in memory (`report_dir=None`); an
    audit with a report folder reads them back from its `findings.jsonl`
    (`all_findings()`). `source` is the backup folder audited (None: a live audit).
    """

    job_id: str
    report_folder: Path | None
    summary: Summary
    exit_code: int
    source: Path | None = None
    findings: tuple[Finding, ...] = ()
    #: an audit kept in memory: its records (with a folder: see its report.jsonl)
    results: tuple[Result, ...] = ()
    action: str = "audit"

    @property
    def counts(self) -> Mapping[str, Any]:
        """The summary's `findings`: total, buckets, by_severity, by_rule, fail_on, …"""
        found = self.summary.extra.get("findings")
        return found if isinstance(found, Mapping) else {}

    @property
    def coverage(self) -> AuditCoverage:
        """What the audit judged and what it did not (its headline, `--json`'s
        `complete` and `error`)."""
        return AuditCoverage.of(self.summary.counts, self.summary.extra, self.exit_code)

    @property
    def sarif(self) -> Path | None:
        """`findings.sarif` (None: kept in memory)."""
        return None if self.report_folder is None else self.report_folder / SARIF_NAME

    def all_findings(self) -> list[Finding]:
        """Every finding: those kept in memory, or `findings.jsonl` read back."""
        if self.report_folder is None:
            return list(self.findings)
        return list(read_findings_sync(self.report_folder / FINDINGS_NAME))

    def records(self) -> list[dict[str, Any]]:
        """One record per target (outcome fetched, no_policy or failed; note: its rules)."""
        if self.report_folder is None:
            return [result.to_record() for result in self.results]
        text = (self.report_folder / JSONL_NAME).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def to_json(self) -> dict[str, Any]:
        """The one object `osspolicy audit --json` prints (contracts §12, §18)."""
        counts = self.counts
        folder = self.report_folder
        coverage = self.coverage
        return {
            "job_id": self.job_id,
            "action": "audit",
            "exit_code": self.exit_code,
            # an audit that judged less says so plainly: "no findings" is not "clean"
            "complete": coverage.complete,
            "judged": coverage.judged,
            "not_judged_buckets": coverage.not_judged,
            "error": coverage.message,
            "counts": {str(k): v for k, v in self.summary.counts.items() if v},
            "report": str(folder) if folder is not None else None,
            "source": str(self.source) if self.source is not None else None,
            "fail_on": counts.get("fail_on"),
            "findings": {
                key: counts.get(key) for key in ("total", "buckets", "by_severity", "by_rule")
            },
            "not_judged": list(counts.get("not_judged", ())),
            "sarif": str(self.sarif) if self.sarif is not None else None,
        }

    @classmethod
    def of_job(cls, run: JobRun) -> AuditRun:
        """A live audit's run."""
        return cls(
            run.job_id,
            run.report_folder,
            run.summary,
            run.exit_code,
            findings=run.findings,
            results=run.results,
        )


def backup_folder_of(target: object) -> Path | None:
    """The backup folder `target` names (a path to a folder), or None (a manifest)."""
    if isinstance(target, str | os.PathLike) and Path(target).is_dir():
        return Path(target)
    return None


async def run_audit(
    source: Manifest | Path,
    *,
    fail_on: Severity = "high",
    report_dir: Path | None,
    on_start: OnStart | None = None,
    on_result: OnResult | None = None,
    backend: Backend | None = None,
    keys: Mapping[str, AccessKey] | None = None,
    handle_signals: bool = False,
) -> AuditRun:
    """Audit a manifest's targets live, or a backup folder (`Path`) with no request.

    `report_dir` None keeps everything in memory (nothing written); a manifest's audit
    otherwise writes to the manifest's `report_dir` (the caller sets it)."""
    if fail_on not in FAIL_ON:
        raise ConfigError(f"fail_on={fail_on!r} is not a severity", hint="high, medium or low")
    if isinstance(source, Path):
        done = await audit_backup(
            source, fail_on=fail_on, report_dir=report_dir, on_start=on_start, on_record=on_result
        )
        summary = done.summary
        return AuditRun(
            summary.job_id,
            done.report_folder,
            summary,
            summary.exit_code,
            source,
            done.findings,
            done.results,
        )
    options = RunOptions(audit=fail_on, in_memory=report_dir is None)
    job = await run_job(
        source,
        options,
        source="osspolicy audit",
        backend=backend,
        on_result=on_result,
        on_start=on_start,
        keys=keys,
        handle_signals=handle_signals,
    )
    return AuditRun.of_job(job)
