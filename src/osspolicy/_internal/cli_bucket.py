"""The one-bucket commands: `get`, `put`, `delete` and `status` (contracts §15).

Each is a one-target job underneath, with the same checks, retries, snapshot and report
as any job; `put` and `delete` keep theirs in the user's state folder by default, `get`
and `status` write nothing to disk.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import typer

from . import render
from .cli_console import err, out, print_json
from .cli_execute import execute
from .cli_options import Endpoint, Json, JsonList, Yes
from .cli_progress import run_with_progress
from .cli_summary import render_summary
from .console_text import visible

if TYPE_CHECKING:
    from .job import JobRun
    from .manifest import Manifest

__all__ = (
    "delete",
    "get",
    "put",
    "status",
)

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


def get(
    bucket: Bucket, region: BucketRegion, endpoint: Endpoint = None, as_json: JsonList = False
) -> int:
    """Print a bucket's policy exactly as OSS returns it (a one-bucket read job that
    writes nothing to disk; on a terminal, with its control characters escaped)."""
    from .job import RunOptions

    manifest = _bucket_job("backup", bucket, region, endpoint, Path("reports"), Path("backups"))
    options = RunOptions(get=True, in_memory=True)
    run = anyio.run(run_with_progress, manifest, options, f"osspolicy get {bucket}")
    render_summary(run, err)
    record = _single(run)
    body = run.policies.get(bucket)
    if as_json:  # the policy as a string, exactly its bytes (null: no policy)
        text = None if body is None else body.decode("utf-8", errors="replace")
        print_json(render.bucket_object(bucket, record, run, text))
    elif record.get("outcome") == "fetched" and body is not None and out.is_terminal:
        # on a terminal its control characters are escapes (the bytes: pipe it to a file)
        out.print(body.decode("utf-8", errors="replace"), markup=False, soft_wrap=True)
    elif record.get("outcome") == "fetched" and body is not None:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.write(b"\n")
    elif record.get("outcome") == "no_policy":
        err.print(f"{bucket} has no bucket policy", markup=False)
    return run.exit_code


def put(
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


def delete(
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


def status(
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
        print_json(render.bucket_object(bucket, record, run, None))
    elif record.get("outcome") in {"fetched", "no_policy"}:
        policy = "yes" if record["outcome"] == "fetched" else "no"
        note = visible(str(record.get("note")))  # says why, quoting the policy's Sids
        out.print(f"{bucket}: policy: {policy}; {note}", markup=False)
    else:
        render_summary(run, err)
    return run.exit_code
