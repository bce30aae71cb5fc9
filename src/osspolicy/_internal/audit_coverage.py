"""What an audit judged, and what it did not (contracts §4, §18): an audit never claims
more than it judged.

```
counts by outcome + targets_error + exit code ─► AuditCoverage
   ─► headline   "No findings in the 11 buckets judged; 9 buckets not judged (…)"
   ─► record     summary.json `findings.coverage`, `--json`'s `complete` / `error`
   ─► SARIF      `toolExecutionNotifications`: each unread bucket, the listing's failure,
                 the stop, each rule not judged for want of an owner id
```

"No findings." alone would read as "every bucket is clean" to anyone who skims, so it is
printed only when every target was judged: read (`fetched`, `no_policy`), the listing
complete and the job not stopped. Otherwise the headline says how many were judged and
what was not: buckets that could not be read (`failed`, `skipped`), a listing that
failed (buckets it never returned are unknown, so not counted), a stop signal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exitcodes import EXIT_DRIFT, EXIT_OK
from .render_findings import count_line
from .results import Outcome
from .words import plural

__all__ = ("NAMED_MAX", "AuditCoverage", "notifications", "unread_records_sync")

#: unread buckets each named by a SARIF notification; the rest are counted in one more
NAMED_MAX = 1000
_JUDGED = (Outcome.FETCHED, Outcome.NO_POLICY)
_UNREAD = frozenset({Outcome.FAILED.value, Outcome.SKIPPED.value})
_SIGNALS = {130: "SIGINT", 143: "SIGTERM"}


@dataclass(frozen=True, slots=True)
class AuditCoverage:
    """How much of its targets an audit judged."""

    judged: int
    #: buckets with a record that were not judged (could not be read, or skipped)
    not_judged: int
    #: why the targets are not all known (the listing failed, a backup's never finished)
    targets_error: str | None = None
    #: the job's own error (a pre-flight that stopped it)
    error: str | None = None
    exit_code: int = EXIT_OK

    @classmethod
    def of(
        cls,
        counts: Mapping[Outcome, int] | Mapping[str, int],
        extra: Mapping[str, Any],
        exit_code: int,
    ) -> AuditCoverage:
        """The coverage of an audit from its counts by outcome and its summary's extra."""
        by = {str(getattr(key, "value", key)): int(n) for key, n in counts.items()}
        judged = sum(by.get(o.value, 0) for o in _JUDGED)
        unread = sum(by.get(o, 0) for o in _UNREAD)
        why, error = extra.get("targets_error"), extra.get("error")
        return cls(
            judged,
            unread,
            str(why) if why else None,
            str(error) if error else None,
            exit_code,
        )

    @property
    def complete(self) -> bool:
        """Every target judged: nothing unread, the targets all known, not stopped."""
        return not self.reasons() and self.exit_code in {EXIT_OK, EXIT_DRIFT}

    def reasons(self) -> list[str]:
        """One clause per thing not judged, plainly (empty: everything was)."""
        found = []
        if self.not_judged:
            found.append(
                f"{plural(self.not_judged, 'bucket')} not judged (could not be read; "
                "the errors and report.jsonl say why)"
            )
        if self.targets_error:
            found.append(f"{self.targets_error}; buckets never listed are not judged")
        if self.error:
            found.append(self.error)
        if self.exit_code in _SIGNALS:
            found.append(
                f"the audit was stopped ({_SIGNALS[self.exit_code]}): buckets it had not "
                "reached are not judged"
            )
        if not found and self.exit_code not in {EXIT_OK, EXIT_DRIFT}:
            found.append(f"the audit did not finish (exit code {self.exit_code})")
        return found

    @property
    def message(self) -> str | None:
        """What was not judged, in one sentence (None: everything was)."""
        reasons = self.reasons()
        return "; ".join(reasons) if reasons else None

    def headline(self, findings: Mapping[str, Any]) -> str:
        """The audit's verdict: its findings, and (unless it judged every target) how
        many buckets they cover and what was not judged."""
        total = bool(findings.get("total"))
        message = self.message
        if message is None:
            return count_line(findings) if total else "No findings."
        if self.judged == 0:
            return f"No bucket judged: {message}"
        judged = plural(self.judged, "bucket")
        if total:
            return f"{count_line(findings)} (of the {judged} judged); {message}"
        return f"No findings in the {judged} judged; {message}"

    def to_record(self) -> dict[str, Any]:
        """summary.json's `findings.coverage` (and `--json`'s fields)."""
        return {
            "complete": self.complete,
            "judged": self.judged,
            "not_judged": self.not_judged,
            "error": self.message,
        }


def unread_records_sync(report: Path) -> Iterator[dict[str, Any]]:
    """The records of a report.jsonl whose bucket was not judged (failed, skipped),
    streamed (blocking: run it in a worker thread)."""
    if not report.is_file():
        return
    with report.open("rb") as lines:
        for line in lines:
            if not line.endswith(b"\n"):
                return  # torn: its write did not finish
            record = json.loads(line)
            if isinstance(record, dict) and record.get("outcome") in _UNREAD:
                yield record


def _note(
    text: str, descriptor: str, *, level: str = "error", bucket: str | None = None
) -> dict[str, Any]:
    note: dict[str, Any] = {"level": level, "message": {"text": text}}
    note["descriptor"] = {"id": descriptor}
    if bucket is not None:
        artifact = {"uri": f"oss://{bucket}"}
        note["locations"] = [{"physicalLocation": {"artifactLocation": artifact}}]
    return note


def notifications(
    coverage: AuditCoverage, unread: Iterator[dict[str, Any]], rules_not_judged: tuple[str, ...]
) -> list[dict[str, Any]]:
    """SARIF `toolExecutionNotifications`: each unread bucket (the first `NAMED_MAX`, then
    how many more), the listing's failure, the stop, and each account whose rules were
    not all judged (a warning): what code scanning must not read as "fixed"."""
    found: list[dict[str, Any]] = []
    more = 0
    for record in unread:
        if len(found) >= NAMED_MAX:
            more += 1
            continue
        bucket = str(record.get("bucket"))
        why = " ".join(
            str(record[key]) for key in ("error_code", "error_message") if record.get(key)
        )
        text = f"{bucket}: not judged ({record.get('outcome')}): {why or 'no reason recorded'}"
        found.append(_note(text, "bucket-not-judged", bucket=bucket))
    if more:
        text = f"and {plural(more, 'more bucket')} not judged: see report.jsonl"
        found.append(_note(text, "bucket-not-judged"))
    if coverage.targets_error:
        text = f"{coverage.targets_error}; buckets never listed are not judged"
        found.append(_note(text, "targets-not-listed"))
    if coverage.error:
        found.append(_note(coverage.error, "audit-failed"))
    if coverage.exit_code in _SIGNALS:
        text = f"stopped by {_SIGNALS[coverage.exit_code]}: buckets not reached are not judged"
        found.append(_note(text, "stopped"))
    found.extend(_note(line, "rule-not-judged", level="warning") for line in rules_not_judged)
    return found
