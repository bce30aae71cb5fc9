"""The CLI for daily use: one-bucket commands, options anywhere, status lines, overrides."""

from __future__ import annotations

import json
import re
from pathlib import Path

from osspolicy.emulator import Emulator

from .e2e_helpers import (
    on_a_pty,
    run_cli,
)

POLICY = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "deny-tmp",
            "Effect": "Deny",
            "Principal": ["1234567890"],
            "Action": ["oss:GetObject"],
            "Resource": ["acs:oss:*:*:desk-00001/tmp/*"],
        }
    ],
}


def _policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(POLICY), encoding="utf-8")
    return path


def _where(emu: Emulator) -> tuple[str, ...]:
    return ("--region", emu.region, "--endpoint", emu.endpoint)


def _long_backup(tmp_path: Path, emu: Emulator, prefix: str) -> Path:
    """A backup job of 2,000 buckets at 50 ms latency: a few seconds at c=64."""
    names = [f"{prefix}{i:05d}" for i in range(2000)]
    emu.seed_buckets(names)
    emu.set_latency(50)
    (tmp_path / "names.txt").write_text("\n".join(names))
    job = tmp_path / "job.yaml"
    job.write_text(
        "action: backup\ntargets:\n  buckets_file: names.txt\n"
        f"connection:\n  region: {emu.region}\n  endpoint: {emu.endpoint}\n"
        "concurrency: 64\n"
    )
    return job


def test_put_takes_a_snapshot_and_rollback_of_its_job_restores_the_bucket(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`put` replaces a bucket's policy through a one-target apply job (report folder,
    snapshot first, here in the cwd by --report-dir/--backup-dir); `rollback` of that job
    puts the bucket back as it was."""
    oss_emulator.seed_buckets(["desk-00001"])
    put = run_cli(
        oss_emulator,
        "put",
        "desk-00001",
        _policy_file(tmp_path),
        *_where(oss_emulator),
        "--report-dir",
        "reports",
        "--backup-dir",
        "backups",
        "--yes",
        cwd=tmp_path,
    )
    assert put.returncode == 0, put.stderr
    assert json.loads(oss_emulator.state.get_policy("desk-00001") or b"null") == POLICY
    (job,) = [p.name for p in (tmp_path / "reports").iterdir() if "-apply-" in p.name]
    snapshot = tmp_path / "backups" / f"{job}-pre" / "index.jsonl"
    assert json.loads(snapshot.read_text())["had_policy"] is False
    back = run_cli(
        oss_emulator, "rollback", job, "--endpoint", oss_emulator.endpoint, "--yes", cwd=tmp_path
    )
    assert back.returncode == 0, back.stderr
    assert oss_emulator.state.get_policy("desk-00001") is None


def test_get_prints_the_policy_bytes(tmp_path: Path, oss_emulator: Emulator) -> None:
    """`get` prints the policy exactly as stored (stdout), through a one-bucket read job
    that writes nothing (test_onebucket_e2e.py)."""
    body = json.dumps(POLICY, indent=1).encode()
    oss_emulator.seed_buckets(["desk-00001"], policy=body)
    got = run_cli(oss_emulator, "get", "desk-00001", *_where(oss_emulator), cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert got.stdout.encode() == body + b"\n"


def test_status_says_policy_public_and_block_public_access(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`status` reads the policy and Block Public Access and applies the public rule."""
    public = {
        "Version": "1",
        "Statement": [
            {
                "Sid": "everyone-reads",
                "Effect": "Allow",
                "Principal": ["*"],
                "Action": ["oss:GetObject"],
                "Resource": ["acs:oss:*:*:desk-00002/*"],
            }
        ],
    }
    oss_emulator.seed_buckets(
        ["desk-00002"], policy=json.dumps(public).encode(), block_public_access=False
    )
    oss_emulator.seed_buckets(["desk-00003"])
    public_one = run_cli(oss_emulator, "status", "desk-00002", *_where(oss_emulator), cwd=tmp_path)
    plain = run_cli(oss_emulator, "status", "desk-00003", *_where(oss_emulator), cwd=tmp_path)
    assert public_one.stdout.strip() == (
        "desk-00002: policy: yes; public: yes (everyone-reads); block public access: off"
    )
    assert plain.stdout.strip() == "desk-00003: policy: no; public: no; block public access: on"


def test_delete_without_yes_and_without_a_terminal_sends_nothing(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """A one-bucket write is gated like any job: no terminal, no --yes: exit 2, no request."""
    oss_emulator.seed_buckets(["desk-00004"], policy=json.dumps(POLICY).encode())
    oss_emulator.clear_log()
    done = run_cli(oss_emulator, "delete", "desk-00004", *_where(oss_emulator), cwd=tmp_path)
    assert done.returncode == 2
    assert "--yes" in done.stderr
    assert oss_emulator.request_log == []


def test_global_options_work_after_the_subcommand(tmp_path: Path, oss_emulator: Emulator) -> None:
    """`-q` after the subcommand prints only the result line (as before it would)."""
    oss_emulator.seed_buckets(["desk-00005"])
    done = run_cli(oss_emulator, "get", "desk-00005", *_where(oss_emulator), "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0].startswith("1 bucket in ")


def test_a_long_job_without_a_terminal_prints_status_lines(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """Without a terminal a running job prints one-line status reports (rclone's --stats
    style), each with done/total, failures and the rate, before its summary."""
    job = _long_backup(tmp_path, oss_emulator, "stat-")
    done = run_cli(oss_emulator, "run", job, "--stats", "0.2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("osspolicy: backup")]
    assert lines, done.stderr
    assert all("/2,000 done, 0 failed" in line for line in lines), lines
    moving = [line for line in lines if "ETA" in line]
    assert moving, lines  # once buckets are done, the rate gives an ETA
    assert all("/s" in line for line in moving), lines


def test_pace_overrides_reach_the_effective_manifest(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """--rate-limit, --attempts and --engine override the manifest, as recorded."""
    oss_emulator.seed_buckets(["desk-00006"])
    job = tmp_path / "job.yaml"
    job.write_text(
        "action: backup\ntargets:\n  buckets: [desk-00006]\n"
        f"connection:\n  region: {oss_emulator.region}\n  endpoint: {oss_emulator.endpoint}\n"
    )
    done = run_cli(
        oss_emulator,
        "run",
        job,
        "--rate-limit",
        "100",
        "--attempts",
        "3",
        "--engine",
        "aio",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (folder,) = (tmp_path / "reports").iterdir()
    recorded = (folder / "manifest.yaml").read_text()
    assert "rate_limit: 100.0" in recorded
    assert "attempts: 3" in recorded
    assert "engine: aio" in recorded


def test_a_job_on_a_terminal_shows_total_rate_and_eta(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """With stderr on a terminal the progress bar shows done/total, the rate and an ETA."""
    job = _long_backup(tmp_path, oss_emulator, "tty-")
    done = on_a_pty(oss_emulator, "run", job, cwd=tmp_path)
    screen = done.screen
    assert done.returncode == 0, screen[-2000:]
    assert re.search(r"\b\d+/2000\b", screen), screen[-2000:]
    assert re.search(r"\d[\d,]*/s", screen), screen[-2000:]
    assert re.search(r"\d+:\d\d:\d\d", screen), screen[-2000:]  # elapsed and remaining
