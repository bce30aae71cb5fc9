"""A listing cannot lie or loop (contracts §14): the real SDK, both engines, over HTTP
against the emulator, whose ListBuckets pages (50 buckets each) are made to lie.

An empty answer, a truncated page without NextMarker, or a NextMarker that does not
advance is retried and then fails the listing as contracts §5 says (the buckets listed
before are backed up; exit 1; `complete` and `listing_complete` false), after a bounded
number of ListBuckets calls. Pages that overlap give each bucket one target.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from osspolicy._internal.cli import main
from osspolicy._internal.job import JobRun, run_job
from osspolicy._internal.manifest import parse_manifest
from osspolicy.emulator import Emulator
from osspolicy.emulator.faults import ListShape

from .e2e_helpers import bucket_names, no_sleep, read_jsonl

#: the transport is what this module tests: `make test` runs it on both engines
pytestmark = pytest.mark.both_engines

PREFIX = "ls-"
BUCKETS = 200
PAGE = 50
ATTEMPTS = 3


def backup(tmp_path: Path, emu: Emulator, engine: str, targets: dict[str, Any]) -> JobRun:
    """A backup job of `targets`, three tries per call and no wait between them."""
    manifest = parse_manifest(
        {
            "action": "backup",
            "targets": targets,
            "connection": {"region": emu.region, "endpoint": emu.endpoint},
            "engine": engine,
            "concurrency": 8,
            "retry": {"attempts": ATTEMPTS, "base_delay_s": 0.001, "max_delay_s": 0.001},
            "backup_dir": "backups",
            "report_dir": "reports",
        },
        source="backup.yaml",
        base=tmp_path,
    )

    async def go() -> JobRun:
        return await run_job(manifest, sleep=no_sleep)

    return anyio.run(go)


def paged(emu: Emulator) -> list[str]:
    """200 buckets `ls-00000`…, listed 50 to a page."""
    names = bucket_names(BUCKETS, PREFIX)
    emu.seed_buckets(names)
    emu.state.list_page_size = PAGE
    return names


def list_calls(emu: Emulator) -> int:
    """How many ListBuckets requests the emulator answered."""
    return sum(1 for e in emu.request_log if e.bucket is None and e.action is None)


def policy_gets(emu: Emulator) -> list[str]:
    return [
        str(e.bucket) for e in emu.request_log if e.subresource == "policy" and e.method == "GET"
    ]


def summaries(run: JobRun) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report's summary.json and the backup's."""
    assert run.backup_folder is not None
    report = json.loads((run.report_folder / "summary.json").read_text())
    folder = json.loads((run.backup_folder / "summary.json").read_text())
    return report, folder


@pytest.mark.parametrize(
    ("shape", "good_pages"),
    [
        pytest.param("empty", 0, id="empty-body-on-page-1"),
        pytest.param("empty", 1, id="empty-body-on-page-2"),
        pytest.param("no-next-marker", 1, id="truncated-without-marker-on-page-2"),
        pytest.param("stuck-marker", 1, id="marker-not-advancing-on-page-2"),
    ],
)
def test_a_page_that_lies_is_retried_then_fails_the_listing(
    tmp_path: Path, oss_emulator: Emulator, engine: str, shape: ListShape, good_pages: int
) -> None:
    """Every ListBuckets answer after the first `good_pages` lies: the buckets of the good
    pages are backed up, each once; the page that lies is asked for `retry.attempts`
    times and no more; the job exits 1, unfinished, both summaries saying the listing
    failed on that page and the backup is incomplete."""
    names = paged(oss_emulator)
    oss_emulator.script_fault("GET", "", "", kind=shape, skip=good_pages, count=None)

    run = backup(tmp_path, oss_emulator, engine, {"discover": {"prefix": PREFIX}})

    listed = names[: good_pages * PAGE]
    assert run.exit_code == 1
    assert run.backup_folder is not None
    assert sorted(e["bucket"] for e in read_jsonl(run.backup_folder / "index.jsonl")) == listed
    assert sorted(policy_gets(oss_emulator)) == listed
    assert list_calls(oss_emulator) == good_pages + ATTEMPTS
    report, folder = summaries(run)
    assert (report["complete"], report["listing_complete"]) == (False, False)
    assert (folder["complete"], folder["listing_complete"]) == (False, False)
    assert f"failed on page {good_pages + 1}" in report["targets_error"]
    journal = read_jsonl(run.report_folder / "journal.jsonl")
    assert not any(line.get("finished") for line in journal)


@pytest.mark.parametrize("shape", ["empty", "no-next-marker", "stuck-marker"])
def test_one_page_that_lies_once_is_ridden_out_by_a_retry(
    tmp_path: Path, oss_emulator: Emulator, engine: str, shape: ListShape
) -> None:
    """The second page lies once, then answers right: its retry carries the listing on,
    every bucket is backed up and read exactly once, in the four pages plus that one
    retry, and the backup is complete (a lie is transient, not the end of the job)."""
    names = paged(oss_emulator)
    oss_emulator.script_fault("GET", "", "", kind=shape, skip=1, count=1)

    run = backup(tmp_path, oss_emulator, engine, {"discover": {"prefix": PREFIX}})

    assert run.exit_code == 0
    assert run.backup_folder is not None
    assert sorted(e["bucket"] for e in read_jsonl(run.backup_folder / "index.jsonl")) == names
    assert sorted(policy_gets(oss_emulator)) == names
    assert list_calls(oss_emulator) == BUCKETS // PAGE + 1
    report, folder = summaries(run)
    assert (report["complete"], report["listing_complete"]) == (True, True)
    assert (folder["complete"], folder["buckets"]) == (True, BUCKETS)


def test_pages_that_overlap_give_each_bucket_one_target(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """Each page's NextMarker one name early, so every page repeats the last name of the
    one before: every bucket is backed up and its policy read exactly once, in five
    ListBuckets calls (the markers still advance), and the backup is complete."""
    names = paged(oss_emulator)
    oss_emulator.script_fault("GET", "", "", kind="overlap", count=None)

    run = backup(tmp_path, oss_emulator, engine, {"discover": {"prefix": PREFIX}})

    assert run.exit_code == 0
    assert run.backup_folder is not None
    assert sorted(e["bucket"] for e in read_jsonl(run.backup_folder / "index.jsonl")) == names
    assert sorted(policy_gets(oss_emulator)) == names
    assert list_calls(oss_emulator) == 5  # 50 + 49 + 49 + 49 + 3 new names
    report, folder = summaries(run)
    assert (report["complete"], report["listing_complete"], report["missing"]) == (True, True, 0)
    assert (folder["complete"], folder["buckets"]) == (True, BUCKETS)


# -- named buckets: a region lookup that fails part-way --------------------------------------


def test_a_partial_region_lookup_keeps_the_regions_it_read_and_names_the_rest(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """200 named buckets of cn-shanghai, the lookup listing failing on page 2: the 50 of
    page 1 keep their region and are backed up; the 150 others are sent to the
    connection's region (where the service refuses them), and the summary counts them,
    names the first ten and says the account's listing failed on page 2."""
    names = bucket_names(BUCKETS, PREFIX)
    oss_emulator.seed_buckets(names, region="cn-shanghai")
    oss_emulator.state.list_page_size = PAGE
    oss_emulator.script_fault("GET", "", "", kind="empty", skip=1, count=None)

    run = backup(tmp_path, oss_emulator, engine, {"buckets": names})

    records = {r["bucket"]: r for r in read_jsonl(run.report_folder / "report.jsonl")}
    assert {records[n]["region"] for n in names[:PAGE]} == {"cn-shanghai"}
    assert {records[n]["outcome"] for n in names[:PAGE]} == {"no_policy"}
    assert {records[n]["error_code"] for n in names[PAGE:]} == {"InvalidArgument"}
    assert run.exit_code == 1
    assert list_calls(oss_emulator) == 1 + ATTEMPTS
    fallback = summaries(run)[0]["region_fallback"]
    assert (fallback["region"], fallback["buckets"]) == (oss_emulator.region, BUCKETS - PAGE)
    assert fallback["first"] == names[PAGE : PAGE + 10]
    assert list(fallback["listing_errors"]) == ["default"]
    assert "failed on page 2" in fallback["listing_errors"]["default"]


def test_the_console_says_which_buckets_fell_back(
    tmp_path: Path, oss_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`osspolicy run` of 12 named buckets whose lookup listing fails on page 1: every
    bucket is backed up in the connection's region (its own here: exit 0), and one line
    says that 12 buckets fell back, why, and the first ten names."""
    names = bucket_names(12, PREFIX)
    oss_emulator.seed_buckets(names)
    oss_emulator.script_fault("GET", "", "", kind="empty", count=None)
    monkeypatch.chdir(tmp_path)
    manifest = tmp_path / "backup.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "action": "backup",
                "targets": {"buckets": names},
                "connection": {"region": oss_emulator.region, "endpoint": oss_emulator.endpoint},
                "retry": {"attempts": 2, "base_delay_s": 0.001, "max_delay_s": 0.001},
            }
        )
    )
    out, err = io.StringIO(), io.StringIO()

    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exited:
        main(["run", str(manifest)])

    lines = [line for line in (out.getvalue() + err.getvalue()).splitlines() if "fallback" in line]
    assert exited.value.code == 0
    assert lines == [
        f"region fallback: 12 buckets sent to {oss_emulator.region}, the connection's region "
        "(ListBuckets of account default failed on page 1 (0 buckets listed before): "
        "InternalError: the ListBuckets answer is empty): " + ", ".join(names[:10]) + " and 2 more"
    ]
