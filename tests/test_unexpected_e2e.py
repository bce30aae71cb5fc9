"""Nothing unexpected (contracts §14), end to end over real HTTP against the emulator.

A disk that refuses a write (`ulimit -f`: EFBIG) ends a backup with one line naming the
OS error and the file, exit 1 and the resume line, and `--resume` then finishes the
job; a credentials refresh that fails mid-job is each bucket's own transient
`CredentialsFetchError` on both engines, every bucket recorded, the job never aborted.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import load_manifest
from osspolicy.emulator import Emulator

from .credentials_uri import CredentialsUri
from .e2e_helpers import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    SUBPROCESS_TIMEOUT_S,
    CliRun,
    assert_no_secret,
    bucket_names,
    connection,
    credentials_env,
    make_emulator,
    no_sleep,
    osspolicy_command,
    read_jsonl,
    records_by_bucket,
    seed_mix,
    write_manifest,
)

#: the largest file the backup of the EFBIG test may write (its report.jsonl outgrows it)
FILE_SIZE_LIMIT = 16 * 1024
EFBIG_BUCKETS = 150


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with make_emulator() as emu:
        yield emu


def backup_manifest(emu: Emulator, folder: Path, **extra: Any) -> Path:
    return write_manifest(
        folder / "backup.yaml",
        {
            "version": 1,
            "action": "backup",
            "targets": {"discover": {"prefix": "e2e-"}},
            "connection": connection(emu),
            "concurrency": 8,
            "backup_dir": "backups",
            "report_dir": "reports",
            **extra,
        },
    )


def _limit_file_size() -> None:
    """In the child, before exec: no file may grow past FILE_SIZE_LIMIT (Python ignores
    SIGXFSZ, so the write fails with EFBIG instead of killing the process)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def run_limited(emu: Emulator, *args: str | Path, cwd: Path) -> CliRun:
    done = subprocess.run(
        osspolicy_command(*args),
        cwd=cwd,
        env={**credentials_env(emu), "PYTHONDONTWRITEBYTECODE": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
        preexec_fn=_limit_file_size,  # only setrlimit before exec
    )
    run = CliRun(done.returncode, done.stdout, done.stderr)
    assert_no_secret(emu, run)
    return run


def test_a_full_disk_ends_the_job_with_one_line_naming_the_error_and_the_file(
    emulator: Emulator, tmp_path: Path
) -> None:
    """A backup whose report outgrows `ulimit -f` exits 1 with one line naming EFBIG and
    the file, then the resume line; no traceback, no ExceptionGroup, no summary."""
    seed_mix(emulator, bucket_names(EFBIG_BUCKETS))
    manifest = backup_manifest(emulator, tmp_path)
    run = run_limited(emulator, "run", manifest, cwd=tmp_path)
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    assert "ExceptionGroup" not in run.stderr + run.stdout
    error, hint = run.stderr.splitlines()
    job_id = next((tmp_path / "reports").iterdir()).name
    named = re.fullmatch(
        r"osspolicy: error: the job failed: File too large \(EFBIG\): (\S+)"
        r"( \(and \d+ more errors?\))?",
        error,
    )
    assert named is not None, error
    assert job_id in Path(named.group(1)).parts  # a file of the job's folders
    assert hint == f"resume it with: osspolicy run {manifest} --resume {job_id}"
    assert not (tmp_path / "reports" / job_id / "summary.json").exists()


def test_the_resume_line_of_a_full_disk_finishes_the_backup(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Run as printed once the disk has room, the resume line completes the backup: one
    index line per bucket, `complete: true`, exit 0."""
    seed_mix(emulator, bucket_names(EFBIG_BUCKETS))
    manifest = backup_manifest(emulator, tmp_path)
    failed = run_limited(emulator, "run", manifest, cwd=tmp_path)
    command = failed.stderr.splitlines()[-1].removeprefix("resume it with: osspolicy ")
    done = subprocess.run(
        osspolicy_command(*command.split()),
        cwd=tmp_path,
        env=credentials_env(emulator),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    backup = next((tmp_path / "backups").iterdir())
    summary = json.loads((backup / "summary.json").read_bytes())
    assert summary["complete"] is True
    indexed = {line["bucket"] for line in read_jsonl(backup / "index.jsonl")}
    assert indexed == set(bucket_names(EFBIG_BUCKETS))


# -- a credentials refresh that fails mid-job ---------------------------------------------


REFRESH_BUCKETS = 60
#: in the credentials URI's query: a failed refresh's message must not carry it anywhere
URI_TOKEN = "Refresh-Token-SENTINEL-5e0b"


def run_with_failing_refresh(emulator: Emulator, tmp_path: Path, engine: str) -> JobRun:
    """A backup of REFRESH_BUCKETS buckets by an account whose credentials URI answers
    the fetch at start, then fails every refresh."""
    names = bucket_names(REFRESH_BUCKETS)
    emulator.seed_buckets(names)
    with CredentialsUri(
        ACCESS_KEY_ID, ACCESS_KEY_SECRET, ttl=timedelta(minutes=5), good=1
    ) as uri:  # the one fetch at start resolves them
        spec = {"type": "credentials_uri", "uri": f"{uri.uri}?token={URI_TOKEN}"}
        path = backup_manifest(
            emulator,
            tmp_path,
            engine=engine,
            targets={"buckets": names},
            accounts=[{"name": "viauri", "credentials": spec}],
            retry={"attempts": 2, "base_delay_s": 0},
        )
        job = anyio.run(lambda: run_job(load_manifest(path), RunOptions(), sleep=no_sleep))
        assert uri.hits > 1
    return job


def test_a_refresh_that_fails_mid_job_is_each_buckets_transient_error(
    emulator: Emulator, tmp_path: Path, engine: str
) -> None:
    """Credentials resolved at start, then every refresh failing: each bucket ends with
    its own record (`failed`, `CredentialsFetchError`, retried), none is lost, the job
    ends with exit 1 instead of aborting, on either engine."""
    job = run_with_failing_refresh(emulator, tmp_path, engine)
    records = records_by_bucket(read_jsonl(job.report_folder / "report.jsonl"))
    assert set(records) == set(bucket_names(REFRESH_BUCKETS))
    failed = [r for r in records.values() if r["outcome"] == "failed"]
    assert failed
    assert {r["error_code"] for r in failed} == {"CredentialsFetchError"}
    assert all(r["attempts"] == 2 for r in failed)  # transient: retried
    assert all(
        r["outcome"] in {"fetched", "no_policy", "failed"}
        or (r["outcome"] == "skipped" and r.get("note") == "credentials")
        for r in records.values()
    )
    assert job.exit_code == 1


def test_a_failed_refresh_is_recorded_without_the_uris_token(
    emulator: Emulator, tmp_path: Path
) -> None:
    """The records of a failed refresh say why (the HTTP 500) and keep no secret part of
    the credentials URI, nor does any other file of the job."""
    job = run_with_failing_refresh(emulator, tmp_path, "threads")
    failed = read_jsonl(job.report_folder / "report.jsonl")[0]
    assert "http_code=500" in failed["error_message"]
    assert "/credentials?…" in failed["error_message"]
    for file in tmp_path.joinpath("reports").rglob("*"):
        assert not file.is_file() or URI_TOKEN.encode() not in file.read_bytes(), file
