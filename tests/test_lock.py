"""One writing job per report folder (contracts §11): the OS lock, its holder file, and
that a killed holder never leaves a stale lock.

Holders run in subprocesses: that is the case the lock is for, and `flock` belongs to an
open file, so it is also checked that two lock objects in one process exclude each other.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from osspolicy._internal.errors import ReportDirBusy
from osspolicy._internal.lock import HOLDER_NAME, LOCK_NAME, ReportDirLock, read_holder

pytestmark = pytest.mark.asyncio

#: a job in another process: takes the lock, says "locked", holds it until a line on stdin
HOLDER = """\
import sys
from pathlib import Path

import anyio

from osspolicy._internal.errors import ConfigError
from osspolicy._internal.lock import ReportDirLock


async def main() -> None:
    async with ReportDirLock(Path(sys.argv[1]), sys.argv[2]):
        print("locked", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)


try:
    anyio.run(main)
except ConfigError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
"""


def start_holder(report_dir: Path, job_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(report_dir), job_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def holding(report_dir: Path, job_id: str) -> Iterator[subprocess.Popen[str]]:
    """A subprocess holding the lock for the block's duration (killed if still there)."""
    proc = start_holder(report_dir, job_id)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "locked\n", proc.stderr and proc.stderr.read()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


async def test_a_second_job_is_refused_naming_the_first_and_the_way_out(
    tmp_path: Path,
) -> None:
    """While one process holds the folder, another process (exit 2) and this one are
    refused with one line naming the holder's job id and pid and what to do."""
    reports = tmp_path / "reports"
    with holding(reports, "20261123T014501Z-apply-aaaa") as first:
        second = start_holder(reports, "20261123T014502Z-apply-bbbb")
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2
        assert err.count("\n") == 1
        assert f"job 20261123T014501Z-apply-aaaa (pid {first.pid} on" in err
        assert "wait for it to finish, or use another report_dir" in err

        with pytest.raises(ReportDirBusy, match=f"pid {first.pid} on"):
            await ReportDirLock(reports, "20261123T014503Z-apply-cccc").acquire()


async def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    """After `kill -9` of the holder the OS has dropped its lock: a new job takes it and
    its holder file replaces the one the killed job left."""
    reports = tmp_path / "reports"
    with holding(reports, "20261123T014501Z-apply-dead") as first:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    left = await read_holder(reports)
    assert left is not None
    assert left.job_id == "20261123T014501Z-apply-dead"  # informative only

    async with ReportDirLock(reports, "20261123T014502Z-apply-live"):
        now = await read_holder(reports)
        assert now is not None
        assert (now.job_id, now.pid) == ("20261123T014502Z-apply-live", os.getpid())


async def test_two_lock_objects_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    """The lock belongs to the object, not the process: a second object is refused."""
    async with ReportDirLock(tmp_path, "20261123T014501Z-apply-aaaa"):
        with pytest.raises(ReportDirBusy, match="20261123T014501Z-apply-aaaa"):
            await ReportDirLock(tmp_path, "20261123T014502Z-apply-bbbb").acquire()
    async with ReportDirLock(tmp_path, "20261123T014502Z-apply-bbbb") as lock:
        assert lock.holder is not None


async def test_one_lock_object_cannot_be_entered_twice(tmp_path: Path) -> None:
    """Taking a lock the same object already holds is a programming error, not a no-op."""
    async with ReportDirLock(tmp_path, "20261123T014501Z-apply-aaaa") as lock:
        with pytest.raises(RuntimeError, match="already held"):
            await lock.acquire()


async def test_the_folder_and_files_are_private(tmp_path: Path) -> None:
    """A missing report folder is made 0700; the lock and holder files are 0600, and
    the holder file names the job, pid, host and start time."""
    reports = tmp_path / "new" / "reports"
    async with ReportDirLock(reports, "20261123T014501Z-delete-aaaa"):
        assert reports.stat().st_mode & 0o777 == 0o700
        assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
        assert (reports / LOCK_NAME).stat().st_mode & 0o777 == 0o600
        assert (reports / HOLDER_NAME).stat().st_mode & 0o777 == 0o600
        record = json.loads((reports / HOLDER_NAME).read_text())
        assert set(record) == {"job_id", "pid", "host", "started_at"}
        assert (record["job_id"], record["pid"]) == ("20261123T014501Z-delete-aaaa", os.getpid())
    assert (reports / LOCK_NAME).exists()
    assert not (reports / HOLDER_NAME).exists()


async def test_an_unreadable_holder_file_still_gives_a_refusal(tmp_path: Path) -> None:
    """When the holder file is not a holder's, the refusal points at it instead."""
    async with ReportDirLock(tmp_path, "20261123T014501Z-apply-aaaa"):
        (tmp_path / HOLDER_NAME).write_text("not json")
        with pytest.raises(ReportDirBusy, match="another job"):
            await ReportDirLock(tmp_path, "20261123T014502Z-apply-bbbb").acquire()
