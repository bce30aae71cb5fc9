"""The safety of writing jobs (contracts §11) on the memory backend: the canary, the
saved plan's guard, the failure threshold and the engine's draining stop.

The end-to-end proofs through the real SDK and the emulator are in
tests/test_safety_e2e.py; these pin each part's own rules, fast.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from osspolicy._internal.backends import PolicyRead, Reply
from osspolicy._internal.backends.memory import MemoryBackend
from osspolicy._internal.deciders import Decision
from osspolicy._internal.engine import Engine
from osspolicy._internal.errors import AccessDenied, ConfigError
from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import Manifest, parse_manifest
from osspolicy._internal.results import Change, Outcome, Result, Target
from osspolicy._internal.safety import RATE_AFTER, PlannedChange, SavedPlan, Stopper, Threshold

pytestmark = pytest.mark.asyncio

SID = "safety-baseline"
BASELINE: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Sid": SID,
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:PutObject"],
            "Resource": ["acs:oss:*:*:${bucket}/locked/*"],
        }
    ],
}
OTHER = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {
                "Sid": "someone-else",
                "Effect": "Allow",
                "Principal": ["20214760404935"],
                "Action": ["oss:GetObject"],
                "Resource": ["acs:oss:*:*:elsewhere/*"],
            }
        ],
    }
).encode()


async def no_sleep(_delay: float) -> None:
    """Retries back off without waiting."""


def names(count: int) -> list[str]:
    return [f"safe-{i:04d}" for i in range(count)]


def manifest(tmp_path: Path, buckets: Sequence[str], **extra: Any) -> Manifest:
    """An apply (merge) of BASELINE over `buckets`, files under `tmp_path`."""
    data: dict[str, Any] = {
        "action": "apply",
        "targets": {"buckets": list(buckets)},
        "connection": {"region": "cn-hangzhou", "endpoint": "http://127.0.0.1:9"},
        "policy": {"document": BASELINE},
        "backup_dir": "backups",
        "report_dir": "reports",
        **extra,
    }
    return parse_manifest(data, source="apply.yaml", base=tmp_path)


def backend_with(buckets: Sequence[str], policy: bytes | None = None) -> MemoryBackend:
    backend = MemoryBackend()
    for name in buckets:
        backend.add_bucket(name, policy)
    return backend


async def run(
    job: Manifest, backend: MemoryBackend, options: RunOptions | None = None
) -> tuple[JobRun, list[Result]]:
    """Run the job on `backend` (a 5 s bound: a deadlock fails, it does not hang)."""
    results: list[Result] = []
    with anyio.fail_after(5):
        done = await run_job(
            job, options or RunOptions(), backend=backend, on_result=results.append, sleep=no_sleep
        )
    return done, results


def by_bucket(results: Sequence[Result]) -> dict[str, Result]:
    found = {result.bucket: result for result in results}
    assert len(found) == len(results), "a bucket was recorded twice"
    return found


def ops(backend: MemoryBackend, op: str) -> list[str]:
    return [call.bucket or "" for call in backend.calls if call.op == op]


class RefusingPuts(MemoryBackend):
    """Every PutBucketPolicy of the buckets in `refused` is AccessDenied (all if None)."""

    def __init__(self, refused: set[str] | None = None) -> None:
        super().__init__()
        self.refused = refused

    async def put_policy(
        self, bucket: str, body: bytes, region: str | None = None, *, account: str = "default"
    ) -> Reply:
        if self.refused is None or bucket in self.refused:
            self._enter("put_policy", bucket, account)
            raise AccessDenied("You have no right to access this object.")
        return await super().put_policy(bucket, body, region, account=account)


class RewritingPuts(MemoryBackend):
    """Stores another policy than the one sent (a service, or a proxy, that rewrites)."""

    async def put_policy(
        self, bucket: str, body: bytes, region: str | None = None, *, account: str = "default"
    ) -> Reply:
        return await super().put_policy(bucket, OTHER, region, account=account)


# -- the canary ---------------------------------------------------------------------------


async def test_the_canary_writes_and_reads_back_alone_before_any_other_write(
    tmp_path: Path,
) -> None:
    """The first 3 writes are the canary (records `canary: true`): each is read back, and
    no other bucket's write is sent before all three are read back; then the job ends."""
    buckets = names(40)
    backend = backend_with(buckets)

    done, results = await run(manifest(tmp_path, buckets, canary=3, concurrency=8), backend)

    assert done.exit_code == 0
    records = by_bucket(results)
    canaries = {name for name, record in records.items() if record.canary}
    assert len(canaries) == 3
    assert {record.outcome for record in records.values()} == {Outcome.APPLIED}
    calls = [(call.op, call.bucket) for call in backend.calls]
    first_other = min(
        i for i, (op, bucket) in enumerate(calls) if op == "put_policy" and bucket not in canaries
    )
    for bucket in canaries:
        reads = [i for i, call in enumerate(calls) if call == ("get_policy", bucket)]
        assert len(reads) == 2, f"{bucket}: read, then read back"
        assert reads[1] < first_other, f"{bucket} was read back after another write"


async def test_a_failed_canary_write_stops_the_job_with_no_other_write(tmp_path: Path) -> None:
    """When the service refuses the canary's writes, no write reaches a bucket beyond the
    first 3, they are `failed` with `canary: true`, every other bucket is `skipped` with
    note `canary`, and the job exits 1 saying why."""
    buckets = names(60)
    backend = RefusingPuts()
    for name in buckets:
        backend.add_bucket(name)

    done, results = await run(manifest(tmp_path, buckets, canary=3, concurrency=8), backend)

    assert done.exit_code == 1
    written = set(ops(backend, "put_policy"))
    assert 1 <= len(written) <= 3
    records = by_bucket(results)
    assert set(records) == set(buckets)
    for name, record in records.items():
        if name in written:
            assert (record.outcome, record.canary) == (Outcome.FAILED, True)
        else:
            assert (record.outcome, record.note) == (Outcome.SKIPPED, "canary"), record
            assert not record.canary
    assert done.summary.extra["stopped"].startswith("canary: the canary failed on ")


async def test_one_failed_canary_among_good_ones_still_stops_the_job(tmp_path: Path) -> None:
    """A single refused canary write is enough: the other canaries may succeed, but no
    write goes beyond the canary's buckets."""
    buckets = names(30)
    backend = RefusingPuts(refused={buckets[0]})
    for name in buckets:
        backend.add_bucket(name)

    done, results = await run(manifest(tmp_path, buckets, canary=3, concurrency=1), backend)

    assert done.exit_code == 1
    assert ops(backend, "put_policy") == [buckets[0]]  # one worker: the first stops it
    records = by_bucket(results)
    assert records[buckets[0]].outcome is Outcome.FAILED
    assert all(records[name].note == "canary" for name in buckets[1:])


async def test_a_canary_that_reads_back_other_than_sent_is_a_canary_mismatch(
    tmp_path: Path,
) -> None:
    """A canary write the service accepted but that reads back as another policy is
    `failed` with `error_code: CanaryMismatch`, and the job stops there."""
    buckets = names(20)
    backend = RewritingPuts()
    for name in buckets:
        backend.add_bucket(name)

    done, results = await run(manifest(tmp_path, buckets, canary=2, concurrency=4), backend)

    assert done.exit_code == 1
    records = by_bucket(results)
    canaries = [record for record in records.values() if record.canary]
    assert 1 <= len(canaries) <= 2
    assert all(record.outcome is Outcome.FAILED for record in canaries)
    assert {record.error_code for record in canaries} == {"CanaryMismatch"}
    assert len(ops(backend, "put_policy")) == len(canaries)
    others = [record for record in records.values() if not record.canary]
    assert {(record.outcome, record.note) for record in others} == {(Outcome.SKIPPED, "canary")}


async def test_a_canary_larger_than_the_writes_never_deadlocks(tmp_path: Path) -> None:
    """With fewer writes than the canary's size (the rest unchanged), every write is a
    canary and the job ends (within the bound) with exit 0."""
    buckets = names(8)
    backend = backend_with(buckets[:3])
    for name in buckets[3:]:  # already what the job wants: no write
        backend.add_bucket(name, json.dumps(BASELINE).replace("${bucket}", name).encode())

    done, results = await run(manifest(tmp_path, buckets, canary=5, concurrency=4), backend)

    assert done.exit_code == 0
    records = by_bucket(results)
    assert {n for n, r in records.items() if r.outcome is Outcome.APPLIED} == set(buckets[:3])
    assert {n for n, r in records.items() if r.canary} == set(buckets[:3])
    assert {records[n].outcome for n in buckets[3:]} == {Outcome.UNCHANGED}


# -- the saved plan and its guard ---------------------------------------------------------


async def plan(job: Manifest, backend: MemoryBackend) -> str:
    done, _ = await run(job, backend, RunOptions(dry_run=True))
    return done.job_id


async def test_a_bucket_changed_since_the_plan_is_a_conflict_and_is_not_written(
    tmp_path: Path,
) -> None:
    """Running a saved plan writes what it showed, except a bucket whose policy is no
    longer the one the plan read: `conflict` (PlanStale), its new policy left alone."""
    buckets = names(10)
    backend = backend_with(buckets)
    job = manifest(tmp_path, buckets)
    plan_id = await plan(job, backend)
    backend.buckets[buckets[4]].policy = OTHER  # someone else's write since the plan
    backend.calls.clear()

    done, results = await run(job, backend, RunOptions(plan=plan_id))

    assert done.exit_code == 1
    records = by_bucket(results)
    assert records[buckets[4]].outcome is Outcome.CONFLICT
    assert records[buckets[4]].error_code == "PlanStale"
    assert backend.buckets[buckets[4]].policy == OTHER
    assert buckets[4] not in ops(backend, "put_policy")
    assert {records[n].outcome for n in buckets if n != buckets[4]} == {Outcome.APPLIED}
    assert done.summary.extra["plan"] == plan_id


async def test_a_bucket_the_plan_could_not_read_fails_without_a_request(
    tmp_path: Path,
) -> None:
    """A bucket the plan failed to read showed nothing: the run records it `failed`
    (`NotPlanned`, note `plan`: nobody asked to leave it out, so exit 1) and sends it no
    request at all."""
    buckets = names(6)
    backend = backend_with(buckets)
    backend.fail_next(buckets[2], AccessDenied("denied"))
    job = manifest(tmp_path, buckets)
    plan_id = await plan(job, backend)
    backend.calls.clear()

    done, results = await run(job, backend, RunOptions(plan=plan_id))

    records = by_bucket(results)
    unread = records[buckets[2]]
    assert (unread.outcome, unread.error_code, unread.note) == (
        Outcome.FAILED,
        "NotPlanned",
        "plan",
    )
    assert buckets[2] not in {call.bucket for call in backend.calls}
    assert done.exit_code == 1
    assert {records[n].outcome for n in buckets if n != buckets[2]} == {Outcome.APPLIED}


def decision(body: bytes | None, change: Change) -> Decision:
    return Decision(PolicyRead(body, "req-1"), change, b"{}" if change is Change.PUT else None)


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def test_the_guard_admits_only_the_read_and_the_change_the_plan_showed() -> None:
    """The guard lets a write go only when both the sha256 read and the change are the
    plan's; another policy read, another change, or a bucket the plan did not show is
    a conflict."""
    target = Target("safe-0001", "cn-hangzhou")
    shown = {target.bucket: PlannedChange(target, Outcome.PLANNED, Change.PUT, sha(OTHER))}
    saved = SavedPlan("20260101T000000Z-plan-abcd", shown)

    assert await saved.admit(target, decision(OTHER, Change.PUT)) is None
    for read, change in ((b"{}", Change.PUT), (None, Change.PUT), (OTHER, Change.DELETE)):
        refused = await saved.admit(target, decision(read, change))
        assert refused is not None
        assert (refused.outcome, refused.error_code) == (Outcome.CONFLICT, "PlanStale")
    unknown = await saved.admit(Target("safe-0002"), decision(None, Change.PUT))
    assert unknown is not None
    assert unknown.outcome is Outcome.CONFLICT


async def test_a_plan_of_another_manifest_or_an_unfinished_one_is_refused(
    tmp_path: Path,
) -> None:
    """`--plan` refuses (ConfigError, exit 2) a plan of another manifest, a job that is
    not a plan, and a plan without its summary, before any request."""
    buckets = names(4)
    backend = backend_with(buckets)
    job = manifest(tmp_path, buckets)
    plan_id = await plan(job, backend)
    other = manifest(tmp_path, buckets, policy={"document": BASELINE, "mode": "replace"})
    applied, _ = await run(job, backend)
    backend.calls.clear()

    for wanted, options, message in (
        (other, RunOptions(plan=plan_id), "another manifest"),
        (job, RunOptions(plan=applied.job_id), "no plan"),
        (job, RunOptions(plan="20260101T000000Z-plan-0000"), "no plan"),
    ):
        with pytest.raises(ConfigError, match=message):
            await run(wanted, backend, options)
    (tmp_path / "reports" / plan_id / "summary.json").unlink()
    with pytest.raises(ConfigError, match="did not finish"):
        await run(job, backend, RunOptions(plan=plan_id))
    assert backend.calls == []


# -- the failure threshold ----------------------------------------------------------------


class RecordingEngine(Engine[Target, Result]):
    """An engine that only records the stops it is asked for."""

    def __init__(self) -> None:
        super().__init__(1)
        self.stops: list[bool] = []

    def stop(self, *, drain: bool = False) -> None:
        self.stops.append(drain)


def result(bucket: int, outcome: Outcome) -> Result:
    return Result(f"safe-{bucket:04d}", "cn-hangzhou", "apply", outcome)


async def feed(threshold: Threshold, outcomes: Sequence[Outcome]) -> None:
    sink = threshold.sink(lambda _: anyio.lowlevel.checkpoint())
    for i, outcome in enumerate(outcomes):
        await sink([result(i, outcome)])


async def test_the_threshold_stops_when_failures_reach_max_failures() -> None:
    """Four failures leave the job running; the fifth stops it (draining), note
    `threshold`, with a reason naming max_failures; skips and successes never count."""
    engine = RecordingEngine()
    stopper = Stopper(engine)
    threshold = Threshold(5, 0.0, stopper)
    mixed = [Outcome.FAILED, Outcome.APPLIED, Outcome.SKIPPED, Outcome.CONFLICT, Outcome.UNCHANGED]

    await feed(threshold, [*mixed, Outcome.BLOCKED_PUBLIC, Outcome.SKIPPED, Outcome.FAILED])
    assert engine.stops == []
    assert threshold.failures == 4
    await feed(threshold, [Outcome.FAILED])

    assert engine.stops == [True]
    assert stopper.note == "threshold"
    assert stopper.reason == "5 failures reached max_failures (5)"


async def test_the_failure_rate_counts_only_after_rate_after_finished_targets() -> None:
    """A rate of failures is judged only once RATE_AFTER targets finished: all of the
    first RATE_AFTER - 1 failing stops nothing; at RATE_AFTER the share (1.0) stops it."""
    engine = RecordingEngine()
    stopper = Stopper(engine)
    threshold = Threshold(0, 0.5, stopper)

    await feed(threshold, [Outcome.FAILED] * (RATE_AFTER - 1) + [Outcome.SKIPPED] * 50)
    assert engine.stops == []
    await feed(threshold, [Outcome.FAILED])

    assert engine.stops == [True]
    assert stopper.reason is not None
    assert "max_failure_rate (0.5)" in stopper.reason


async def test_a_rate_below_the_limit_never_stops() -> None:
    """Failures at a share below max_failure_rate let every target run."""
    engine = RecordingEngine()
    threshold = Threshold(0, 0.3, Stopper(engine))
    await feed(threshold, [Outcome.APPLIED, Outcome.APPLIED, Outcome.APPLIED, Outcome.FAILED] * 50)
    assert threshold.failures == 50
    assert engine.stops == []


async def test_the_first_stop_reason_is_the_one_kept() -> None:
    """A stopper stops the engine once and keeps the first note and reason."""
    engine = RecordingEngine()
    stopper = Stopper(engine)
    stopper.stop("canary", "first")
    stopper.stop("threshold", "second")
    assert (stopper.note, stopper.reason, engine.stops) == ("canary", "first", [True])
    assert stopper.skip_reason() == "not attempted: first"


async def test_a_job_stopped_by_its_threshold_skips_the_rest_and_its_resume_counts_anew(
    tmp_path: Path,
) -> None:
    """Every bucket has one record (done, failed, or skipped note `threshold`), few
    failures are attempted past the limit; a resume counts its own failures from zero
    (it runs until 3 new ones), and once the cause is gone the resume finishes."""
    buckets = names(100)
    failing = set(buckets[::5])
    backend = RefusingPuts(refused=failing)
    for name in buckets:
        backend.add_bucket(name)
    job = manifest(tmp_path, buckets, max_failures=3, concurrency=2)

    first, results = await run(job, backend)

    assert first.exit_code == 1
    records = by_bucket(results)
    assert set(records) == set(buckets)
    failed = [name for name, r in records.items() if r.outcome is Outcome.FAILED]
    assert 3 <= len(failed) <= 3 + 2 * 2  # the limit, plus those in flight or buffered
    skipped = {name for name, r in records.items() if r.outcome is Outcome.SKIPPED}
    assert {records[name].note for name in skipped} == {"threshold"}
    assert len(skipped) > 50
    assert first.summary.extra["stopped"].startswith("threshold: ")

    again, results = await run(job, backend, RunOptions(resume="latest"))
    assert again.job_id == first.job_id
    assert again.exit_code == 1
    assert sum(r.outcome is Outcome.FAILED for r in results) >= 3

    backend.refused = set()
    last, results = await run(job, backend, RunOptions(resume="latest"))
    assert last.exit_code == 0
    assert last.summary.counts[Outcome.APPLIED] == len(buckets)


# -- the engine's draining stop -----------------------------------------------------------


async def test_a_draining_stop_gives_every_remaining_target_a_skip_record() -> None:
    """`stop(drain=True)` keeps pulling: every target, however many remain, gets one
    record (skip for those not started); a plain `stop()` would leave them unpulled."""
    engine = Engine[int, tuple[str, int]](3, buffer=2)
    results: list[tuple[str, int]] = []

    async def targets() -> AsyncIterator[int]:
        for i in range(1000):
            yield i

    async def work(item: int) -> tuple[str, int]:
        if item == 5:
            engine.stop(drain=True)
        await anyio.lowlevel.checkpoint()
        return ("done", item)

    async def sink(batch: Sequence[tuple[str, int]]) -> None:
        results.extend(batch)

    await engine.run(targets(), work, sink, skip=lambda t: ("skipped", t))

    assert sorted(i for _, i in results) == list(range(1000))
    done = [i for kind, i in results if kind == "done"]
    assert 5 in done
    assert len(done) <= 5 + 1 + 3  # those started before the stop, and those in flight
