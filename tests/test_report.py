"""The report folder: one record per result in JSONL and CSV, summary last, exit codes."""

from __future__ import annotations

import csv
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.errors import ConfigError
from osspolicy._internal.exitcodes import EXIT_FAILURES, EXIT_OK, exit_code_for
from osspolicy._internal.report import (
    COLUMNS,
    CSV_NAME,
    JSONL_NAME,
    LISTED_MAX,
    MANIFEST_NAME,
    SUMMARY_NAME,
    ReportWriter,
)
from osspolicy._internal.results import Change, Outcome, Result

JOB = "20261123T014501Z-apply-3f9a"
MANIFEST = "version: 1\naction: apply  # ✓\n"
START = datetime(2026, 11, 23, 1, 45, 1, tzinfo=UTC)


def result(bucket: str, outcome: Outcome, **kw: Any) -> Result:
    return Result(bucket=bucket, region="cn-hangzhou", action="apply", outcome=outcome, **kw)


def jsonl_records(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / JSONL_NAME).read_bytes().splitlines()]


def csv_rows(folder: Path) -> list[list[str]]:
    with (folder / CSV_NAME).open(newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


RESULTS = [
    result(
        "a",
        Outcome.APPLIED,
        attempts=1,
        change=Change.PUT,
        snapshot="s/a.json",
        sha256_after="9f" * 32,
        new_access=(),  # judged (`--deny-new-access`): nothing new
    ),
    result("b", Outcome.UNCHANGED, attempts=1, change=Change.NONE, sha256_after=None),
    result(
        "c",
        Outcome.FAILED,
        attempts=10,
        error_code="InternalError",
        error_message='boom, "quoted"\nsecond line',
    ),
    result("d", Outcome.SKIPPED, error_message="the job was stopped"),
    result("e", Outcome.BLOCKED_PUBLIC, error_code="AccessDenied"),
]


async def write_all(folder: Path, results: list[Result]) -> ReportWriter:
    writer = await ReportWriter.create(folder, job_id=JOB, manifest_yaml=MANIFEST)
    for item in results:
        await writer.write(item)
    return writer


@pytest.mark.asyncio
async def test_each_result_is_one_jsonl_record_and_one_csv_row(tmp_path: Path) -> None:
    """Every result becomes one report.jsonl record and one report.csv row, same columns."""
    folder = tmp_path / JOB
    writer = await write_all(folder, RESULTS)
    await writer.aclose()
    records = jsonl_records(folder)
    assert records == [r.to_record() for r in RESULTS]
    rows = csv_rows(folder)
    assert rows[0] == list(COLUMNS) == list(records[0])
    assert len(rows) == 1 + len(RESULTS)
    assert rows[3][COLUMNS.index("error_message")] == 'boom, "quoted"\nsecond line'
    assert rows[1][COLUMNS.index("change")] == "put"
    assert rows[2][COLUMNS.index("snapshot")] == ""  # None is an empty cell


@pytest.mark.asyncio
async def test_folder_is_new_0700_with_0600_files_and_the_manifest(tmp_path: Path) -> None:
    """The report folder is new and private, and manifest.yaml holds the manifest given."""
    folder = tmp_path / "reports" / JOB
    writer = await write_all(folder, RESULTS[:1])
    await writer.finish(started_at=START, finished_at=START, exit_code=0)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in (MANIFEST_NAME, JSONL_NAME, CSV_NAME, SUMMARY_NAME):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert (folder / MANIFEST_NAME).read_text(encoding="utf-8") == MANIFEST
    with pytest.raises(ConfigError, match="exists already"):
        await ReportWriter.create(folder, job_id=JOB, manifest_yaml=MANIFEST)


@pytest.mark.asyncio
async def test_summary_counts_outcomes_and_lists_failures(tmp_path: Path) -> None:
    """summary.json counts every outcome, totals success/failure/skip and lists failures."""
    folder = tmp_path / JOB
    writer = await write_all(folder, RESULTS)
    assert writer.failure_count == 2
    exit_code = exit_code_for(writer.counts)
    assert not (folder / SUMMARY_NAME).exists()
    summary = await writer.finish(
        started_at=START,
        finished_at=START + timedelta(seconds=2),
        exit_code=exit_code,
        extra={"action": "apply"},
    )
    on_disk = json.loads((folder / SUMMARY_NAME).read_bytes())
    assert on_disk == summary.to_record()
    assert exit_code == summary.exit_code == on_disk["exit_code"] == EXIT_FAILURES
    assert (summary.total, summary.succeeded, summary.failed, summary.skipped) == (5, 2, 2, 1)
    assert on_disk["counts"]["applied"] == 1
    assert on_disk["counts"]["conflict"] == 0  # every outcome is present
    assert [f["bucket"] for f in summary.failures] == ["c", "e"]
    assert summary.failures[0]["error_code"] == "InternalError"
    assert [s["bucket"] for s in summary.skips] == ["d"]
    assert (summary.wall_time_s, summary.buckets_per_s) == (2.0, 2.5)
    assert on_disk["started_at"] == "2026-11-23T01:45:01.000Z"
    assert on_disk["action"] == "apply"


@pytest.mark.asyncio
async def test_failures_listed_are_capped_but_all_counted(tmp_path: Path) -> None:
    """The summary lists the first LISTED_MAX failures and counts all of them."""
    folder = tmp_path / JOB
    many = [result(f"b{n:04}", Outcome.FAILED) for n in range(LISTED_MAX + 5)]
    writer = await write_all(folder, many)
    summary = await writer.finish(started_at=START, finished_at=START, exit_code=1)
    assert summary.failed == LISTED_MAX + 5
    assert len(summary.failures) == LISTED_MAX
    assert summary.buckets_per_s == 0.0  # no wall time: no rate, no division by zero


@pytest.mark.asyncio
async def test_extra_keys_may_not_replace_the_summarys_own(tmp_path: Path) -> None:
    """An extra key named like a summary field is refused rather than silently overwriting."""
    writer = await write_all(tmp_path / JOB, RESULTS[:1])
    with pytest.raises(ValueError, match="total"):
        await writer.finish(started_at=START, finished_at=START, exit_code=0, extra={"total": 9})
    await writer.aclose()


def test_exit_code_is_1_only_when_a_failure_outcome_is_counted() -> None:
    """Successes and skips give exit 0; any blocked_public, conflict or failed gives 1."""
    assert exit_code_for({Outcome.FETCHED: 3, Outcome.SKIPPED: 2, Outcome.FAILED: 0}) == EXIT_OK
    assert exit_code_for({"applied": 1, "conflict": 1}) == EXIT_FAILURES
    assert exit_code_for({}) == EXIT_OK


@pytest.mark.asyncio
async def test_resume_keeps_exactly_one_record_per_bucket(tmp_path: Path) -> None:
    """After resume the report holds the carried successes plus the re-run, one per bucket."""
    folder = tmp_path / JOB
    first_run = [
        result("a", Outcome.APPLIED),
        result("b", Outcome.FAILED, error_code="InternalError"),
        result("c", Outcome.SKIPPED),
    ]
    writer = await write_all(folder, first_run)
    await writer.aclose()  # interrupted: no summary
    with (folder / JSONL_NAME).open("ab") as file:
        file.write(b'{"bucket": "c", "outc')  # torn by the crash

    carried = [first_run[0]]  # the journal's success records
    resumed = await ReportWriter.resume(folder, carried=carried)
    await resumed.write(result("b", Outcome.APPLIED))
    await resumed.write(result("c", Outcome.UNCHANGED))
    summary = await resumed.finish(started_at=START, finished_at=START, exit_code=0)

    records = jsonl_records(folder)
    assert sorted(r["bucket"] for r in records) == ["a", "b", "c"]
    assert {r["bucket"]: r["outcome"] for r in records} == {
        "a": "applied",
        "b": "applied",
        "c": "unchanged",
    }
    rows = csv_rows(folder)
    assert rows[0] == list(COLUMNS)
    assert rows.count(list(COLUMNS)) == 1  # the header is not repeated
    assert sorted(row[0] for row in rows[1:]) == ["a", "b", "c"]
    assert (summary.total, summary.failed, summary.succeeded) == (3, 0, 3)


@pytest.mark.asyncio
async def test_resume_removes_a_stale_summary(tmp_path: Path) -> None:
    """A resumed job's folder has no summary.json until the resumed run finishes."""
    folder = tmp_path / JOB
    writer = await write_all(folder, RESULTS[:1])
    await writer.finish(started_at=START, finished_at=START, exit_code=0)
    resumed = await ReportWriter.resume(folder, carried=RESULTS[:1])
    assert not (folder / SUMMARY_NAME).exists()
    assert resumed.job_id == JOB
    await resumed.aclose()


@pytest.mark.asyncio
async def test_write_many_appends_a_batch_in_order_to_both_files(tmp_path: Path) -> None:
    """A batch of results lands in report.jsonl and report.csv in the order given."""
    folder = tmp_path / JOB
    writer = await ReportWriter.create(folder, job_id=JOB, manifest_yaml=MANIFEST)
    await writer.write_many(RESULTS)
    await writer.write_many([])
    summary = await writer.finish(started_at=START, finished_at=START, exit_code=1)
    assert [r["bucket"] for r in jsonl_records(folder)] == ["a", "b", "c", "d", "e"]
    assert [row[0] for row in csv_rows(folder)[1:]] == ["a", "b", "c", "d", "e"]
    assert summary.total == 5
