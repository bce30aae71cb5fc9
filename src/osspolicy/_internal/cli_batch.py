"""The batch commands, each a job over many buckets: `run`, `plan`, `check` and
`validate` (of a manifest), `restore` (of a backup folder) and `rollback` (of a job).

Each turns its options into a manifest (the flags override its keys) and `RunOptions`,
and hands them to `cli_execute.execute`; `validate` only checks them.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import anyio
import typer

from .cli_console import err, out, print_json
from .cli_execute import execute
from .cli_options import (
    Attempts,
    Concurrency,
    Endpoint,
    EngineName,
    Json,
    JsonList,
    RateLimit,
    Region,
    ReportDir,
    Yes,
)
from .exitcodes import EXIT_OK

if TYPE_CHECKING:
    from .manifest import Manifest

__all__ = (
    "check",
    "load_for_command",
    "plan",
    "restore",
    "rollback",
    "run",
    "validate",
)

JobFile = Annotated[Path, typer.Argument(help="The job manifest (YAML).", show_default=False)]
AllowIncomplete = Annotated[
    bool, typer.Option("--allow-incomplete", help="Restore from a backup without summary.json.")
]
SkipDamaged = Annotated[
    bool, typer.Option("--skip-damaged", help="Skip (and list) the damaged buckets of a backup.")
]
DenyNewAccess = Annotated[
    bool,
    typer.Option(
        "--deny-new-access",
        help="Fail (and do not write) each bucket whose new policy would allow more.",
    ),
]


def _load(
    job: Path,
    endpoint: str | None,
    region: str | None,
    concurrency: int | None,
    rate_limit: float | None = None,
    attempts: int | None = None,
    engine: str | None = None,
    **more: object,
) -> Manifest:
    from .manifest import load_manifest

    overrides = {
        "endpoint": endpoint,
        "region": region,
        "concurrency": concurrency,
        "rate_limit": rate_limit,
        "attempts": attempts,
        "engine": engine,
        **more,
    }
    manifest = load_manifest(job, overrides)
    if (warning := manifest.connection.region_warning) is not None:
        err.print(f"osspolicy: warning: {warning}", markup=False, soft_wrap=True)
    return manifest


def load_for_command(
    job: Path,
    endpoint: str | None,
    region: str | None,
    concurrency: int | None,
    rate_limit: float | None = None,
    attempts: int | None = None,
    engine: str | None = None,
) -> Manifest:
    """A command's manifest with its flags applied (`audit`'s too): the connection and
    the pace flags override the manifest's keys, as for `run` and `check`."""
    return _load(job, endpoint, region, concurrency, rate_limit, attempts, engine)


def _overridden(**flags: object) -> tuple[str, ...]:
    """The manifest keys the flags given set (`connection.endpoint` for `--endpoint`),
    so that a resume tells them from the manifest's own values."""
    return tuple(f"connection.{name}" for name, value in flags.items() if value is not None)


def run(
    job: JobFile,
    endpoint: Endpoint = None,
    region: Region = None,
    concurrency: Concurrency = None,
    rate_limit: RateLimit = None,
    attempts: Attempts = None,
    engine: EngineName = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan only: read every policy, send no write.")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            metavar="[JOB_ID]",
            help="Resume the newest unfinished job of this manifest, or the job JOB_ID.",
        ),
    ] = None,
    allow_incomplete: AllowIncomplete = False,
    skip_damaged: SkipDamaged = False,
    plan: Annotated[
        str | None,
        typer.Option(
            metavar="PLAN_JOB_ID",
            help="Write exactly what this plan showed; a bucket changed since is a conflict.",
        ),
    ] = None,
    canary: Annotated[
        int | None, typer.Option(min=0, help="Override canary: the first N writes alone.")
    ] = None,
    max_failures: Annotated[
        int | None, typer.Option(min=0, help="Override max_failures: stop after N failures.")
    ] = None,
    deny_new_access: DenyNewAccess = False,
    yes: Yes = False,
    as_json: Json = False,
) -> int:
    """Run a job manifest end to end and write its report."""
    from .job import RunOptions

    manifest = _load(
        job,
        endpoint,
        region,
        concurrency,
        rate_limit,
        attempts,
        engine,
        canary=canary,
        max_failures=max_failures,
    )
    options = RunOptions(
        dry_run=dry_run,
        resume=resume,
        allow_incomplete=allow_incomplete,
        skip_damaged=skip_damaged,
        plan=plan,
        overrides=_overridden(endpoint=endpoint, region=region),
        deny_new_access=deny_new_access,
    )
    return execute(manifest, options, str(job), as_json=as_json, yes=yes)


def plan(
    job: JobFile,
    endpoint: Endpoint = None,
    region: Region = None,
    concurrency: Concurrency = None,
    rate_limit: RateLimit = None,
    attempts: Attempts = None,
    engine: EngineName = None,
    deny_new_access: DenyNewAccess = False,
    as_json: Json = False,
) -> int:
    """Show what a job would change (a diff per bucket, and the buckets it would give
    new access) without sending any write."""
    from .job import RunOptions

    manifest = _load(job, endpoint, region, concurrency, rate_limit, attempts, engine)
    options = RunOptions(dry_run=True, deny_new_access=deny_new_access)
    return execute(manifest, options, str(job), as_json=as_json)


def check(
    job: JobFile,
    endpoint: Endpoint = None,
    region: Region = None,
    concurrency: Concurrency = None,
    rate_limit: RateLimit = None,
    attempts: Attempts = None,
    engine: EngineName = None,
    allow_incomplete: AllowIncomplete = False,
    as_json: Json = False,
) -> int:
    """Report drift: is every bucket what this apply or restore job would make it?
    Exit 0 compliant, 3 drifted, 1 when a bucket could not be read."""
    from .job import RunOptions

    manifest = _load(job, endpoint, region, concurrency, rate_limit, attempts, engine)
    options = RunOptions(check=True, allow_incomplete=allow_incomplete)
    return execute(manifest, options, str(job), as_json=as_json)


def validate(
    job: JobFile,
    endpoint: Endpoint = None,
    region: Region = None,
    concurrency: Concurrency = None,
    rate_limit: RateLimit = None,
    attempts: Attempts = None,
    engine: EngineName = None,
    as_json: JsonList = False,
) -> int:
    """Check a manifest and its files (baseline, backup) without sending any request."""
    from .job import validate_job
    from .plan_findings import baseline_findings
    from .render_findings import baseline_lines

    manifest = _load(job, endpoint, region, concurrency, rate_limit, attempts, engine)
    checked = anyio.run(partial(validate_job, manifest, source=str(job)))
    console = err if as_json else out
    console.print(f"{job}: valid {manifest.action} job", markup=False)
    found = baseline_findings(checked.baseline) if checked.baseline is not None else []
    for line in baseline_lines(found):  # what the baseline grants (contracts §18)
        console.print(line, markup=False, soft_wrap=True)
    if as_json:
        findings = [finding.to_record() for finding in found]
        print_json(
            {
                "job": str(job),
                "action": manifest.action,
                "valid": True,
                "exit_code": 0,
                "findings": findings,
            }
        )
    return EXIT_OK


def restore(
    source: Annotated[Path, typer.Argument(help="The backup folder.", show_default=False)],
    region: Annotated[
        str,
        typer.Option(envvar="OSS_REGION", help="Signing region (and of buckets without one)."),
    ],
    endpoint: Endpoint = None,
    buckets: Annotated[
        list[str] | None,
        typer.Option(
            "--bucket",
            metavar="NAME",
            help="Restore only this bucket of the backup (repeat for more).",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Workers.")] = 16,
    backup_dir: Annotated[Path, typer.Option(help="Where the -pre snapshot goes.")] = Path(
        "backups"
    ),
    report_dir: ReportDir = Path("reports"),
    allow_incomplete: AllowIncomplete = False,
    skip_damaged: SkipDamaged = False,
    deny_new_access: DenyNewAccess = False,
    yes: Yes = False,
    as_json: Json = False,
) -> int:
    """Put every bucket of a backup (or those named by --bucket) back exactly as it was."""
    from .job import RunOptions
    from .manifest import parse_manifest

    manifest = parse_manifest(
        {
            "action": "restore",
            "source": str(source),
            **({"targets": {"buckets": buckets}} if buckets else {}),
            "connection": {"region": region, "endpoint": endpoint},
            "concurrency": concurrency,
            "backup_dir": str(backup_dir),
            "report_dir": str(report_dir),
        },
        source="osspolicy restore",
        base=Path.cwd(),
    )
    options = RunOptions(
        allow_incomplete=allow_incomplete,
        skip_damaged=skip_damaged,
        deny_new_access=deny_new_access,
    )
    return execute(manifest, options, "osspolicy restore", as_json=as_json, yes=yes)


def rollback(
    job_id: Annotated[str, typer.Argument(help="The apply/delete/restore job to undo.")],
    report_dir: ReportDir = Path("reports"),
    endpoint: Endpoint = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Also put back buckets changed since the job (overwrite them)."
        ),
    ] = False,
    deny_new_access: DenyNewAccess = False,
    yes: Yes = False,
    as_json: Json = False,
) -> int:
    """Restore the -pre snapshot of a job: only the buckets it changed go back, and
    only those still as it left them (or, with --force, overwriting later changes)."""
    from .job import RunOptions
    from .rollback import rollback_manifest
    from .userstate import find_job

    found = find_job(job_id, report_dir)
    if found.elsewhere:  # a put/delete job kept in the user's state folder
        err.print(f"job {job_id} found in {found.report_dir}", markup=False, soft_wrap=True)
        report_dir = found.report_dir
    manifest = rollback_manifest(found.folder(job_id), endpoint=endpoint)
    source = f"osspolicy rollback {job_id}"
    rerun = f"{source} --report-dir {report_dir}" + (f" --endpoint {endpoint}" if endpoint else "")
    options = RunOptions(rollback=True, force=force, deny_new_access=deny_new_access)
    return execute(manifest, options, source, as_json=as_json, yes=yes, rerun=rerun)
