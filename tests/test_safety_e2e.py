"""Safe writes end to end (contracts §11): `osspolicy` in a subprocess, the real SDK, the
emulator over HTTP and its request log as the witness of what was sent.

The confirmation gate (with and without a terminal), a saved plan and its stale-plan
guard, the canary, the failure threshold and one writing job per report folder. Unit
tests of each part are in tests/test_safety.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
import anyio
import pytest

from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import load_manifest
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    SUBPROCESS_TIMEOUT_S,
    CliRun,
    JobProcess,
    apply_manifest,
    assert_no_secret,
    assert_one_line_error,
    bucket_names,
    connection,
    credentials_env,
    current_policies,
    make_emulator,
    merged_bodies,
    no_sleep,
    osspolicy_command,
    parsed,
    policy_writes,
    read_jsonl,
    records_by_bucket,
    run_cli,
    sdk_client,
    seed_mix,
    write_manifest,
)

SUCCESS = {"applied", "deleted", "unchanged"}
PROMPT = re.compile(r"Write these (\d+) changes \(plan (\S+);")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with make_emulator() as emulator:
        yield emulator


def apply_job(emu: Emulator, folder: Path, **extra: Any) -> Path:
    """apply.yaml in `folder`: merge the e2e baseline into every `e2e-*` bucket."""
    return write_manifest(folder / "apply.yaml", apply_manifest(emu, folder, **extra))


def on_terminal(emu: Emulator, *args: str | Path, answer: str, cwd: Path) -> CliRun:
    """Run `osspolicy ARGS` with a pseudo-terminal as stdin on which `answer` was typed
    ahead (a user who types before the prompt shows); stdout and stderr are pipes."""
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            osspolicy_command(*args),
            cwd=cwd,
            env=credentials_env(emu),
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(slave)
        slave = -1
        os.write(master, answer.encode())
        try:
            stdout, stderr = process.communicate(timeout=SUBPROCESS_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    run = CliRun(process.returncode, stdout, stderr)
    assert_no_secret(emu, run)
    return run


def job_folders(reports: Path, action: str) -> list[Path]:
    return sorted(p for p in reports.iterdir() if p.is_dir() and f"-{action}-" in p.name)


def records(folder: Path) -> dict[str, Mapping[str, Any]]:
    return records_by_bucket(read_jsonl(folder / "report.jsonl"))


def summary(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return data


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


# -- 1. the confirmation gate -------------------------------------------------------------


def in_process(manifest: Path, options: RunOptions | None = None) -> JobRun:
    """Run a manifest in this process (faster than a subprocess, for a test's setup)."""
    loaded = load_manifest(manifest)
    return anyio.run(partial(run_job, loaded, options or RunOptions(), sleep=no_sleep))


def test_writing_commands_without_yes_and_without_a_terminal_send_nothing(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run (apply, delete, a saved plan), restore and rollback without `--yes`, stdin
    not a terminal: exit 2 with one line saying to pass --yes, and not one request."""
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", emu.access_key_id)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emu.access_key_secret)
    seed_mix(emu, bucket_names(30))
    job = apply_job(emu, tmp_path)
    delete = write_manifest(
        tmp_path / "delete.yaml",
        {**apply_manifest(emu, tmp_path), "action": "delete", "policy": None},
    )
    backup = write_manifest(
        tmp_path / "backup.yaml",
        {
            "action": "backup",
            "targets": {"discover": {"prefix": "e2e-"}},
            "connection": connection(emu),
        },
    )
    source = in_process(backup).backup_folder
    plan = in_process(job, RunOptions(dry_run=True)).report_folder
    applied = in_process(job).report_folder
    reports = tmp_path / "reports"
    assert source is not None
    commands: list[tuple[str | Path, ...]] = [
        ("run", job),
        ("run", delete),
        ("run", job, "--plan", plan.name),
        ("restore", source, "--region", emu.region, "--endpoint", emu.endpoint),
        ("rollback", applied.name, "--report-dir", reports),
    ]
    emu.clear_log()

    with ThreadPoolExecutor(len(commands)) as pool:  # at once: each is a Python start-up
        runs = list(pool.map(lambda command: run_cli(emu, *command, cwd=tmp_path), commands))

    for run in runs:
        assert_one_line_error(run)
        assert "not a terminal" in run.stderr
        assert "--yes" in run.stderr
    assert emu.request_log == []


def test_on_a_terminal_answering_n_writes_nothing(emu: Emulator, tmp_path: Path) -> None:
    """On a terminal the job reads every bucket, shows the plan and asks; `n` exits 2
    and not one write is sent."""
    originals = seed_mix(emu, bucket_names(30))
    job = apply_job(emu, tmp_path)

    run = on_terminal(emu, "run", job, answer="n\n", cwd=tmp_path)

    assert run.returncode == 2, run.stdout + run.stderr
    assert PROMPT.search(run.stderr), run.stderr
    assert "nothing written" in run.stderr
    assert {entry.bucket for entry in emu.request_log if entry.method == "GET"} >= set(originals)
    assert policy_writes(emu) == []
    assert current_policies(emu, originals) == originals
    assert job_folders(tmp_path / "reports", "apply") == []


def test_on_a_terminal_answering_y_writes_exactly_what_it_showed(
    emu: Emulator, tmp_path: Path
) -> None:
    """`y` writes exactly the changes the prompt counted, through the plan it showed:
    as many writes as it said, one per bucket the plan marked, and the job records the
    plan it ran."""
    originals = seed_mix(emu, bucket_names(45))
    job = apply_job(emu, tmp_path)

    run = on_terminal(emu, "run", job, answer="y\n", cwd=tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    shown = PROMPT.search(run.stderr)
    assert shown is not None, run.stderr
    count, plan_id = int(shown[1]), shown[2]
    reports = tmp_path / "reports"
    planned = {name for name, r in records(reports / plan_id).items() if r["outcome"] == "planned"}
    assert len(planned) == count
    assert 0 < count < len(originals)  # some buckets already had the baseline
    writes = policy_writes(emu)
    assert len(writes) == count
    assert {entry.bucket for entry in writes} == planned
    (applied,) = job_folders(reports, "apply")
    done = records(applied)
    assert {name for name, r in done.items() if r["outcome"] == "applied"} == planned
    assert summary(applied)["plan"] == plan_id
    expected = merged_bodies(originals)
    assert {n: parsed(b) for n, b in current_policies(emu, originals).items()} == expected


def test_on_a_terminal_a_saved_plan_without_yes_is_asked_about_too(
    emu: Emulator, tmp_path: Path
) -> None:
    """`run --plan PLAN` without `--yes` on a terminal shows the plan's counts and asks;
    `n` sends nothing, `y` writes the plan."""
    originals = seed_mix(emu, bucket_names(18))
    job = apply_job(emu, tmp_path)
    assert run_cli(emu, "plan", job, cwd=tmp_path).returncode == 0
    (plan,) = job_folders(tmp_path / "reports", "plan")
    changes = summary(plan)["changes"]
    count = changes["create"] + changes["modify"] + changes["delete"]
    emu.clear_log()

    refused = on_terminal(emu, "run", job, "--plan", plan.name, answer="no\n", cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"Write these {count} changes (plan {plan.name};" in refused.stderr
    assert emu.request_log == []

    accepted = on_terminal(emu, "run", job, "--plan", plan.name, answer="yes\n", cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert len(policy_writes(emu)) == count
    assert {n: parsed(b) for n, b in current_policies(emu, originals).items()} == (
        merged_bodies(originals)
    )


def test_plan_validate_check_and_backup_never_ask(emu: Emulator, tmp_path: Path) -> None:
    """Commands that write nothing never ask, even on a terminal where `n` was typed:
    plan 0, validate 0, check 3 (drift), backup 0, and no write is sent."""
    seed_mix(emu, bucket_names(20))
    job = apply_job(emu, tmp_path)
    backup = write_manifest(
        tmp_path / "backup.yaml",
        {
            "action": "backup",
            "targets": {"discover": {"prefix": "e2e-"}},
            "connection": connection(emu),
        },
    )

    for command, code in (("plan", 0), ("validate", 0), ("check", 3)):
        run = on_terminal(emu, command, job, answer="n\n", cwd=tmp_path)
        assert run.returncode == code, (command, run.stdout, run.stderr)
        assert "[y/N]" not in run.stderr + run.stdout
    run = on_terminal(emu, "run", backup, answer="n\n", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "[y/N]" not in run.stderr + run.stdout
    assert policy_writes(emu) == []


# -- 2. a saved plan and the stale-plan guard ---------------------------------------------


def test_a_saved_plan_writes_what_it_showed_and_buckets_changed_since_are_conflicts(
    emu: Emulator, tmp_path: Path
) -> None:
    """After a plan, 5 buckets changed through the SDK (one the plan found unchanged):
    `run --plan PLAN --yes` leaves those 5 with their new policy, `conflict`, and
    gives every other bucket what the plan showed; exit 1."""
    names = bucket_names(60)
    originals = seed_mix(emu, names)
    job = apply_job(emu, tmp_path)
    assert run_cli(emu, "plan", job, cwd=tmp_path).returncode == 0
    reports = tmp_path / "reports"
    (plan,) = job_folders(reports, "plan")
    shown = records(plan)
    changed = [names[i] for i in (1, 2, 3, 4, 7)]  # 7: the baseline already there
    assert shown[names[7]]["outcome"] == "unchanged"
    client = sdk_client(emu)
    for name in changed:
        body = someone_elses_policy(name).decode()
        client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=name, body=body))
    emu.clear_log()

    run = run_cli(emu, "run", job, "--plan", plan.name, "--yes", cwd=tmp_path)

    assert run.returncode == 1, run.stdout + run.stderr
    (applied,) = job_folders(reports, "apply")
    done = records(applied)
    assert set(done) == set(names)
    for name in changed:
        assert done[name]["outcome"] == "conflict", done[name]
        assert done[name]["error_code"] == "PlanStale"
        assert emu.state.get_policy(name) == someone_elses_policy(name)
    assert not {entry.bucket for entry in policy_writes(emu)} & set(changed)
    expected = merged_bodies(originals)
    for name in set(names) - set(changed):
        want = {"planned": "applied", "unchanged": "unchanged"}[shown[name]["outcome"]]
        assert done[name]["outcome"] == want, done[name]
        assert parsed(emu.state.get_policy(name)) == expected[name]


def test_a_plan_of_another_manifest_is_refused(emu: Emulator, tmp_path: Path) -> None:
    """`run --plan` with a plan made from another manifest (another policy mode) exits 2
    with one line and sends nothing."""
    seed_mix(emu, bucket_names(10))
    assert run_cli(emu, "plan", apply_job(emu, tmp_path), cwd=tmp_path).returncode == 0
    (plan,) = job_folders(tmp_path / "reports", "plan")
    other = apply_manifest(emu, tmp_path)
    other["policy"]["mode"] = "replace"
    other_job = write_manifest(tmp_path / "other.yaml", other)
    emu.clear_log()

    run = run_cli(emu, "run", other_job, "--plan", plan.name, "--yes", cwd=tmp_path)

    assert_one_line_error(run)
    assert "another manifest" in run.stderr
    assert emu.request_log == []


# -- 3. the canary ------------------------------------------------------------------------


def test_a_canary_the_service_refuses_stops_the_job_after_at_most_3_buckets(
    emu: Emulator, tmp_path: Path
) -> None:
    """`canary: 3` and every PutBucketPolicy refused (403): PUTs reach at most 3 buckets,
    exit 1, those records carry `canary: true`, every other bucket is `skipped` with
    note `canary`, and nothing changed."""
    names = bucket_names(80)
    emu.seed_buckets(names)
    emu.script_fault("PUT", None, "policy", count=100_000, status=403, code="AccessDenied")
    job = apply_job(emu, tmp_path, canary=3)

    run = run_cli(emu, "run", job, "--yes", cwd=tmp_path)

    assert run.returncode == 1, run.stdout + run.stderr
    put = {entry.bucket for entry in policy_writes(emu)}
    assert 1 <= len(put) <= 3
    assert all(entry.status == 403 for entry in policy_writes(emu))
    (folder,) = job_folders(tmp_path / "reports", "apply")
    done = records(folder)
    assert set(done) == set(names)
    for name, record in done.items():
        if name in put:
            assert (record["outcome"], record["canary"]) == ("failed", True), record
        else:
            assert (record["outcome"], record["note"]) == ("skipped", "canary"), record
    assert "stopped: canary: " in run.stdout
    assert summary(folder)["stopped"].startswith("canary: the canary failed on ")
    assert current_policies(emu, names) == dict.fromkeys(names)


def test_a_good_canary_passes_then_the_rest_is_written(emu: Emulator, tmp_path: Path) -> None:
    """With a baseline the service takes, the 3 canary buckets are written and read back
    before any other write (`--canary 3`), and then every bucket is applied: exit 0."""
    names = bucket_names(80)
    originals = seed_mix(emu, names)
    job = apply_job(emu, tmp_path)

    run = run_cli(emu, "run", job, "--canary", "3", "--yes", cwd=tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    (folder,) = job_folders(tmp_path / "reports", "apply")
    done = records(folder)
    canaries = {name for name, record in done.items() if record["canary"]}
    assert len(canaries) == 3
    assert {done[name]["outcome"] for name in canaries} == {"applied"}
    assert {record["outcome"] for record in done.values()} <= SUCCESS
    log = emu.request_log
    first_other = min(
        i
        for i, entry in enumerate(log)
        if entry.method == "PUT" and entry.subresource == "policy" and entry.bucket not in canaries
    )
    for name in canaries:
        gets = [i for i, e in enumerate(log) if e.bucket == name and e.method == "GET"]
        assert len(gets) == 2, f"{name}: read, then read back"
        assert gets[1] < first_other, f"{name} was read back after another write"
    expected = merged_bodies(originals)
    assert {n: parsed(b) for n, b in current_policies(emu, names).items()} == expected


# -- 4. the failure threshold -------------------------------------------------------------

#: a public grant: the service refuses it (403) on a bucket with Block Public Access on
PUBLIC_BASELINE = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "public-read",
            "Effect": "Allow",
            "Principal": ["*"],
            "Action": ["oss:GetObject"],
            "Resource": ["acs:oss:*:*:${bucket}/public/*"],
        }
    ],
}


def public_job(emu: Emulator, folder: Path, **extra: Any) -> Path:
    """An apply of PUBLIC_BASELINE, sent as it is (`allow_public`): the service decides."""
    (folder / "public.json").write_text(json.dumps(PUBLIC_BASELINE), encoding="utf-8")
    data = apply_manifest(emu, folder, allow_public=True, **extra)
    data["policy"]["file"] = "public.json"
    return write_manifest(folder / "public.yaml", data)


def seed_failing(emu: Emulator, names: list[str], failing: set[str]) -> None:
    """`failing` keep Block Public Access on: every PUT of a public grant is refused."""
    emu.seed_buckets([n for n in names if n not in failing], block_public_access=False)
    emu.seed_buckets(sorted(failing), block_public_access=True)


def refused_puts(emu: Emulator) -> list[str]:
    return [entry.bucket or "" for entry in policy_writes(emu) if entry.status == 403]


def test_max_failures_stops_the_job_and_resume_finishes_once_the_cause_is_fixed(
    emu: Emulator, tmp_path: Path
) -> None:
    """500 buckets, 20% refused permanently, `max_failures: 5`: exit 1, every bucket
    recorded once (done, failed, or skipped note `threshold`), far fewer than 100 refused
    writes sent; with the cause fixed, `--resume` finishes the rest (exit 0)."""
    names = bucket_names(500)
    failing = set(names[::5])
    seed_failing(emu, names, failing)
    job = public_job(emu, tmp_path, max_failures=5)

    run = run_cli(emu, "run", job, "--yes", cwd=tmp_path)

    assert run.returncode == 1, run.stdout + run.stderr
    assert "stopped: threshold: " in run.stdout
    (folder,) = job_folders(tmp_path / "reports", "apply")
    assert summary(folder)["stopped"].endswith("reached max_failures (5)")
    done = records(folder)
    assert set(done) == set(names)
    outcomes = Counter(record["outcome"] for record in done.values())
    assert set(outcomes) <= {"applied", "failed", "skipped"}
    assert 5 <= outcomes["failed"] <= 5 + 16
    assert {r["note"] for r in done.values() if r["outcome"] == "skipped"} == {"threshold"}
    assert outcomes["skipped"] > 300
    assert len(refused_puts(emu)) == outcomes["failed"]

    for name in failing:
        emu.state.set_block_public_access(name, on=False)
    again = run_cli(emu, "run", job, "--resume", "--yes", cwd=tmp_path)

    assert again.returncode == 0, again.stdout + again.stderr
    assert job_folders(tmp_path / "reports", "apply") == [folder]
    final = records(folder)
    assert set(final) == set(names)
    assert {record["outcome"] for record in final.values()} == {"applied"}
    assert all(emu.state.get_policy(name) is not None for name in names)


def test_max_failure_rate_stops_the_job_only_after_20_finished(
    emu: Emulator, tmp_path: Path
) -> None:
    """`max_failure_rate: 0.1` with the first buckets failing: the rate is judged only
    once 20 targets finished, then the job stops (exit 1) and skips the rest."""
    names = bucket_names(200)
    failing = set(names[:12])
    seed_failing(emu, names, failing)
    job = public_job(emu, tmp_path, max_failure_rate=0.1, concurrency=4)

    run = run_cli(emu, "run", job, "--yes", cwd=tmp_path)

    assert run.returncode == 1, run.stdout + run.stderr
    (folder,) = job_folders(tmp_path / "reports", "apply")
    assert "reached max_failure_rate (0.1)" in summary(folder)["stopped"]
    done = records(folder)
    assert set(done) == set(names)
    finished = [r for r in done.values() if r["outcome"] != "skipped"]
    assert len(finished) >= 20
    assert {r["note"] for r in done.values() if r["outcome"] == "skipped"} == {"threshold"}
    assert len(finished) < 100


# -- 5. one writing job per report folder -------------------------------------------------


def test_a_second_writing_job_in_the_same_report_folder_is_refused_until_the_first_dies(
    tmp_path: Path,
) -> None:
    """While a job writes, a second one in the same report folder exits 2 naming the
    first's job id and pid, and writes nothing; after `kill -9` of the first, a new job
    runs to the end."""
    with make_emulator(latency_ms=50) as emu:  # the first job lasts about 15 s
        names = bucket_names(600)
        originals = seed_mix(emu, names)
        job = apply_job(emu, tmp_path, concurrency=4)
        reports = tmp_path / "reports"
        first = JobProcess(emu, "run", job, "--yes", cwd=tmp_path)
        try:
            report = first.wait_for_records(reports, 10)
            writes_before = len(policy_writes(emu))

            second = run_cli(emu, "run", job, "--yes", cwd=tmp_path)

            assert first.process.poll() is None, "the first job ended: nothing was proved"
            assert_one_line_error(second)
            assert report.parent.name in second.stderr
            assert f"pid {first.process.pid}" in second.stderr
            assert len(job_folders(reports, "apply")) == 1
            first.send(signal.SIGKILL)
        finally:
            first.process.kill()
        assert first.finish().returncode == -signal.SIGKILL
        assert len(policy_writes(emu)) >= writes_before
        emu.set_latency(0)

        third = run_cli(emu, "run", job, "--yes", cwd=tmp_path)

        assert third.returncode == 0, third.stdout + third.stderr
        assert len(job_folders(reports, "apply")) == 2
        expected = merged_bodies(originals)
        assert {n: parsed(b) for n, b in current_policies(emu, names).items()} == expected
