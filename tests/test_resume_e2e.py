"""Interrupt and resume end to end: `osspolicy run` in a subprocess against the in-process
emulator (20 ms latency), stopped by SIGKILL, SIGINT or SIGTERM, then `--resume`d.

The only waits are bounded polls of the job's report.jsonl, to interrupt it mid-way.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from osspolicy.emulator import Emulator

from .e2e_helpers import (
    JobProcess,
    apply_manifest,
    assert_one_line_error,
    bucket_names,
    current_policies,
    make_emulator,
    merged_bodies,
    only_folder,
    parsed,
    policy_writes,
    read_jsonl,
    records_by_bucket,
    run_cli,
    seed_mix,
    snapshot_index,
    temp_files,
    wait_until_quiet,
    write_manifest,
)

BUCKETS = 1000
LATENCY_MS = 20
CONCURRENCY = 32
SUCCESS = {"applied", "deleted", "unchanged"}


#: every job of this module runs once on each engine
pytestmark = pytest.mark.usefixtures("on_each_engine")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with make_emulator(latency_ms=LATENCY_MS) as emulator:
        yield emulator


@pytest.fixture
def originals(emu: Emulator) -> dict[str, bytes | None]:
    """1,000 buckets seeded with the mix of policies (a third without one)."""
    return seed_mix(emu, bucket_names(BUCKETS))


@pytest.fixture
def manifest(emu: Emulator, tmp_path: Path) -> Path:
    """apply.yaml: merge the baseline into every bucket, 32 at a time."""
    return write_manifest(
        tmp_path / "apply.yaml", apply_manifest(emu, tmp_path, concurrency=CONCURRENCY)
    )


def reports(tmp_path: Path) -> Path:
    return tmp_path / "reports"


def interrupted(
    emu: Emulator, manifest: Path, signum: signal.Signals, *, after: int = 100
) -> tuple[int, Path]:
    """Start the apply job, send `signum` once it has `after` records; (exit code, folder)."""
    job = JobProcess(emu, "run", manifest, "--yes", cwd=manifest.parent)
    report = job.wait_for_records(reports(manifest.parent), after)
    job.send(signum)
    return job.finish().returncode, report.parent


def resume(emu: Emulator, manifest: Path, *job_id: str) -> int:
    run = run_cli(emu, "run", manifest, "--resume", *job_id, "--yes", cwd=manifest.parent)
    assert "Traceback" not in run.stderr
    return run.returncode


def assert_applied_once(emu: Emulator, folder: Path, originals: dict[str, bytes | None]) -> None:
    """Every bucket holds the expected merge, and the report lists each bucket once."""
    records = records_by_bucket(read_jsonl(folder / "report.jsonl"))
    assert set(records) == set(originals)
    assert {record["outcome"] for record in records.values()} <= SUCCESS
    expected = merged_bodies(originals)
    assert {name: parsed(body) for name, body in current_policies(emu, originals).items()} == (
        expected
    )


# -- 7. SIGKILL, resume, rollback -----------------------------------------------------------


def test_a_killed_job_resumes_to_the_right_end_and_rolls_back_to_the_originals(
    emu: Emulator, originals: dict[str, bytes | None], manifest: Path, tmp_path: Path
) -> None:
    """A job SIGKILLed mid-way and resumed gives every bucket its merge once, never wrote
    a bucket without its snapshot on disk, and its rollback restores every original byte."""
    returncode, folder = interrupted(emu, manifest, signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    assert (folder / "report.jsonl").read_bytes().count(b"\n") < BUCKETS  # stopped mid-way
    job_id = folder.name

    assert resume(emu, manifest) == 0

    assert only_folder(reports(tmp_path)) == folder
    assert_applied_once(emu, folder, originals)
    snapshot_folder = tmp_path / "backups" / f"{job_id}-pre"
    snapshot = snapshot_index(snapshot_folder)
    writes = policy_writes(emu)
    assert writes
    for write in writes:
        assert write.bucket is not None
        original = originals[write.bucket]
        entry = snapshot.get(write.bucket)
        assert entry is not None, f"{write.bucket} was written without a snapshot"
        assert entry["had_policy"] is (original is not None)
        if original is not None:
            saved = snapshot_folder / "policies" / f"{write.bucket}.json"
            assert saved.read_bytes() == original
            assert saved.stat().st_mtime <= write.time, f"{write.bucket}: saved after the write"

    rollback = run_cli(
        emu, "rollback", job_id, "--report-dir", reports(tmp_path), "--yes", cwd=tmp_path
    )

    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert current_policies(emu, originals) == originals


# -- 8. SIGINT and SIGTERM ------------------------------------------------------------------


def test_sigint_exits_130_with_report_and_journal_flushed_and_no_temporary_file(
    emu: Emulator, originals: dict[str, bytes | None], manifest: Path, tmp_path: Path
) -> None:
    """SIGINT stops the job with exit 130, its report and journal complete and in step
    (one journal line per report record), no temporary file left, its last line the
    exact command that resumes it (with the `--yes` the job was started with, so that it
    works as pasted off a terminal), and `--resume` ends it."""
    job = JobProcess(emu, "run", manifest, "--yes", cwd=manifest.parent)
    folder = job.wait_for_records(reports(manifest.parent), 100).parent
    job.send(signal.SIGINT)
    stopped = job.finish()
    returncode = stopped.returncode

    assert returncode == 130
    assert stopped.stderr.strip().splitlines()[-1] == (
        f"resume it with: osspolicy run {manifest} --resume {folder.name} --yes"
    )
    report = read_jsonl(folder / "report.jsonl")
    journal = read_jsonl(folder / "journal.jsonl")
    assert journal[0]["journal"] == 1
    assert not any(record.get("finished") for record in journal)
    assert [r["bucket"] for r in journal[1:]] == [r["bucket"] for r in report]
    assert [r["outcome"] for r in journal[1:]] == [r["outcome"] for r in report]
    assert (folder / "report.csv").read_bytes().count(b"\n") == len(report) + 1
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["exit_code"] == 130
    assert temp_files(tmp_path) == []
    snapshot_folder = tmp_path / "backups" / f"{folder.name}-pre"
    assert (snapshot_folder / "policies").is_dir()
    assert not (snapshot_folder / "summary.json").exists()

    assert resume(emu, manifest) == 0
    assert_applied_once(emu, folder, originals)


def test_sigterm_exits_143_and_leaves_the_job_resumable(
    emu: Emulator, originals: dict[str, bytes | None], manifest: Path
) -> None:
    """SIGTERM stops the job with exit 143 and its journal stays unfinished (resumable)."""
    returncode, folder = interrupted(emu, manifest, signal.SIGTERM)

    assert returncode == 143
    journal = read_jsonl(folder / "journal.jsonl")
    assert not any(record.get("finished") for record in journal)


# -- 9. a changed manifest ------------------------------------------------------------------


@pytest.mark.parametrize("by_id", [False, True], ids=["--resume", "--resume JOB_ID"])
def test_resume_with_a_changed_manifest_is_refused_before_any_request(
    emu: Emulator, originals: dict[str, bytes | None], manifest: Path, by_id: bool
) -> None:
    """`--resume` after the manifest changed in what decides the outcome (the policy
    mode) exits 2 with one line and sends nothing. Without a job id the line names the
    unfinished job and the copy of the manifest it ran, and the command it suggests
    finishes that job."""
    _, folder = interrupted(emu, manifest, signal.SIGKILL, after=20)
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    data["policy"]["mode"] = "replace"
    write_manifest(manifest, data)
    wait_until_quiet(emu)
    emu.clear_log()

    run = run_cli(
        emu,
        "run",
        manifest,
        "--resume",
        *([folder.name] if by_id else []),
        "--yes",
        cwd=manifest.parent,
    )

    assert_one_line_error(run)
    assert emu.request_log == []
    if by_id:
        assert "manifest changed" in run.stderr
        return
    kept = folder / "manifest.yaml"
    assert f"the unfinished job {folder.name} ran another manifest" in run.stderr
    assert f"osspolicy run {kept} --resume {folder.name}" in run.stderr
    assert f"osspolicy rollback {folder.name} --report-dir {folder.parent}" in run.stderr
    assert resume(emu, kept, folder.name) == 0
    assert_applied_once(emu, folder, originals)


# -- 10. a torn journal line ------------------------------------------------------------------


def test_resume_tolerates_a_torn_last_journal_line(
    emu: Emulator, originals: dict[str, bytes | None], manifest: Path
) -> None:
    """A journal whose last line is torn (half a record) resumes to exit 0 with one
    record per bucket."""
    _, folder = interrupted(emu, manifest, signal.SIGKILL, after=50)
    journal = folder / "journal.jsonl"
    raw = journal.read_bytes()
    if not raw.endswith(b"\n"):  # the kill tore it already: make it a whole-line file
        raw = raw[: raw.rfind(b"\n") + 1]
    last = raw.splitlines(keepends=True)[-1]
    journal.write_bytes(raw + last[: len(last) // 2])

    assert resume(emu, manifest) == 0
    assert_applied_once(emu, folder, originals)
