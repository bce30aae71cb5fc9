"""What the command prints (contracts §3, §12, §15 "CLI"): `-q` keeps the errors, usage
errors are one line, nothing wraps off a terminal, counts read as words, `--json` on
every command and for errors, `change` null and CSV booleans, resume hints only where
resume helps, plan diffs and the prompt. Each through the real console script."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.results import Change, Outcome, Result
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    apply_manifest,
    assert_one_line_error,
    connection,
    on_a_pty,
    only_folder,
    read_jsonl,
    run_cli,
    write_manifest,
)
from .test_safety_e2e import on_terminal

PREFIX = "out-"


def _backup_job(emu: Emulator, folder: Path, buckets: list[str], **extra: Any) -> Path:
    return write_manifest(
        folder / "backup.yaml",
        {
            "action": "backup",
            "targets": {"buckets": buckets},
            "connection": connection(emu),
            "backup_dir": "backups",
            "report_dir": "reports",
            **extra,
        },
    )


def _policy(bucket: str) -> bytes:
    statement = {
        "Sid": "keep",
        "Effect": "Deny",
        "Principal": ["1234567890"],
        "Action": ["oss:GetObject"],
        "Resource": [f"acs:oss:*:*:{bucket}/tmp/*"],
    }
    return json.dumps({"Version": "1", "Statement": [statement]}).encode()


def test_quiet_prints_the_first_ten_errors_and_the_result_line(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`-q` on a job with 12 failures prints 10 of them, "… and 2 more", and the result line."""
    missing = [f"{PREFIX}gone-{i:02d}" for i in range(12)]
    job = _backup_job(oss_emulator, tmp_path, missing)
    run = run_cli(oss_emulator, "-q", "run", job, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    errors = [line for line in lines if line.startswith(f"  {PREFIX}gone-")]
    assert len(errors) == 10, run.stdout
    assert all("NoSuchBucket" in line for line in errors), run.stdout
    assert "  … and 2 more in the report" in lines, run.stdout
    assert lines[-1].startswith("12 buckets in "), run.stdout
    assert lines[-1].endswith("exit code 1"), run.stdout


@pytest.mark.parametrize(
    "args",
    [("--stats", "abc", "run", "job.yaml"), ("run", "job.yaml", "--concurrency", "x")],
    ids=["stats", "concurrency"],
)
def test_a_bad_option_value_is_one_line_and_exit_2(
    tmp_path: Path, oss_emulator: Emulator, args: tuple[str, ...]
) -> None:
    """A bad option value (ours or click's) is one `osspolicy: error:` line naming the
    option, exit 2, no traceback."""
    _backup_job(oss_emulator, tmp_path, [f"{PREFIX}a"]).rename(tmp_path / "job.yaml")
    run = run_cli(oss_emulator, *args, cwd=tmp_path)
    assert_one_line_error(run)
    assert ("--stats" if "--stats" in args else "--concurrency") in run.stderr


def test_a_long_line_off_a_terminal_is_not_wrapped(tmp_path: Path, oss_emulator: Emulator) -> None:
    """Off a terminal a line longer than 80 columns (a deep report path) stays one line."""
    bucket = f"{PREFIX}deep"
    oss_emulator.seed_buckets([bucket])
    deep = tmp_path.joinpath(*(f"folder-{i:02d}-of-a-deep-tree" for i in range(6)))
    job = _backup_job(oss_emulator, deep, [bucket], report_dir=str(deep / "reports"))
    run = run_cli(oss_emulator, "run", job, cwd=deep)
    assert run.returncode == 0, run.stderr
    folder = only_folder(deep / "reports")
    assert len(str(folder)) > 200
    assert f"report:  {folder}" in run.stdout.splitlines(), run.stdout


def test_one_bucket_reads_as_a_singular(tmp_path: Path, oss_emulator: Emulator) -> None:
    """A job of one bucket says `1 bucket`, never `1 buckets`."""
    bucket = f"{PREFIX}one"
    oss_emulator.seed_buckets([bucket])
    run = run_cli(oss_emulator, "run", _backup_job(oss_emulator, tmp_path, [bucket]), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "1 bucket in " in run.stdout
    # a count, not a rate: "(51 buckets/s)" holds "1 buckets" too
    assert re.search(r"(?<![\d,.])1 buckets\b(?!/s)", run.stdout + run.stderr) is None


def _where(emu: Emulator) -> list[str]:
    return ["--region", emu.region, "--endpoint", emu.endpoint]


@pytest.mark.parametrize(
    "command",
    [
        "validate",
        "plan",
        "run",
        "check",
        "jobs",
        "show",
        "get",
        "status",
        "put",
        "delete",
        "schema",
    ],
)
def test_json_prints_one_object_on_stdout(
    tmp_path: Path, oss_emulator: Emulator, command: str
) -> None:
    """`--json` is accepted by each command and prints one parseable JSON value on stdout."""
    bucket = f"{PREFIX}json"
    oss_emulator.seed_buckets([bucket], policy=_policy)
    (tmp_path / "policy.json").write_bytes(_policy(bucket))
    apply = write_manifest(
        tmp_path / "apply.yaml", apply_manifest(oss_emulator, tmp_path, prefix=PREFIX)
    )
    backup = _backup_job(oss_emulator, tmp_path, [bucket])
    first = run_cli(oss_emulator, "run", backup, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    job_id = only_folder(tmp_path / "reports").name
    args: dict[str, list[str | Path]] = {
        "validate": ["validate", apply],
        "plan": ["plan", apply],
        "run": ["run", backup],
        "check": ["check", apply],
        "jobs": ["jobs"],
        "show": ["show", job_id],
        "get": ["get", bucket, *_where(oss_emulator)],
        "status": ["status", bucket, *_where(oss_emulator)],
        "put": ["put", bucket, "policy.json", "--yes", *_where(oss_emulator)],
        "delete": ["delete", bucket, "--yes", *_where(oss_emulator)],
        "schema": ["schema"],
    }
    run = run_cli(oss_emulator, *args[command], "--json", cwd=tmp_path)
    assert run.returncode in {0, 3}, run.stderr
    value = json.loads(run.stdout)
    assert isinstance(value, dict | list)


def test_json_with_a_bad_manifest_prints_the_error_object(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`--json` with a configuration error prints `{"error", "exit_code": 2}` on stdout."""
    job = write_manifest(tmp_path / "bad.yaml", {"action": "backup", "nonsense": 1})
    run = run_cli(oss_emulator, "run", job, "--json", cwd=tmp_path)
    assert run.returncode == 2
    value = json.loads(run.stdout)
    assert value["exit_code"] == 2
    assert value["error"]
    assert run.stderr.startswith("osspolicy: error: ")


def test_json_with_a_usage_error_prints_the_error_object(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`--json` with a bad option value prints `{"error", "exit_code": 2}` on stdout."""
    run = run_cli(oss_emulator, "jobs", "--json", "--bogus", cwd=tmp_path)
    assert run.returncode == 2
    assert json.loads(run.stdout)["exit_code"] == 2


def test_change_is_null_and_csv_booleans_are_words(tmp_path: Path, oss_emulator: Emulator) -> None:
    """A record that writes nothing has `change` null in report.jsonl and an empty cell
    in report.csv, and the CSV's booleans are `true`/`false`."""
    with_policy, without = f"{PREFIX}has", f"{PREFIX}none"
    oss_emulator.seed_buckets([with_policy], policy=_policy)
    oss_emulator.seed_buckets([without])
    backup = run_cli(
        oss_emulator,
        "run",
        _backup_job(oss_emulator, tmp_path, [with_policy, without]),
        cwd=tmp_path,
    )
    assert backup.returncode == 0, backup.stderr
    source = only_folder(tmp_path / "backups")
    run = run_cli(oss_emulator, "restore", source, "--yes", *_where(oss_emulator), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (restore,) = (p for p in (tmp_path / "reports").iterdir() if "-restore-" in p.name)
    records = read_jsonl(restore / "report.jsonl")
    assert {r["outcome"] for r in records} == {"unchanged"}
    assert all(r["change"] is None for r in records)
    with (restore / "report.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert {row["change"] for row in rows} == {""}
    assert {row["had_policy"] for row in rows} == {"true", "false"}
    assert {row["canary"] for row in rows} == {"false"}


def test_an_older_records_none_change_still_reads() -> None:
    """A journal line of an older version (`change: "none"`) reads back as no write,
    as does the null of this version for a bucket left as it was."""
    old = {"bucket": "b", "region": "r", "action": "apply", "outcome": "unchanged"}
    assert Result.from_record({**old, "change": "none"}).change is Change.NONE
    assert Result.from_record({**old, "change": None}).change is Change.NONE
    fetched = {**old, "action": "backup", "outcome": "fetched", "change": None}
    assert Result.from_record(fetched).change is None
    assert Result.from_record({**old, "change": "none"}).outcome is Outcome.UNCHANGED


def test_a_one_bucket_command_that_fails_gives_no_resume_hint(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`get` of a bucket that does not exist fails without advising `--resume`."""
    run = run_cli(oss_emulator, "get", f"{PREFIX}absent", *_where(oss_emulator), cwd=tmp_path)
    assert run.returncode == 1
    assert "NoSuchBucket" in run.stderr
    assert "--resume" not in run.stdout + run.stderr


def test_a_job_left_unfinished_gives_the_resume_hint(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """A job whose failures a resume can retry ends with the `--resume JOB_ID` line."""
    job = _backup_job(oss_emulator, tmp_path, [f"{PREFIX}absent"])
    run = run_cli(oss_emulator, "run", job, cwd=tmp_path)
    job_id = only_folder(tmp_path / "reports").name
    assert f"resume it with: osspolicy run {job} --resume {job_id}" in run.stderr


def test_plan_shows_one_header_per_diff_sorted_by_bucket(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """Each diff of a plan has one header (`--- a/B`, `+++ b/B`), in bucket order."""
    names = [f"{PREFIX}{letter}" for letter in "dbca"]
    oss_emulator.seed_buckets(names)
    job = write_manifest(
        tmp_path / "apply.yaml", apply_manifest(oss_emulator, tmp_path, prefix=PREFIX)
    )
    run = run_cli(oss_emulator, "plan", job, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    headers = [line for line in run.stdout.splitlines() if line.startswith("--- ")]
    assert headers == [f"--- a/{name}" for name in sorted(names)], run.stdout
    assert "4 buckets would change" in run.stdout


def test_the_prompt_stands_apart_on_stderr(tmp_path: Path, oss_emulator: Emulator) -> None:
    """The confirmation question is on stderr after a blank line, apart from the plan."""
    oss_emulator.seed_buckets([f"{PREFIX}ask"])
    job = write_manifest(
        tmp_path / "apply.yaml", apply_manifest(oss_emulator, tmp_path, prefix=PREFIX)
    )
    run = on_terminal(oss_emulator, "run", job, answer="n\n", cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.splitlines()
    (asked,) = (i for i, line in enumerate(lines) if line.startswith("Write these 1 changes"))
    assert asked > 0
    assert lines[asked - 1] == "", run.stderr
    assert "Write these" not in run.stdout


def _big_policy(bucket: str) -> bytes:
    """A policy of about 16,000 bytes: under the limit alone, over it once merged."""
    statements = [
        {
            "Sid": f"big-{i:03d}",
            "Effect": "Deny",
            "Principal": ["1234567890"],
            "Action": ["oss:GetObject"],
            "Resource": [f"acs:oss:*:*:{bucket}/area-{i:03d}/*"],
        }
        for i in range(121)
    ]
    body = json.dumps({"Version": "1", "Statement": statements}, separators=(",", ":"))
    assert 16_000 < len(body) < 16_384
    return body.encode()


def test_too_large_after_merging_names_the_bucket_and_the_size(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """A policy over 16 KB once the baseline is merged fails that bucket with an error
    that names it and the merged size."""
    bucket = f"{PREFIX}big"
    oss_emulator.seed_buckets([bucket], policy=_big_policy)
    job = write_manifest(
        tmp_path / "apply.yaml", apply_manifest(oss_emulator, tmp_path, prefix=PREFIX)
    )
    run = run_cli(oss_emulator, "-q", "plan", job, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    (line,) = (line for line in run.stdout.splitlines() if line.startswith(f"  {bucket}:"))
    assert f"bucket {bucket}: " in line
    assert "merged with its policy" in line
    assert re.search(r"the policy body is 1\d,\d{3} bytes; it must be under 16,384", line), line


def test_a_resource_naming_another_bucket_is_a_warning_on_screen(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """A baseline whose Resource names another bucket makes a warning line on stderr."""
    bucket = f"{PREFIX}own"
    oss_emulator.seed_buckets([bucket])
    manifest = apply_manifest(oss_emulator, tmp_path, prefix=PREFIX)
    statement = {
        "Sid": "elsewhere",
        "Effect": "Deny",
        "Principal": ["1234567890"],
        "Action": ["oss:GetObject"],
        "Resource": ["acs:oss:*:*:someone-elses-bucket/*"],
    }
    (tmp_path / "baseline.json").write_text(
        json.dumps({"Version": "1", "Statement": [statement]}), encoding="utf-8"
    )
    run = run_cli(oss_emulator, "plan", write_manifest(tmp_path / "a.yaml", manifest), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    expected = (
        f"osspolicy: warning: {bucket}: resources naming other buckets: "
        "acs:oss:*:*:someone-elses-bucket/*"
    )
    assert expected in run.stderr.splitlines(), run.stderr


def test_quiet_on_a_terminal_prints_the_errors_and_the_result_line(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`-q` on a terminal shows each failure and the result line, and no progress bar."""
    job = _backup_job(oss_emulator, tmp_path, [f"{PREFIX}gone-a", f"{PREFIX}gone-b"])
    run = on_a_pty(oss_emulator, "-q", "run", job, cwd=tmp_path, stdout_too=True)
    code, screen = run.returncode, run.screen
    assert code == 1, screen
    lines = [line.strip() for line in screen.splitlines()]
    assert any(line.startswith(f"{PREFIX}gone-a: failed NoSuchBucket") for line in lines), screen
    assert any(line.startswith(f"{PREFIX}gone-b: failed NoSuchBucket") for line in lines), screen
    assert any(line.startswith("2 buckets in ") for line in lines), screen
