"""Back up every policy: the real SDK against the emulator over HTTP, no mocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from osspolicy._internal.errors import PreflightError
from osspolicy._internal.job import JobRun, run_job
from osspolicy._internal.manifest import Manifest, parse_manifest
from osspolicy._internal.results import Result
from osspolicy.emulator import Emulator

#: the transport is what this module tests: `make test` runs it on both engines
pytestmark = pytest.mark.both_engines

PREFIX = "bk-"


async def no_sleep(_: float) -> None:
    """Retries back off without waiting in tests."""


def policy_for(name: str) -> bytes | None:
    """A third of the buckets have no policy; the rest a policy naming the bucket, some
    pretty-printed (the backup must keep the exact bytes)."""
    index = int(name[-5:])
    if index % 3 == 0:
        return None
    doc = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": ["1234567890"],
                "Action": ["oss:DeleteObject"],
                "Resource": [f"acs:oss:*:*:{name}/*"],
            }
        ],
    }
    return json.dumps(doc, indent=index % 4 or None).encode()


def seed(emulator: Emulator, count: int) -> list[str]:
    names = [f"{PREFIX}{i:05d}" for i in range(count)]
    emulator.seed_buckets(names, policy=policy_for)
    return names


def backup_manifest(tmp_path: Path, emulator: Emulator, *, engine: str, **extra: Any) -> Manifest:
    data = {
        "action": "backup",
        "targets": {"discover": {"prefix": PREFIX}},
        "connection": {"region": emulator.region, "endpoint": emulator.endpoint},
        "engine": engine,
        "concurrency": 16,
        **extra,
    }
    return parse_manifest(data, source="backup.yaml", base=tmp_path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(manifest: Manifest, **kwargs: Any) -> JobRun:
    async def go() -> JobRun:
        return await run_job(manifest, sleep=no_sleep, **kwargs)

    return anyio.run(go)


def test_every_bucket_is_backed_up_exactly_under_faults(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """500 buckets at fault rate 0.2 (and lost responses): each bucket once in the report
    and the index, each file byte-identical to the stored policy, retries counted, exit 0."""
    names = seed(oss_emulator, 500)
    oss_emulator.set_faults(rate=0.2, after_rate=0.05, seed=7)
    job = run(backup_manifest(tmp_path, oss_emulator, engine=engine))

    assert job.exit_code == 0
    records = read_jsonl(job.report_folder / "report.jsonl")
    assert sorted(r["bucket"] for r in records) == names
    index = read_jsonl(job.backup_folder / "index.jsonl")  # type: ignore[operator]
    assert sorted(e["bucket"] for e in index) == names
    for entry in index:
        stored = oss_emulator.state.get_policy(entry["bucket"])
        file = job.backup_folder / "policies" / f"{entry['bucket']}.json"  # type: ignore[operator]
        assert entry["had_policy"] is (stored is not None)
        if stored is None:
            assert not file.exists()
        else:
            assert file.read_bytes() == stored

    requests = Counter(
        e.bucket
        for e in oss_emulator.request_log
        if e.subresource == "policy" and e.method == "GET"
    )
    faulted = {e.bucket for e in oss_emulator.request_log if e.fault and e.bucket}
    assert faulted, "the fault rate hit nobody: the test proves nothing"
    for record in records:
        assert record["attempts"] == requests[record["bucket"]]
        if record["bucket"] in faulted:
            assert record["attempts"] > 1
    assert Counter(r["outcome"] for r in records) == {"fetched": 333, "no_policy": 167}


def test_a_bucket_deleted_mid_job_fails_alone_without_retries(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """A bucket removed while the job runs gets a failed NoSuchBucket record after one
    request; the others are backed up; exit 1."""
    names = seed(oss_emulator, 60)
    doomed = names[-1]
    deleted = False

    def delete_once(_: Result) -> None:
        nonlocal deleted
        if not deleted:
            oss_emulator.state.delete_bucket(doomed)
            deleted = True

    manifest = backup_manifest(
        tmp_path, oss_emulator, engine=engine, targets={"buckets": names}, concurrency=2
    )
    job = run(manifest, on_result=delete_once)

    assert job.exit_code == 1
    records = {r["bucket"]: r for r in read_jsonl(job.report_folder / "report.jsonl")}
    assert len(records) == 60
    assert records[doomed]["outcome"] == "failed"
    assert records[doomed]["error_code"] == "NoSuchBucket"
    assert records[doomed]["attempts"] == 1
    assert [e.bucket for e in oss_emulator.request_log].count(doomed) == 1
    assert all(r["outcome"] in {"fetched", "no_policy"} for b, r in records.items() if b != doomed)


def test_a_wrong_secret_fails_every_bucket_fast_and_never_shows_the_secret(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """With a wrong secret the job's first call (its listing) is refused: one line saying
    the secret is wrong, exit 2 (contracts §15 pre-flight); neither secret appears in
    the output, the report or any file."""
    seed(oss_emulator, 30)
    wrong = "WrongSecretValue-9f8e7d6c5b4a"
    job_file = tmp_path / "backup.yaml"
    job_file.write_text(
        f"action: backup\ntargets:\n  discover: {{prefix: {PREFIX}}}\n"
        f"connection:\n  region: {oss_emulator.region}\n  endpoint: {oss_emulator.endpoint}\n"
        f"engine: {engine}\n"
    )
    env = {**os.environ, "OSS_ACCESS_KEY_SECRET": wrong}
    done = subprocess.run(
        [sys.executable, "-m", "osspolicy", "run", str(job_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    # a listing of the buckets needs a signature too: the job fails at the door
    assert "the access key secret is wrong" in done.stderr
    assert len(oss_emulator.request_log) == 1  # a wrong secret is not tried twice
    secrets = (wrong, oss_emulator.access_key_secret)
    for secret in secrets:
        assert secret not in done.stdout
        assert secret not in done.stderr
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret not in path.read_text(errors="replace"), path
    assert all(e.status == 403 for e in oss_emulator.request_log)


def test_named_buckets_with_a_wrong_secret_stop_at_the_first_call(
    tmp_path: Path, oss_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """Named buckets with a wrong secret: the account's first call (the region lookup's
    ListBuckets) is refused once, and the job stops there (contracts §15 pre-flight):
    PreflightError naming the account and the fix, one request, no bucket sent."""
    names = seed(oss_emulator, 40)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "WrongSecretValue-9f8e7d6c5b4a")
    with pytest.raises(PreflightError, match=r"account default at .*: the access key secret"):
        run(backup_manifest(tmp_path, oss_emulator, engine=engine, targets={"buckets": names}))
    sent = [(e.method, e.bucket, e.error_code) for e in oss_emulator.request_log]
    assert sent == [("GET", None, "SignatureDoesNotMatch")]  # ListBuckets, refused once


def test_the_backup_folder_is_private_and_finished_last(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """Folders are 0700 and files 0600; summary.json is written and counts the buckets."""
    seed(oss_emulator, 9)
    job = run(backup_manifest(tmp_path, oss_emulator, engine=engine))
    folder = job.backup_folder
    assert folder is not None
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / "policies").stat().st_mode & 0o777 == 0o700
    for file in folder.rglob("*"):
        if file.is_file():
            assert file.stat().st_mode & 0o777 == 0o600, file
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["buckets"], summary["with_policy"], summary["without_policy"]) == (9, 6, 3)
