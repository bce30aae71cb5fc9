"""A resume checks its folders before it trusts its journal (contracts §5): a backup's
folder must prove every bucket the journal calls done, and a writing job never gives a
bucket whose snapshot line is lost a new snapshot (`SnapshotLost`).

In-process jobs, the real SDK over HTTP against the emulator, on both engines. A job is
interrupted by its own SIGINT (the job handles it as the command does), sent once a
counted number of records is in: no clock, no sleep.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import load_manifest
from osspolicy._internal.results import Result
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    apply_manifest,
    bucket_names,
    connection,
    current_policies,
    make_emulator,
    merged_bodies,
    no_sleep,
    parsed,
    policy_writes,
    read_jsonl,
    records_by_bucket,
    seed_mix,
    snapshot_index,
    write_manifest,
)

BACKUP_BUCKETS = 200
APPLY_BUCKETS = 60
#: records in before the job is interrupted
BACKUP_STOP_AT = 120
APPLY_STOP_AT = 30
SUCCESS = {"fetched", "no_policy", "applied", "deleted", "unchanged"}

#: every job of this module runs once on each engine
pytestmark = pytest.mark.usefixtures("on_each_engine")


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with make_emulator() as emulator:
        monkeypatch.setenv("OSS_ACCESS_KEY_ID", emulator.access_key_id)
        monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emulator.access_key_secret)
        yield emulator


async def run(path: Path, options: RunOptions | None = None) -> JobRun:
    """Run the manifest at `path` in-process, retries without waiting."""
    return await run_job(load_manifest(path), options or RunOptions(), sleep=no_sleep)


async def interrupted(path: Path, after: int) -> JobRun:
    """Run the manifest at `path` and SIGINT it (once) when `after` records are in."""
    seen = 0

    def count(_: Result) -> None:
        nonlocal seen
        seen += 1
        if seen == after:
            os.kill(os.getpid(), signal.SIGINT)

    job = await run_job(load_manifest(path), sleep=no_sleep, on_result=count, handle_signals=True)
    assert job.exit_code == 130
    return job


async def resumed(path: Path) -> JobRun:
    return await run(path, RunOptions(resume="latest"))


def done_in_journal(report_folder: Path) -> set[str]:
    """The buckets with a success record in the job's journal."""
    records = read_jsonl(report_folder / "journal.jsonl")[1:]
    return {r["bucket"] for r in records if r.get("outcome") in SUCCESS}


def policy_gets(emu: Emulator) -> Counter[str]:
    """GetBucketPolicy requests by bucket."""
    return Counter(
        e.bucket
        for e in emu.request_log
        if e.bucket and e.method == "GET" and e.subresource == "policy"
    )


# -- backups --------------------------------------------------------------------------------


def backup_yaml(emu: Emulator, folder: Path) -> Path:
    return write_manifest(
        folder / "backup.yaml",
        {
            "action": "backup",
            "targets": {"discover": {"prefix": "e2e-"}},
            "connection": connection(emu),
            "concurrency": 8,
            "backup_dir": "backups",
            "report_dir": "reports",
        },
    )


def assert_backup_proves_all(job: JobRun, originals: Mapping[str, bytes | None]) -> None:
    """Complete, one index line per bucket, every file of its sha256 and the bucket's
    bytes, and one report record per bucket."""
    folder = job.backup_folder
    assert folder is not None
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["complete"], summary["missing"], summary["buckets"]) == (
        True,
        0,
        len(originals),
    )
    lines = read_jsonl(folder / "index.jsonl")
    assert sorted(line["bucket"] for line in lines) == sorted(originals)
    for line in lines:
        file = folder / "policies" / f"{line['bucket']}.json"
        if originals[line["bucket"]] is None:
            assert (line["had_policy"], file.exists()) == (False, False)
        else:
            assert hashlib.sha256(file.read_bytes()).hexdigest() == line["sha256"]
            assert file.read_bytes() == originals[line["bucket"]]
    records = records_by_bucket(read_jsonl(job.report_folder / "report.jsonl"))
    assert set(records) == set(originals)
    assert {r["outcome"] for r in records.values()} <= SUCCESS


@pytest.mark.asyncio
async def test_a_backup_whose_folder_vanished_is_made_anew_on_resume(
    emu: Emulator, tmp_path: Path
) -> None:
    """A backup interrupted, its folder deleted, then resumed fetches every bucket again
    into a new folder that is complete with 200 index lines, and a restore of it touches
    all 200."""
    originals = seed_mix(emu, bucket_names(BACKUP_BUCKETS))
    path = backup_yaml(emu, tmp_path)
    first = await interrupted(path, BACKUP_STOP_AT)
    assert first.backup_folder is not None
    shutil.rmtree(first.backup_folder)
    emu.clear_log()

    job = await resumed(path)

    assert job.exit_code == 0
    assert job.backup_folder == first.backup_folder
    assert_backup_proves_all(job, originals)
    assert policy_gets(emu) == Counter(dict.fromkeys(originals, 1))
    restore = write_manifest(
        tmp_path / "restore.yaml",
        {
            "action": "restore",
            "source": str(job.backup_folder),
            "connection": connection(emu),
            "backup_dir": "backups",
            "report_dir": "reports",
        },
    )
    restored = await run(restore)
    assert restored.exit_code == 0
    records = records_by_bucket(read_jsonl(restored.report_folder / "report.jsonl"))
    assert set(records) == set(originals)


def delete_file(folder: Path, bucket: str) -> set[str]:
    (folder / "policies" / f"{bucket}.json").unlink()
    return {bucket}


def corrupt_file(folder: Path, bucket: str) -> set[str]:
    (folder / "policies" / f"{bucket}.json").write_bytes(b'{"Version": "1"}')
    return {bucket}


def truncate_index(folder: Path, _: str) -> set[str]:
    """Cut the index at half its size (mid-line); the buckets whose line is gone."""
    index = folder / "index.jsonl"
    raw = index.read_bytes()
    before = {json.loads(line)["bucket"] for line in raw.splitlines()}
    cut = raw[: len(raw) // 2]
    index.write_bytes(cut)
    whole = [line for line in cut.splitlines(keepends=True) if line.endswith(b"\n")]
    kept = {json.loads(line)["bucket"] for line in whole}
    return before - kept


@pytest.mark.parametrize(
    "damage",
    [delete_file, corrupt_file, truncate_index],
    ids=["policy-file-deleted", "policy-file-corrupted", "index-truncated"],
)
@pytest.mark.asyncio
async def test_a_resumed_backup_fetches_again_each_bucket_its_folder_no_longer_proves(
    emu: Emulator, tmp_path: Path, damage: Any
) -> None:
    """A done bucket whose policy file was deleted or changed, or whose index line was cut
    off, is fetched again on resume (once, with the buckets never done), and the folder
    ends complete, every file of its sha256."""
    originals = seed_mix(emu, bucket_names(BACKUP_BUCKETS))
    path = backup_yaml(emu, tmp_path)
    first = await interrupted(path, BACKUP_STOP_AT)
    assert first.backup_folder is not None
    done = done_in_journal(first.report_folder)
    with_policy = sorted(b for b in done if originals[b] is not None)
    lost = damage(first.backup_folder, with_policy[0])
    assert lost
    assert lost <= done
    emu.clear_log()

    job = await resumed(path)

    assert job.exit_code == 0
    assert_backup_proves_all(job, originals)
    expected = (set(originals) - done) | lost
    assert policy_gets(emu) == Counter(dict.fromkeys(expected, 1))


# -- snapshots of writing jobs --------------------------------------------------------------


def remove_line(folder: Path, bucket: str) -> None:
    index = folder / "index.jsonl"
    lines = index.read_bytes().splitlines(keepends=True)
    index.write_bytes(b"".join(ln for ln in lines if json.loads(ln)["bucket"] != bucket))


@pytest.mark.parametrize(
    ("had_policy", "how"),
    [(True, "line-removed"), (False, "line-removed"), (True, "file-corrupted")],
    ids=["line-of-a-policy-removed", "line-of-no-policy-removed", "file-corrupted"],
)
@pytest.mark.asyncio
async def test_a_written_bucket_whose_snapshot_line_is_lost_fails_snapshot_lost_on_resume(
    emu: Emulator, tmp_path: Path, had_policy: bool, how: str
) -> None:
    """An apply interrupted after some writes, one written bucket's snapshot line then
    lost: resume records that bucket `failed` `SnapshotLost` (naming the snapshot
    folder), sends it no write and takes no new snapshot; every other bucket ends merged,
    one record each."""
    originals = seed_mix(emu, bucket_names(APPLY_BUCKETS))
    path = write_manifest(tmp_path / "apply.yaml", apply_manifest(emu, tmp_path, concurrency=4))
    first = await interrupted(path, APPLY_STOP_AT)
    snapshot = tmp_path / "backups" / f"{first.job_id}-pre"
    journal = read_jsonl(first.report_folder / "journal.jsonl")[1:]
    applied = sorted(r["bucket"] for r in journal if r["outcome"] == "applied")
    victim = next(b for b in applied if (originals[b] is not None) is had_policy)
    if how == "line-removed":
        remove_line(snapshot, victim)
    else:
        (snapshot / "policies" / f"{victim}.json").write_bytes(b"{}")
    kept = snapshot_index(snapshot)
    policy_before = emu.state.get_policy(victim)
    emu.clear_log()

    job = await resumed(path)

    assert job.exit_code == 1
    records = records_by_bucket(read_jsonl(job.report_folder / "report.jsonl"))
    assert set(records) == set(originals)
    lost = records[victim]
    assert (lost["outcome"], lost["error_code"]) == ("failed", "SnapshotLost")
    assert str(snapshot) in lost["error_message"]
    assert victim not in {w.bucket for w in policy_writes(emu)}
    assert emu.state.get_policy(victim) == policy_before
    if how == "line-removed":  # no new snapshot line
        assert victim not in snapshot_index(snapshot)
    else:  # the first (damaged) line stands alone
        assert snapshot_index(snapshot)[victim] == kept[victim]
        assert (snapshot / "policies" / f"{victim}.json").read_bytes() == b"{}"
    others = {b: r for b, r in records.items() if b != victim}
    assert {r["outcome"] for r in others.values()} <= SUCCESS
    expected = merged_bodies(originals)
    for bucket, body in current_policies(emu, others).items():
        assert parsed(body) == expected[bucket]


@pytest.mark.asyncio
async def test_a_write_that_failed_after_its_snapshot_fails_snapshot_lost_once_the_line_is_lost(
    emu: Emulator, tmp_path: Path
) -> None:
    """A bucket whose PutBucketPolicy failed after its snapshot keeps that snapshot in its
    `failed` record; once the snapshot line is lost, resume records it `SnapshotLost`
    and sends it no write, while a bucket whose read failed (never snapshotted) is
    written as usual."""
    originals = seed_mix(emu, bucket_names(12))
    put_failed, read_failed = "e2e-00001", "e2e-00002"
    emu.script_fault("PUT", put_failed, "policy", count=2)
    emu.script_fault("GET", read_failed, "policy", count=2)
    path = write_manifest(
        tmp_path / "apply.yaml",
        apply_manifest(emu, tmp_path, retry={"attempts": 2, "base_delay_s": 0}),
    )
    first = await run(path)
    assert first.exit_code == 1
    records = records_by_bucket(read_jsonl(first.report_folder / "report.jsonl"))
    snapshot = tmp_path / "backups" / f"{first.job_id}-pre"
    assert records[put_failed]["snapshot"] == str(snapshot / "policies" / f"{put_failed}.json")
    assert records[read_failed]["snapshot"] is None
    remove_line(snapshot, put_failed)
    emu.clear_log()

    job = await resumed(path)

    assert job.exit_code == 1
    records = records_by_bucket(read_jsonl(job.report_folder / "report.jsonl"))
    assert set(records) == set(originals)
    assert (records[put_failed]["outcome"], records[put_failed]["error_code"]) == (
        "failed",
        "SnapshotLost",
    )
    assert records[read_failed]["outcome"] == "applied"
    assert {w.bucket for w in policy_writes(emu)} == {read_failed}
    assert emu.state.get_policy(put_failed) == originals[put_failed]
