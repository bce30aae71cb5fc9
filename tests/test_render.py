"""The lines the command prints, from a job's summary (render.py): words with
singulars, and a resume hint only where a resume can help (contracts §15)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from types import MappingProxyType
from typing import Any

from osspolicy._internal.engine import EngineStats
from osspolicy._internal.job import JobRun
from osspolicy._internal.render import (
    incomplete_line,
    make_console,
    resume_hint,
    unresumable_hints,
)
from osspolicy._internal.report import Summary
from osspolicy._internal.results import Outcome
from osspolicy._internal.words import count_words, plural

MANIFEST = "jobs/apply.yaml"


def _run(failures: list[dict[str, Any]], *, exit_code: int = 1, action: str = "apply") -> JobRun:
    counts = dict.fromkeys(Outcome, 0)
    for failure in failures:
        counts[Outcome(failure["outcome"])] += 1
    summary = Summary(
        job_id="20261206T000000Z-apply-0001",
        exit_code=exit_code,
        started_at="",
        finished_at="",
        wall_time_s=0.1,
        buckets_per_s=10.0,
        counts=MappingProxyType(counts),
        total=len(failures),
        succeeded=0,
        failed=len(failures),
        skipped=0,
        drifted=0,
        changes=MappingProxyType({}),
        failures=tuple(MappingProxyType(f) for f in failures),
        skips=(),
        diffs=(),
        extra=MappingProxyType({}),
    )
    return JobRun(summary.job_id, action, Path("reports"), None, summary, exit_code, EngineStats())


def _failed(bucket: str, code: str) -> dict[str, Any]:
    return {"bucket": bucket, "outcome": "failed", "error_code": code, "error_message": "x"}


def test_plural_says_one_bucket_and_two_buckets() -> None:
    """One is singular, any other count plural, with thousands separated."""
    assert [plural(n, "bucket") for n in (0, 1, 2, 2000)] == [
        "0 buckets",
        "1 bucket",
        "2 buckets",
        "2,000 buckets",
    ]


def test_count_words_names_then_counts_and_leaves_out_zeros() -> None:
    """`put 300, delete 2`: a name then its count, zero counts left out."""
    assert count_words({"put": 300, "delete": 2, "unchanged": 0}) == "put 300, delete 2"


def test_a_retryable_failure_gets_the_resume_hint() -> None:
    """A job with a failure a resume can retry ends with the resume command."""
    hint = resume_hint(_run([_failed("b1", "InternalError")]), MANIFEST, MANIFEST)
    assert hint == f"resume it with: osspolicy run {MANIFEST} --resume 20261206T000000Z-apply-0001"


def test_no_resume_hint_after_an_exit_2() -> None:
    """A job that ended with exit 2 (a pre-flight error) gets no resume hint."""
    run = _run([_failed("b1", "InternalError")], exit_code=2)
    assert resume_hint(run, MANIFEST, MANIFEST) is None


def test_no_resume_hint_for_a_one_bucket_command() -> None:
    """`put BUCKET` that failed gets no resume hint: running it again is the way."""
    run = _run([_failed("b1", "InternalError")])
    assert resume_hint(run, MANIFEST, "osspolicy put b1") is None


def test_no_resume_hint_when_only_snapshot_lost_and_not_planned_failed() -> None:
    """Failures a resume cannot fix (SnapshotLost, NotPlanned) get no resume hint but
    a line each saying what can help."""
    run = _run([_failed("b1", "SnapshotLost"), _failed("b2", "NotPlanned")])
    assert resume_hint(run, MANIFEST, MANIFEST) is None
    hints = unresumable_hints(run, MANIFEST)
    assert hints[0].startswith("1 bucket failed SnapshotLost (a resume will not fix it): ")
    assert "as a new job" in hints[0]
    assert hints[1].endswith(f"plan again with: osspolicy plan {MANIFEST}")


def test_an_incomplete_backup_whose_listing_failed_gives_no_reassuring_count() -> None:
    """A backup whose listing failed says that buckets it never returned are not in it,
    never "0 buckets missing"; one short of known buckets says how many."""
    summary = _run([]).summary
    failed_listing = dataclasses.replace(
        summary,
        extra=MappingProxyType({"complete": False, "listing_complete": False, "missing": 0}),
    )
    short = dataclasses.replace(
        summary, extra=MappingProxyType({"complete": False, "listing_complete": True, "missing": 1})
    )
    assert incomplete_line(failed_listing) == (
        "the backup is INCOMPLETE: the listing failed, so buckets it never returned are not in it"
    )
    assert incomplete_line(short) == "the backup is INCOMPLETE: 1 bucket missing"


def test_a_role_arn_is_printed_as_written_not_as_an_emoji() -> None:
    """rich turns `:ram:` into an emoji; the CLI's consoles never do (`acs:ram::…`)."""

    console = make_console()
    console.file = io.StringIO()
    console.print("role acs:ram::1234567890123456:role/osspolicy refused", markup=False)
    assert (
        console.file.getvalue().strip() == "role acs:ram::1234567890123456:role/osspolicy refused"
    )
