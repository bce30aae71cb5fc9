"""Nothing unexpected (contracts §14), on the memory backend: any exception in one
target's step is that target's `failed` record under its class name, a canary member
that raises is still settled, and `run_job` never raises an ExceptionGroup: a job-level
failure is one `JobFailed` naming the OS error, the path and the job."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from osspolicy._internal import cli
from osspolicy._internal.backends import PolicyRead, Reply
from osspolicy._internal.backends.memory import MemoryBackend
from osspolicy._internal.errors import AccessDenied, ConfigError, JobFailed
from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import Manifest, parse_manifest
from osspolicy._internal.operations import StepResult, perform
from osspolicy._internal.results import Outcome, Result, Target
from osspolicy._internal.retry import RetryConfig, Tries

REGION = "cn-hangzhou"
NAMES = [f"odd-{i:02d}" for i in range(8)]
BROKEN = "odd-03"
POLICY = b'{"Version":"1","Statement":[]}'
BASELINE = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "odd-baseline",
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:PutObject"],
            "Resource": ["acs:oss:*:*:${bucket}/locked/*"],
        }
    ],
}


async def no_sleep(_delay: float) -> None:
    """Retries back off without waiting."""


class BuggyBackend(MemoryBackend):
    """A memory backend whose GetBucketPolicy of one bucket raises what no backend
    should (a bug, a library's own exception)."""

    async def get_policy(
        self, bucket: str, region: str | None = None, *, account: str = "default"
    ) -> PolicyRead:
        if bucket == BROKEN:
            raise RuntimeError(f"boom in {bucket}: see http://user:pw@host/x?token=t0k3n")
        return await super().get_policy(bucket, region, account=account)


class BuggyWriter(MemoryBackend):
    """A memory backend whose PutBucketPolicy of one bucket raises a RuntimeError."""

    async def put_policy(
        self, bucket: str, body: bytes, region: str | None = None, *, account: str = "default"
    ) -> Reply:
        if bucket == BROKEN:
            raise RuntimeError("boom")
        return await super().put_policy(bucket, body, region, account=account)


def backend() -> BuggyBackend:
    memory = BuggyBackend(region=REGION)
    for name in NAMES:
        memory.add_bucket(name, POLICY)
    return memory


def manifest(tmp_path: Path, action: str = "backup", **extra: Any) -> Manifest:
    data: dict[str, Any] = {
        "action": action,
        "connection": {"region": REGION},
        "concurrency": 4,
        "targets": {"discover": {"prefix": "odd-"}},
        "backup_dir": "backups",
        "report_dir": "reports",
        **extra,
    }
    return parse_manifest(data, source=f"{action}.yaml", base=tmp_path)


def records(job: JobRun) -> dict[str, dict[str, Any]]:
    lines = (job.report_folder / "report.jsonl").read_bytes().splitlines()
    return {r["bucket"]: r for r in map(json.loads, lines)}


@pytest.mark.asyncio
async def test_an_unexpected_exception_in_a_step_is_that_buckets_failed_record(
    tmp_path: Path,
) -> None:
    """A RuntimeError in one bucket's step is its `failed` record, `error_code` the
    class name and the URL in the message redacted; every other bucket is backed up."""
    job = await run_job(manifest(tmp_path), backend=backend(), sleep=no_sleep)
    found = records(job)
    assert set(found) == set(NAMES)
    broken = found.pop(BROKEN)
    assert (broken["outcome"], broken["error_code"]) == ("failed", "RuntimeError")
    assert broken["error_message"].startswith("boom in odd-03")
    assert "t0k3n" not in broken["error_message"]
    assert "pw" not in broken["error_message"]
    assert {r["outcome"] for r in found.values()} == {"fetched"}
    assert job.exit_code == 1


@pytest.mark.asyncio
async def test_a_canary_member_that_raises_is_settled_and_stops_the_rest(
    tmp_path: Path,
) -> None:
    """A canary write whose step raises an unexpected exception fails that bucket (its
    class name) and settles the canary: the others are skipped, none waits forever."""
    m = manifest(tmp_path, "apply", policy={"document": BASELINE}, canary=1, concurrency=1)
    memory = BuggyWriter(region=REGION)
    for name in [BROKEN, *NAMES[4:]]:
        memory.add_bucket(name, POLICY)
    with anyio.fail_after(30):  # a canary left unsettled would wait forever
        job = await run_job(m, RunOptions(), backend=memory, sleep=no_sleep)
    found = records(job)
    assert (found[BROKEN]["outcome"], found[BROKEN]["error_code"]) == ("failed", "RuntimeError")
    others = [r for name, r in found.items() if name != BROKEN]
    assert {(r["outcome"], r.get("note")) for r in others} == {("skipped", "canary")}


@pytest.mark.asyncio
async def test_a_writer_that_fails_on_the_disk_is_one_job_failed_naming_the_file(
    tmp_path: Path,
) -> None:
    """An OS error while the job's results are written (here: the caller's result
    callback, after report and journal) ends `run_job` with JobFailed naming the errno
    and the path and carrying the job's id, never an ExceptionGroup."""

    def full_disk(_result: Result) -> None:
        raise OSError(errno.EFBIG, "File too large", "/reports/x/report.jsonl")

    with pytest.raises(JobFailed) as caught:
        await run_job(manifest(tmp_path), backend=backend(), sleep=no_sleep, on_result=full_disk)
    # a second writer may have failed the same way meanwhile: "(and 1 more error)"
    assert str(caught.value).startswith(
        "the job failed: File too large (EFBIG): /reports/x/report.jsonl"
    )
    job_id = next((tmp_path / "reports").iterdir()).name
    assert caught.value.job_id == job_id
    assert caught.value.report_folder == str(tmp_path / "reports" / job_id)


@pytest.mark.asyncio
async def test_a_bug_in_a_writer_is_one_job_failed_naming_its_class(tmp_path: Path) -> None:
    """A non-OS exception from the job's writing side once its folders are open is a
    JobFailed naming the class and message (so the job can still be resumed)."""

    def buggy(_result: Result) -> None:
        raise KeyError("oops")

    with pytest.raises(JobFailed, match=r"^the job failed: KeyError: 'oops'"):
        await run_job(manifest(tmp_path), backend=backend(), sleep=no_sleep, on_result=buggy)


def test_a_failure_standing_for_several_names_the_first_and_the_count() -> None:
    """JobFailed of a task group's several errors names the first and how many more."""
    first = OSError(errno.ENOENT, "No such file or directory", "/gone/summary.json")
    failed = JobFailed.of(first, job_id="j", errors=3)
    assert str(failed) == (
        "the job failed: No such file or directory (ENOENT): /gone/summary.json (and 2 more errors)"
    )


def test_an_append_refused_after_an_earlier_failure_names_the_first_cause() -> None:
    """`an earlier append to … failed` is named by the OS error that caused it."""
    cause = OSError(errno.EFBIG, "File too large", "/r/journal.jsonl")
    wrapper = OSError("an earlier append to /r/journal.jsonl failed")
    wrapper.__cause__ = cause
    failed = JobFailed.of(wrapper)
    assert str(failed) == "the job failed: File too large (EFBIG): /r/journal.jsonl"


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (ConfigError("bad input", place="job.yaml"), 2, "job.yaml: bad input"),
        (KeyError("k"), 1, "unexpected KeyError: 'k' (rerun with --debug)"),
    ],
)
def test_the_cli_never_prints_an_exception_group(
    capsys: pytest.CaptureFixture[str], error: Exception, code: int, line: str
) -> None:
    """An ExceptionGroup reaching the CLI is printed as its first error, with that
    error's exit code: never 'unexpected ExceptionGroup'."""
    group = ExceptionGroup("unhandled errors in a TaskGroup", [ExceptionGroup("inner", [error])])
    assert cli._unexpected(group) == code
    assert capsys.readouterr().err == f"osspolicy: error: {line}\n"


@pytest.mark.asyncio
async def test_a_step_whose_own_task_group_fails_is_named_by_its_first_error() -> None:
    """A step that raises an ExceptionGroup (its own task group failed) is recorded as
    the group's first error: a service error keeps its code, never 'ExceptionGroup'."""

    async def step(_target: Target, _tries: Tries) -> StepResult:
        raise ExceptionGroup("unhandled errors", [AccessDenied("no", request_id="r1"), KeyError()])

    result = await perform("backup", Target("odd-00", REGION), step, Tries(RetryConfig()))
    assert (result.outcome, result.error_code, result.request_id) == (
        Outcome.FAILED,
        "AccessDenied",
        "r1",
    )
