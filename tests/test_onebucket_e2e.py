"""One-bucket commands (contracts §15): get/status write nothing, put/delete keep their
jobs in the user's state folder, rollback finds them there, restore --bucket and its
default region, and a report or empty folder given to restore named as such."""

from __future__ import annotations

import json
from pathlib import Path

from osspolicy.emulator import Emulator

from .e2e_helpers import (
    CliRun,
    assert_no_secret,
    assert_one_line_error,
    credentials_env,
    on_a_pty,
    only_folder,
    policy_writes,
    read_jsonl,
    records_by_bucket,
    run_cli,
    run_cli_with,
    write_manifest,
)

POLICY = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "deny-tmp",
            "Effect": "Deny",
            "Principal": ["1234567890"],
            "Action": ["oss:GetObject"],
            "Resource": ["acs:oss:*:*:one-00001/tmp/*"],
        }
    ],
}


def _where(emu: Emulator) -> tuple[str, ...]:
    return ("--region", emu.region, "--endpoint", emu.endpoint)


def _empty_cwd(tmp_path: Path) -> Path:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return cwd


def _cli_with_region(emu: Emulator, *args: str | Path, cwd: Path) -> CliRun:
    """`osspolicy ARGS` with `OSS_REGION` set to the emulator's region (no terminal)."""
    run = run_cli_with({**credentials_env(emu), "OSS_REGION": emu.region}, *args, cwd=cwd)
    assert_no_secret(emu, run)
    return run


def _backup(emu: Emulator, tmp_path: Path, names: list[str]) -> Path:
    """A complete backup folder of `names`, made by `osspolicy run` of a backup job."""
    job = write_manifest(
        tmp_path / "made" / "backup.yaml",
        {
            "action": "backup",
            "targets": {"buckets": names},
            "connection": {"region": emu.region, "endpoint": emu.endpoint},
            "backup_dir": "backups",
            "report_dir": "reports",
        },
    )
    made = run_cli(emu, "run", job, cwd=job.parent)
    assert made.returncode == 0, made.stderr
    return only_folder(job.parent / "backups")


def test_get_in_an_empty_folder_leaves_it_empty(tmp_path: Path, oss_emulator: Emulator) -> None:
    """`get` prints the policy bytes exactly and writes nothing: no reports/, no backups/."""
    body = json.dumps(POLICY, indent=1).encode()
    oss_emulator.seed_buckets(["one-00001"], policy=body)
    cwd = _empty_cwd(tmp_path)
    got = run_cli(oss_emulator, "get", "one-00001", *_where(oss_emulator), cwd=cwd)
    assert got.returncode == 0, got.stderr
    assert got.stdout.encode() == body + b"\n"
    assert list(cwd.iterdir()) == []


def test_status_in_an_empty_folder_leaves_it_empty(
    tmp_path: Path, oss_emulator: Emulator, user_state_folder: Path
) -> None:
    """`status` answers and writes nothing, neither in the cwd nor in the state folder."""
    oss_emulator.seed_buckets(["one-00002"])
    cwd = _empty_cwd(tmp_path)
    done = run_cli(oss_emulator, "status", "one-00002", *_where(oss_emulator), cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "one-00002: policy: no; public: no; block public access: on"
    assert list(cwd.iterdir()) == []
    assert list(user_state_folder.iterdir()) == []


def test_a_failed_get_gives_no_resume_hint(tmp_path: Path, oss_emulator: Emulator) -> None:
    """A `get` of a bucket that does not exist fails (exit 1) without a word of --resume,
    and still writes nothing."""
    cwd = _empty_cwd(tmp_path)
    got = run_cli(oss_emulator, "get", "one-missing", *_where(oss_emulator), cwd=cwd)
    assert got.returncode == 1, got.stderr
    assert "NoSuchBucket" in got.stderr
    assert "resume" not in got.stderr.lower()
    assert got.stdout == ""
    assert list(cwd.iterdir()) == []


def test_put_keeps_its_job_in_the_state_folder_and_rollback_finds_it(
    tmp_path: Path, oss_emulator: Emulator, user_state_folder: Path
) -> None:
    """`put` keeps its report and snapshot under $XDG_STATE_HOME/osspolicy, not the cwd;
    `rollback JOB_ID` run from another folder finds the job there and undoes it."""
    oss_emulator.seed_buckets(["one-00001"])
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY), encoding="utf-8")
    cwd = _empty_cwd(tmp_path)
    put = run_cli(oss_emulator, "put", "one-00001", policy, *_where(oss_emulator), "--yes", cwd=cwd)
    assert put.returncode == 0, put.stderr
    assert list(cwd.iterdir()) == []
    state = user_state_folder / "osspolicy"
    (job,) = [p.name for p in (state / "reports").iterdir() if p.is_dir()]
    assert "-apply-" in job
    assert (state / "backups" / f"{job}-pre" / "index.jsonl").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    back = run_cli(
        oss_emulator, "rollback", job, "--endpoint", oss_emulator.endpoint, "--yes", cwd=elsewhere
    )
    assert back.returncode == 0, back.stderr
    assert f"job {job} found in {state / 'reports'}" in back.stderr
    assert oss_emulator.state.get_policy("one-00001") is None
    assert list(elsewhere.iterdir()) == []


def test_restore_bucket_restores_only_the_named_buckets(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`restore BACKUP --bucket a --bucket b` writes those two buckets and no other."""
    names = ["one-a", "one-b", "one-c"]
    oss_emulator.seed_buckets(names)
    backup = _backup(oss_emulator, tmp_path, names)
    for name in names:  # changed since the backup: each would need a write back
        oss_emulator.state.put_policy(name, json.dumps(POLICY).encode())
    oss_emulator.clear_log()
    cwd = _empty_cwd(tmp_path)
    done = run_cli(
        oss_emulator,
        "restore",
        backup,
        "--bucket",
        "one-a",
        "--bucket",
        "one-b",
        *_where(oss_emulator),
        "--yes",
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(entry.bucket for entry in policy_writes(oss_emulator)) == ["one-a", "one-b"]
    assert oss_emulator.state.get_policy("one-c") is not None


def test_restore_of_a_bucket_not_in_the_backup_is_its_failed_record(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`--bucket missing` is that bucket's `failed` record (NotInBackup), exit 1."""
    oss_emulator.seed_buckets(["one-a"])
    backup = _backup(oss_emulator, tmp_path, ["one-a"])
    cwd = _empty_cwd(tmp_path)
    done = run_cli(
        oss_emulator,
        "restore",
        backup,
        "--bucket",
        "one-missing",
        *_where(oss_emulator),
        "--yes",
        cwd=cwd,
    )
    assert done.returncode == 1, done.stderr
    report = only_folder(cwd / "reports")
    record = records_by_bucket(read_jsonl(report / "report.jsonl"))["one-missing"]
    assert (record["outcome"], record["error_code"]) == ("failed", "NotInBackup")


def test_restore_takes_its_region_from_oss_region(tmp_path: Path, oss_emulator: Emulator) -> None:
    """`restore` without --region signs with $OSS_REGION, as get/put do."""
    oss_emulator.seed_buckets(["one-a"])
    backup = _backup(oss_emulator, tmp_path, ["one-a"])
    oss_emulator.state.put_policy("one-a", json.dumps(POLICY).encode())
    cwd = _empty_cwd(tmp_path)
    done = _cli_with_region(
        oss_emulator, "restore", backup, "--endpoint", oss_emulator.endpoint, "--yes", cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    assert oss_emulator.state.get_policy("one-a") is None


def test_restore_of_a_report_folder_says_it_is_one(tmp_path: Path, oss_emulator: Emulator) -> None:
    """A job's report folder given as the backup: one line naming the job and its
    backup, exit 2, nothing sent."""
    oss_emulator.seed_buckets(["one-a"])
    backup = _backup(oss_emulator, tmp_path, ["one-a"])
    report = only_folder(tmp_path / "made" / "reports")
    oss_emulator.clear_log()
    done = run_cli(oss_emulator, "restore", report, *_where(oss_emulator), "--yes", cwd=tmp_path)
    assert_one_line_error(done)
    assert f"is a report folder of job {report.name}, not a backup" in done.stderr
    assert f"its backup is {backup}" in done.stderr
    assert oss_emulator.request_log == []


def test_restore_of_an_empty_folder_says_it_is_empty(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """An empty folder given as the backup: one line saying there is no backup, exit 2."""
    empty = tmp_path / "nothing"
    empty.mkdir()
    done = run_cli(oss_emulator, "restore", empty, *_where(oss_emulator), "--yes", cwd=tmp_path)
    assert_one_line_error(done)
    assert f"{empty}: is empty: no backup here" in done.stderr
    assert oss_emulator.request_log == []


def test_get_on_a_terminal_leaves_an_empty_folder_empty(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """With stderr on a terminal (a pty), `get` prints the policy and still writes nothing."""
    body = json.dumps(POLICY).encode()
    oss_emulator.seed_buckets(["one-00003"], policy=body)
    cwd = _empty_cwd(tmp_path)
    done = on_a_pty(oss_emulator, "get", "one-00003", *_where(oss_emulator), cwd=cwd)
    screen = done.screen
    assert done.returncode == 0, screen[-2000:]
    assert done.stdout == body + b"\n"
    assert "resume" not in screen.lower()
    assert list(cwd.iterdir()) == []
