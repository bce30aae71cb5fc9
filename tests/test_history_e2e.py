"""Job history end to end: real jobs against the emulator fill one report folder, then
`osspolicy jobs` and `osspolicy show` (and `history.py` under them) read it back.

The jobs: a complete backup, a backup with two buckets the service refuses (so an
incomplete backup), an apply with one refused bucket (a snapshot, a failure), and a
backup SIGKILLed mid-way (no summary.json anywhere: unfinished).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from osspolicy._internal.cli import main
from osspolicy._internal.history import list_jobs, show_job
from osspolicy._internal.job import run_job
from osspolicy._internal.manifest import load_manifest
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    CliRun,
    JobProcess,
    apply_manifest,
    assert_one_line_error,
    bucket_names,
    connection,
    make_emulator,
    no_sleep,
    seed_mix,
    write_manifest,
)

BUCKETS = 30
REFUSED = ("e2e-00004", "e2e-00011")
KILLED_BUCKETS = 400


@dataclass(frozen=True)
class History:
    """The report folder the module's jobs filled, and their ids by name."""

    root: Path
    emu: Emulator
    ids: dict[str, str]

    @property
    def reports(self) -> Path:
        return self.root / "reports"


def _backup_manifest(emu: Emulator, root: Path, name: str, prefix: str = "e2e-") -> Path:
    data = {
        "action": "backup",
        "targets": {"discover": {"prefix": prefix}},
        "connection": connection(emu),
        "retry": {"attempts": 2},
        "backup_dir": "backups",
        "report_dir": "reports",
    }
    return write_manifest(root / name, data)


def _run(path: Path) -> str:
    """Run a manifest in-process (retries do not wait); its job id."""

    async def go() -> str:
        run = await run_job(load_manifest(path), sleep=no_sleep)
        return run.job_id

    return anyio.run(go)


def _killed_backup(root: Path) -> str:
    """A backup of a slow emulator's buckets, SIGKILLed after some records: the job
    leaves report.jsonl and a backup folder, and no summary.json in either."""
    with make_emulator(latency_ms=20) as slow:
        slow.seed_buckets(bucket_names(KILLED_BUCKETS, "slow-"))
        manifest = _backup_manifest(slow, root, "killed.yaml", prefix="slow-")
        job = JobProcess(slow, "run", manifest, "--concurrency", "4", cwd=root)
        report = job.wait_for_records(root / "reports", 10)
        job.send(signal.SIGKILL)
        assert job.finish().returncode == -signal.SIGKILL
        return report.parent.name


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    root = tmp_path_factory.mktemp("history")
    with make_emulator() as emu, pytest.MonkeyPatch.context() as env:
        env.setenv("OSS_ACCESS_KEY_ID", emu.access_key_id)
        env.setenv("OSS_ACCESS_KEY_SECRET", emu.access_key_secret)
        seed_mix(emu, bucket_names(BUCKETS))
        ids: dict[str, str] = {"killed": _killed_backup(root)}  # first: the report folder is empty
        ids["backup"] = _run(_backup_manifest(emu, root, "backup.yaml"))
        for bucket in REFUSED:
            emu.script_fault("GET", bucket, "policy", status=403, code="AccessDenied")
        ids["bad_backup"] = _run(_backup_manifest(emu, root, "backup.yaml"))
        emu.script_fault("PUT", "e2e-00001", "policy", status=403, code="AccessDenied")
        ids["apply"] = _run(write_manifest(root / "apply.yaml", apply_manifest(emu, root)))
        yield History(root, emu, ids)


def test_jobs_lists_every_job_newest_first_with_its_counts(history: History) -> None:
    """Every job of the report folder is listed once, newest first, with the counts
    and exit code its own summary.json holds."""
    entries = list_jobs(history.reports)
    ids = history.ids
    assert [e.job_id for e in entries] == [
        ids["apply"],
        ids["bad_backup"],
        ids["backup"],
        ids["killed"],
    ]
    by_id = {e.job_id: e for e in entries}
    for job_id in (ids["backup"], ids["bad_backup"], ids["apply"]):
        summary = json.loads((history.reports / job_id / "summary.json").read_bytes())
        entry = by_id[job_id]
        assert dict(entry.counts) == {k: v for k, v in summary["counts"].items() if v}
        assert entry.exit_code == summary["exit_code"]
        assert entry.total == BUCKETS
    assert by_id[ids["backup"]].counts == {"fetched": 20, "no_policy": 10}
    assert by_id[ids["bad_backup"]].failed == len(REFUSED)
    assert (by_id[ids["backup"]].status, by_id[ids["bad_backup"]].status) == ("ok", "failed")


def test_jobs_tells_a_complete_backup_from_an_incomplete_one(history: History) -> None:
    """A backup's entry says complete only when its backup folder's summary.json does;
    the one with refused buckets is incomplete and counts them missing."""
    by_id = {e.job_id: e for e in list_jobs(history.reports)}
    good, bad = by_id[history.ids["backup"]].backup, by_id[history.ids["bad_backup"]].backup
    assert good is not None
    assert bad is not None
    assert (good.kind, good.complete, good.missing, good.buckets) == ("backup", True, 0, BUCKETS)
    assert (bad.kind, bad.complete, bad.missing) == ("backup", False, len(REFUSED))
    assert bad.folder == history.root / "backups" / history.ids["bad_backup"]


def test_an_unfinished_job_is_listed_as_such_with_what_it_wrote(history: History) -> None:
    """A SIGKILLed backup has no exit code, counts the records it wrote, and its backup
    (no summary.json) is incomplete."""
    entry = next(e for e in list_jobs(history.reports) if e.job_id == history.ids["killed"])
    assert (entry.status, entry.exit_code, entry.finished) == ("unfinished", None, False)
    written = (history.reports / entry.job_id / "report.jsonl").read_bytes().count(b"\n")
    assert 10 <= entry.total <= written
    assert entry.backup is not None
    assert (entry.backup.finished, entry.backup.complete) == (False, False)


def test_an_apply_job_shows_its_snapshot(history: History) -> None:
    """A writing job's backup is its `-pre` snapshot, found through its recorded
    manifest, holding every bucket it wrote or tried to; a snapshot has no completeness,
    and the refused write is listed as the job's one failure."""
    detail = show_job(history.reports, history.ids["apply"])
    snapshot = detail.entry.backup
    assert snapshot is not None
    assert snapshot.kind == "snapshot"
    assert snapshot.folder == history.root / "backups" / f"{history.ids['apply']}-pre"
    assert snapshot.complete is None
    assert detail.files["snapshot"] == snapshot.folder
    assert snapshot.buckets == detail.entry.counts["applied"] + 1
    assert [(f["bucket"], f["error_code"]) for f in detail.failures] == [
        ("e2e-00001", "AccessDenied")
    ]


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> CliRun:
    """`osspolicy ARGS` in this process (the console entry point, exit code included)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main([str(arg) for arg in args])
    captured = capsys.readouterr()
    code = exited.value.code
    return CliRun(code if isinstance(code, int) else 0, captured.out, captured.err)


def test_jobs_cli_prints_one_line_per_job(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    """`osspolicy jobs` prints a line per job, marking the incomplete backup and the
    unfinished job."""
    run = cli(capsys, "jobs", "--report-dir", history.reports)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 1 + len(history.ids)
    by_id = {line.split()[0]: line for line in lines[1:]}
    assert by_id[history.ids["bad_backup"]].endswith("INCOMPLETE: 2 missing")
    assert by_id[history.ids["backup"]].endswith("complete")
    assert " unfinished " in by_id[history.ids["killed"]]
    assert "failed 1" in by_id[history.ids["apply"]]


def test_jobs_json_is_the_list_as_data(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`osspolicy jobs --json` (report folder `reports` of the working folder) prints
    the same jobs in the same order as one JSON list."""
    monkeypatch.chdir(history.root)
    run = cli(capsys, "jobs", "--json")
    data = json.loads(run.stdout)
    assert [item["job_id"] for item in data] == [e.job_id for e in list_jobs(history.reports)]
    bad = next(item for item in data if item["job_id"] == history.ids["bad_backup"])
    assert (bad["complete"], bad["backup"]["missing"], bad["exit_code"]) == (False, 2, 1)


def test_jobs_without_a_report_folder_is_one_line(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    """`osspolicy jobs` of a folder that does not exist exits 2 in one line."""
    run = cli(capsys, "jobs", "--report-dir", history.root / "nowhere")
    assert_one_line_error(run)


def test_show_of_a_failed_job_lists_its_failures(
    history: History, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`osspolicy show` of the backup with refused buckets names each failed bucket
    with its error code, and where the report, backup and missing list are."""
    monkeypatch.chdir(history.root)
    job_id = history.ids["bad_backup"]
    run = cli(capsys, "show", job_id)
    assert run.returncode == 0, run.stderr
    for bucket in REFUSED:
        assert f"{bucket}: failed AccessDenied" in run.stdout
    backup = history.root / "backups" / job_id
    assert f"backup:    {backup}" in run.stdout
    assert f"report:    {history.reports / job_id / 'report.jsonl'}" in run.stdout
    data = json.loads(cli(capsys, "show", job_id, "--json").stdout)
    assert sorted(f["bucket"] for f in data["failures"]) == sorted(REFUSED)
    assert {f["error_code"] for f in data["failures"]} == {"AccessDenied"}
    assert data["files"]["backup"] == str(backup)
    assert data["files"]["missing"] == str(backup / "missing.txt")
    assert data["summary"]["exit_code"] == 1


def test_show_of_an_unknown_job_is_one_line(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    """`osspolicy show` of a job that is not in the report folder exits 2 in one line."""
    run = cli(capsys, "show", "20200101T000000Z-backup-0000", "--report-dir", history.reports)
    assert_one_line_error(run)
    assert "osspolicy jobs" in run.stderr
