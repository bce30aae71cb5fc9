"""The journal: what finished, refusal of a changed manifest, and finding a job to resume."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from osspolicy._internal.errors import ConfigError
from osspolicy._internal.jobid import new_job_id, parse_job_id, utc_timestamp
from osspolicy._internal.journal import JOURNAL_NAME, Journal, find_resumable
from osspolicy._internal.results import Outcome, Result

SHA = "a" * 64
OTHER_SHA = "b" * 64


def result(bucket: str, outcome: Outcome) -> Result:
    return Result(bucket=bucket, region="cn-hangzhou", action="apply", outcome=outcome)


async def new_journal(folder: Path, *, sha: str = SHA) -> Journal:
    return await Journal.create(
        folder / JOURNAL_NAME, manifest_sha256=sha, job_id=folder.name, action="apply"
    )


def job_folder(root: Path, stamp: str) -> Path:
    return root / f"{stamp}-apply-0a0b"


@pytest.mark.asyncio
async def test_header_comes_first_and_records_follow(tmp_path: Path) -> None:
    """The first line names the job and the manifest sha256; then one line per result."""
    journal = await new_journal(tmp_path / "job")
    await journal.record(result("a", Outcome.APPLIED))
    await journal.aclose()
    lines = [json.loads(x) for x in (tmp_path / "job" / JOURNAL_NAME).read_bytes().splitlines()]
    assert lines[0]["journal"] == 1
    assert (lines[0]["job_id"], lines[0]["manifest_sha256"], lines[0]["action"]) == (
        "job",
        SHA,
        "apply",
    )
    assert lines[1] == result("a", Outcome.APPLIED).to_record()


@pytest.mark.asyncio
async def test_done_set_holds_only_buckets_with_a_success_record(tmp_path: Path) -> None:
    """Successes are done (skipped on resume); failures and skips are run again."""
    folder = tmp_path / "job"
    journal = await new_journal(folder)
    await journal.record(result("ok", Outcome.APPLIED))
    await journal.record(result("same", Outcome.UNCHANGED))
    await journal.record(result("bad", Outcome.FAILED))
    await journal.record(result("later", Outcome.SKIPPED))
    assert journal.done_buckets() == {"ok", "same"}
    await journal.aclose()

    resumed = await Journal.open_for_resume(folder / JOURNAL_NAME, manifest_sha256=SHA)
    assert resumed.done_buckets() == {"ok", "same"}
    assert resumed.job_id == "job"
    assert [r.bucket for r in await resumed.records()] == ["ok", "same", "bad", "later"]
    await resumed.aclose()


@pytest.mark.asyncio
async def test_resume_with_a_changed_manifest_is_refused(tmp_path: Path) -> None:
    """A different effective manifest sha256 is refused with a one-line ConfigError."""
    folder = tmp_path / "job"
    await (await new_journal(folder)).aclose()
    with pytest.raises(ConfigError, match="the manifest changed since job job started") as caught:
        await Journal.open_for_resume(folder / JOURNAL_NAME, manifest_sha256=OTHER_SHA)
    assert "\n" not in str(caught.value)
    assert "without --resume" in str(caught.value)


@pytest.mark.asyncio
async def test_torn_last_line_is_ignored_and_cut_before_appending(tmp_path: Path) -> None:
    """A crash mid-append leaves a torn line: resume ignores it, and new lines stay valid."""
    folder = tmp_path / "job"
    journal = await new_journal(folder)
    await journal.record(result("a", Outcome.APPLIED))
    await journal.aclose()
    with (folder / JOURNAL_NAME).open("ab") as file:
        file.write(b'{"bucket": "b", "outcome": "appl')

    resumed = await Journal.open_for_resume(folder / JOURNAL_NAME, manifest_sha256=SHA)
    assert resumed.done_buckets() == {"a"}
    await resumed.record(result("b", Outcome.APPLIED))
    assert [r.bucket for r in await resumed.records()] == ["a", "b"]
    assert [r.bucket for r in await resumed.done_results()] == ["a", "b"]
    await resumed.aclose()


@pytest.mark.asyncio
async def test_bad_middle_line_is_an_error_naming_the_line(tmp_path: Path) -> None:
    """A damaged line that is not the last one makes the journal unusable for resume."""
    folder = tmp_path / "job"
    journal = await new_journal(folder)
    await journal.record(result("a", Outcome.APPLIED))
    await journal.record(result("b", Outcome.APPLIED))
    await journal.aclose()
    lines = (folder / JOURNAL_NAME).read_bytes().splitlines(keepends=True)
    lines[1] = b"garbage\n"
    (folder / JOURNAL_NAME).write_bytes(b"".join(lines))
    with pytest.raises(ConfigError, match=r"journal\.jsonl line 2: not valid JSON"):
        await Journal.open_for_resume(folder / JOURNAL_NAME, manifest_sha256=SHA)


@pytest.mark.asyncio
async def test_a_finished_job_with_every_target_done_is_not_resumed(tmp_path: Path) -> None:
    """A run that finished with every target a success is final: resume is refused and
    says why."""
    folder = tmp_path / "job"
    journal = await new_journal(folder)
    await journal.record(result("a", Outcome.FETCHED))
    await journal.mark_finished(0)
    assert journal.finished
    await journal.aclose()
    with pytest.raises(ConfigError, match=r"job job finished with every target done"):
        await Journal.open_for_resume(folder / JOURNAL_NAME, manifest_sha256=SHA)


@pytest.mark.asyncio
async def test_a_finished_job_with_failures_resumes_only_what_failed(tmp_path: Path) -> None:
    """A run that finished with a failure stays resumable (contracts §5): the failed
    bucket is pending, the fetched one done, and a later success clears the pending."""
    folder = job_folder(tmp_path, "20261123T014501Z")
    journal = await new_journal(folder)
    await journal.record_many([result("a", Outcome.FETCHED), result("b", Outcome.FAILED)])
    await journal.mark_finished(1)
    await journal.aclose()
    assert await find_resumable(tmp_path, SHA) == folder
    resumed = await Journal.open_for_resume(folder / JOURNAL_NAME, manifest_sha256=SHA)
    assert resumed.done_buckets() == {"a"}
    assert resumed.pending == {"b"}
    await resumed.record(result("b", Outcome.FETCHED))
    await resumed.mark_finished(0)
    await resumed.aclose()
    assert resumed.pending == frozenset()
    assert await find_resumable(tmp_path, SHA) is None


@pytest.mark.asyncio
async def test_done_results_give_the_last_success_per_bucket(tmp_path: Path) -> None:
    """done_results carries one success record per done bucket, for the resumed report."""
    folder = tmp_path / "job"
    journal = await new_journal(folder)
    await journal.record(result("a", Outcome.FAILED))
    await journal.record(result("a", Outcome.APPLIED))
    await journal.record(result("b", Outcome.CONFLICT))
    assert await journal.done_results() == [result("a", Outcome.APPLIED)]
    await journal.aclose()


@pytest.mark.asyncio
async def test_find_resumable_picks_the_newest_unfinished_job_of_the_manifest(
    tmp_path: Path,
) -> None:
    """Among job folders, the newest one with the same manifest and no finished line wins."""
    old = job_folder(tmp_path, "20261123T010000Z")
    await (await new_journal(old)).aclose()
    newer = job_folder(tmp_path, "20261123T020000Z")
    await (await new_journal(newer)).aclose()
    finished = job_folder(tmp_path, "20261123T030000Z")
    journal = await new_journal(finished)
    await journal.mark_finished(0)
    await journal.aclose()
    other_manifest = job_folder(tmp_path, "20261123T040000Z")
    await (await new_journal(other_manifest, sha=OTHER_SHA)).aclose()
    (tmp_path / "not-a-job").mkdir()

    assert await find_resumable(tmp_path, SHA) == newer
    assert await find_resumable(tmp_path, OTHER_SHA) == other_manifest
    assert await find_resumable(tmp_path, "c" * 64) is None
    assert await find_resumable(tmp_path / "missing", SHA) is None


@pytest.mark.asyncio
async def test_find_resumable_skips_a_journal_with_a_torn_header(tmp_path: Path) -> None:
    """A job that crashed before its header was whole cannot be resumed and is passed over."""
    good = job_folder(tmp_path, "20261123T010000Z")
    await (await new_journal(good)).aclose()
    torn = job_folder(tmp_path, "20261123T020000Z")
    torn.mkdir()
    (torn / JOURNAL_NAME).write_bytes(b'{"journal": 1, "job_id": "x", "manif')
    assert await find_resumable(tmp_path, SHA) == good


def test_job_id_has_the_contract_shape_and_parses_back() -> None:
    """A job id is <UTC yyyymmddTHHMMSSZ>-<action>-<4 hex> and parse_job_id reads it back."""
    now = datetime(2026, 11, 23, 1, 45, 1, 999, tzinfo=UTC)
    job_id = new_job_id("apply", now)
    assert job_id.startswith("20261123T014501Z-apply-")
    parsed = parse_job_id(job_id)
    assert (parsed.started_at, parsed.action, len(parsed.suffix)) == (
        now.replace(microsecond=0),
        "apply",
        4,
    )
    assert str(parsed) == job_id
    with pytest.raises(ValueError, match="not a job id"):
        parse_job_id(f"{job_id}-pre")
    with pytest.raises(ValueError, match="naive"):
        new_job_id("apply", datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_utc_timestamp_is_iso_8601_with_z() -> None:
    """Timestamps on disk are UTC ISO-8601 with milliseconds and a Z."""
    assert utc_timestamp(datetime(2026, 11, 23, 1, 45, 1, 123456, tzinfo=UTC)) == (
        "2026-11-23T01:45:01.123Z"
    )


@pytest.mark.asyncio
async def test_record_many_appends_a_batch_and_updates_the_done_set(tmp_path: Path) -> None:
    """A batch of records is journaled in order and its successes become done."""
    journal = await new_journal(tmp_path / "job")
    await journal.record_many([result("a", Outcome.FETCHED), result("b", Outcome.FAILED)])
    assert journal.done_buckets() == {"a"}
    assert [r.bucket for r in await journal.records()] == ["a", "b"]
    await journal.aclose()


@pytest.mark.asyncio
async def test_a_changed_manifest_is_refused_naming_the_keys_that_differ(tmp_path: Path) -> None:
    """Resume with another manifest says which outcome keys differ (contracts §5)."""
    folder = tmp_path / "job"
    journal = await Journal.create(
        folder / JOURNAL_NAME,
        manifest_sha256=SHA,
        job_id="job",
        action="apply",
        outcome={"action": "apply", "policy": {"mode": "replace"}},
    )
    await journal.aclose()
    with pytest.raises(ConfigError, match=r"started \(policy\.mode differ\)"):
        await Journal.open_for_resume(
            folder / JOURNAL_NAME,
            manifest_sha256="0" * 64,
            outcome={"action": "apply", "policy": {"mode": "merge"}},
        )
