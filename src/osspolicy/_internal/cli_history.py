"""The commands that read past jobs of a report folder: `jobs` (one line per job,
newest first) and `show` (one job: summary, failures, files).

What a folder holds is read by `history.py`; this module only prints it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .cli_console import out, print_json
from .cli_options import JsonList, ReportDir
from .exitcodes import EXIT_OK, EXIT_USAGE
from .words import plural

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .history import BackupState

__all__ = (
    "jobs",
    "show",
)

#: failures `osspolicy show` prints (all of them are in its --json and the report)
SHOWN_FAILURES = 50


def jobs(report_dir: ReportDir = Path("reports"), as_json: JsonList = False) -> int:
    """List the jobs of a report folder, newest first: counts, exit code, and whether
    each backup is complete."""
    from .history import list_jobs

    entries = list_jobs(report_dir)
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return EXIT_OK
    if not entries:
        out.print(f"no jobs in {report_dir}", markup=False)
        return EXIT_OK
    rows = [("job", "action", "started (UTC)", "exit", "outcomes", "backup")]
    rows += [
        (
            entry.job_id,
            entry.action,
            entry.started_at.replace("T", " ")[:19],
            "unfinished" if entry.exit_code is None else str(entry.exit_code),
            _outcomes(entry.counts) or "-",
            _backup_word(entry.backup, exit_code=entry.exit_code),
        )
        for entry in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:  # one line per job, whatever the terminal's width: easy to grep
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        out.print(f"{line}  {row[-1]}".rstrip(), markup=False, soft_wrap=True)
    return EXIT_OK


def show(
    job_id: Annotated[str, typer.Argument(help="The job to show (see `osspolicy jobs`).")],
    report_dir: ReportDir = Path("reports"),
    as_json: JsonList = False,
) -> int:
    """Show one job: its summary, its failures and where its files are."""
    from .history import show_job

    detail = show_job(report_dir, job_id)
    if as_json:
        print_json(detail.to_json())
        return EXIT_OK
    entry = detail.entry
    ended = "unfinished (no summary.json)" if entry.exit_code is None else f"exit {entry.exit_code}"
    out.print(
        f"job {entry.job_id}: {entry.action}, {entry.status}, {ended}", markup=False, soft_wrap=True
    )
    out.print(
        f"started {entry.started_at}, finished {entry.finished_at or '-'}",
        markup=False,
        soft_wrap=True,
    )
    out.print(
        f"{plural(entry.total, 'bucket')}: {_outcomes(entry.counts) or 'none'}",
        markup=False,
        soft_wrap=True,
    )
    if entry.backup is not None:
        out.print(
            f"{entry.backup.kind}: {_backup_word(entry.backup, exit_code=entry.exit_code)}",
            markup=False,
            soft_wrap=True,
        )
    for key in ("error", "targets_error", "stopped"):
        if detail.summary is not None and key in detail.summary:
            out.print(
                f"{key.replace('_', ' ')}: {detail.summary[key]}", markup=False, soft_wrap=True
            )
    if detail.failures:
        out.print(f"failures ({len(detail.failures)}):", markup=False, soft_wrap=True)
    for record in detail.failures[:SHOWN_FAILURES]:
        text = f"{record.get('error_code') or ''} {record.get('error_message') or ''}".strip()
        out.print(
            f"  {record.get('bucket')}: {record.get('outcome')} {text}".rstrip(), markup=False
        )
    if len(detail.failures) > SHOWN_FAILURES:
        more = len(detail.failures) - SHOWN_FAILURES
        out.print(
            f"  … and {more} more: --json, or {detail.files['report']}",
            markup=False,
            soft_wrap=True,
        )
    out.print("files:", markup=False, soft_wrap=True)
    for name, path in detail.files.items():
        out.print(f"  {name + ':':<10} {path}", markup=False, soft_wrap=True)
    return EXIT_OK


def _outcomes(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{outcome} {count}" for outcome, count in counts.items())


def _backup_word(backup: BackupState | None, *, exit_code: int | None = None) -> str:
    """A backup's state in a few words: complete, INCOMPLETE (why), or a snapshot's; none
    for a job stopped before anything (exit 2: a pre-flight error removes its folder)."""
    if backup is None:
        return ""
    if not backup.exists:
        stopped = exit_code == EXIT_USAGE  # a pre-flight error removed it: nothing lost
        return (
            "none (the job stopped at its first call; see its error)"
            if stopped
            else f"folder not found ({backup.folder})"
        )
    if backup.kind == "snapshot":
        held = "snapshot"
        if backup.buckets is not None:
            held = f"snapshot of {plural(backup.buckets, 'bucket')}"
        return held if backup.finished else f"{held}, unfinished"
    if backup.complete:
        return "complete"
    if not backup.finished:
        return "INCOMPLETE: unfinished (no summary.json)"
    why = [f"{backup.missing} missing"] if backup.missing else []
    if backup.listing_complete is False:
        why.append("listing failed")
    return f"INCOMPLETE: {', '.join(why) or 'complete: false'}"
