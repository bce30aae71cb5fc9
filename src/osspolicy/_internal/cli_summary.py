"""A finished job's summary on the terminal (rich): counts per outcome, the diffs of a
plan or a check, failures, a rollback's overwrites, the region fallback, the result
line and where the job's folders are.

The lines themselves come from `render.py` (plain strings); this module chooses which
are shown at `-q`, normally and at `-v`, and prints them with rich (the counts table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import render
from .cli_console import GlobalOptions, err, out
from .exitcodes import EXIT_SIGINT, EXIT_SIGTERM
from .render_findings import plan_lines

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.console import Console
    from rich.table import Table

    from .job import JobRun
    from .report import Summary

__all__ = ("render_summary",)

#: buckets a plan's console names with the new access they would get (all in the report)
_NEW_ACCESS_SHOWN = 20


def _summary_lines(extra: Mapping[str, Any]) -> None:
    """The summary's own lines on stderr: `warnings` (e.g. a resume's new endpoint),
    `preflight` (one per account and region whose first call showed the endpoint or the
    credentials wrong), `credentials` (one per account whose credentials died mid-job)
    and one per account of a directory job that could not be read."""
    for key, kind in (("warnings", "warning"), ("preflight", "error"), ("credentials", "error")):
        for line in extra.get(key, ()):
            err.print(f"osspolicy: {kind}: {line}", markup=False, soft_wrap=True)
    for line in render.missing_account_lines(extra):  # a directory's member not read
        err.print(f"osspolicy: error: {line}", markup=False, soft_wrap=True)


def render_summary(run: JobRun, console: Console = out) -> None:
    """Counts per outcome (and per kind of change), the diffs of a plan or a check,
    failures with code and message, wall time and rate (`-q`: only the last line;
    `-v`: every failure and skip the summary lists)."""
    summary = run.summary
    _summary_lines(summary.extra)  # warnings (a resume's new endpoint), dead credentials
    for line in render.foreign_warnings(summary):  # a Resource naming another bucket
        err.print(line, markup=False)
    if GlobalOptions.verbosity < 0:  # -q: the errors still (the job's own), the result line
        whole = [
            f"{key.replace('_', ' ')}: {summary.extra[key]}"
            for key in ("targets_error", "stopped")
            if key in summary.extra
        ]
        errors = render.error_lines(summary, render.QUIET_ERRORS)
        for line in [*errors, *whole, render.result_line(run)]:
            console.print(line, markup=False)
        return
    console.print(f"job {run.job_id}", markup=False)
    console.print(_counts_table(summary))
    if run.action in {"plan", "check"}:
        _render_changes(run, console)
    for line in render.account_lines(summary.extra, each=GlobalOptions.verbosity > 0):
        console.print(line, markup=False)
    _render_failures(summary, console)
    _render_overwrites(run, console)
    for key in ("targets_error", "stopped"):
        if key in summary.extra:
            console.print(f"{key.replace('_', ' ')}: {summary.extra[key]}", markup=False)
    _render_region_fallback(summary, console)
    if (incomplete := render.incomplete_line(summary)) is not None:
        console.print(incomplete, markup=False)
    console.print(render.result_line(run), markup=False)
    _render_folders(run, console)


def _render_folders(run: JobRun, console: Console) -> None:
    """Where the job's report and backup are (a job kept in memory has neither)."""
    if run.report_folder is not None:
        console.print(f"report:  {run.report_folder}", markup=False)
    if run.backup_folder is not None:
        console.print(f"backup:  {run.backup_folder}", markup=False)


def _counts_table(summary: Summary) -> Table:
    """Buckets per outcome, the outcomes that happened."""
    from rich.table import Table

    table = Table(show_header=True)
    table.add_column("outcome")
    table.add_column("buckets", justify="right")
    for outcome, count in summary.counts.items():
        if count:
            table.add_row(outcome.value, str(count))
    return table


def _render_region_fallback(summary: Summary, console: Console) -> None:
    """Named buckets sent to the connection's region for want of their own (contracts
    §14): how many, why, and the first few names."""
    fallback = summary.extra.get("region_fallback")
    if not isinstance(fallback, dict) or not fallback.get("buckets"):
        return
    count, first = int(fallback["buckets"]), list(fallback.get("first") or ())
    errors = fallback.get("listing_errors") or {}
    why = "; ".join(errors.values()) if errors else "not in their account's listing"
    names = ", ".join(first) + (f" and {count - len(first)} more" if count > len(first) else "")
    console.print(
        f"region fallback: {count} bucket{'' if count == 1 else 's'} sent to "
        f"{fallback.get('region')}, the connection's region ({why}): {names}",
        markup=False,
        soft_wrap=True,
    )


def _render_failures(summary: Summary, console: Console) -> None:
    """The first 20 failures (`-v`: every one the summary lists, and the skips)."""
    shown = 20 if GlobalOptions.verbosity == 0 else len(summary.failures)
    for line in render.error_lines(summary, shown):
        console.print(line, markup=False)
    for skip in summary.skips if GlobalOptions.verbosity > 0 else ():
        console.print(render.failure_line(skip), markup=False)


def _render_overwrites(run: JobRun, console: Console) -> None:
    """The buckets a forced rollback overwrites (or, its plan, would): each changed
    since the job it undoes, listed as `overwrite` (contracts §15)."""
    summary = run.summary
    if not summary.overwritten:
        return
    verb = "would overwrite" if run.action == "plan" else "overwrote"
    changed = render.plural(summary.overwritten, "bucket")
    console.print(f"{verb} {changed} changed since the job rolled back (--force):", markup=False)
    for bucket in summary.overwrites:
        console.print(f"  overwrite {bucket}", markup=False)
    if summary.overwritten > len(summary.overwrites):
        console.print(f"  … and {summary.overwritten - len(summary.overwrites)} more in the report")


def _render_changes(run: JobRun, console: Console) -> None:
    """A plan's or a check's changes: counts by kind, then the first diffs."""
    from .report import CHANGE_KINDS

    summary = run.summary
    changes = summary.changes
    changing = sum(changes[kind] for kind in ("create", "modify", "delete"))
    for diff in render.plain_diffs(summary.diffs):
        console.print(diff, markup=False)
    shown = len(summary.diffs)
    if changing > shown:
        console.print(f"… and {changing - shown} more diffs in {run.report_folder}/report.jsonl")
    counts = ", ".join(f"{changes[kind]:,} {kind}" for kind in CHANGE_KINDS)
    verb = "would change" if run.action == "plan" else "drifted"
    console.print(f"{render.plural(changing, 'bucket')} {verb}: {counts}", markup=False)
    for line in render.new_access_lines(summary, _NEW_ACCESS_SHOWN):
        console.print(line, markup=False, soft_wrap=True)
    if run.action == "plan" and changing:  # what the policies it would put grant (§18)
        for line in plan_lines(summary.extra.get("findings")):
            console.print(line, markup=False, soft_wrap=True)
    whole = "targets_error" not in summary.extra and run.exit_code not in {
        EXIT_SIGINT,
        EXIT_SIGTERM,
    }
    if changing == 0 and summary.failed == 0 and whole:  # not said of buckets never read
        console.print("No changes." if run.action == "plan" else "No drift.")
