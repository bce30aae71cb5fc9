"""Saved plans that are whole and stay binding, and resumes that run the job that was
started (contracts §5 "Resume runs the job that was started", §11 "Saved plan and
stale-plan guard", §15's resume hint), end to end: the real SDK over HTTP against the
emulator, `osspolicy` in a subprocess where the command line matters, and the emulator's
request log as the witness of where each request went.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from osspolicy._internal import targets
from osspolicy._internal.errors import ConfigError
from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import load_manifest
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    CliRun,
    apply_manifest,
    assert_one_line_error,
    bucket_names,
    make_emulator,
    merged_bodies,
    no_sleep,
    parsed,
    read_jsonl,
    records_by_bucket,
    run_cli,
    seed_mix,
    write_manifest,
)
from .test_safety_e2e import PROMPT, on_terminal

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


# -- 2. resume runs the job that was started ----------------------------------------------


def backup_job(emu: Emulator, folder: Path) -> Path:
    """backup.yaml with no endpoint (the public one by default): only a flag at start
    points it at the emulator."""
    return write_manifest(
        folder / "backup.yaml",
        {
            "action": "backup",
            "targets": {"discover": {"prefix": "e2e-"}},
            "connection": {"region": emu.region},
            "retry": {"attempts": 1},
        },
    )


def deny(emu: Emulator, buckets: list[str]) -> None:
    """Every GetBucketPolicy of `buckets` answers 403 AccessDenied until cleared."""
    for bucket in buckets:
        emu.script_fault("GET", bucket, "policy", count=1000, status=403, code="AccessDenied")


@dataclass(frozen=True)
class Started:
    """A job started against an emulator, left with targets to resume."""

    manifest: Path
    job_id: str
    #: the buckets that failed (and will not fail again)
    denied: list[str]
    #: its last line on stderr: the command that resumes it
    hint: str


def started_against(emu: Emulator, folder: Path, *flags: str) -> Started:
    """A backup started with `--endpoint` of `emu` (and `flags`), 3 of its 30 buckets
    denied: exit 1, a resume line printed; the denial is then cleared and the request
    log emptied, so that a resume can finish the job."""
    names = bucket_names(30)
    seed_mix(emu, names)
    denied = names[::10]
    deny(emu, denied)
    job = backup_job(emu, folder)
    run = run_cli(emu, "run", job, "--endpoint", emu.endpoint, *flags, cwd=folder)
    assert run.returncode == 1, run.stdout + run.stderr
    hint = run.stderr.strip().splitlines()[-1]
    emu.clear_scripted_faults()
    emu.clear_log()
    return Started(job, hint.split()[-1], denied, hint)


def policy_reads(emu: Emulator) -> set[str | None]:
    return {entry.bucket for entry in emu.request_log if entry.subresource == "policy"}


def test_the_printed_resume_line_continues_the_job_against_the_endpoint_it_started_with(
    emu: Emulator, tmp_path: Path
) -> None:
    """A job started with `--endpoint` records it in its manifest.yaml, and the resume
    line it prints, run exactly as printed (no endpoint in the manifest), reaches the
    same emulator (its request log has the denied buckets' reads) and finishes it."""
    job = started_against(emu, tmp_path, "--concurrency", "4")
    folder = tmp_path / "reports" / job.job_id
    recorded = yaml.safe_load((folder / "manifest.yaml").read_text(encoding="utf-8"))
    assert (recorded["connection"]["endpoint"], recorded["concurrency"]) == (emu.endpoint, 4)
    assert job.hint == f"resume it with: osspolicy run {job.manifest} --resume {job.job_id}"

    pasted = shlex.split(job.hint.removeprefix("resume it with: osspolicy "))
    resumed = run_cli(emu, *pasted, cwd=tmp_path)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert policy_reads(emu) == set(job.denied)
    assert summary(folder)["complete"] is True


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--endpoint", "http://127.0.0.1:9"), ("--region", "cn-shanghai")],
)
def test_a_resume_given_another_endpoint_or_region_is_refused_naming_it(
    emu: Emulator, tmp_path: Path, flag: str, value: str
) -> None:
    """Resuming with an `--endpoint` (the recorded one still answers) or a `--region`
    other than the job started with exits 2 with one line naming the flag, and sends
    nothing."""
    job = started_against(emu, tmp_path)

    run = run_cli(emu, "run", job.manifest, "--resume", job.job_id, flag, value, cwd=tmp_path)

    assert_one_line_error(run)
    assert f"{flag} {value} differs" in run.stderr
    assert emu.request_log == []


def test_a_resume_given_the_same_endpoint_and_another_concurrency_runs(
    emu: Emulator, tmp_path: Path
) -> None:
    """A pace setting given now (`--concurrency 2`) is taken, the same `--endpoint` is
    accepted: the resume finishes the job with at most 2 calls in flight."""
    job = started_against(emu, tmp_path)

    run = run_cli(
        emu,
        "run",
        job.manifest,
        "--resume",
        job.job_id,
        "--endpoint",
        emu.endpoint,
        "--concurrency",
        "2",
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert summary(tmp_path / "reports" / job.job_id)["max_in_flight"] <= 2
    assert policy_reads(emu) == set(job.denied)


def test_a_resume_given_a_new_endpoint_when_the_recorded_one_is_gone_warns_and_runs(
    tmp_path: Path,
) -> None:
    """The emulator the job started against is gone (restarted on a new port): a resume
    given the new `--endpoint` warns that the recorded one no longer answers, and
    finishes the job against the new one."""
    with make_emulator() as first:
        job = started_against(first, tmp_path)
    with make_emulator() as second:
        seed_mix(second, bucket_names(30))

        run = run_cli(
            second,
            "run",
            job.manifest,
            "--resume",
            job.job_id,
            "--endpoint",
            second.endpoint,
            cwd=tmp_path,
        )

        assert run.returncode == 0, run.stdout + run.stderr
        assert "no longer answers" in run.stdout + run.stderr
        assert policy_reads(second) == set(job.denied)


# -- 3. a resume stays bound to the job's plan --------------------------------------------


def someone_elses_policy(bucket: str) -> bytes:
    doc = {
        "Version": "1",
        "Statement": [
            {
                "Sid": "written-meanwhile",
                "Effect": "Allow",
                "Principal": ["20214760404935"],
                "Action": ["oss:GetObject"],
                "Resource": [f"acs:oss:*:*:{bucket}/meanwhile/*"],
            }
        ],
    }
    return json.dumps(doc).encode()


@dataclass(frozen=True)
class PlanRun:
    """A `run --plan P --yes` that left a conflict (`changed`), a write that landed but
    whose answer was lost (`landed`) and a write refused once (`refused`)."""

    manifest: Path
    plan_id: str
    job_id: str
    changed: str
    landed: str
    refused: str
    run: CliRun


def run_of_a_plan(emu: Emulator, folder: Path) -> PlanRun:
    """Plan 12 buckets, then `run --plan --yes` in a subprocess: exit 1 with the three
    buckets of `PlanRun` not succeeded; the request log is emptied after it."""
    names = bucket_names(12)
    originals = seed_mix(emu, names)
    job = apply_job(emu, folder, retry={"attempts": 1})
    plan = in_process(job, RunOptions(dry_run=True))
    planned = [
        r["bucket"]
        for r in read_jsonl(plan.report_folder / "report.jsonl")
        if r["outcome"] == "planned"
    ]
    changed, landed, refused = planned[:3]
    emu.state.put_policy(changed, someone_elses_policy(changed))  # after the plan
    emu.script_fault("PUT", landed, "policy", kind="after")
    emu.script_fault("PUT", refused, "policy")
    run = run_cli(emu, "run", job, "--plan", plan.job_id, "--yes", cwd=folder)
    (report,) = job_folders(folder / "reports", "apply")
    outcomes = {r["bucket"]: r["outcome"] for r in read_jsonl(report / "report.jsonl")}
    assert run.returncode == 1, run.stdout + run.stderr
    assert [outcomes[changed], outcomes[landed], outcomes[refused]] == [
        "conflict",
        "failed",
        "failed",
    ]
    merged = merged_bodies({landed: originals[landed]})
    assert parsed(emu.state.get_policy(landed)) == merged[landed]  # the write landed
    emu.clear_log()
    return PlanRun(job, plan.job_id, report.name, changed, landed, refused, run)


def job_folders(reports: Path, action: str) -> list[Path]:
    return sorted(p for p in reports.iterdir() if p.is_dir() and f"-{action}-" in p.name)


def writes_to(emu: Emulator) -> list[str | None]:
    return [e.bucket for e in emu.request_log if e.method in {"PUT", "DELETE"}]


def test_a_resume_of_a_plan_run_keeps_its_conflict_and_finds_the_landed_write_unchanged(
    env: Emulator, tmp_path: Path
) -> None:
    """`--resume --yes` of a job run from a plan (no --plan given again) stays bound to
    it: the bucket changed since the plan stays `conflict` and is not written (read back:
    someone else's policy), the write that landed is `unchanged`, the refused one is
    applied; exit 1, and the output then says to plan again, not to resume."""
    emu = env
    job = run_of_a_plan(emu, tmp_path)
    assert "1 bucket changed since plan" in job.run.stderr  # and 2 failures to resume
    assert "resume it with" in job.run.stderr

    resumed = run_cli(emu, "run", job.manifest, "--resume", "--yes", cwd=tmp_path)

    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert emu.state.get_policy(job.changed) == someone_elses_policy(job.changed)
    assert writes_to(emu) == [job.refused]
    assert job.changed not in {entry.bucket for entry in emu.request_log}  # not even read
    report = tmp_path / "reports" / job.job_id
    records = records_by_bucket(read_jsonl(report / "report.jsonl"))
    assert len(records) == 12
    assert records[job.changed]["outcome"] == "conflict"
    assert records[job.landed]["outcome"] == "unchanged"
    assert records[job.refused]["outcome"] == "applied"
    assert summary(report)["plan"] == job.plan_id
    assert "plan again" in resumed.stderr
    assert "resume it with" not in resumed.stderr


def test_a_resume_of_a_plan_run_given_another_plan_is_refused_naming_it(
    env: Emulator, tmp_path: Path
) -> None:
    """Resuming a job run from plan P with `--plan` of another plan exits 2 with one
    line naming `--plan`, and sends nothing."""
    emu = env
    job = run_of_a_plan(emu, tmp_path)
    other = in_process(job.manifest, RunOptions(dry_run=True)).job_id
    emu.clear_log()

    run = run_cli(
        emu, "run", job.manifest, "--resume", job.job_id, "--plan", other, "--yes", cwd=tmp_path
    )

    assert_one_line_error(run)
    assert f"--plan {other} differs" in run.stderr
    assert emu.request_log == []


def test_a_resume_of_a_plan_run_on_a_terminal_asks_about_that_plan(
    env: Emulator, tmp_path: Path
) -> None:
    """Without `--yes`, on a terminal, the resume of a job run from plan P asks about P
    (not a new plan) and, answered `y`, runs bound to it: the changed bucket is kept."""
    emu = env
    job = run_of_a_plan(emu, tmp_path)

    run = on_terminal(emu, "run", job.manifest, "--resume", answer="y\n", cwd=tmp_path)

    assert run.returncode == 1, run.stdout + run.stderr
    asked = PROMPT.search(run.stderr)
    assert asked is not None, run.stderr
    assert asked.group(2) == job.plan_id
    assert job_folders(tmp_path / "reports", "plan") == [tmp_path / "reports" / job.plan_id]
    assert writes_to(emu) == [job.refused]
    assert emu.state.get_policy(job.changed) == someone_elses_policy(job.changed)


def test_a_resume_given_another_endpoint_in_its_manifest_is_refused_naming_the_key(
    env: Emulator, tmp_path: Path
) -> None:
    """A job started from a manifest's own endpoint, resumed through the library after
    that manifest was edited to another endpoint (the recorded one still answers), is
    refused before any request, naming `connection.endpoint`."""
    emu = env
    seed_mix(emu, bucket_names(10))
    deny(emu, bucket_names(10)[:1])
    job = apply_job(emu, tmp_path, retry={"attempts": 1})
    first = in_process(job)
    assert first.exit_code == 1
    data = yaml.safe_load(job.read_text(encoding="utf-8"))
    data["connection"]["endpoint"] = "http://127.0.0.1:9"
    write_manifest(job, data)
    emu.clear_log()

    with pytest.raises(ConfigError, match=r"connection\.endpoint http://127\.0\.0\.1:9 differs"):
        in_process(job, RunOptions(resume=first.job_id))
    assert emu.request_log == []
