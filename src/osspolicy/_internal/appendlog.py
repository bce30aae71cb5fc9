"""Append-only files of lines (`index.jsonl`, `report.jsonl`, `report.csv`,
`journal.jsonl`): opened 0600 with a torn tail cut off, appended one whole line at a
time, fsynced every `fsync_every` lines and on `flush()` (contracts §2).

Writing is done in ONE worker-thread hop per appended batch (`anyio.to_thread.run_sync`,
which waits for its thread when the task is cancelled): an append is then never torn by
a cancellation, which lands after it. Concurrent appends share hops (group commit): the
lines that wait for the write in progress all go in the next one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

import anyio

from .atomic import errors_named, fsync_fd, fsync_folder_sync, open_private, write_fully
from .jsonfiles import good_length, json_line

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

__all__ = ("AppendLog", "AsyncClosing", "append_together")


def _trim_torn_tail_sync(path: Path, *, jsonl: bool) -> int:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        end, size = good_length(fd, jsonl=jsonl)
        if end < size:
            os.ftruncate(fd, end)
            os.fsync(fd)
        return size - end
    finally:
        os.close(fd)


class AsyncClosing:
    """`async with` for the writers: the block's end calls `aclose()`."""

    async def aclose(self) -> None:
        """Release what the object holds (overridden)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def append_together(parts: Sequence[tuple[AppendLog, Sequence[bytes]]]) -> None:
    """Append lines to several logs in one thread hop, each as `AppendLog.append_many`
    would (its lock held, its fsync rule kept): a job's report, CSV and journal take one
    hop per batch of records instead of three."""
    logs = sorted({id(log): log for log, _ in parts}.values(), key=id)  # one lock order
    with anyio.CancelScope(shield=True):
        async with contextlib.AsyncExitStack() as stack:
            for log in logs:
                await stack.enter_async_context(log._lock)  # noqa: SLF001 - same module
            staged = [(log, *log._stage(lines)) for log, lines in parts if lines]  # noqa: SLF001

            def write() -> None:
                for log, fd, data, _, sync in staged:
                    with errors_named(log.path):
                        write_fully(fd, data)
                        if sync:
                            fsync_fd(fd)

            try:
                await anyio.to_thread.run_sync(write)
            except Exception as exc:
                for log, *_ in staged:
                    log._failed = exc  # noqa: SLF001 - same module
                raise
            for log, _, _, written, sync in staged:
                log._staged_done(written, synced=sync)  # noqa: SLF001 - same module


class AppendLog(AsyncClosing):
    """An append-only file (0600) of lines, fsynced every `fsync_every` lines.

    Concurrent `append`s are grouped: while one write is in progress the lines of the
    others wait, and the next write takes them all in one thread hop (group commit; an
    append returns once its lines are written). Each line is handed to the OS whole,
    even when the task is cancelled, so only a crash or power cut can tear the last
    line. A failed write fails every append whose lines it held, and the ones after.
    `flush()` and `aclose()` fsync what is left.
    """

    def __init__(self, path: Path, fd: int, fsync_every: int, trimmed: int) -> None:
        self.path = path
        #: bytes of a torn last line cut off when the file was opened
        self.trimmed = trimmed
        self._fd: int | None = fd
        self._fsync_every = fsync_every
        self._lock = anyio.Lock()
        #: lines handed to `append_many` and not yet written; `_queued` counts them all
        self._pending: list[bytes] = []
        self._queued = 0
        self._written = 0
        self._synced = 0
        self._failed: Exception | None = None

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        fsync_every: int = 1,
        exclusive: bool = False,
        jsonl: bool = True,
    ) -> AppendLog:
        """Open (or create) `path` for appending.

        `exclusive` refuses a file that exists (`FileExistsError`). An existing file's
        torn last line is cut off first so that what follows stays valid: with `jsonl`,
        a last line that is not a JSON object counts as torn; otherwise only one that
        lacks its newline does.
        """
        if fsync_every < 1:
            raise ValueError("fsync_every must be at least 1")
        trimmed = 0
        if not exclusive:
            trimmed = await anyio.to_thread.run_sync(
                lambda: _trim_torn_tail_sync(path, jsonl=jsonl)
            )
        flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else 0)

        def open_durably() -> int:
            fd = open_private(str(path), flags | os.O_APPEND)
            try:
                fsync_folder_sync(path.parent)
            except BaseException:
                os.close(fd)
                raise
            return fd

        fd = await anyio.to_thread.run_sync(open_durably)
        return cls(path, fd, fsync_every, trimmed)

    @property
    def closed(self) -> bool:
        """True once `aclose` has run."""
        return self._fd is None

    def _open_fd(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        return self._fd

    async def append(self, line: bytes) -> None:
        """Append one line (a newline is added if missing)."""
        await self.append_many((line,))

    async def append_many(self, lines: Iterable[bytes]) -> None:
        """Append lines in one write (a newline is added to any that lacks one).

        The batch counts as that many lines for `fsync_every`.
        """
        batch = [line if line.endswith(b"\n") else line + b"\n" for line in lines]
        if not batch:
            return
        self._open_fd()  # closed: raise now, queue nothing
        self._pending.extend(batch)
        self._queued += len(batch)
        mine = self._queued  # my lines are written once `_written` reaches this
        with anyio.CancelScope(shield=True):
            async with self._lock:
                if self._failed is not None:
                    raise OSError(f"an earlier append to {self.path} failed") from self._failed
                if self._written >= mine:  # the append before mine took my lines too
                    return
                fd, data, written, sync = self._stage(())

                def write() -> None:
                    with errors_named(self.path):
                        write_fully(fd, data)
                        if sync:
                            fsync_fd(fd)

                try:
                    await anyio.to_thread.run_sync(write)
                except Exception as exc:
                    self._failed = exc  # the lines of those waiting were in this write
                    raise
                self._staged_done(written, synced=sync)

    def _stage(self, lines: Sequence[bytes]) -> tuple[int, bytes, int, bool]:
        """Take `lines` and whatever waits as the next write (lock held): the fd, the
        bytes, the line count after it, and whether it fsyncs."""
        if self._failed is not None:
            raise OSError(f"an earlier append to {self.path} failed") from self._failed
        fd = self._open_fd()
        batch = [*self._pending, *(ln if ln.endswith(b"\n") else ln + b"\n" for ln in lines)]
        self._pending = []
        self._queued += len(lines)
        written = self._written + len(batch)
        return fd, b"".join(batch), written, written - self._synced >= self._fsync_every

    def _staged_done(self, written: int, *, synced: bool) -> None:
        self._written = written
        if synced:
            self._synced = written

    async def append_json(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line."""
        await self.append(json_line(record))

    async def flush(self) -> None:
        """Fsync every line appended so far."""
        with anyio.CancelScope(shield=True):
            async with self._lock:
                if self._fd is None or self._synced == self._written:
                    return
                await anyio.to_thread.run_sync(fsync_fd, self._fd)
                self._synced = self._written

    async def aclose(self) -> None:
        """Fsync and close; safe to call twice, and completes even when cancelled."""
        with anyio.CancelScope(shield=True):
            async with self._lock:
                fd, self._fd = self._fd, None
                if fd is None:
                    return

                def close() -> None:
                    try:
                        fsync_fd(fd)
                    finally:
                        os.close(fd)

                await anyio.to_thread.run_sync(close)
                self._synced = self._written
