"""Rollback keeps later changes (contracts §15), on the memory backend (no HTTP): the
guard that reads each bucket first, and what it learns from the rolled-back job's
journal. End to end over HTTP: tests/test_rollback_e2e.py."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from osspolicy._internal.backends.memory import MemoryBackend
from osspolicy._internal.deciders import BackupBytes, restore_decider
from osspolicy._internal.decision_steps import plan_step, write_step
from osspolicy._internal.errors import ConfigError
from osspolicy._internal.manifest import Manifest, parse_manifest
from osspolicy._internal.operations import StepResult, perform
from osspolicy._internal.report import ReportWriter
from osspolicy._internal.results import After, Change, Outcome, Result, Target
from osspolicy._internal.retry import RetryConfig, Tries
from osspolicy._internal.rollback import LaterChanges, later_changes

REGION = "cn-hangzhou"
JOB = "20261123T014501Z-apply-3f9a"
BEFORE = b'{"Version":"1","Statement":[]}  '  # the snapshot's bytes
LEFT = b'{"Version": "1", "Statement": ["left by the job"]}'  # what the job left
BY_HAND = b'{"Version": "1", "Statement": ["edited by hand"]}'
START = datetime(2026, 11, 23, 1, 45, 2, tzinfo=UTC)


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def no_sleep(_delay: float) -> None:
    """Retries back off without waiting."""


def tries() -> Tries:
    return Tries(RetryConfig(attempts=1), sleep=no_sleep)


def snapshot(policies: dict[str, bytes | None]) -> BackupBytes:
    async def read(bucket: str) -> bytes | None:
        return policies[bucket]

    return read


class Sink:
    """A snapshot sink that keeps nothing (these tests look at the bucket and the record)."""

    folder = Path("snapshot")

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
        return None


async def roll_back(
    backend: MemoryBackend,
    bucket: str,
    after: dict[str, After],
    *,
    before: bytes | None = BEFORE,
    force: bool = False,
) -> Result:
    later = LaterChanges(JOB, after, force=force)
    decide = later.decider(restore_decider(backend, snapshot({bucket: before})))
    step = write_step(backend, decide, Sink())
    return await perform("rollback", Target(bucket, REGION), step, tries())


@pytest.mark.asyncio
async def test_a_bucket_still_as_the_job_left_it_is_put_back() -> None:
    """At the job's sha256_after: restored to the snapshot bytes."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b", LEFT)

    result = await roll_back(backend, "b", {"b": sha(LEFT)})

    assert result.outcome is Outcome.APPLIED
    assert backend.buckets["b"].policy == BEFORE


@pytest.mark.asyncio
async def test_a_bucket_the_job_deleted_and_still_without_policy_is_put_back() -> None:
    """The job left no policy (sha256_after null) and there is none: restored."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b")

    result = await roll_back(backend, "b", {"b": None})

    assert result.outcome is Outcome.APPLIED
    assert backend.buckets["b"].policy == BEFORE


@pytest.mark.asyncio
async def test_a_bucket_changed_since_the_job_is_a_conflict_and_kept() -> None:
    """Changed by hand since: `conflict`, note `changed since JOB`, no write, kept."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b", BY_HAND)

    result = await roll_back(backend, "b", {"b": sha(LEFT)})

    assert (result.outcome, result.note) == (Outcome.CONFLICT, f"changed since {JOB}")
    assert result.error_message is not None
    assert "--force" in result.error_message
    assert backend.buckets["b"].policy == BY_HAND
    assert "put_policy" not in {call.op for call in backend.calls}


@pytest.mark.asyncio
async def test_a_policy_deleted_by_hand_since_the_job_is_a_conflict_and_kept() -> None:
    """The job left a policy, someone deleted it since: `conflict`, still no policy."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b")

    result = await roll_back(backend, "b", {"b": sha(LEFT)})

    assert result.outcome is Outcome.CONFLICT
    assert backend.buckets["b"].policy is None


@pytest.mark.asyncio
async def test_a_bucket_the_jobs_records_say_nothing_of_is_a_conflict() -> None:
    """No sha256_after for the bucket (an older journal): `conflict`, kept."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b", LEFT)

    result = await roll_back(backend, "b", {})

    assert (result.outcome, result.note) == (Outcome.CONFLICT, f"changed since {JOB}")
    assert backend.buckets["b"].policy == LEFT


@pytest.mark.asyncio
async def test_a_bucket_already_at_its_snapshot_bytes_is_unchanged_whatever_the_job_left() -> None:
    """Already back at the snapshot's bytes: `unchanged`, no write, no conflict."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b", BEFORE)

    result = await roll_back(backend, "b", {})

    assert result.outcome is Outcome.UNCHANGED
    assert "put_policy" not in {call.op for call in backend.calls}


@pytest.mark.asyncio
async def test_force_overwrites_a_later_change_and_says_so() -> None:
    """With force, a bucket changed since is put back, its note `overwrite: …`."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b", BY_HAND)

    result = await roll_back(backend, "b", {"b": sha(LEFT)}, force=True)

    assert (result.outcome, result.note) == (Outcome.APPLIED, f"overwrite: changed since {JOB}")
    assert backend.buckets["b"].policy == BEFORE


@pytest.mark.asyncio
async def test_a_plan_of_a_rollback_shows_the_conflict_a_run_would_record() -> None:
    """plan_step on the guarded decider: the changed bucket is `conflict` there too, so
    the prompt never counts it as a change."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b", BY_HAND)
    later = LaterChanges(JOB, {"b": sha(LEFT)})
    decide = later.decider(restore_decider(backend, snapshot({"b": BEFORE})))

    done: StepResult = await plan_step(backend, decide)(Target("b", REGION), tries())

    assert (done.outcome, done.change, done.note) == (
        Outcome.CONFLICT,
        Change.PUT,
        f"changed since {JOB}",
    )


def rollback_of(tmp_path: Path, job_id: str = JOB) -> Manifest:
    return parse_manifest(
        {
            "action": "restore",
            "source": str(tmp_path / "backups" / f"{job_id}-pre"),
            "connection": {"region": REGION},
            "backup_dir": str(tmp_path / "backups"),
            "report_dir": str(tmp_path / "reports"),
        },
        source="test",
        base=tmp_path,
    )


def write_journal(tmp_path: Path, lines: list[dict[str, object]], tail: bytes = b"") -> None:
    folder = tmp_path / "reports" / JOB
    folder.mkdir(parents=True)
    text = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    (folder / "journal.jsonl").write_bytes(text + tail)


def record(bucket: str, outcome: str, **more: object) -> dict[str, object]:
    return {"bucket": bucket, "region": REGION, "action": "apply", "outcome": outcome, **more}


@pytest.mark.asyncio
async def test_the_journal_gives_each_buckets_latest_after_across_runs(tmp_path: Path) -> None:
    """later_changes reads the job's journal: the latest record that carries the key
    wins (a resumed run's), a record without it (skipped) does not erase it, a null is
    kept apart from absent, and a torn last line is ignored."""
    write_journal(
        tmp_path,
        [
            {"journal": 1, "job_id": JOB, "manifest_sha256": "x"},
            record("a", "failed", error_code="Interrupted", sha256_after="11" * 32),
            record("b", "deleted", sha256_after=None),
            record("c", "applied"),  # an older record: no key
            {"finished": True, "exit_code": 130, "pending": 1},
            record("a", "applied", sha256_after="22" * 32),
            record("b", "skipped", note="interrupted"),
        ],
        tail=b'{"bucket": "c", "sha256_after": "33',
    )

    later = await later_changes(rollback_of(tmp_path), force=True)

    assert later.job_id == JOB
    assert later.force is True
    assert dict(later.after) == {"a": "22" * 32, "b": None}


@pytest.mark.asyncio
async def test_without_a_journal_no_bucket_is_known(tmp_path: Path) -> None:
    """A job folder without journal.jsonl: nothing is known, so nothing is admitted."""
    later = await later_changes(rollback_of(tmp_path))

    assert dict(later.after) == {}
    assert not later.admits("a", None)


@pytest.mark.asyncio
async def test_a_journal_damaged_in_the_middle_is_one_line_naming_it(tmp_path: Path) -> None:
    """A bad line before the last: ConfigError naming the journal and the line."""
    write_journal(tmp_path, [{"journal": 1}], tail=b"not json\n" + b"{}\n")

    with pytest.raises(ConfigError, match=r"journal.jsonl line 2"):
        await later_changes(rollback_of(tmp_path))


@pytest.mark.asyncio
async def test_the_summary_lists_the_buckets_a_forced_rollback_overwrites(tmp_path: Path) -> None:
    """summary.json's `overwrite` counts and names the records noted `overwrite: …` (a
    failed write is not one); a job without any has no such key."""
    folder = tmp_path / "20261123T014502Z-rollback-0a1b"
    writer = await ReportWriter.create(folder, job_id=folder.name, manifest_yaml="x: 1\n")
    note = f"overwrite: changed since {JOB}"
    await writer.write_many(
        [
            Result("a", REGION, "rollback", Outcome.APPLIED, note=note),
            Result("b", REGION, "rollback", Outcome.DELETED, note=note),
            Result("c", REGION, "rollback", Outcome.FAILED, note=note),
            Result("d", REGION, "rollback", Outcome.APPLIED),
        ]
    )
    summary = await writer.finish(started_at=START, finished_at=START, exit_code=1)

    written = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert (summary.overwritten, summary.overwrites) == (2, ("a", "b"))
    assert written["overwrite"] == {"count": 2, "buckets": ["a", "b"]}
    assert "overwrite" not in json.loads(
        (await _empty_summary(tmp_path)).read_text(encoding="utf-8")
    )


async def _empty_summary(tmp_path: Path) -> Path:
    folder = tmp_path / "20261123T014503Z-rollback-0a1c"
    writer = await ReportWriter.create(folder, job_id=folder.name, manifest_yaml="x: 1\n")
    await writer.finish(started_at=START, finished_at=START, exit_code=0)
    return folder / "summary.json"
