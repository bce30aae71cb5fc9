"""Both engines (`threads`, `aio`) end to end: real SDK, real HTTP, the emulator's faults.

Each test runs whole jobs through `run_job` against the in-process emulator, once per
engine: the aio engine must give exactly what the thread engine gives.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from osspolicy.backup import Backup
from osspolicy.emulator import Emulator
from osspolicy.job import JobRun, RunOptions, run_job
from osspolicy.manifest import parse_manifest
from osspolicy.report import JSONL_NAME

ENGINES = ("threads", "aio")
ACCOUNT = "1234567890123456"
#: a small merge baseline (not public: a Deny); ${account_id} makes the job list buckets
BASELINE = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "osspolicy-deny-insecure-transport",
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:*"],
            "Resource": ["acs:oss:*:${account_id}:${bucket}/*"],
            "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
        }
    ],
}


def names(count: int) -> list[str]:
    return [f"e2e-{i:05d}" for i in range(count)]


def original_policy(name: str) -> bytes | None:
    """A third of the buckets have no policy; the others differ in bytes and layout."""
    number = int(name.rsplit("-", 1)[1])
    if number % 3 == 0:
        return None
    document = {
        "Version": "1",
        "Statement": [
            {
                "Sid": f"own-{number}",
                "Effect": "Allow",
                "Principal": ["20214760404935"],
                "Action": ["oss:GetObject"],
                "Resource": [f"acs:oss:*:{ACCOUNT}:{name}/*"],
            }
        ],
    }
    return (json.dumps(document, indent=number % 4) + " " * (number % 2)).encode()


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(account_id=ACCOUNT, fault_rate=0.2, fault_seed=11) as emulator:
        monkeypatch.setenv("OSS_ACCESS_KEY_ID", emulator.access_key_id)
        monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emulator.access_key_secret)
        yield emulator


async def no_sleep(_seconds: float) -> None:
    """Backoff without waiting: the faults are the emulator's, the waits need not be real."""


async def run(tmp_path: Path, emu: Emulator, engine: str, **job: Any) -> JobRun:
    data = {
        "connection": {"region": emu.region, "endpoint": emu.endpoint},
        "concurrency": 16,
        "engine": engine,
        **job,
    }
    manifest = parse_manifest(data, source="job.yaml", base=tmp_path)
    return await run_job(manifest, RunOptions(), sleep=no_sleep)


def report_of(job: JobRun) -> list[dict[str, Any]]:
    lines = (job.report_folder / JSONL_NAME).read_bytes().splitlines()
    return [json.loads(line) for line in lines]


def writes(emu: Emulator) -> list[str]:
    return [e.method for e in emu.request_log if e.method in {"PUT", "DELETE"}]


@pytest.mark.asyncio
@pytest.mark.parametrize("engine", ENGINES)
async def test_backup_under_faults_keeps_every_policy_byte_for_byte(
    tmp_path: Path, emu: Emulator, engine: str
) -> None:
    """A backup of 300 buckets with 20% faults: every bucket once in the report and the
    index, every file byte-identical to the service's policy, retries counted, exit 0."""
    buckets = names(300)
    emu.seed_buckets(buckets, policy=original_policy)

    job = await run(tmp_path, emu, engine, action="backup", targets={"buckets": buckets})

    assert job.exit_code == 0
    records = report_of(job)
    assert sorted(r["bucket"] for r in records) == buckets
    assert job.backup_folder is not None
    backup = await Backup.open(job.backup_folder)
    assert sorted(e.bucket for e in backup.entries()) == buckets
    for entry in backup.entries():
        assert await backup.read_policy(entry) == emu.state.get_policy(entry.bucket)
        assert entry.had_policy is (emu.state.get_policy(entry.bucket) is not None)
    sent = Counter(e.bucket for e in emu.request_log)
    faulted = {e.bucket for e in emu.request_log if e.fault is not None}
    assert faulted  # the faults did hit
    for record in records:
        assert record["attempts"] == sent[record["bucket"]]  # every request counted, once
        if record["bucket"] in faulted:
            assert record["attempts"] > 1


@pytest.mark.asyncio
@pytest.mark.parametrize("engine", ENGINES)
async def test_merge_apply_twice_writes_nothing_the_second_time(
    tmp_path: Path, emu: Emulator, engine: str
) -> None:
    """A merge-apply over 100 buckets adds the baseline everywhere; run again, every
    bucket is `unchanged` and not one PUT or DELETE is sent."""
    buckets = names(100)
    emu.seed_buckets(buckets, policy=original_policy)
    job = {"action": "apply", "targets": {"buckets": buckets}, "policy": {"document": BASELINE}}

    first = await run(tmp_path, emu, engine, **job)
    assert first.exit_code == 0
    assert {r["outcome"] for r in report_of(first)} == {"applied"}
    for name in buckets:
        sids = [s.get("Sid") for s in json.loads(emu.state.get_policy(name) or b"")["Statement"]]
        assert "osspolicy-deny-insecure-transport" in sids

    emu.clear_log()
    second = await run(tmp_path, emu, engine, **job)
    assert second.exit_code == 0
    assert [r["outcome"] for r in report_of(second)] == ["unchanged"] * 100
    assert writes(emu) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("engine", ENGINES)
async def test_restore_round_trip_returns_the_original_bytes(
    tmp_path: Path, emu: Emulator, engine: str
) -> None:
    """Backup, apply a baseline, restore the backup: every bucket has exactly its
    original bytes again, and the buckets that had no policy have none."""
    buckets = names(60)
    emu.seed_buckets(buckets, policy=original_policy)
    backup = await run(tmp_path, emu, engine, action="backup", targets={"buckets": buckets})
    applied = await run(
        tmp_path,
        emu,
        engine,
        action="apply",
        targets={"buckets": buckets},
        policy={"document": BASELINE},
    )
    assert (backup.exit_code, applied.exit_code) == (0, 0)
    assert all(emu.state.get_policy(name) != original_policy(name) for name in buckets)

    restored = await run(tmp_path, emu, engine, action="restore", source=str(backup.backup_folder))

    assert restored.exit_code == 0
    assert [emu.state.get_policy(name) for name in buckets] == [
        original_policy(name) for name in buckets
    ]
    outcomes = Counter(r["outcome"] for r in report_of(restored))
    assert outcomes == {"applied": 40, "deleted": 20}
