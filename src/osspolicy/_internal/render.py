"""What the `osspolicy` command prints, as plain strings (contracts §12, §15 "CLI").

The CLI modules (`cli_*.py`) print these lines; nothing here prints or decides a job.
Counts read as words with singulars (`1 bucket`, `put 300`), every hint is one line that
says what can help (resume only where it does), errors under `--json` are one object.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console

from .console_text import visible, visible_lines
from .exitcodes import EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE
from .results import Outcome
from .words import count_words, plural

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from rich.text import Text

    from .audit import AuditRun
    from .job import JobRun
    from .report import Summary

__all__ = (
    "QUIET_ERRORS",
    "UNRESUMABLE",
    "account_lines",
    "bucket_object",
    "count_words",
    "error_lines",
    "error_object",
    "failure_line",
    "force_hint",
    "foreign_warnings",
    "incomplete_line",
    "make_console",
    "missing_account_lines",
    "new_access_lines",
    "plain_diffs",
    "plural",
    "replan_hint",
    "result_line",
    "resume_hint",
    "resume_line",
    "unresumable_hints",
)

#: the errors `-q` still prints, one line each, before "… and N more"
QUIET_ERRORS = 10
#: failures a resume cannot fix, with what can (contracts §15 "Resume hints")
UNRESUMABLE = {
    "SnapshotLost": "its snapshot line is lost; run the job again as a new job (not "
    "--resume) to snapshot and write {them}",
    "NotPlanned": "the plan could not read {them}; plan again with: osspolicy plan {manifest}",
    "NewAccess": "the new policy would allow what the current one does not, which "
    "--deny-new-access refuses; see what with: osspolicy plan {manifest}",
}
#: the one-bucket commands: a failure there is retried by running the command again
ONE_BUCKET = ("osspolicy get ", "osspolicy status ", "osspolicy put ", "osspolicy delete ")


class _SafeConsole(Console):
    """A console that shows every string it renders (a line, a table cell) through
    `visible_lines`: a control or bidi character that came from a policy or the service
    reaches the terminal as its escape, whichever line carried it."""

    def render_str(self, text: str, **options: Any) -> Text:  # noqa: ANN401 - rich's own options, passed on
        """`Console.render_str` of the text with its control characters escaped."""
        return super().render_str(visible_lines(text), **options)


def make_console(*, stderr: bool = False) -> Console:
    """A console that never wraps a line off a terminal (rich would at 80 columns):
    a pipe or a file gets each line whole; no `:name:` becomes an emoji (a role ARN,
    `acs:ram::…`, would show a ram); no `[bold]` in a Sid is markup (a caller that wants
    markup asks with `markup=True`); and no control character is printed raw."""
    console = _SafeConsole(stderr=stderr, highlight=False, emoji=False, markup=False)
    console.soft_wrap = not console.is_terminal
    return console


def result_line(run: JobRun | AuditRun) -> str:
    """The last line of every job: buckets, time, rate, exit code."""
    summary = run.summary
    return (
        f"{plural(summary.total, 'bucket')} in {summary.wall_time_s:.2f}s "
        f"({summary.buckets_per_s:.0f} buckets/s), exit code {run.exit_code}"
    )


def incomplete_line(summary: Summary) -> str | None:
    """A backup that is not complete says so, and why (its resume line follows)."""
    if summary.extra.get("complete") is not False:
        return None
    missing = int(summary.extra.get("missing", 0))
    if not summary.extra.get("listing_complete", True):
        # the buckets the listing never returned are unknown: no count of them to give
        known = f"; {plural(missing, 'listed bucket')} missing too" if missing else ""
        if accounts := summary.extra.get("missing_accounts"):  # a directory job's (§17)
            return (
                f"the backup is INCOMPLETE: {plural(len(accounts), 'account')} could not all "
                f"be read, so not all their buckets are in it{known}"
            )
        return (
            "the backup is INCOMPLETE: the listing failed, so buckets it never returned "
            f"are not in it{known}"
        )
    return f"the backup is INCOMPLETE: {plural(missing, 'bucket')} missing"


def failure_line(failure: Mapping[str, Any]) -> str:
    """`  BUCKET: OUTCOME CODE MESSAGE`: one failure (or skip) of a summary."""
    text = f"{failure.get('error_code') or ''} {failure.get('error_message') or ''}".strip()
    return visible(f"  {failure['bucket']}: {failure['outcome']} {text}".rstrip())


#: the account statuses in the order the accounts line counts them
_STATUS_ORDER = ("ok", "partial", "listing_failed", "assume_failed", "skipped", "excluded")
#: how many skipped accounts the one line about them names
_SKIPPED_NAMED = 5


def missing_account_lines(extra: Mapping[str, Any]) -> list[str]:
    """One line per account of a directory job whose buckets could not all be read
    (contracts §17: `missing_accounts`), naming it, its display name, status and why;
    the accounts a stop skipped in one line (the stop's own line says why)."""
    missing = set(extra.get("missing_accounts", ()))
    entries = [e for e in extra.get("accounts", ()) if e.get("name") in missing]
    lines = [
        f"account {entry.get('name')}"
        + (f" ({entry['display_name']})" if entry.get("display_name") else "")
        + f": {entry.get('status')}: {entry.get('error')}"
        for entry in entries
        if entry.get("status") != "skipped"
    ]
    skipped = [str(e.get("name")) for e in entries if e.get("status") == "skipped"]
    if skipped:
        named = ", ".join(skipped[:_SKIPPED_NAMED])
        more = f" and {len(skipped) - _SKIPPED_NAMED} more" if len(skipped) > _SKIPPED_NAMED else ""
        lines.append(
            f"{plural(len(skipped), 'account')} skipped, the job stopped before they were "
            f"done: {named}{more}"
        )
    return lines


def account_lines(extra: Mapping[str, Any], *, each: bool = False) -> list[str]:
    """A directory job's accounts (contracts §17): how many went which way, and with
    `each` one line per account with its buckets by outcome; nothing for another job."""
    accounts = extra.get("accounts")
    if not isinstance(accounts, list) or "missing_accounts" not in extra:
        return []
    statuses = [str(a.get("status")) for a in accounts if isinstance(a, dict)]
    counts = ", ".join(
        f"{statuses.count(status)} {status}" for status in _STATUS_ORDER if status in statuses
    )
    lines = [f"accounts: {counts} ({len(statuses)} in all)"]
    for account in accounts if each else ():
        outcomes = ", ".join(f"{n} {o}" for o, n in (account.get("counts") or {}).items())
        lines.append(
            f"  {account.get('name')}: {account.get('status')}"
            + (f", {outcomes}" if outcomes else "")
        )
    return lines


def error_lines(summary: Summary, shown: int) -> list[str]:
    """One line per failure, the first `shown`, then "… and N more in the report"."""
    lines = [failure_line(failure) for failure in summary.failures[:shown]]
    if summary.failed > shown:
        lines.append(f"  … and {summary.failed - shown:,} more in the report")
    return lines


def _unresumable(summary: Summary) -> dict[str, int]:
    """The failures a resume cannot fix, by error code (of the listed failures)."""
    found: dict[str, int] = {}
    for failure in summary.failures:
        code = str(failure.get("error_code") or "")
        if code in UNRESUMABLE:
            found[code] = found.get(code, 0) + 1
    return found


def unresumable_hints(run: JobRun, manifest: str) -> list[str]:
    """What can help the buckets a resume cannot (SnapshotLost, NotPlanned)."""
    hints = []
    for code, count in _unresumable(run.summary).items():
        them = "it" if count == 1 else "them"
        what = UNRESUMABLE[code].format(them=them, manifest=manifest)
        hints.append(f"{plural(count, 'bucket')} failed {code} (a resume will not fix it): {what}")
    return hints


def resume_hint(run: JobRun, manifest: str, source: str, *, yes: bool = False) -> str | None:
    """The exact command that finishes a job which left targets a resume can do, or
    None: not after a pre-flight error (exit 2), not for a `conflict` or a failure
    resume cannot fix, not for a one-bucket command (contracts §15). A writing job
    confirmed with `--yes` resumes with it, so the line works as pasted off a terminal."""
    summary = run.summary
    if run.action in {"plan", "check", "status"} or run.exit_code == EXIT_USAGE:
        return None
    if source.startswith(ONE_BUCKET):
        return None
    cannot = summary.counts.get(Outcome.CONFLICT, 0) + sum(_unresumable(summary).values())
    left = summary.failed + summary.skipped - cannot
    stopped = run.exit_code in {EXIT_SIGINT, EXIT_SIGTERM} or "targets_error" in summary.extra
    if not (left > 0 or stopped):
        return None
    return resume_line(manifest, run.job_id, rollback=run.action == "rollback", yes=yes)


def resume_line(manifest: str, job_id: str, *, rollback: bool = False, yes: bool = False) -> str:
    """The command, pasted as shown, that continues job `job_id` of `manifest`."""
    extra = " --allow-incomplete" if rollback else ""
    extra += " --yes" if yes else ""
    return f"resume it with: osspolicy run {manifest} --resume {job_id}{extra}"


def replan_hint(run: JobRun, manifest: str) -> str | None:
    """What to do about the buckets a job kept as `conflict` with its plan: plan again."""
    conflicts = run.summary.counts.get(Outcome.CONFLICT, 0)
    plan = run.summary.extra.get("plan")
    if not conflicts or plan is None:
        return None
    return (
        f"{plural(conflicts, 'bucket')} changed since plan {plan} and kept as they are (a "
        f"resume will not write them): plan again with: osspolicy plan {manifest}"
    )


def force_hint(run: JobRun, rerun: str) -> str | None:
    """After a rollback that kept buckets changed since its job: the command that
    overwrites them (`--force`), since resuming would keep them again."""
    kept = run.summary.counts.get(Outcome.CONFLICT, 0)
    if run.action != "rollback" or not kept:
        return None
    them = "it" if kept == 1 else "them"
    return (
        f"{plural(kept, 'bucket')} changed since that job, kept; to overwrite {them}: "
        f"{rerun} --force"
    )


def plain_diffs(diffs: Iterable[tuple[str, str]]) -> list[str]:
    """The diffs of a plan or a check, sorted by bucket: each is its own header
    (`--- a/BUCKET`, `+++ b/BUCKET`), with no second header before it."""
    return [diff.rstrip("\n") for _bucket, diff in sorted(diffs)]


def bucket_object(
    bucket: str, record: Mapping[str, Any], run: JobRun, policy: str | None
) -> dict[str, Any]:
    """The `--json` object of `get` and `status`: the bucket, its outcome and note,
    whether it has a policy, the policy text (`get`), and the exit code."""
    outcome = record.get("outcome")
    has = True if outcome == "fetched" else False if outcome == "no_policy" else None
    return {
        "bucket": bucket,
        "outcome": outcome,
        "has_policy": has,
        "policy": policy,
        "note": record.get("note"),
        "error_code": record.get("error_code"),
        "error_message": record.get("error_message"),
        "exit_code": run.exit_code,
    }


def foreign_warnings(summary: Summary) -> list[str]:
    """A warning line per bucket whose policy names other buckets (the first ones)."""
    lines = [f"osspolicy: warning: {bucket}: {visible(note)}" for bucket, note in summary.foreign]
    if summary.foreign_count > len(summary.foreign):
        more = summary.foreign_count - len(summary.foreign)
        lines.append(f"osspolicy: warning: … and {plural(more, 'bucket')} more in the report")
    return lines


def new_access_lines(summary: Summary, shown: int) -> list[str]:
    """The buckets a plan would give new access (contracts §18): a heading, each of the
    first `shown` buckets (by name) with what it would allow, then "… and N more"."""
    count = summary.new_access_count
    if not count:
        return []
    listed = sorted(summary.new_access[:shown])
    lines = [f"new access on {plural(count, 'bucket')}:"]
    for bucket, found in listed:
        lines.extend(f"  {bucket}: {visible(line)}" for line in found)
    if count > len(listed):
        lines.append(f"  … and {count - len(listed):,} more in the report")
    return lines


def error_object(message: str, exit_code: int) -> str:
    """The one JSON object `--json` prints on stdout for an error (contracts §15)."""
    return json.dumps({"error": message, "exit_code": exit_code})
