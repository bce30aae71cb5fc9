"""Rollback keeps later changes (contracts §15) end to end: the real SDK over HTTP
against the emulator, on both engines.

An apply of the baseline to 30 buckets, then changes by hand through a plain SDK
client (three policies edited, one deleted): rolling the apply back puts back every
bucket still as the apply left it and keeps the four, `conflict`, unless `--force`.
Unit tests of the guard are in tests/test_rollback.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
import anyio
import pytest

from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import load_manifest
from osspolicy._internal.rollback import rollback_manifest
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    apply_manifest,
    bucket_names,
    current_policies,
    make_emulator,
    no_sleep,
    policy_writes,
    read_jsonl,
    records_by_bucket,
    run_cli,
    sdk_client,
    seed_mix,
    write_manifest,
)
from .test_safety_e2e import PROMPT, on_terminal

#: every job of this module runs once on each engine
pytestmark = pytest.mark.usefixtures("on_each_engine")

NAMES = bucket_names(30)


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with make_emulator() as emulator:
        monkeypatch.setenv("OSS_ACCESS_KEY_ID", emulator.access_key_id)
        monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emulator.access_key_secret)
        yield emulator


def by_hand(bucket: str) -> bytes:
    """A policy someone puts on `bucket` by hand after the apply."""
    statement = {
        "Sid": "edited-by-hand",
        "Effect": "Allow",
        "Principal": ["20214760404935"],
        "Action": ["oss:GetObject"],
        "Resource": [f"acs:oss:*:*:{bucket}/by-hand/*"],
    }
    return json.dumps({"Version": "1", "Statement": [statement]}, indent=1).encode()


def in_process(manifest: Any, options: RunOptions) -> JobRun:
    return anyio.run(partial(run_job, manifest, options, sleep=no_sleep))


class Applied:
    """The apply of the baseline, and the buckets changed by hand after it."""

    def __init__(self, emu: Emulator, folder: Path) -> None:
        self.originals = seed_mix(emu, NAMES)
        manifest = write_manifest(folder / "apply.yaml", apply_manifest(emu, folder))
        run = in_process(load_manifest(manifest), RunOptions())
        assert run.exit_code == 0, run.summary.failures
        self.job_id = run.job_id
        self.report_folder = run.report_folder
        records = records_by_bucket(read_jsonl(run.report_folder / "report.jsonl"))
        written = [name for name in NAMES if records[name]["outcome"] == "applied"]
        assert len(written) > 20  # the mix: a few buckets already had the baseline
        self.edited = written[1:4]
        self.deleted = written[5]
        self.kept = {*self.edited, self.deleted}
        self.restored = [name for name in written if name not in self.kept]
        client = sdk_client(emu)
        for name in self.edited:
            request = oss.PutBucketPolicyRequest(bucket=name, body=by_hand(name).decode())
            client.put_bucket_policy(request)
        client.delete_bucket_policy(oss.DeleteBucketPolicyRequest(bucket=self.deleted))
        self.before_rollback = current_policies(emu, NAMES)
        emu.clear_log()


def rollback_records(reports: Path) -> dict[str, Mapping[str, Any]]:
    (folder,) = (p for p in reports.iterdir() if "-rollback-" in p.name)
    return records_by_bucket(read_jsonl(folder / "report.jsonl"))


def read_back(emu: Emulator, bucket: str) -> bytes:
    """The bucket's policy as the SDK reads it back over HTTP."""
    reply = sdk_client(emu).get_bucket_policy(oss.GetBucketPolicyRequest(bucket=bucket))
    body: str = reply.body
    return body.encode()


def test_rollback_keeps_buckets_changed_since_the_job_as_conflicts(
    emu: Emulator, tmp_path: Path
) -> None:
    """The three edited and the one deleted by hand are `conflict` (note naming the job),
    not written and still as left by hand; every other bucket the apply changed gets its
    original bytes back; exit 1, and the last line says to rerun with --force (not
    --resume)."""
    applied = Applied(emu, tmp_path)

    run = run_cli(
        emu, "rollback", applied.job_id, "--report-dir", tmp_path / "reports", "--yes", cwd=tmp_path
    )

    assert run.returncode == 1, run.stdout + run.stderr
    records = rollback_records(tmp_path / "reports")
    for name in applied.kept:
        assert records[name]["outcome"] == "conflict", records[name]
        assert records[name]["note"] == f"changed since {applied.job_id}"
    assert not {entry.bucket for entry in policy_writes(emu)} & applied.kept
    for name in applied.edited:
        assert read_back(emu, name) == by_hand(name)
    assert emu.state.get_policy(applied.deleted) is None
    for name in applied.restored:
        assert records[name]["outcome"] in {"applied", "deleted"}, records[name]
        assert emu.state.get_policy(name) == applied.originals[name], name
    last = run.stderr.strip().splitlines()[-1]
    assert "--force" in last
    assert f"osspolicy rollback {applied.job_id}" in last
    assert "--resume" not in run.stderr


def test_rollback_with_force_overwrites_the_later_changes(emu: Emulator, tmp_path: Path) -> None:
    """With --force every bucket goes back to its original bytes, the four changed by
    hand too, their records noted `overwrite`; exit 0."""
    applied = Applied(emu, tmp_path)

    run = run_cli(
        emu,
        "rollback",
        applied.job_id,
        "--report-dir",
        tmp_path / "reports",
        "--force",
        "--yes",
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert current_policies(emu, NAMES) == applied.originals
    records = rollback_records(tmp_path / "reports")
    for name in applied.kept:
        assert records[name]["note"] == f"overwrite: changed since {applied.job_id}"
    for name in applied.restored:
        assert records[name]["note"] is None
    assert f"overwrote {len(applied.kept)} buckets" in run.stdout


def test_a_job_whose_records_lack_sha256_after_is_all_conflicts_without_force(
    emu: Emulator, tmp_path: Path
) -> None:
    """A journal from before sha256_after (the key stripped from every record): no bucket
    is known to be as the job left it, so each one it changed is `conflict` and not
    one write is sent."""
    applied = Applied(emu, tmp_path)
    journal = applied.report_folder / "journal.jsonl"
    lines = [json.loads(line) for line in journal.read_bytes().splitlines()]
    for line in lines:
        line.pop("sha256_after", None)
    journal.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines))

    run = in_process(rollback_manifest(applied.report_folder), RunOptions(rollback=True))

    assert run.exit_code == 1
    records = rollback_records(tmp_path / "reports")
    assert {r["outcome"] for r in records.values()} == {"conflict"}
    assert set(records) == {*applied.restored, *applied.kept}
    assert policy_writes(emu) == []
    assert current_policies(emu, NAMES) == applied.before_rollback


def test_on_a_terminal_rollback_with_force_lists_the_overwrites_before_asking(
    emu: Emulator, tmp_path: Path
) -> None:
    """`rollback --force` without --yes on a terminal shows its plan with each bucket
    changed since the job as `overwrite`, asks, and `y` writes it all back."""
    applied = Applied(emu, tmp_path)
    reports = tmp_path / "reports"

    run = on_terminal(
        emu,
        "rollback",
        applied.job_id,
        "--report-dir",
        reports,
        "--force",
        answer="y\n",
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    shown = PROMPT.search(run.stderr)
    assert shown is not None, run.stderr
    assert int(shown[1]) == len(applied.restored) + len(applied.kept)
    listed = {
        line.split()[1] for line in run.stdout.splitlines() if line.startswith("  overwrite ")
    }
    assert listed == applied.kept
    assert run.stdout.index("  overwrite ") < run.stdout.index("report:")  # the plan's
    assert current_policies(emu, NAMES) == applied.originals


def test_a_bucket_changed_between_the_prompt_and_the_write_is_a_conflict(
    emu: Emulator, tmp_path: Path
) -> None:
    """The plan shown is what is written (contracts §11): a bucket the forced rollback's
    plan showed, changed again by hand before its run, is `conflict` and kept."""
    applied = Applied(emu, tmp_path)
    manifest = rollback_manifest(applied.report_folder)
    plan = in_process(manifest, RunOptions(rollback=True, force=True, dry_run=True))
    assert plan.summary.overwritten == len(applied.kept)
    late = applied.restored[0]
    sdk_client(emu).put_bucket_policy(
        oss.PutBucketPolicyRequest(bucket=late, body=by_hand(late).decode())
    )

    run = in_process(manifest, RunOptions(rollback=True, force=True, plan=plan.job_id))

    assert run.exit_code == 1
    records = rollback_records(tmp_path / "reports")
    assert (records[late]["outcome"], records[late]["error_code"]) == ("conflict", "PlanStale")
    assert emu.state.get_policy(late) == by_hand(late)
    for name in set(applied.restored) - {late} | applied.kept:
        assert emu.state.get_policy(name) == applied.originals[name], name
