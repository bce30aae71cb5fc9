"""The `osspolicy` command: parse arguments, call the library, render with rich.

No logic lives here. Errors are one line on stderr, no traceback (`--debug` shows it);
exit codes are those of `exitcodes.py` (contracts §4). Typer never prints locals (an
access key could be among them).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import anyio
import typer

from . import render
from .cli_console import GlobalOptions, err, fail, out
from .cli_execute import execute
from .cli_progress import run_with_progress
from .cli_summary import render_summary
from .errors import ConfigError, OssPolicyError
from .exitcodes import EXIT_FAILURES, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .history import BackupState
    from .job import JobRun
    from .manifest import Manifest

__all__ = (
    "app",
    "main",
    "render_summary",
)

app = typer.Typer(
    name="osspolicy",
    help="Back up, mass-apply and restore Alibaba Cloud OSS bucket policies.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


#: options of the whole program, accepted before or after the subcommand
_GLOBAL_FLAGS = {
    "--debug": ("debug", True),
    "-q": ("verbosity", -1),
    "--quiet": ("verbosity", -1),
    "-v": ("verbosity", 1),
    "--verbose": ("verbosity", 1),
}


Endpoint = Annotated[str | None, typer.Option(help="Override connection.endpoint.")]
Region = Annotated[str | None, typer.Option(help="Override connection.region.")]
Concurrency = Annotated[int | None, typer.Option(min=1, help="Override concurrency.")]
RateLimit = Annotated[
    float | None, typer.Option(min=0, help="Override rate_limit (requests/s, 0 = none).")
]
Attempts = Annotated[
    int | None, typer.Option(min=1, max=100, help="Override retry.attempts (tries per call).")
]
EngineName = Annotated[str | None, typer.Option(help="Override engine: threads or aio.")]
JobFile = Annotated[Path, typer.Argument(help="The job manifest (YAML).", show_default=False)]
Yes = Annotated[bool, typer.Option("--yes", help="Confirm writes without asking.")]
AllowIncomplete = Annotated[
    bool, typer.Option("--allow-incomplete", help="Restore from a backup without summary.json.")
]
SkipDamaged = Annotated[
    bool, typer.Option("--skip-damaged", help="Skip (and list) the damaged buckets of a backup.")
]
ReportDir = Annotated[Path, typer.Option(help="Where the jobs' report folders are.")]
Json = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object on stdout when the job ends."),
]

JsonList = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
#: failures `osspolicy show` prints (all of them are in its --json and the report)
SHOWN_FAILURES = 50

#: what `--resume` alone means (the newest unfinished job of the manifest)
RESUME_LATEST = "latest"


def _version() -> str:
    from importlib.metadata import version

    return f"osspolicy {version('osspolicy')}"


def _print_version(value: bool) -> None:
    if value:
        out.print(_version(), markup=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Print only the result line and errors.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="List every failure and skip.")
    ] = False,
    version: Annotated[  # noqa: ARG001 - handled by its eager callback
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    """Options accepted anywhere on the line (`main` lifts them to the front)."""
    GlobalOptions.debug = GlobalOptions.debug or debug
    if quiet or verbose:
        GlobalOptions.verbosity = -1 if quiet else 1


def _global_options(args: list[str]) -> list[str]:
    """Lift the program's own options to the front, wherever they were given, and take
    `--stats SECONDS` (the interval of status lines without a terminal)."""
    front: list[str] = []
    rest: list[str] = []
    pending_stats = False
    for arg in args:
        if pending_stats:
            GlobalOptions.stats_interval = _seconds(arg)
            pending_stats = False
        elif arg in _GLOBAL_FLAGS:
            name, value = _GLOBAL_FLAGS[arg]
            setattr(GlobalOptions, name, value)
            front.append(arg)
        elif arg == "--stats":
            pending_stats = True
        elif arg.startswith("--stats="):
            GlobalOptions.stats_interval = _seconds(arg.removeprefix("--stats="))
        else:
            rest.append(arg)
    if pending_stats:
        raise ConfigError("--stats needs a number of seconds", hint="e.g. --stats 10")
    return front + rest


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(
            f"--stats {text!r} is not a number of seconds", hint="e.g. --stats 10, 0 for none"
        ) from None


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


def _buckets(count: int) -> str:
    return render.plural(count, "bucket")


def _resume_value(args: list[str]) -> list[str]:
    """`--resume` takes an optional job id: alone, it means the newest unfinished job."""
    fixed: list[str] = []
    for index, arg in enumerate(args):
        following = args[index + 1] if index + 1 < len(args) else None
        if arg == "--resume" and (following is None or following.startswith("-")):
            fixed.append(f"--resume={RESUME_LATEST}")
        else:
            fixed.append(arg)
    return fixed


def _overridden(**flags: object) -> tuple[str, ...]:
    """The manifest keys the flags given set (`connection.endpoint` for `--endpoint`),
    so that a resume tells them from the manifest's own values."""
    return tuple(f"connection.{name}" for name, value in flags.items() if value is not None)


@app.command("run")
def _run(
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
    )
    return execute(manifest, options, str(job), as_json=as_json, yes=yes)


@app.command("plan")
def _plan(
    job: JobFile,
    endpoint: Endpoint = None,
    region: Region = None,
    concurrency: Concurrency = None,
    rate_limit: RateLimit = None,
    attempts: Attempts = None,
    engine: EngineName = None,
    as_json: Json = False,
) -> int:
    """Show what a job would change (a diff per bucket) without sending any write."""
    from .job import RunOptions

    manifest = _load(job, endpoint, region, concurrency, rate_limit, attempts, engine)
    return execute(manifest, RunOptions(dry_run=True), str(job), as_json=as_json)


@app.command("check")
def _check(
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


@app.command("validate")
def _validate(
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
    from .job import check_job

    manifest = _load(job, endpoint, region, concurrency, rate_limit, attempts, engine)
    anyio.run(partial(check_job, manifest, source=str(job)))
    (err if as_json else out).print(f"{job}: valid {manifest.action} job", markup=False)
    if as_json:
        _print_json({"job": str(job), "action": manifest.action, "valid": True, "exit_code": 0})
    return EXIT_OK


def _print_json(value: object) -> None:
    """The one JSON object (or list) of a command on stdout."""
    sys.stdout.write(json.dumps(value) + "\n")


@app.command("restore")
def _restore(
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
    options = RunOptions(allow_incomplete=allow_incomplete, skip_damaged=skip_damaged)
    return execute(manifest, options, "osspolicy restore", as_json=as_json, yes=yes)


@app.command("rollback")
def _rollback(
    job_id: Annotated[str, typer.Argument(help="The apply/delete/restore job to undo.")],
    report_dir: ReportDir = Path("reports"),
    endpoint: Endpoint = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Also put back buckets changed since the job (overwrite them)."
        ),
    ] = False,
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
    options = RunOptions(rollback=True, force=force)
    return execute(manifest, options, source, as_json=as_json, yes=yes, rerun=rerun)


# -- one bucket: a one-target job underneath, with its report folder ---------------------

Bucket = Annotated[str, typer.Argument(help="The bucket.", show_default=False)]
BucketRegion = Annotated[
    str,
    typer.Option(
        envvar="OSS_REGION", help="Signing region (the bucket's own is looked up by listing)."
    ),
]
StateReportDir = Annotated[
    Path | None,
    typer.Option(
        "--report-dir",
        help="Where the job's report folder goes [default: the user's state folder's reports]",
        show_default=False,
    ),
]
StateBackupDir = Annotated[
    Path | None,
    typer.Option(
        "--backup-dir",
        help="Where the -pre snapshot goes [default: the user's state folder's backups]",
        show_default=False,
    ),
]


def _bucket_job(
    action: str,
    bucket: str,
    region: str,
    endpoint: str | None,
    report_dir: Path,
    backup_dir: Path,
    **keys: object,
) -> Manifest:
    """The manifest of a one-bucket command: the same checks, retries, snapshot and
    report as any job."""
    from .manifest import parse_manifest

    return parse_manifest(
        {
            "action": action,
            "targets": {"buckets": [bucket]},
            "connection": {"region": region, "endpoint": endpoint},
            "concurrency": 1,
            "backup_dir": str(backup_dir),
            "report_dir": str(report_dir),
            **keys,
        },
        source=f"osspolicy {action} {bucket}",
        base=Path.cwd(),
    )


def _single(run: JobRun) -> dict[str, Any]:
    """The one record of a one-bucket job."""
    records = run.records()
    return records[-1] if records else {}


@app.command("get")
def _get(
    bucket: Bucket, region: BucketRegion, endpoint: Endpoint = None, as_json: JsonList = False
) -> int:
    """Print a bucket's policy exactly as OSS returns it (a one-bucket read job that
    writes nothing to disk)."""
    from .job import RunOptions

    manifest = _bucket_job("backup", bucket, region, endpoint, Path("reports"), Path("backups"))
    options = RunOptions(get=True, in_memory=True)
    run = anyio.run(run_with_progress, manifest, options, f"osspolicy get {bucket}")
    render_summary(run, err)
    record = _single(run)
    body = run.policies.get(bucket)
    if as_json:  # the policy as a string, exactly its bytes (null: no policy)
        text = None if body is None else body.decode("utf-8", errors="replace")
        _print_json(render.bucket_object(bucket, record, run, text))
    elif record.get("outcome") == "fetched" and body is not None:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.write(b"\n")
    elif record.get("outcome") == "no_policy":
        err.print(f"{bucket} has no bucket policy", markup=False)
    return run.exit_code


@app.command("put")
def _put(
    bucket: Bucket,
    policy_file: Annotated[
        Path, typer.Argument(help="The policy (JSON or YAML).", show_default=False)
    ],
    region: BucketRegion,
    endpoint: Endpoint = None,
    allow_public: Annotated[
        bool, typer.Option("--allow-public", help="Allow a public grant.")
    ] = False,
    report_dir: StateReportDir = None,
    backup_dir: StateBackupDir = None,
    yes: Yes = False,
    as_json: Json = False,
) -> int:
    """Replace a bucket's policy with a file's (snapshot first; `rollback` undoes it)."""
    from .job import RunOptions
    from .userstate import state_backups, state_reports

    manifest = _bucket_job(
        "apply",
        bucket,
        region,
        endpoint,
        report_dir or state_reports(),
        backup_dir or state_backups(),
        policy={"file": str(policy_file.resolve()), "mode": "replace"},
        allow_public=allow_public,
    )
    return execute(manifest, RunOptions(), f"osspolicy put {bucket}", as_json=as_json, yes=yes)


@app.command("delete")
def _delete(
    bucket: Bucket,
    region: BucketRegion,
    endpoint: Endpoint = None,
    report_dir: StateReportDir = None,
    backup_dir: StateBackupDir = None,
    yes: Yes = False,
    as_json: Json = False,
) -> int:
    """Delete a bucket's policy (snapshot first; `rollback` undoes it)."""
    from .job import RunOptions
    from .userstate import state_backups, state_reports

    reports, backups = report_dir or state_reports(), backup_dir or state_backups()
    manifest = _bucket_job("delete", bucket, region, endpoint, reports, backups)
    source = f"osspolicy delete {bucket}"
    return execute(manifest, RunOptions(), source, as_json=as_json, yes=yes)


@app.command("status")
def _status(
    bucket: Bucket, region: BucketRegion, endpoint: Endpoint = None, as_json: JsonList = False
) -> int:
    """Say whether a bucket has a policy, whether it is public, and whether Block Public
    Access is on (a one-bucket read job that writes nothing to disk)."""
    from .job import RunOptions

    manifest = _bucket_job("backup", bucket, region, endpoint, Path("reports"), Path("backups"))
    options = RunOptions(status=True, in_memory=True)
    run = anyio.run(run_with_progress, manifest, options, f"osspolicy status {bucket}")
    record = _single(run)
    if as_json:
        render_summary(run, err)
        _print_json(render.bucket_object(bucket, record, run, None))
    elif record.get("outcome") in {"fetched", "no_policy"}:
        policy = "yes" if record["outcome"] == "fetched" else "no"
        out.print(f"{bucket}: policy: {policy}; {record.get('note')}", markup=False)
    else:
        render_summary(run, err)
    return run.exit_code


@app.command("demo")
def _demo(
    buckets: Annotated[int, typer.Option(min=3, help="How many buckets to create.")] = 300,
    output: Annotated[Path, typer.Option(help="Where backups and reports go.")] = Path(
        "demo-output"
    ),
    as_json: JsonList = False,
) -> int:
    """Start the emulator, seed buckets, and run backup, plan, apply and restore on it."""
    from .demo import run_demo

    code = run_demo(buckets=buckets, output=output, console=err if as_json else out)
    if as_json:
        _print_json({"action": "demo", "exit_code": code, "output": str(output)})
    return code


@app.command("jobs")
def _jobs(report_dir: ReportDir = Path("reports"), as_json: JsonList = False) -> int:
    """List the jobs of a report folder, newest first: counts, exit code, and whether
    each backup is complete."""
    from .history import list_jobs

    entries = list_jobs(report_dir)
    if as_json:
        sys.stdout.write(json.dumps([entry.to_json() for entry in entries]) + "\n")
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
            _backup_word(entry.backup),
        )
        for entry in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:  # one line per job, whatever the terminal's width: easy to grep
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        out.print(f"{line}  {row[-1]}".rstrip(), markup=False, soft_wrap=True)
    return EXIT_OK


@app.command("show")
def _show(
    job_id: Annotated[str, typer.Argument(help="The job to show (see `osspolicy jobs`).")],
    report_dir: ReportDir = Path("reports"),
    as_json: JsonList = False,
) -> int:
    """Show one job: its summary, its failures and where its files are."""
    from .history import show_job

    detail = show_job(report_dir, job_id)
    if as_json:
        sys.stdout.write(json.dumps(detail.to_json()) + "\n")
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
        f"{_buckets(entry.total)}: {_outcomes(entry.counts) or 'none'}",
        markup=False,
        soft_wrap=True,
    )
    if entry.backup is not None:
        out.print(
            f"{entry.backup.kind}: {_backup_word(entry.backup)}", markup=False, soft_wrap=True
        )
    for key in ("targets_error", "stopped"):
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


def _backup_word(backup: BackupState | None) -> str:
    """A backup's state in a few words: complete, INCOMPLETE (why), or a snapshot's."""
    if backup is None:
        return ""
    if not backup.exists:
        return f"folder not found ({backup.folder})"
    if backup.kind == "snapshot":
        held = "snapshot" if backup.buckets is None else f"snapshot of {_buckets(backup.buckets)}"
        return held if backup.finished else f"{held}, unfinished"
    if backup.complete:
        return "complete"
    if not backup.finished:
        return "INCOMPLETE: unfinished (no summary.json)"
    why = [f"{backup.missing} missing"] if backup.missing else []
    if backup.listing_complete is False:
        why.append("listing failed")
    return f"INCOMPLETE: {', '.join(why) or 'complete: false'}"


@app.command("schema")
def _schema(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the manifest reference (Markdown).")
    ] = False,
    as_json: Annotated[  # noqa: ARG001 - the schema is JSON already
        bool, typer.Option("--json", help="Print the JSON Schema (the default).")
    ] = False,
) -> int:
    """Print the JSON Schema of job manifests (for editors), from the models that
    validate them."""
    from .schema import schema_json, schema_markdown

    sys.stdout.write(schema_markdown() if markdown else schema_json())
    return EXIT_OK


def _unexpected(exc: Exception) -> int:
    """Typer's (vendored click's) usage errors carry exit_code 2 and format_message();
    anything else is a bug: one line, the traceback only with --debug. An ExceptionGroup
    (a task group's) is never printed as one: its first error is (contracts §14)."""
    if isinstance(exc, ExceptionGroup):
        first: Exception = exc
        while isinstance(first, ExceptionGroup) and first.exceptions:
            first = first.exceptions[0]
        if isinstance(first, ConfigError):
            return fail(str(first), EXIT_USAGE)
        if isinstance(first, OssPolicyError):
            return fail(str(first), EXIT_FAILURES)
        exc = first
    exit_code = getattr(exc, "exit_code", None)
    format_message = getattr(exc, "format_message", None)
    if isinstance(exit_code, int) and callable(format_message):
        ctx = getattr(exc, "ctx", None)
        name = getattr(ctx, "command_path", None)
        hint = f" (see '{name} --help')" if name else ""
        return fail(f"{format_message()}{hint}", exit_code)
    return fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug)", EXIT_FAILURES)


def _with_emulator() -> typer.Typer:
    """The app with `osspolicy emulator`, whose options come from the emulator's own
    command module (registered here, not at import: `--version` loads no emulator)."""
    if not any(info.name == "emulator" for info in app.registered_commands):
        from ..emulator.command import emulator

        app.command("emulator", help="Run the OSS-compatible emulator until SIGINT/SIGTERM.")(
            emulator
        )
    return app


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one line per error, documented exit codes."""
    given = list(sys.argv[1:] if argv is None else argv)
    GlobalOptions.as_json = "--json" in given
    if "--version" in given and all(arg.startswith("-") for arg in given):
        # before the commands are built: nothing else to load
        out.print(_version(), markup=False)
        _exit(EXIT_OK)
    command = typer.main.get_command(_with_emulator())
    try:
        args = _global_options(_resume_value(given))
        code: Any = command.main(args=args, prog_name="osspolicy", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        code = fail("cancelled", 130)
    except ConfigError as exc:
        code = fail(str(exc), EXIT_USAGE)
    except OssPolicyError as exc:
        code = fail(str(exc), EXIT_FAILURES)
    except Exception as exc:
        code = _unexpected(exc)
    _exit(code if isinstance(code, int) else EXIT_OK)


#: how long the exit waits for worker threads still in a call a stop abandoned
_ABANDONED_THREADS_S = 1.0


def _exit(code: int) -> NoReturn:
    """Exit with `code`. A worker thread still blocked in a call the job abandoned
    (contracts §14) would keep the interpreter alive: every file is flushed by now, so
    after a short wait for it the process leaves without joining it."""
    stopping = sys.modules.get("osspolicy._internal.stopping")  # no job ran without it
    if stopping is not None and not stopping.join_abandoned_threads(_ABANDONED_THREADS_S):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
