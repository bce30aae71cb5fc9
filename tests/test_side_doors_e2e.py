"""Side doors an outside test of issue 19 found (each through the real console script):
a job that cannot read what it needs before any bucket fails as a job, naming what and
how to resume; a resume line that works as pasted off a terminal; the terminal prompt
never asks about a plan it could not run; a failed listing never reads as reassurance."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from osspolicy._internal.operations import EARLIER_RUN
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    apply_manifest,
    assert_one_line_error,
    read_jsonl,
    run_cli,
    write_manifest,
)
from .test_safety_e2e import on_terminal

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "side-"


def _closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_apply_that_cannot_read_the_owner_id_fails_as_a_job_with_a_pasteable_resume_line(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """The shipped baseline needs each account's owner id (`${account_id}`); when the
    service keeps failing that ListBuckets (503, transient: no pre-flight failure), the
    job fails with one line naming the account and what needed it, exit 1, no
    traceback, and a resume line that carries the job's `--yes`."""
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs")
    oss_emulator.script_fault("GET", "", "", count=None)
    run = run_cli(
        oss_emulator,
        "run",
        "jobs/baseline.yaml",
        "--yes",
        "--endpoint",
        oss_emulator.endpoint,
        "--attempts",
        "1",
        cwd=tmp_path,
    )
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0].startswith("osspolicy: error: the job failed: the owner id of account default")
    assert "${account_id}" in lines[0]
    assert lines[-1].startswith("resume it with: osspolicy run jobs/baseline.yaml --resume ")
    assert lines[-1].endswith(" --yes")
    assert "Traceback" not in run.stderr


def test_an_apply_whose_endpoint_refuses_stops_at_its_first_call(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """The same job against a port nothing listens on: its first call (the owner id's
    ListBuckets) is refused twice and the job stops there (contracts §15 pre-flight):
    one line naming the account, the host and the fix, exit 2, no resume line, no
    snapshot folder, and `--resume` finds nothing to carry on."""
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    run = run_cli(
        oss_emulator, "run", "jobs/baseline.yaml", "--yes", "--endpoint", endpoint, cwd=tmp_path
    )
    assert run.returncode == 2, run.stderr
    host = endpoint.removeprefix("http://")
    assert run.stderr.splitlines() == [
        (
            f"osspolicy: error: account default at {host}: nothing listens there; "
            "check the endpoint's host and port"
        )
    ]
    assert not [p for p in (tmp_path / "backups").glob("*") if p.is_dir()]
    again = run_cli(
        oss_emulator,
        "run",
        "jobs/baseline.yaml",
        "--resume",
        "--yes",
        "--endpoint",
        endpoint,
        cwd=tmp_path,
    )
    assert again.returncode == 2
    assert "no unfinished job" in again.stderr


@pytest.fixture
def two_pages_then_a_lie() -> Iterator[Emulator]:
    """An emulator listing 2 buckets a page whose second ListBuckets answer is empty."""
    with Emulator(list_page_size=2, list_fault="empty:1") as emulator:
        emulator.seed_buckets([f"{PREFIX}{i}" for i in range(5)])
        yield emulator


def test_the_prompt_never_asks_about_a_plan_whose_listing_failed(
    tmp_path: Path, two_pages_then_a_lie: Emulator
) -> None:
    """On a terminal, a writing job whose plan could not list every bucket asks nothing
    (run --plan would refuse that plan): it says nothing was written and why, exit 1,
    and no PUT reached the service."""
    emu = two_pages_then_a_lie
    job = write_manifest(
        tmp_path / "apply.yaml",
        apply_manifest(emu, tmp_path, prefix=PREFIX, retry={"attempts": 2, "base_delay_s": 0}),
    )
    run = on_terminal(emu, "run", job, answer="y\n", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert "Write these" not in run.stderr
    assert "nothing written: the plan does not show every bucket" in run.stderr
    assert "No changes." not in run.stdout
    assert [e for e in emu.request_log if e.method == "PUT"] == []


def test_a_write_whose_record_was_lost_keeps_its_snapshot_when_resumed(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """An apply whose last records were lost (a kill, a full disk) after its writes
    landed: the resume finds those buckets as wanted and records them `unchanged` with
    the snapshot the earlier run took and a note saying so, not as untouched buckets."""
    buckets = [f"{PREFIX}lost-{i}" for i in range(6)]
    oss_emulator.seed_buckets(buckets)
    job = write_manifest(
        tmp_path / "apply.yaml", apply_manifest(oss_emulator, tmp_path, prefix=f"{PREFIX}lost-")
    )
    first = run_cli(oss_emulator, "run", job, "--yes", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    job_id = json.loads(first.stdout)["job_id"]
    journal = tmp_path / "reports" / job_id / "journal.jsonl"
    header, *records = journal.read_text().splitlines(keepends=True)
    kept = [line for line in records if '"bucket"' in line][:2]  # the rest, and `finished`, lost
    journal.write_text(header + "".join(kept))

    again = run_cli(oss_emulator, "run", job, "--resume", job_id, "--yes", cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    report = {r["bucket"]: r for r in read_jsonl(tmp_path / "reports" / job_id / "report.jsonl")}
    lost = sorted(set(buckets) - {json.loads(line)["bucket"] for line in kept})
    assert len(lost) == 4
    for bucket in lost:
        record = report[bucket]
        assert (record["outcome"], record["note"]) == ("unchanged", EARLIER_RUN)
        assert record["snapshot"] is not None
    puts = [e for e in oss_emulator.request_log if e.method == "PUT" and e.bucket in lost]
    assert len(puts) == len(lost)  # each written once, by the first run


def test_resume_after_a_plan_run_left_only_conflicts_says_to_plan_again(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`--resume` of a plan run whose only unfinished buckets are conflicts with its plan
    (never written by a resume) says so and that a new plan can, instead of "no
    unfinished job … start a new job"; exit 2, one line."""
    buckets = [f"{PREFIX}conflict-{i}" for i in range(3)]
    oss_emulator.seed_buckets(buckets)
    job = write_manifest(
        tmp_path / "apply.yaml",
        apply_manifest(oss_emulator, tmp_path, prefix=f"{PREFIX}conflict-"),
    )
    plan = run_cli(oss_emulator, "plan", job, "--json", cwd=tmp_path)
    plan_id = json.loads(plan.stdout)["job_id"]
    changed = b'{"Version":"1","Statement":[{"Effect":"Deny","Principal":["1"],"Action":["oss:GetObject"],"Resource":["acs:oss:*:*:x/*"]}]}'  # noqa: E501
    oss_emulator.state.put_policy(buckets[0], changed)  # after the plan
    ran = run_cli(oss_emulator, "run", job, "--plan", plan_id, "--yes", cwd=tmp_path)
    assert ran.returncode == 1, ran.stderr

    again = run_cli(oss_emulator, "run", job, "--resume", "--yes", cwd=tmp_path)

    assert_one_line_error(again)
    assert "nothing left to resume" in again.stderr
    assert f"changed since plan {plan_id}" in again.stderr
    assert "plan again" in again.stderr
    assert oss_emulator.state.get_policy(buckets[0]) == changed
