"""Honest results (issue 11) end to end: the `osspolicy` command (in-process through its
own `main`, and once as a subprocess), the real SDK, the in-process emulator over HTTP.

A listing that fails part-way, buckets that cannot be backed up, a plan right after an
apply, drift checks, and `--json`: each says what really happened, in its exit code,
its summaries and its output, and a resumed job ends with one record per bucket.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from osspolicy.cli import main
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    CliRun,
    apply_manifest,
    assert_no_secret,
    assert_one_line_error,
    bucket_names,
    connection,
    make_emulator,
    read_jsonl,
    records_by_bucket,
    seed_mix,
    snapshot_index,
    write_manifest,
)

#: no waiting between tries: a failure is known after two requests
FAST_RETRY = {"attempts": 2, "base_delay_s": 0, "max_delay_s": 0}
#: ListBuckets, as the emulator keys its requests: a GET on the service, no sub-resource
LIST_BUCKETS = ("GET", "", "")
BACKUP_SUCCESS = {"fetched", "no_policy"}
#: what "someone changed it by hand" puts on a bucket
OTHER_POLICY = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": ["20214760404935"],
                "Action": ["oss:GetObject"],
                "Resource": ["acs:oss:*:*:elsewhere/*"],
            }
        ],
    }
).encode()

Osspolicy = Callable[..., CliRun]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with make_emulator() as emulator:
        yield emulator


@pytest.fixture
def osspolicy(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Osspolicy:
    """`osspolicy ARGS` through the command's own `main` (exit code, stdout, stderr), run
    in `tmp_path` with the emulator's key pair: the subprocess's behaviour without its
    seconds of start-up per call."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", emu.access_key_id)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emu.access_key_secret)
    monkeypatch.delenv("COLUMNS", raising=False)

    def run(*args: str | Path) -> CliRun:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exited:
            main([str(arg) for arg in args])
        code = exited.value.code
        done = CliRun(code if isinstance(code, int) else 0, out.getvalue(), err.getvalue())
        assert_no_secret(emu, done)
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        return done

    return run


def backup_job(emu: Emulator, folder: Path, *, prefix: str, **extra: Any) -> Path:
    """backup.yaml: every bucket named `prefix*`, found by ListBuckets."""
    return write_manifest(
        folder / "backup.yaml",
        {
            "action": "backup",
            "targets": {"discover": {"prefix": prefix}},
            "connection": connection(emu),
            "concurrency": 32,
            "retry": FAST_RETRY,
            "backup_dir": "backups",
            "report_dir": "reports",
            **extra,
        },
    )


def only_job(folder: Path, kind: str) -> Path:
    """The one report (or backup) folder of a `kind` job in `folder`."""
    found = [p for p in folder.iterdir() if p.is_dir() and f"-{kind}-" in p.name]
    found = [p for p in found if not p.name.endswith("-pre")]
    assert len(found) == 1, found
    return found[0]


def summary_of(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    return data


def assert_backup_is_exact(emu: Emulator, backup: Path, names: list[str]) -> None:
    """Every bucket once in the index; each policy file byte-identical to the emulator's."""
    index = read_jsonl(backup / "index.jsonl")
    assert Counter(e["bucket"] for e in index) == Counter(names)
    for entry in index:
        stored = emu.state.get_policy(entry["bucket"])
        file = backup / "policies" / f"{entry['bucket']}.json"
        assert entry["had_policy"] is (stored is not None)
        assert (file.read_bytes() if file.exists() else None) == stored


# -- 1. a listing that fails after its first page --------------------------------------------


def test_a_listing_failing_on_page_2_fails_the_backup_and_resume_completes_it(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """1,500 buckets, ListBuckets failing from page 2 on: exit 1, both summaries and the
    output say the listing failed on page 2, no finished line, restore refuses the backup
    with nothing sent; once fixed, `--resume` completes it, every bucket once and exact."""
    names = bucket_names(1500, "lf-")
    seed_mix(emu, names)
    job = backup_job(emu, tmp_path, prefix="lf-")
    emu.script_fault(*LIST_BUCKETS, skip=1, count=1000)

    failed = osspolicy("run", job)

    assert failed.returncode == 1, failed.stderr
    assert "ListBuckets failed on page 2" in failed.stdout
    assert "listing failed" in failed.stdout
    report = only_job(tmp_path / "reports", "backup")
    backup = tmp_path / "backups" / report.name
    summary = summary_of(report)
    assert summary["exit_code"] == 1
    assert "ListBuckets failed on page 2" in summary["targets_error"]
    assert (summary["complete"], summary["listing_complete"]) == (False, False)
    backup_summary = summary_of(backup)
    assert (backup_summary["complete"], backup_summary["listing_complete"]) == (False, False)
    assert backup_summary["buckets"] == 1000  # page 1, all of it, and nothing else
    records = records_by_bucket(read_jsonl(report / "report.jsonl"))
    assert sorted(records) == names[:1000]
    assert {r["outcome"] for r in records.values()} <= BACKUP_SUCCESS
    assert not any(line.get("finished") for line in read_jsonl(report / "journal.jsonl"))

    emu.clear_log()
    refused = osspolicy("restore", backup, "--region", emu.region, "--endpoint", emu.endpoint)
    assert_one_line_error(refused)
    assert "incomplete backup" in refused.stderr
    assert emu.request_log == []

    emu.clear_scripted_faults()
    resumed = osspolicy("run", job, "--resume")

    assert resumed.returncode == 0, resumed.stdout
    assert only_job(tmp_path / "reports", "backup") == report
    backup_summary = summary_of(backup)
    assert (backup_summary["complete"], backup_summary["listing_complete"]) == (True, True)
    assert (backup_summary["missing"], backup_summary["buckets"]) == (0, 1500)
    assert not (backup / "missing.txt").exists()
    assert_backup_is_exact(emu, backup, names)
    records = records_by_bucket(read_jsonl(report / "report.jsonl"))
    assert sorted(records) == names


# -- 2. buckets that fail for good ---------------------------------------------------------


def deny(emu: Emulator, buckets: list[str]) -> None:
    """Every GetBucketPolicy of `buckets` answers 403 AccessDenied until cleared."""
    for bucket in buckets:
        emu.script_fault("GET", bucket, "policy", count=1000, status=403, code="AccessDenied")


def test_a_backup_missing_20_buckets_is_refused_restored_only_when_allowed_and_resumed(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """20 of 120 buckets denied for good: exit 1, missing.txt names exactly them, restore
    refuses it (2) unless --allow-incomplete, which restores the rest and skips the 20
    (note `missing`); once allowed, `--resume` completes it, one record per bucket."""
    names = bucket_names(120, "mb-")
    originals = seed_mix(emu, names)
    denied = names[5::6][:20]
    deny(emu, denied)
    job = backup_job(emu, tmp_path, prefix="mb-")

    failed = osspolicy("run", job)

    assert failed.returncode == 1
    assert "INCOMPLETE: 20 buckets missing" in failed.stdout
    report = only_job(tmp_path / "reports", "backup")
    backup = tmp_path / "backups" / report.name
    assert (backup / "missing.txt").read_text().splitlines() == denied
    backup_summary = summary_of(backup)
    assert (backup_summary["complete"], backup_summary["missing"]) == (False, 20)
    assert backup_summary["listing_complete"] is True
    records = records_by_bucket(read_jsonl(report / "report.jsonl"))
    assert {b for b, r in records.items() if r["outcome"] == "failed"} == set(denied)
    assert {records[b]["error_code"] for b in denied} == {"AccessDenied"}

    # every policy changes after the backup, so that restore has work to do
    for bucket in names:
        emu.state.put_policy(bucket, OTHER_POLICY)
    restore = ("restore", backup, "--region", emu.region, "--endpoint", emu.endpoint, "--yes")
    emu.clear_log()
    refused = osspolicy(*restore)
    assert_one_line_error(refused)
    assert "20 buckets are missing" in refused.stderr
    assert emu.request_log == []

    allowed = osspolicy(*restore, "--allow-incomplete")

    assert allowed.returncode == 0, allowed.stdout
    restored = records_by_bucket(
        read_jsonl(only_job(tmp_path / "reports", "restore") / "report.jsonl")
    )
    assert set(restored) == set(names)
    for bucket in denied:
        assert (restored[bucket]["outcome"], restored[bucket]["note"]) == ("skipped", "missing")
        assert emu.state.get_policy(bucket) == OTHER_POLICY
    for bucket in set(names) - set(denied):
        assert restored[bucket]["outcome"] in {"applied", "deleted"}
        assert emu.state.get_policy(bucket) == originals[bucket]

    emu.clear_scripted_faults()
    resumed = osspolicy("run", job, "--resume")

    assert resumed.returncode == 0, resumed.stdout
    backup_summary = summary_of(backup)
    assert (backup_summary["complete"], backup_summary["missing"]) == (True, 0)
    assert not (backup / "missing.txt").exists()
    records = records_by_bucket(read_jsonl(report / "report.jsonl"))
    assert sorted(records) == names
    assert {r["outcome"] for r in records.values()} <= BACKUP_SUCCESS
    assert_backup_is_exact(emu, backup, names)


def test_restore_refuses_a_backup_of_zero_buckets(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """A complete backup that found no bucket is refused by restore: exit 2, one line,
    nothing sent."""
    emu.seed_buckets(bucket_names(3, "zz-"))
    job = backup_job(emu, tmp_path, prefix="none-")
    assert osspolicy("run", job).returncode == 0
    backup = only_job(tmp_path / "backups", "backup")
    assert summary_of(backup)["buckets"] == 0
    emu.clear_log()

    refused = osspolicy("restore", backup, "--region", emu.region, "--yes")

    assert_one_line_error(refused)
    assert "holds no bucket" in refused.stderr
    assert emu.request_log == []


def test_rollback_of_a_job_that_changed_nothing_exits_0_and_writes_nothing(
    emu: Emulator, tmp_path: Path, osspolicy: Osspolicy
) -> None:
    """An apply run twice: the second changes nothing, so its snapshot holds no bucket and
    rolling it back exits 0 without a write."""
    seed_mix(emu, bucket_names(18, "rb-"))
    job = write_manifest(tmp_path / "apply.yaml", apply_manifest(emu, tmp_path, prefix="rb-"))
    assert osspolicy("run", job, "--yes").returncode == 0
    first = {p.name for p in (tmp_path / "reports").iterdir()}
    assert osspolicy("run", job, "--yes").returncode == 0
    (latest,) = {p.name for p in (tmp_path / "reports").iterdir()} - first
    assert snapshot_index(tmp_path / "backups" / f"{latest}-pre") == {}
    emu.clear_log()

    rolled = osspolicy("rollback", latest, "--report-dir", "reports", "--yes")

    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert [e for e in emu.request_log if e.method in {"PUT", "DELETE"}] == []
