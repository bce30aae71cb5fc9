"""The per-bucket steps on the memory backend (no HTTP): what each step reads, writes and
records, the snapshot before every write, and errors turned into the bucket's record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.backends.memory import Call, MemoryBackend
from osspolicy._internal.backup_writer import BackupWriter
from osspolicy._internal.baseline import load_baseline
from osspolicy._internal.deciders import (
    ApplyOptions,
    BackupBytes,
    Decider,
    apply_decider,
    delete_decider,
    restore_decider,
)
from osspolicy._internal.decision_steps import check_step, plan_step, write_step
from osspolicy._internal.errors import AccessDenied, ServerError
from osspolicy._internal.manifest import PolicySpec
from osspolicy._internal.operations import StepResult, backup_step, perform
from osspolicy._internal.results import Change, Outcome, Target
from osspolicy._internal.retry import RetryConfig, Tries

REGION = "cn-hangzhou"
SID = "deny-insecure"
BASELINE: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Sid": SID,
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


def own(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "team",
        "Effect": "Allow",
        "Principal": ["20214760404935"],
        "Action": ["oss:GetObject"],
        "Resource": [f"acs:oss:*:*:{bucket}/shared/*"],
    }


def rendered(bucket: str) -> dict[str, Any]:
    text = json.dumps(BASELINE["Statement"][0]).replace("${bucket}", bucket)
    statement: dict[str, Any] = json.loads(text)
    return statement


def body(*statements: dict[str, Any], indent: int | str | None = None) -> bytes:
    return json.dumps({"Version": "1", "Statement": list(statements)}, indent=indent).encode()


async def no_sleep(_delay: float) -> None:
    """Retries back off without waiting."""


def tries(attempts: int = 3) -> Tries:
    return Tries(RetryConfig(attempts=attempts), sleep=no_sleep)


def target(bucket: str) -> Target:
    return Target(bucket, REGION)


def apply_options(document: dict[str, Any] = BASELINE, **extra: Any) -> ApplyOptions:
    baseline = load_baseline(PolicySpec(document=document, mode=extra.pop("mode", "merge")))
    return ApplyOptions(baseline, **extra)


def ops(backend: MemoryBackend) -> list[tuple[str, str | None]]:
    return [(call.op, call.bucket) for call in backend.calls]


class RecordingSink:
    """A snapshot sink that records, in the backend's own call list, when it stored what:
    the order of `snapshot` and the write is then one list."""

    def __init__(self, backend: MemoryBackend, folder: Path) -> None:
        self.backend = backend
        self.folder = folder
        self.stored: dict[str, bytes | None] = {}

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
        self.backend.calls.append(Call("snapshot", bucket))
        self.stored[bucket] = body
        return None if body is None else str(self.folder / f"{bucket}.json")


# -- backup_step ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_backup_step_stores_the_exact_bytes_or_that_there_is_none(tmp_path: Path) -> None:
    """backup_step: a policy is `fetched` and stored byte for byte; no policy is
    `no_policy` with an index line and no file."""
    backend = MemoryBackend(region=REGION)
    pretty = body(own("with"), indent=3) + b"\r\n"
    backend.add_bucket("with", pretty)
    backend.add_bucket("without")
    folder = await BackupWriter.create(tmp_path / "b", job_id="b")
    step = backup_step(backend, folder)

    with_done = await step(target("with"), tries())
    without_done = await step(target("without"), tries())
    await folder.finish()

    assert (with_done.outcome, with_done.had_policy) == (Outcome.FETCHED, True)
    assert (without_done.outcome, without_done.had_policy) == (Outcome.NO_POLICY, False)
    assert (tmp_path / "b" / "policies" / "with.json").read_bytes() == pretty
    assert not (tmp_path / "b" / "policies" / "without.json").exists()
    index = [json.loads(x) for x in (tmp_path / "b" / "index.jsonl").read_bytes().splitlines()]
    assert [(e["bucket"], e["had_policy"]) for e in index] == [("with", True), ("without", False)]
    assert ops(backend) == [("get_policy", "with"), ("get_policy", "without")]


# -- write_step with each decider -----------------------------------------------------------


@pytest.mark.asyncio
async def test_apply_merge_keeps_other_statements_and_snapshots_before_the_put(
    tmp_path: Path,
) -> None:
    """apply (merge): the baseline is added next to the bucket's own statement, after the
    snapshot of the old bytes; the record says put, had_policy and where the snapshot is."""
    backend = MemoryBackend(region=REGION)
    old = body(own("b1"))
    backend.add_bucket("b1", old)
    sink = RecordingSink(backend, tmp_path)
    step = write_step(backend, apply_decider(backend, apply_options()), sink)

    done = await step(target("b1"), tries())

    assert (done.outcome, done.change, done.had_policy) == (Outcome.APPLIED, Change.PUT, True)
    assert done.snapshot == str(tmp_path / "b1.json")
    assert sink.stored == {"b1": old}
    new = json.loads(backend.buckets["b1"].policy or b"")
    assert new["Statement"] == [own("b1"), rendered("b1")]
    # a Deny is never public: no Block Public Access lookup, the snapshot before the PUT
    assert ops(backend) == [("get_policy", "b1"), ("snapshot", "b1"), ("put_policy", "b1")]


@pytest.mark.asyncio
async def test_apply_replace_drops_other_statements(tmp_path: Path) -> None:
    """apply (replace): the bucket ends with the baseline alone."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("b1", body(own("b1")))
    step = write_step(
        backend,
        apply_decider(backend, apply_options(mode="replace")),
        RecordingSink(backend, tmp_path),
    )

    done = await step(target("b1"), tries())

    assert (done.outcome, done.change) == (Outcome.APPLIED, Change.PUT)
    assert json.loads(backend.buckets["b1"].policy or b"")["Statement"] == [rendered("b1")]


@pytest.mark.asyncio
async def test_apply_of_an_equal_policy_is_unchanged_and_sends_no_write(tmp_path: Path) -> None:
    """A bucket already canonically equal to the merge (reordered, a string for a list) is
    `unchanged`: one read, no snapshot, no write."""
    backend = MemoryBackend(region=REGION)
    statement = rendered("b1")
    statement["Principal"] = "*"
    statement["Resource"] = list(reversed(statement["Resource"]))
    backend.add_bucket("b1", body(statement, own("b1"), indent=2))
    sink = RecordingSink(backend, tmp_path)
    step = write_step(backend, apply_decider(backend, apply_options()), sink)

    done = await step(target("b1"), tries())

    assert (done.outcome, done.change) == (Outcome.UNCHANGED, Change.NONE)
    assert ops(backend) == [("get_policy", "b1")]
    assert sink.stored == {}


@pytest.mark.asyncio
async def test_delete_removes_the_policy_after_its_snapshot_and_leaves_none_alone(
    tmp_path: Path,
) -> None:
    """delete: a policy is snapshotted then deleted (`deleted`); a bucket without one is
    `unchanged` with no write."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("has", body(own("has")))
    backend.add_bucket("none")
    step = write_step(backend, delete_decider(backend), RecordingSink(backend, tmp_path))

    has = await step(target("has"), tries())
    none = await step(target("none"), tries())

    assert (has.outcome, has.change, has.had_policy) == (Outcome.DELETED, Change.DELETE, True)
    assert (none.outcome, none.change, none.had_policy) == (Outcome.UNCHANGED, Change.NONE, False)
    assert backend.buckets["has"].policy is None
    assert ops(backend) == [
        ("get_policy", "has"),
        ("snapshot", "has"),
        ("delete_policy", "has"),
        ("get_policy", "none"),
    ]


def backed_up(policies: dict[str, bytes | None]) -> BackupBytes:
    async def read(bucket: str) -> bytes | None:
        return policies[bucket]

    return read


@pytest.mark.asyncio
async def test_restore_puts_back_the_exact_bytes_deletes_and_leaves_byte_equal_alone(
    tmp_path: Path,
) -> None:
    """restore: the backed-up bytes go back exactly (PUT), a bucket that had none loses
    its policy (DELETE), a byte-equal one is `unchanged`, and a canonically equal one
    with other bytes is still written (restore compares bytes)."""
    backend = MemoryBackend(region=REGION)
    exact = body(own("put"), indent="\t")
    backend.add_bucket("put", body(rendered("put")))
    backend.add_bucket("gone", body(own("gone")))
    backend.add_bucket("same", exact)
    backend.add_bucket("respaced", body(own("respaced")))
    wanted = {
        "put": exact,
        "gone": None,
        "same": exact,
        "respaced": body(own("respaced"), indent=1),
    }
    step = write_step(
        backend, restore_decider(backend, backed_up(wanted)), RecordingSink(backend, tmp_path)
    )

    done = {name: await step(target(name), tries()) for name in wanted}

    assert {n: (d.outcome, d.change) for n, d in done.items()} == {
        "put": (Outcome.APPLIED, Change.PUT),
        "gone": (Outcome.DELETED, Change.DELETE),
        "same": (Outcome.UNCHANGED, Change.NONE),
        "respaced": (Outcome.APPLIED, Change.PUT),
    }
    assert {n: backend.buckets[n].policy for n in wanted} == wanted


# -- plan_step and check_step ---------------------------------------------------------------


async def decided(decide: Decider, backend: MemoryBackend, name: str, step: str) -> StepResult:
    run = plan_step(backend, decide) if step == "plan" else check_step(decide)
    return await run(target(name), tries())


@pytest.mark.asyncio
async def test_plan_step_plans_a_change_with_its_diff_and_sends_no_write() -> None:
    """plan_step: a bucket that needs the baseline is `planned` (put + diff), an equal one
    `unchanged` without diff; only reads are sent."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("needs", body(own("needs")))
    backend.add_bucket("fine", body(own("fine"), rendered("fine")))
    decide = apply_decider(backend, apply_options())

    needs = await decided(decide, backend, "needs", "plan")
    fine = await decided(decide, backend, "fine", "plan")

    assert (needs.outcome, needs.change, needs.had_policy) == (Outcome.PLANNED, Change.PUT, True)
    assert needs.diff is not None
    assert SID in needs.diff
    assert (fine.outcome, fine.change, fine.diff) == (Outcome.UNCHANGED, Change.NONE, None)
    assert {op for op, _ in ops(backend)} == {"get_policy"}


@pytest.mark.asyncio
async def test_plan_step_still_plans_a_public_grant_but_says_it_would_be_refused() -> None:
    """A public grant on a bucket with Block Public Access on is `planned`, with the
    service's refusal in error_message."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("open")
    done = await decided(apply_decider(backend, apply_options(PUBLIC)), backend, "open", "plan")

    assert (done.outcome, done.change, done.had_policy) == (Outcome.PLANNED, Change.PUT, False)
    assert done.error_message is not None
    assert done.error_message.startswith("would be refused: public grant (public-read)")


@pytest.mark.asyncio
async def test_check_step_is_compliant_or_drifted_with_change_and_diff() -> None:
    """check_step: equal is `compliant`; a missing policy is `drifted` with change put and
    a diff; a restore check of canonically equal but other bytes is `drifted` too."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("ok", body(rendered("ok")))
    backend.add_bucket("gone")
    backend.add_bucket("bytes", body(own("bytes")))
    apply = apply_decider(backend, apply_options())
    restore = restore_decider(backend, backed_up({"bytes": body(own("bytes"), indent=2)}))

    ok = await decided(apply, backend, "ok", "check")
    gone = await decided(apply, backend, "gone", "check")
    by_bytes = await decided(restore, backend, "bytes", "check")

    assert (ok.outcome, ok.change, ok.diff) == (Outcome.COMPLIANT, Change.NONE, None)
    assert (gone.outcome, gone.change, gone.had_policy) == (Outcome.DRIFTED, Change.PUT, False)
    assert gone.diff
    assert (by_bytes.outcome, by_bytes.change) == (Outcome.DRIFTED, Change.PUT)
    assert by_bytes.diff  # the canonical texts are equal: the diff is of the bytes
    assert {op for op, _ in ops(backend)} == {"get_policy"}


# -- blocked_public ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_public_grant_under_block_public_access_is_blocked_before_any_write(
    tmp_path: Path,
) -> None:
    """write_step: a public grant where Block Public Access is on is `blocked_public`
    (BlockedPublic), with no snapshot and no write; where it is off, it is applied."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("locked")
    backend.add_bucket("open", block_public_access=False)
    sink = RecordingSink(backend, tmp_path)
    step = write_step(backend, apply_decider(backend, apply_options(PUBLIC)), sink)

    locked = await step(target("locked"), tries())
    opened = await step(target("open"), tries())

    assert (locked.outcome, locked.error_code) == (Outcome.BLOCKED_PUBLIC, "BlockedPublic")
    assert locked.error_message is not None
    assert "allow_public" in locked.error_message
    assert backend.buckets["locked"].policy is None
    assert opened.outcome is Outcome.APPLIED
    assert ("snapshot", "locked") not in ops(backend)
    assert ("put_policy", "locked") not in ops(backend)


@pytest.mark.asyncio
async def test_allow_public_skips_the_block_public_access_lookup(tmp_path: Path) -> None:
    """With allow_public the step never asks for Block Public Access and sends the PUT
    (the service, not us, then answers)."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("locked")
    decide = apply_decider(backend, apply_options(PUBLIC, allow_public=True))

    done = await write_step(backend, decide, RecordingSink(backend, tmp_path))(
        target("locked"), tries()
    )

    assert done.outcome is Outcome.APPLIED
    assert ops(backend) == [
        ("get_policy", "locked"),
        ("snapshot", "locked"),
        ("put_policy", "locked"),
    ]


# -- perform: errors become records --------------------------------------------------------


@pytest.mark.asyncio
async def test_perform_turns_a_permanent_error_into_a_failed_record_after_one_try(
    tmp_path: Path,
) -> None:
    """A permanent error (AccessDenied) is the bucket's `failed` record with its code,
    message and request id, after exactly one attempt; nothing escapes."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("denied", body(own("denied")))
    backend.fail_next("denied", AccessDenied("no", request_id="req-1"), times=5)
    step = write_step(backend, delete_decider(backend), RecordingSink(backend, tmp_path))

    result = await perform("delete", target("denied"), step, tries())

    assert (result.outcome, result.error_code, result.attempts) == (
        Outcome.FAILED,
        "AccessDenied",
        1,
    )
    assert (result.error_message, result.request_id) == ("no", "req-1")
    assert (result.bucket, result.region, result.action) == ("denied", REGION, "delete")
    assert backend.buckets["denied"].policy is not None


@pytest.mark.asyncio
async def test_perform_retries_transient_errors_and_counts_every_attempt(tmp_path: Path) -> None:
    """Two 5xx then success: the record is a success with attempts 3; three 5xx with
    three attempts allowed: `failed` with the last error's code, attempts 3."""
    backend = MemoryBackend(region=REGION)
    backend.add_bucket("flaky", body(own("flaky")))
    backend.add_bucket("down", body(own("down")))
    backend.fail_next("flaky", ServerError("oops"), times=2)
    backend.fail_next("down", ServerError("oops"), times=3)
    folder = await BackupWriter.create(tmp_path / "b", job_id="b")
    step = backup_step(backend, folder)

    flaky = await perform("backup", target("flaky"), step, tries(3))
    down = await perform("backup", target("down"), step, tries(3))

    assert (flaky.outcome, flaky.attempts) == (Outcome.FETCHED, 3)
    assert (down.outcome, down.attempts, down.error_code) == (Outcome.FAILED, 3, "InternalError")
