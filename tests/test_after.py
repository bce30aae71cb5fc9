"""`sha256_after` (contracts §15): every record of a writing step says what the bucket is
at after it, on the memory backend (no HTTP); the report and journal carry it, and an
older record without it reads back as unknown."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.backends.memory import MemoryBackend
from osspolicy._internal.baseline import load_baseline
from osspolicy._internal.deciders import (
    ApplyOptions,
    BackupBytes,
    Decider,
    apply_decider,
    delete_decider,
    restore_decider,
)
from osspolicy._internal.decision_steps import plan_step, write_step
from osspolicy._internal.errors import AccessDenied, BackendError, ServerError
from osspolicy._internal.manifest import PolicySpec
from osspolicy._internal.operations import perform
from osspolicy._internal.report import COLUMNS, CSV_NAME, JSONL_NAME, ReportWriter
from osspolicy._internal.results import UNKNOWN, Change, Outcome, Result, Target
from osspolicy._internal.retry import RetryConfig, Tries

REGION = "cn-hangzhou"
DENY: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "deny-insecure",
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:*"],
            "Resource": ["acs:oss:*:*:${bucket}/*"],
            "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
        }
    ],
}
PUBLIC: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "public-read",
            "Effect": "Allow",
            "Principal": ["*"],
            "Action": ["oss:GetObject"],
            "Resource": ["acs:oss:*:*:${bucket}/*"],
        }
    ],
}


def own(bucket: str) -> bytes:
    statement = {
        "Sid": "team",
        "Effect": "Allow",
        "Principal": ["20214760404935"],
        "Action": ["oss:GetObject"],
        "Resource": [f"acs:oss:*:*:{bucket}/shared/*"],
    }
    return json.dumps({"Version": "1", "Statement": [statement]}, indent=3).encode()


def sha(body: bytes | None) -> str:
    assert body is not None
    return hashlib.sha256(body).hexdigest()


async def no_sleep(_delay: float) -> None:
    """Retries back off without waiting."""


def tries() -> Tries:
    return Tries(RetryConfig(attempts=2), sleep=no_sleep)


def apply(backend: MemoryBackend, document: dict[str, Any] = DENY) -> Decider:
    baseline = load_baseline(PolicySpec(document=document, mode="merge"))
    return apply_decider(backend, ApplyOptions(baseline))


class Snapshot:
    """A snapshot sink that, once a bucket is snapshotted, can make its write fail."""

    def __init__(self, backend: MemoryBackend, folder: Path) -> None:
        self.backend = backend
        self.folder = folder
        self.failing: dict[str, BackendError] = {}

    def recorded(self, bucket: str) -> str | None:
        """No earlier run: nothing is recorded before this job's own writes."""
        return None

    async def add(
        self,
        bucket: str,
        region: str | None,
        body: bytes | None,
        request_id: str | None,
        *,
        account: str = "default",
    ) -> str | None:
        if bucket in self.failing:  # the read is done: the next call is the write
            self.backend.fail_next(bucket, self.failing[bucket], times=5)
        return None if body is None else str(self.folder / f"{bucket}.json")


async def record(
    backend: MemoryBackend, decide: Decider, bucket: str, tmp_path: Path, **failing: BackendError
) -> Result:
    sink = Snapshot(backend, tmp_path)
    sink.failing.update(failing)
    step = write_step(backend, decide, sink)
    return await perform("apply", Target(bucket, REGION), step, tries())


@pytest.mark.asyncio
async def test_an_applied_record_carries_the_sha256_of_the_bytes_now_on_the_bucket(
    tmp_path: Path,
) -> None:
    """`applied`: sha256_after is the sha256 of exactly the bytes the bucket holds after."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b1", own("b1"))

    result = await record(backend, apply(backend), "b1", tmp_path)

    assert result.outcome is Outcome.APPLIED
    assert result.sha256_after == sha(backend.buckets["b1"].policy)


@pytest.mark.asyncio
async def test_a_deleted_record_carries_null(tmp_path: Path) -> None:
    """`deleted`: sha256_after is null (the write left no policy), and the key is there."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b1", own("b1"))

    result = await record(backend, delete_decider(backend), "b1", tmp_path)

    assert result.outcome is Outcome.DELETED
    assert result.sha256_after is None
    assert result.to_record()["sha256_after"] is None


@pytest.mark.asyncio
async def test_an_unchanged_record_carries_the_sha256_of_the_bytes_already_there(
    tmp_path: Path,
) -> None:
    """`unchanged`: the sha256 of the bytes the bucket already has (null when it has none)."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("merged", json.dumps(DENY).replace("${bucket}", "merged").encode())
    backend.add_bucket("none")

    merged = await record(backend, apply(backend), "merged", tmp_path)
    none = await record(backend, delete_decider(backend), "none", tmp_path)

    assert (merged.outcome, merged.sha256_after) == (
        Outcome.UNCHANGED,
        sha(backend.buckets["merged"].policy),
    )
    assert (none.outcome, none.sha256_after) == (Outcome.UNCHANGED, None)


@pytest.mark.asyncio
async def test_a_failed_put_carries_the_sha256_of_the_bytes_it_meant_to_send(
    tmp_path: Path,
) -> None:
    """A PUT that fails (a permanent error, or a transient one after its retries) is
    `failed` with the sha256 of the body it sent, the bucket left as it was."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("denied", own("denied"))
    backend.add_bucket("down", own("down"))
    sent = await record(backend, apply(backend), "denied", tmp_path / "dry")
    backend.buckets["denied"].policy = own("denied")  # the body it will mean to send again

    denied = await record(
        backend, apply(backend), "denied", tmp_path, denied=AccessDenied("no", request_id="r")
    )
    down = await record(backend, apply(backend), "down", tmp_path, down=ServerError("oops"))

    assert (denied.outcome, denied.error_code) == (Outcome.FAILED, "AccessDenied")
    assert denied.sha256_after == sent.sha256_after
    assert backend.buckets["denied"].policy == own("denied")
    assert (down.outcome, down.attempts) == (Outcome.FAILED, 3)  # a read and two tries
    assert isinstance(down.sha256_after, str)
    assert backend.buckets["down"].policy == own("down")


@pytest.mark.asyncio
async def test_a_failed_delete_carries_null(tmp_path: Path) -> None:
    """A DELETE that fails is `failed` with sha256_after null: what it meant to leave."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b1", own("b1"))

    result = await record(backend, delete_decider(backend), "b1", tmp_path, b1=AccessDenied("no"))

    assert result.outcome is Outcome.FAILED
    assert "sha256_after" in result.to_record()
    assert result.sha256_after is None


def restored(policies: dict[str, bytes | None]) -> BackupBytes:
    async def read(bucket: str) -> bytes | None:
        return policies[bucket]

    return read


@pytest.mark.asyncio
async def test_a_restore_carries_the_sha256_of_the_backed_up_bytes(tmp_path: Path) -> None:
    """restore (and so rollback): `applied` carries the sha256 of the backup's bytes."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b1")
    wanted = own("b1") + b"\r\n"
    decide = restore_decider(backend, restored({"b1": wanted}))

    result = await record(backend, decide, "b1", tmp_path)

    assert (result.outcome, result.sha256_after) == (Outcome.APPLIED, sha(wanted))


@pytest.mark.asyncio
async def test_records_of_buckets_no_write_was_tried_on_leave_the_key_out(
    tmp_path: Path,
) -> None:
    """blocked_public, a read that failed and a plan's records say nothing of after:
    the key is absent, not null."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("locked")
    backend.add_bucket("unread", own("unread"))
    backend.add_bucket("planned", own("planned"))
    backend.fail_next("unread", AccessDenied("no"))
    decide = apply(backend)

    locked = await record(backend, apply(backend, PUBLIC), "locked", tmp_path)
    unread = await record(backend, decide, "unread", tmp_path)
    planned = await perform("plan", Target("planned", REGION), plan_step(backend, decide), tries())

    assert [r.outcome for r in (locked, unread, planned)] == [
        Outcome.BLOCKED_PUBLIC,
        Outcome.FAILED,
        Outcome.PLANNED,
    ]
    for result in (locked, unread, planned):
        assert result.sha256_after is UNKNOWN
        assert "sha256_after" not in result.to_record()


def test_a_record_reads_back_with_its_after_and_an_older_one_as_unknown() -> None:
    """from_record keeps a sha256 and a null apart, and a record without the key (an
    older journal) is UNKNOWN, which it writes back without the key."""
    base = Result("b", REGION, "apply", Outcome.APPLIED, change=Change.PUT)
    with_sha = Result.from_record({**base.to_record(), "sha256_after": "ab" * 32})
    with_null = Result.from_record({**base.to_record(), "sha256_after": None})
    older = Result.from_record(base.to_record())

    assert with_sha.sha256_after == "ab" * 32
    assert with_null.sha256_after is None
    assert older.sha256_after is UNKNOWN
    assert "sha256_after" not in older.to_record()


@pytest.mark.asyncio
async def test_the_report_carries_it_in_jsonl_and_as_a_csv_column(tmp_path: Path) -> None:
    """report.jsonl holds the key (null for a delete, absent when unknown); report.csv has
    a `sha256_after` column, empty for null and unknown."""
    folder = tmp_path / "20261123T014501Z-apply-3f9a"
    writer = await ReportWriter.create(folder, job_id=folder.name, manifest_yaml="action: apply\n")
    await writer.write_many(
        [
            Result("put", REGION, "apply", Outcome.APPLIED, sha256_after="cd" * 32),
            Result("gone", REGION, "apply", Outcome.DELETED, sha256_after=None),
            Result("skip", REGION, "apply", Outcome.SKIPPED),
        ]
    )
    await writer.aclose()

    lines = [json.loads(line) for line in (folder / JSONL_NAME).read_bytes().splitlines()]
    rows = (folder / CSV_NAME).read_text(encoding="utf-8").splitlines()
    column = COLUMNS.index("sha256_after")
    assert [line.get("sha256_after", "absent") for line in lines] == ["cd" * 32, None, "absent"]
    assert "sha256_after" in rows[0].split(",")
    assert [row.split(",")[column] for row in rows[1:]] == ["cd" * 32, "", ""]
