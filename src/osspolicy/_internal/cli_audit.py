"""`osspolicy audit JOB.yaml | BACKUP_DIR` (contracts §18): the findings of every target's
policy, a table by severity on the console, the files in a report folder.

A manifest is audited live (its targets read like `check`, under a progress bar); a
folder is a backup, audited from its files with no request. The library does the work
(`audit.py`); this module parses, prints and returns the exit code.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import anyio
import typer

from . import render, render_findings
from .cli_console import GlobalOptions, err, out, print_json
from .cli_options import (
    Attempts,
    Concurrency,
    Endpoint,
    EngineName,
    Json,
    RateLimit,
    Region,
)
from .errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from .audit import AuditRun
    from .findings import Severity

__all__ = ("audit", "render_audit")

Target = Annotated[
    Path,
    typer.Argument(
        help="A job manifest (its targets are read, like check) or a backup folder (no request).",
        show_default=False,
    ),
]
FailOn = Annotated[
    str,
    typer.Option(
        "--fail-on",
        metavar="high|medium|low",
        help="Exit 3 when a finding is this severe or more.",
    ),
]


def audit(
    target: Target,
    fail_on: FailOn = "high",
    endpoint: Endpoint = None,
    region: Region = None,
    concurrency: Concurrency = None,
    rate_limit: RateLimit = None,
    attempts: Attempts = None,
    engine: EngineName = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(help="Where the audit's report folder goes [the manifest's; reports]."),
    ] = None,
    as_json: Json = False,
) -> int:
    """Report what every bucket's policy grants that deserves a look (public grants,
    other accounts, wildcards, lockouts, no HTTPS-only, …): exit 0 none at or above
    --fail-on, 3 some, 1 when a bucket could not be read."""
    from .audit import FAIL_ON, run_audit
    from .cli_progress import run_with_progress
    from .job import RunOptions

    if fail_on not in FAIL_ON:
        raise ConfigError(f"--fail-on {fail_on!r} is not a severity", hint="high, medium or low")
    severity: Severity = fail_on
    if target.is_dir():
        live = (endpoint, region, concurrency, rate_limit, attempts, engine)
        if any(flag is not None for flag in live):
            raise ConfigError(
                "--endpoint, --region, --concurrency, --rate-limit, --attempts and --engine "
                "are for a live audit; a backup folder is audited from its files, with no "
                "request",
                place=str(target),
            )
        reports = report_dir or Path("reports")
        run = anyio.run(partial(run_audit, target, fail_on=severity, report_dir=reports))
    elif target.is_file():
        from .audit import AuditRun
        from .cli_batch import load_for_command

        manifest = load_for_command(
            target, endpoint, region, concurrency, rate_limit, attempts, engine
        )
        if report_dir is not None:
            manifest = manifest.model_copy(update={"report_dir": str(report_dir)})
        options = RunOptions(audit=severity)
        job = anyio.run(run_with_progress, manifest, options, str(target))
        run = AuditRun.of_job(job)
    else:
        raise ConfigError(
            "no such manifest file or backup folder",
            place=str(target),
            hint="give a job manifest (YAML) or a backup folder",
        )
    render_audit(run, err if as_json else out)
    if as_json:
        print_json(run.to_json())
    return run.exit_code


def render_audit(run: AuditRun, console: Console) -> None:
    """The findings by severity and rule, the first high ones, what could not be judged,
    the targets that could not be read, the result line and the files."""
    record = run.counts
    summary = run.summary
    if GlobalOptions.verbosity < 0:
        _render_quiet(run, console)
        return
    console.print(f"job {run.job_id}", markup=False)
    rows = render_findings.table_rows(record)
    if rows:
        console.print(_table(rows))
    where = f"{run.report_folder}/findings.jsonl" if run.report_folder else "the run's findings"
    for line in render_findings.high_lines(record, where=where):
        console.print(line, markup=False, soft_wrap=True)
    for line in render_findings.not_judged_lines(record):
        err.print(f"osspolicy: warning: {line}", markup=False, soft_wrap=True)
    for line in render.error_lines(summary, 20):
        console.print(line, markup=False)
    fail_on = record.get("fail_on", "high")
    verdict = run.coverage.headline(record)  # what was not judged (the listing's error)
    console.print(f"{verdict} (--fail-on {fail_on})", markup=False, soft_wrap=True)
    console.print(render.result_line(run), markup=False)
    if run.report_folder is not None:
        console.print(f"report:   {run.report_folder}", markup=False)
        console.print(f"sarif:    {run.sarif}", markup=False)
    if run.source is not None:
        console.print(f"backup:   {run.source}", markup=False)


def _render_quiet(run: AuditRun, console: Console) -> None:
    """-q: the errors, the verdict of an audit that did not judge everything (it must
    never look clean), and the result line."""
    for line in render.error_lines(run.summary, render.QUIET_ERRORS):
        console.print(line, markup=False)
    if not run.coverage.complete:
        console.print(run.coverage.headline(run.counts), markup=False, soft_wrap=True)
    console.print(render.result_line(run), markup=False)


def _table(rows: list[tuple[str, str, str]]) -> object:
    from rich.table import Table

    table = Table(show_header=True)
    table.add_column("severity")
    table.add_column("rule")
    table.add_column("findings", justify="right")
    for row in rows:
        table.add_row(*row)
    return table
