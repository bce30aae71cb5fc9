"""The audit of a backup folder (contracts §18): `osspolicy audit BACKUP_DIR` judges the
policies a backup holds, with no request at all (no credentials either).

```
Backup.open (incomplete allowed: what it holds is judged) ─► verify every policy file
  ─► each bucket: its file ─► findings.find ─► fetched | no_policy
     a damaged file ─► failed (Damaged)        a bucket in `missing` ─► failed (NotInBackup)
  ─► report folder <report_dir>/<job-id>/: report.jsonl, findings.jsonl, findings.sarif,
     summary.json last
```

A backup that is not one, or whose index does not match its summary, is refused as
restore refuses it (exit 2). The buckets an incomplete backup lacks count as unread
(exit 1), and so does a listing that never finished (`listing_complete: false`: more
may be missing) or a backup without its summary; a damaged policy file is that bucket's
failure, the others are judged. The owner ids come from the backup's `summary.json`
(`owner_id` of each account); an older backup has none, and the findings say what they
could not judge without them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import anyio

from .audit_action import findings_note, not_judged
from .backup import Backup, BackupEntry, DamagedEntry
from .errors import ConfigError
from .exitcodes import exit_code_for
from .findings import Finding, Owners, Severity, find
from .findings_log import AuditInsight, FindingsLog
from .jobid import new_job_id
from .jsonfiles import json_line
from .operations import parsed_policy
from .owner_ids import OwnerIds
from .report import MemoryReport, ReportWriter, Summary
from .results import Outcome, Result
from .sarif import backup_location

__all__ = ("BackupAudit", "BackupAudited", "audit_backup", "recorded_owners")

#: records written to the report per batch
_BATCH = 256
#: told every record (awaited when it returns an awaitable)
OnRecord = Callable[[Result], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class BackupAudited:
    """What a backup's audit leaves: its summary, its folder (None: in memory) and, in
    memory, its records and findings."""

    summary: Summary
    report_folder: Path | None
    findings: tuple[Finding, ...] = ()
    results: tuple[Result, ...] = ()


def recorded_owners(backup: Backup) -> tuple[Owners, OwnerIds]:
    """The owner ids a backup recorded for its accounts (`summary.json` accounts'
    `owner_id`, a directory member's `account_id`), every account of its index included
    (None: not recorded, as in a backup older than them)."""
    records = (backup.summary or {}).get("accounts")
    ids: dict[str, str | None] = {}
    members: set[str] = set()
    for record in records if isinstance(records, list) else ():
        if not isinstance(record, dict) or not isinstance(name := record.get("name"), str):
            continue
        owner = record.get("owner_id") or record.get("account_id")
        ids[name] = owner if isinstance(owner, str) and owner else None
        if isinstance(record.get("account_id"), str):
            members.add(record["account_id"])  # a directory's member, left out or not
        if record.get("status") in {"excluded", "assume_failed"}:
            ids.pop(name)  # holds no bucket: only its id matters
    for entry in backup.entries():
        ids.setdefault(entry.account, None)
    errors = {name: "the backup records no owner id" for name, o in ids.items() if o is None}
    return Owners(ids, members=frozenset(members)), OwnerIds(ids, errors=errors)


class BackupAudit:
    """One backup's audit, bucket by bucket, into a report (a folder, or memory)."""

    def __init__(
        self,
        backup: Backup,
        owners: Owners,
        report: ReportWriter | MemoryReport,
        log: FindingsLog,
        on_record: OnRecord | None,
    ) -> None:
        self.backup = backup
        self.owners = owners
        self.report = report
        self.log = log
        self.on_record = on_record
        self._batch: list[Result] = []

    async def judge(self, entry: BackupEntry, damaged: DamagedEntry | None) -> None:
        """One bucket's record (and findings)."""
        region, account = entry.region, entry.account
        if damaged is not None:
            await self._record(
                Result(
                    entry.bucket,
                    region,
                    "audit",
                    Outcome.FAILED,
                    account,
                    error_code="Damaged",
                    error_message=f"damaged in the backup: {damaged.path.name} {damaged.problem}",
                )
            )
            return
        body = await self.backup.read_policy(entry)
        found: list[Finding] = []
        try:
            doc = parsed_policy(body, f"{self.backup.policy_path(entry)}")
        except ConfigError as exc:  # the bytes are not a policy
            result = Result(
                entry.bucket,
                region,
                "audit",
                Outcome.FAILED,
                account,
                error_code="InvalidPolicy",
                error_message=str(exc),
            )
        else:
            found = find(doc, bucket=entry.bucket, account=account, owners=self.owners)
            result = Result(
                entry.bucket,
                region,
                "audit",
                Outcome.FETCHED if body is not None else Outcome.NO_POLICY,
                account,
                had_policy=body is not None,
                note=findings_note([f.rule for f in found]),
            )
        await self.log.add(found)
        await self._record(result)

    async def missing(self, bucket: str) -> None:
        """A bucket the backup's job could not read: unread here too."""
        await self._record(
            Result(
                bucket,
                None,
                "audit",
                Outcome.FAILED,
                error_code="NotInBackup",
                error_message="missing from the backup (its backup job could not read it)",
            )
        )

    async def _record(self, result: Result) -> None:
        self._batch.append(result)
        if self.on_record is not None and (told := self.on_record(result)) is not None:
            await told
        if len(self._batch) >= _BATCH:
            await self.flush()

    async def flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            await self.report.write_many(batch)


def _manifest_yaml(folder: Path, fail_on: Severity) -> str:
    """What the audit's report folder records in place of a manifest."""
    source = json_line({"source": str(folder), "fail_on": fail_on}).decode().strip()
    return f"# osspolicy audit of a backup folder (no request sent)\naudit: {source}\n"


def _incomplete(backup: Backup) -> str | None:
    """Why the backup's targets are not all known (None: they are)."""
    summary = backup.summary
    if summary is None:
        return "the backup has no summary.json: its job never finished"
    if summary.get("listing_complete") is False:
        return "the backup's listing failed: buckets it never returned are not in it"
    return None


async def audit_backup(
    folder: Path,
    *,
    fail_on: Severity,
    report_dir: Path | None,
    on_start: Callable[[str, int | None], None] | None = None,
    on_record: OnRecord | None = None,
) -> BackupAudited:
    """Judge every policy of the backup `folder` into a new report folder in
    `report_dir` (None: kept in memory)."""
    started = datetime.now(UTC)
    backup = await Backup.open(folder, allow_incomplete=True, allow_empty=True)
    damaged = {d.entry.bucket: d for d in await backup.verify(skip_damaged=True)}
    owners, ids = recorded_owners(backup)
    job_id = new_job_id("audit")
    report_folder = None if report_dir is None else report_dir / job_id
    report: ReportWriter | MemoryReport
    if report_folder is None:
        report = MemoryReport(job_id)
    else:
        yaml = _manifest_yaml(folder, fail_on)
        report = await ReportWriter.create(report_folder, job_id=job_id, manifest_yaml=yaml)
    log = await FindingsLog.open(report_folder)
    insight = AuditInsight(log, fail_on, backup_location, not_judged(ids), backup=folder)
    missing = await backup.missing()
    entries = backup.entries()
    if on_start is not None:
        on_start(job_id, len(entries) + len(missing))
    audit = BackupAudit(backup, owners, report, log, on_record)
    try:
        await _judge_all(audit, entries, damaged, missing)
        await audit.flush()
    except BaseException:  # the report and findings stay as far as they got
        await insight.aclose()
        await report.aclose()
        raise
    why = _incomplete(backup)
    reading = {"source": str(folder), **({"targets_error": why} if why else {})}
    exit_code, found = await insight.finish(
        exit_code_for(report.counts, targets_complete=why is None), report, reading
    )
    extra = {**reading, **found}
    summary = await report.finish(
        started_at=started, finished_at=datetime.now(UTC), exit_code=exit_code, extra=extra
    )
    results = tuple(report.results) if isinstance(report, MemoryReport) else ()
    return BackupAudited(summary, report_folder, insight.kept, results)


async def _judge_all(
    audit: BackupAudit,
    entries: Iterable[BackupEntry],
    damaged: dict[str, DamagedEntry],
    missing: Iterable[str],
) -> None:
    for entry in entries:
        await audit.judge(entry, damaged.get(entry.bucket))
        await anyio.lowlevel.checkpoint()
    for bucket in missing:
        await audit.missing(bucket)
