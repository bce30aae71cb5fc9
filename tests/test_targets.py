"""Targets: a buckets file checked at the door, and listings that fail part-way (the
memory backend's `fail_listing`; a file that stops decoding), up to the job they fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.backends import BucketEntry, BucketPage
from osspolicy._internal.backends.memory import MemoryBackend
from osspolicy._internal.errors import ListingError, ManifestError, ServerError
from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import parse_manifest
from osspolicy._internal.results import Result
from osspolicy._internal.retry import RetryConfig, Tries
from osspolicy._internal.target_spec import Discover, Targets
from osspolicy._internal.targets import LIST_PAGE_SIZE, check_targets, iter_targets

REGION = "cn-hangzhou"
NAME_LINE = len("bucket-00000\n")


async def no_sleep(_delay: float) -> None:
    """Retries back off without waiting."""


def new_tries() -> Tries:
    return Tries(RetryConfig(attempts=3), sleep=no_sleep)


def names(count: int) -> list[str]:
    return [f"bucket-{i:05d}" for i in range(count)]


def backend_with(count: int) -> MemoryBackend:
    backend = MemoryBackend(region=REGION)
    for name in names(count):
        backend.add_bucket(name, b'{"Version":"1","Statement":[]}' if name[-1] in "02468" else None)
    return backend


async def listed(spec: Targets, backend: MemoryBackend) -> tuple[list[str], ListingError | None]:
    """The names a listing yields, and the ListingError it ended with (if any)."""
    seen: list[str] = []
    try:
        async for target in iter_targets(spec, region=REGION, backend=backend, new_tries=new_tries):
            seen.append(target.bucket)  # noqa: PERF401 - keep what came before a failure
    except ListingError as exc:
        return seen, exc
    return seen, None


def test_a_buckets_file_that_is_not_utf8_is_refused_at_the_door(tmp_path: Path) -> None:
    """A buckets file with bytes that are not UTF-8 is a ManifestError (exit 2, one line
    naming the file), not an unexpected crash."""
    names_file = tmp_path / "names.txt"
    names_file.write_bytes(b"good-bucket\n\xff\xfe-not-a-name\n")
    with pytest.raises(ManifestError, match=r"names\.txt is not UTF-8 text") as excinfo:
        check_targets(Targets(buckets_file=names_file), source="job.yaml")
    assert "targets.buckets_file" in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


@pytest.mark.asyncio
async def test_discovery_that_fails_on_page_2_yields_page_1_then_says_where() -> None:
    """ListBuckets failing (after its retries) on page 2 of 2,500 buckets: the 1,000 of
    page 1 come out, then a ListingError naming page 2, the marker and the count so far."""
    backend = backend_with(2500)
    backend.fail_listing(ServerError("boom"), after_pages=1)

    seen, error = await listed(Targets(discover=Discover()), backend)

    assert seen == names(LIST_PAGE_SIZE)
    assert error is not None
    message = str(error)
    assert "page 2" in message
    assert "after marker 'bucket-00999'" in message
    assert "1000 buckets listed before" in message
    assert [c.op for c in backend.calls].count("list_buckets") == 1 + 3  # page 1, 3 tries


@pytest.mark.asyncio
async def test_discovery_rides_out_fewer_listing_failures_than_its_attempts() -> None:
    """Two transient ListBuckets failures on page 2, three attempts: every bucket is listed
    once and no ListingError is raised."""
    backend = backend_with(2500)
    backend.fail_listing(ServerError("boom"), after_pages=1, times=2)

    seen, error = await listed(Targets(discover=Discover()), backend)

    assert error is None
    assert seen == names(2500)


def test_fail_listing_refuses_nonsense_counts() -> None:
    """`fail_listing` with a negative page count or zero times is a ValueError."""
    backend = MemoryBackend()
    with pytest.raises(ValueError, match="after_pages"):
        backend.fail_listing(ServerError("boom"), after_pages=-1)
    with pytest.raises(ValueError, match="times"):
        backend.fail_listing(ServerError("boom"), times=0)


def names_file_with_bad_tail(path: Path, count: int) -> list[str]:
    """`count` valid lines, then bytes that are not UTF-8 (well past the first read)."""
    wanted = names(count)
    path.write_bytes("".join(f"{n}\n" for n in wanted).encode() + b"\xff\xfe\n")
    return wanted


@pytest.mark.asyncio
async def test_a_buckets_file_that_stops_decoding_yields_its_first_names_then_fails(
    tmp_path: Path,
) -> None:
    """A buckets file whose bytes stop being UTF-8 after 3,000 lines: the names before come
    out in order, then a ListingError naming the file and the last line read."""
    path = tmp_path / "names.txt"
    wanted = names_file_with_bad_tail(path, 3000)

    seen, error = await listed(Targets(buckets_file=path), MemoryBackend())

    assert error is not None
    assert 0 < len(seen) <= 3000
    assert seen == wanted[: len(seen)]
    assert f"reading the buckets file {path} failed after line {len(seen)}" in str(error)


# -- the job such a listing fails -----------------------------------------------------------


def backup_manifest(tmp_path: Path, names_file: Path) -> Any:
    return parse_manifest(
        {
            "action": "backup",
            "targets": {"buckets_file": str(names_file)},
            "connection": {"region": REGION},
            "concurrency": 16,
            "retry": {"attempts": 2, "base_delay_s": 0},
        },
        source="backup.yaml",
        base=tmp_path,
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


@pytest.mark.asyncio
async def test_a_buckets_file_unreadable_mid_job_fails_the_job_and_resume_finishes_it(
    tmp_path: Path,
) -> None:
    """A buckets file valid at the door whose tail stops being UTF-8 while the job runs:
    exit 1, the summaries say the listing failed and the backup is incomplete, no
    finished line; once the file is fixed, `--resume` backs up every bucket exactly once."""
    count = 250
    path = tmp_path / "names.txt"
    wanted = names(count)
    # 200 names, a 32 KB comment (read only once ~200 targets are taken, far more than
    # the engine buffers), the last 50 names, the last one to be broken
    head = "".join(f"{n}\n" for n in wanted[:200]) + "# " + "x" * 32_768 + "\n"
    text = head + "".join(f"{n}\n" for n in wanted[200:])
    path.write_text(text, encoding="utf-8")
    backend = backend_with(count)
    manifest = backup_manifest(tmp_path, path)
    corrupted = False

    def corrupt_the_tail(_: Result) -> None:
        """On the first record, long before the reader gets there, break the last line."""
        nonlocal corrupted
        if not corrupted:
            with path.open("r+b") as handle:
                handle.seek(len(text) - NAME_LINE)
                handle.write(b"\xff\xfe")
            corrupted = True

    run = await run_job(manifest, backend=backend, on_result=corrupt_the_tail, sleep=no_sleep)

    assert run.exit_code == 1
    report = read_jsonl(run.report_folder / "report.jsonl")
    assert 0 < len(report) < count
    assert {r["outcome"] for r in report} <= {"fetched", "no_policy"}
    summary = json.loads((run.report_folder / "summary.json").read_text())
    assert "reading the buckets file" in summary["targets_error"]
    assert (summary["complete"], summary["listing_complete"]) == (False, False)
    assert run.backup_folder is not None
    backup_summary = json.loads((run.backup_folder / "summary.json").read_text())
    assert (backup_summary["complete"], backup_summary["listing_complete"]) == (False, False)
    journal = read_jsonl(run.report_folder / "journal.jsonl")
    assert not any(line.get("finished") for line in journal)

    path.write_text(text, encoding="utf-8")
    resumed: JobRun = await run_job(
        manifest, RunOptions(resume="latest"), backend=backend, sleep=no_sleep
    )

    assert (resumed.job_id, resumed.exit_code) == (run.job_id, 0)
    report = read_jsonl(run.report_folder / "report.jsonl")
    assert sorted(r["bucket"] for r in report) == wanted
    index = read_jsonl(run.backup_folder / "index.jsonl")
    assert sorted(e["bucket"] for e in index) == wanted
    backup_summary = json.loads((run.backup_folder / "summary.json").read_text())
    assert (backup_summary["complete"], backup_summary["missing"]) == (True, 0)


# -- pages that cannot be believed (contracts §14), any backend -----------------------------


class ScriptedPages(MemoryBackend):
    """A backend whose ListBuckets answers are given page by page, by the marker sent."""

    def __init__(self, pages: dict[str, BucketPage]) -> None:
        super().__init__(region=REGION)
        self.pages = pages
        self.markers: list[str] = []

    async def list_buckets_page(
        self, prefix: str, marker: str, max_keys: int, *, account: str = "default"
    ) -> BucketPage:
        self.markers.append(marker)
        return self.pages[marker]


def page(names_: list[str], next_marker: str | None) -> BucketPage:
    return BucketPage(tuple(BucketEntry(n, REGION) for n in names_), next_marker, None)


@pytest.mark.asyncio
async def test_a_next_marker_that_does_not_advance_is_retried_then_fails_the_listing() -> None:
    """A NextMarker equal to the marker sent: the page is asked for three times (the
    retry's attempts) and the listing fails naming page 2, after page 1's names."""
    backend = ScriptedPages({"": page(["a-1", "a-2"], "a-2"), "a-2": page(["a-3"], "a-2")})

    seen, error = await listed(Targets(discover=Discover()), backend)

    assert seen == ["a-1", "a-2"]
    assert error is not None
    assert "failed on page 2" in str(error)
    assert "does not come after the marker sent" in str(error)
    assert backend.markers == ["", "a-2", "a-2", "a-2"]


@pytest.mark.asyncio
async def test_a_name_not_after_the_greatest_listed_is_left_out() -> None:
    """Pages that repeat names already listed (a NextMarker one name early, a name out of
    order): each bucket comes out once, in name order."""
    backend = ScriptedPages(
        {"": page(["a-1", "a-2", "a-3"], "a-2"), "a-2": page(["a-3", "a-1", "a-4"], None)}
    )

    seen, error = await listed(Targets(discover=Discover()), backend)

    assert (seen, error) == (["a-1", "a-2", "a-3", "a-4"], None)
