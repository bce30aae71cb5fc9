"""Saved plans that are whole and stay binding, and resumes that run the job that was
started (contracts §5 "Resume runs the job that was started", §11 "Saved plan and
stale-plan guard", §15's resume hint), end to end: the real SDK over HTTP against the
emulator, `osspolicy` in a subprocess where the command line matters, and the emulator's
request log as the witness of where each request went.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from osspolicy import targets
from osspolicy.emulator import Emulator
from osspolicy.job import JobRun, RunOptions, run_job
from osspolicy.manifest import load_manifest

from .e2e_helpers import (
    apply_manifest,
    assert_one_line_error,
    bucket_names,
    make_emulator,
    no_sleep,
    read_jsonl,
    run_cli,
    seed_mix,
    write_manifest,
)

#: every job of this module runs once on each engine
pytestmark = pytest.mark.usefixtures("on_each_engine")

LIST_BUCKETS = ("GET", "", "")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with make_emulator() as emulator:
        yield emulator


@pytest.fixture
def env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The emulator's key pair in this process's environment (for in-process jobs)."""
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", emu.access_key_id)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emu.access_key_secret)
    return emu


def apply_job(emu: Emulator, folder: Path, **extra: Any) -> Path:
    """apply.yaml in `folder`: merge the e2e baseline into every `e2e-*` bucket."""
    return write_manifest(folder / "apply.yaml", apply_manifest(emu, folder, **extra))


def in_process(manifest: Path, options: RunOptions | None = None, **overrides: Any) -> JobRun:
    """Run a manifest in this process (faster than a subprocess, for a test's setup)."""
    loaded = load_manifest(manifest, overrides)
    return anyio.run(partial(run_job, loaded, options or RunOptions(), sleep=no_sleep))


def summary(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return data


# -- 1. a saved plan must be whole --------------------------------------------------------


def test_a_plan_whose_listing_failed_is_refused_by_run_plan_with_nothing_sent(
    env: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan whose ListBuckets failed after its first page of 50 (of 200 buckets) exits
    1 and shows 50; `run --plan` of it exits 2 with one line saying the targets could not
    all be listed, and sends not one request."""
    emu = env
    seed_mix(emu, bucket_names(200))
    monkeypatch.setattr(targets, "LIST_PAGE_SIZE", 50)
    emu.script_fault(*LIST_BUCKETS, skip=1, count=1000)
    job = apply_job(emu, tmp_path, retry={"attempts": 1})
    plan = in_process(job, RunOptions(dry_run=True))
    assert plan.exit_code == 1
    assert len(read_jsonl(plan.report_folder / "report.jsonl")) == 50
    assert "targets_error" in summary(plan.report_folder)
    emu.clear_scripted_faults()
    emu.clear_log()

    run = run_cli(emu, "run", job, "--plan", plan.job_id, "--yes", cwd=tmp_path)

    assert_one_line_error(run)
    assert f"plan {plan.job_id}: the targets could not all be listed" in run.stderr
    assert emu.request_log == []


def test_an_interrupted_plan_is_refused_by_run_plan_with_nothing_sent(
    env: Emulator, tmp_path: Path
) -> None:
    """A plan stopped by a signal (its journal without the `finished` line, its summary
    exit 130) is refused by `run --plan`: exit 2, one line saying it was interrupted,
    not one request."""
    emu = env
    seed_mix(emu, bucket_names(20))
    job = apply_job(emu, tmp_path)
    plan = in_process(job, RunOptions(dry_run=True)).report_folder
    journal = plan / "journal.jsonl"  # as a SIGINT leaves it: no finished line, exit 130
    lines = journal.read_bytes().splitlines(keepends=True)
    assert json.loads(lines[-1])["finished"] is True
    journal.write_bytes(b"".join(lines[:-1]))
    (plan / "summary.json").write_text(
        json.dumps({**summary(plan), "exit_code": 130}), encoding="utf-8"
    )
    emu.clear_log()

    run = run_cli(emu, "run", job, "--plan", plan.name, "--yes", cwd=tmp_path)

    assert_one_line_error(run)
    assert f"plan {plan.name} was interrupted" in run.stderr
    assert emu.request_log == []
