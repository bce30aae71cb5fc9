"""One writing job per report folder (contracts §11): an OS file lock in `report_dir`.

A writing job (apply, delete, restore, rollback) takes, before its first request, an
exclusive non-blocking lock on `<report_dir>/.osspolicy.lock` (`flock`, through the
`filelock` library) and keeps it to its end. A second writing job does not wait: it
stops with `ReportDirBusy` (exit 2) naming the holder, which the first one recorded
beside the lock in `.osspolicy.lock.json` (job id, pid, host, start time).

The OS drops the lock when the holding process ends, however it ends (`kill -9`
included), so a killed job never leaves a stale lock. A holder file it leaves behind is
only informative and is replaced by the next holder; on a normal release it is removed.

Scope: one report folder. Jobs writing the same buckets from other report folders, or
from machines that do not share this folder's locks, are not stopped by it; the
stale-plan guard covers those. The lock belongs to a `ReportDirLock` object: two objects
on the same folder exclude each other within one process as across processes (a `flock`
belongs to an open file, not to a process), and one object cannot be entered twice.
Between a new holder taking the lock and writing its holder file, a refused job may
still read the previous holder's file: the message names what the file says.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import anyio
from filelock import FileLock
from filelock import Timeout as LockTaken

from .atomic import FILE_MODE, make_private_dir, remove_file
from .errors import ConfigError, ReportDirBusy
from .jobid import utc_timestamp
from .jsonfiles import read_json_object, write_json_atomic

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

__all__ = ("HOLDER_NAME", "LOCK_NAME", "LockHolder", "ReportDirLock", "read_holder")

#: the file the OS lock is taken on, in the report folder
LOCK_NAME = ".osspolicy.lock"
#: the file beside it naming the holder (informative only)
HOLDER_NAME = ".osspolicy.lock.json"
_WAY_OUT = "wait for it to finish, or use another report_dir"


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds (or last held) a report folder's lock."""

    job_id: str
    pid: int
    host: str
    started_at: str

    def to_record(self) -> dict[str, Any]:
        """The holder file's content."""
        return {
            "job_id": self.job_id,
            "pid": self.pid,
            "host": self.host,
            "started_at": self.started_at,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LockHolder | None:
        """The holder a file names, or None when it is not one this module wrote."""
        job_id, pid = record.get("job_id"), record.get("pid")
        host, started_at = record.get("host"), record.get("started_at")
        if not (isinstance(job_id, str) and isinstance(pid, int) and not isinstance(pid, bool)):
            return None
        return cls(job_id, pid, str(host or "?"), str(started_at or "?"))

    def describe(self) -> str:
        """`job <id> (pid <pid> on <host>, started <time>)`, for messages."""
        return f"job {self.job_id} (pid {self.pid} on {self.host}, started {self.started_at})"


async def read_holder(report_dir: Path) -> LockHolder | None:
    """The holder `report_dir`'s holder file names (None: no file, or not a holder's)."""
    try:
        record = await read_json_object(report_dir / HOLDER_NAME)
    except (OSError, ValueError):
        return None
    return LockHolder.from_record(record)


class ReportDirLock:
    """The lock of one writing job on its report folder: `async with ReportDirLock(...)`.

    Entering makes the folder (0700) if it is missing, takes the lock without waiting
    (`ReportDirBusy` if another job holds it) and writes the holder file (0600); leaving
    removes the holder file and releases the lock. Both run shielded from cancellation,
    so a cancelled job never keeps the lock nor loses track of it.
    """

    def __init__(self, report_dir: Path, job_id: str) -> None:
        self.report_dir = Path(report_dir)
        self.job_id = job_id
        self._lock = FileLock(
            self.report_dir / LOCK_NAME, timeout=0, mode=FILE_MODE, thread_local=False
        )
        self._holder: LockHolder | None = None

    @property
    def lock_path(self) -> Path:
        """`<report_dir>/.osspolicy.lock`."""
        return self.report_dir / LOCK_NAME

    @property
    def holder_path(self) -> Path:
        """`<report_dir>/.osspolicy.lock.json`."""
        return self.report_dir / HOLDER_NAME

    @property
    def holder(self) -> LockHolder | None:
        """This job as the holder while it holds the lock, else None."""
        return self._holder

    async def acquire(self) -> LockHolder:
        """Take the lock now or raise `ReportDirBusy` naming its holder (exit 2)."""
        if self._holder is not None:
            raise RuntimeError(f"{self.lock_path} is already held by this job")
        with anyio.CancelScope(shield=True):
            try:
                await make_private_dir(self.report_dir)
                taken = await anyio.to_thread.run_sync(self._try_acquire)
            except OSError as exc:
                raise ConfigError(
                    f"cannot lock the report folder ({exc.strerror or exc})",
                    place=str(self.report_dir),
                    hint="check report_dir and its permissions",
                ) from None
            if not taken:
                raise await self._busy()
            holder = LockHolder(self.job_id, os.getpid(), socket.gethostname(), utc_timestamp())
            try:
                await write_json_atomic(self.holder_path, holder.to_record())
            except BaseException:
                self._lock.release()
                raise
            self._holder = holder
        return holder

    async def release(self) -> None:
        """Remove the holder file and release the lock (nothing when not held)."""
        if self._holder is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                await remove_file(self.holder_path)
            finally:
                self._holder = None
                self._lock.release()

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()

    def _try_acquire(self) -> bool:
        """Take the OS lock without waiting (in a worker thread); False if it is taken."""
        try:
            self._lock.acquire()
        except LockTaken:
            return False
        return True

    async def _busy(self) -> ReportDirBusy:
        """The refusal, naming the holder its file names."""
        holder = await read_holder(self.report_dir)
        who = holder.describe() if holder else f"another job (see {self.holder_path})"
        return ReportDirBusy(
            f"{who} is writing with this report folder", place=str(self.report_dir), hint=_WAY_OUT
        )
