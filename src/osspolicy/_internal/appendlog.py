"""Append-only files of lines (`index.jsonl`, `report.jsonl`, `report.csv`,
`journal.jsonl`): opened 0600 with a torn tail cut off, appended one whole line at a
time, fsynced every `fsync_every` lines and on `flush()` (contracts §2).

Lines are first *staged* (`AppendLog.stage`: queued in order, a `Staged` ticket back),
then written by the log's next write, which takes every staged line: an `append`'s
(`commit`), a writer's that must put its own work on disk first (`append_after`: an
atomic folder's files before their index lines), several logs' at once
(`append_together`), or `flush`/`aclose`. So concurrent appends share writes (group
commit), and every staged line is written exactly once, in the order staged, or
refused: its `commit` raises, and so does `aclose`.

Writing is done in ONE worker-thread hop per write (`anyio.to_thread.run_sync`, which
waits for its thread when the task is cancelled): an append is then never torn by a
cancellation, which lands after it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import anyio

from .atomic import errors_named, fsync_fd, fsync_folder_sync, open_private, write_fully
from .jsonfiles import good_length, json_line

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path
    from types import TracebackType

__all__ = ("AppendLog", "AsyncClosing", "Staged", "append_together")


def _whole(lines: Iterable[bytes]) -> list[bytes]:
    """`lines`, a newline added to any that lacks one."""
    return [line if line.endswith(b"\n") else line + b"\n" for line in lines]


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


@dataclass(slots=True, eq=False)
class Staged:
    """Lines handed to `AppendLog.stage`, waiting for the log's next write: settled once
    that write is done (`written`) or has failed, or the log refused them (`error`)."""

    data: bytes
    lines: int
    written: bool = False
    error: Exception | None = None

    @property
    def settled(self) -> bool:
        """True once the lines are written or refused."""
        return self.written or self.error is not None


class _Write:
    """One write of a log, its lock held: the staged lines it took (the front of the
    log's queue), then any lines of the writer's own; one thread hop."""

    __slots__ = ("data", "fd", "lines", "log", "taken")

    def __init__(self, log: AppendLog, fd: int, taken: list[Staged]) -> None:
        self.log = log
        self.fd = fd
        self.taken = taken
        self.data = b"".join(staged.data for staged in taken)
        self.lines = sum(staged.lines for staged in taken)

    def fsyncs(self) -> bool:
        """Whether this write reaches the log's `fsync_every`."""
        log = self.log
        return log._written + self.lines - log._synced >= log._fsync_every  # noqa: SLF001 - same module

    def run_sync(self, more: Sequence[bytes] = (), *, sync: bool) -> None:
        """Write the taken lines and then `more`, and fsync if `sync` (blocking)."""
        data = self.data + b"".join(more)
        if not data:
            return
        with errors_named(self.log.path):
            write_fully(self.fd, data)
            if sync:
                fsync_fd(self.fd)

    def done(self, more: int = 0, *, synced: bool) -> None:
        """The write (with `more` lines of the writer's own) is on the log."""
        log = self.log
        del log._staged[: len(self.taken)]  # noqa: SLF001 - same module
        for staged in self.taken:
            staged.written = True
        log._written += self.lines + more  # noqa: SLF001 - same module
        if synced:
            log._synced = log._written  # noqa: SLF001 - same module

    def failed(self, exc: Exception) -> None:
        """The write failed: its lines fail with `exc`, and the log refuses what follows."""
        log = self.log
        del log._staged[: len(self.taken)]  # noqa: SLF001 - same module
        for staged in self.taken:
            staged.error = exc
        log._failed = exc  # noqa: SLF001 - same module


def _take_together(parts: Sequence[tuple[AppendLog, Sequence[bytes]]]) -> list[_Write]:
    """Stage each part's lines and take one write per log (every lock held): all or
    nothing is staged, so a log that cannot write leaves the others' queues as they were."""
    for log, lines in parts:
        if lines:
            log._check_writable()  # noqa: SLF001 - same module
    writes: dict[int, _Write] = {}
    for log, lines in parts:
        if lines:
            log.stage(lines)
    for log, lines in parts:
        if lines and id(log) not in writes:
            writes[id(log)] = log._take()  # noqa: SLF001 - same module
    return list(writes.values())


async def append_together(parts: Sequence[tuple[AppendLog, Sequence[bytes]]]) -> None:
    """Append lines to several logs in one thread hop, each as `AppendLog.append_many`
    would (after what is staged on it, its fsync rule kept): a job's report, CSV and
    journal take one hop per batch of records instead of three. A log whose write fails
    fails its lines and the logs after it in `parts`; the ones before are written."""
    logs = sorted({id(log): log for log, _ in parts}.values(), key=id)  # one lock order
    with anyio.CancelScope(shield=True):
        async with contextlib.AsyncExitStack() as stack:
            for log in logs:
                await stack.enter_async_context(log._lock)  # noqa: SLF001 - same module
            writes = _take_together(parts)
            syncs = [write.fsyncs() for write in writes]
            finished = 0

            def write_each() -> None:
                nonlocal finished
                for write, sync in zip(writes, syncs, strict=True):
                    write.run_sync(sync=sync)
                    finished += 1

            try:
                await anyio.to_thread.run_sync(write_each)
            except Exception as exc:
                for write in writes[finished:]:
                    write.failed(exc)
                raise
            finally:
                for write, sync in zip(writes[:finished], syncs, strict=False):
                    write.done(synced=sync)


class AppendLog(AsyncClosing):
    """An append-only file (0600) of lines, fsynced every `fsync_every` lines.

    `stage` queues lines; the log's next write takes every staged line, in order, in one
    thread hop. `append` is `stage` then `commit`: concurrent appends are grouped (while
    one write is in progress the lines of the others wait, and the next write takes them
    all), and an append returns once its lines are written. Each line is handed to the
    OS whole, even when the task is cancelled, so only a crash or power cut can tear the
    last line. A failed write fails every line it held, and the log refuses the ones
    after. `flush()` and `aclose()` write what is staged and fsync.
    """

    def __init__(self, path: Path, fd: int, fsync_every: int, trimmed: int) -> None:
        self.path = path
        #: bytes of a torn last line cut off when the file was opened
        self.trimmed = trimmed
        self._fd: int | None = fd
        self._fsync_every = fsync_every
        self._lock = anyio.Lock()
        #: staged and not yet taken by a write, oldest first
        self._staged: list[Staged] = []
        #: lines written, and lines fsynced, since the log was opened
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

    def _refusal(self) -> OSError:
        refusal = OSError(f"an earlier append to {self.path} failed")
        refusal.__cause__ = self._failed
        return refusal

    def _check_writable(self) -> int:
        """The open descriptor; raises if an earlier write failed or the log is closed."""
        if self._failed is not None:
            raise self._refusal()
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        return self._fd

    def _take(self) -> _Write:
        """The next write (lock held): every staged line. If the log cannot write, what
        is staged is refused (each its error) and so is the write."""
        try:
            fd = self._check_writable()
        except (OSError, ValueError) as exc:
            for staged in self._staged:
                staged.error = exc
            self._staged.clear()
            raise
        return _Write(self, fd, list(self._staged))

    def stage(self, lines: Iterable[bytes]) -> Staged:
        """Queue `lines` (a newline added to any that lacks one) for the log's next
        write, after every line staged before; `commit` waits for that write.

        Raises at once if an earlier write failed or the log is closed. A staged line is
        written exactly once (by an append's write, `append_after`, `flush` or `aclose`)
        or refused: its `commit` raises.
        """
        self._check_writable()
        batch = _whole(lines)
        staged = Staged(b"".join(batch), len(batch), written=not batch)
        if batch:
            self._staged.append(staged)
        return staged

    async def commit(self, staged: Staged) -> None:
        """Return once `staged`'s lines are written (fsynced as `fsync_every` says), or
        raise why they were not. With no write in progress this one writes every staged
        line; otherwise it waits, and the next write takes all that waits meanwhile."""
        with anyio.CancelScope(shield=True):  # never leave a write behind half done
            async with self._lock:
                if not staged.settled:
                    write = self._take()
                    sync = write.fsyncs()
                    try:
                        await anyio.to_thread.run_sync(lambda: write.run_sync(sync=sync))
                    except Exception as exc:
                        write.failed(exc)
                        raise
                    write.done(synced=sync)
        if staged.error is not None:
            raise staged.error
        if not staged.written:
            raise ValueError(f"these lines were not staged on {self.path}")

    async def append(self, line: bytes) -> None:
        """Append one line (a newline is added if missing)."""
        await self.append_many((line,))

    async def append_many(self, lines: Iterable[bytes]) -> None:
        """Append lines in one write (a newline is added to any that lacks one).

        The batch counts as that many lines for `fsync_every`.
        """
        batch = list(lines)
        if batch:
            await self.commit(self.stage(batch))

    async def append_json(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line."""
        await self.append(json_line(record))

    async def append_after(self, prepare: Callable[[], Iterable[bytes]]) -> int:
        """In one thread hop, the log held: run `prepare()`, then append every staged
        line followed by the lines `prepare` returned, and fsync. Returns how many lines
        `prepare` gave.

        For a writer whose lines may only be on disk once its own work is (an atomic
        folder's files before their index lines). Raises at once, without running
        `prepare`, if the log cannot write. If `prepare` raises, the log writes nothing
        and what is staged stays staged; if the log's write fails, every line it took
        fails with it and the log refuses the ones after.
        """
        with anyio.CancelScope(shield=True):
            async with self._lock:
                write = self._take()
                prepared = False

                def prepare_then_write() -> int:
                    nonlocal prepared
                    own = _whole(prepare())
                    prepared = True
                    write.run_sync(own, sync=True)
                    return len(own)

                try:
                    count = await anyio.to_thread.run_sync(prepare_then_write)
                except Exception as exc:
                    if prepared:  # the log's own write failed
                        write.failed(exc)
                    raise
                write.done(count, synced=True)
        return count

    async def flush(self) -> None:
        """Write what is staged, and fsync every line appended so far."""
        with anyio.CancelScope(shield=True):
            async with self._lock:
                if self._fd is None:
                    return
                if self._staged:
                    write = self._take()
                    try:
                        await anyio.to_thread.run_sync(lambda: write.run_sync(sync=True))
                    except Exception as exc:
                        write.failed(exc)
                        raise
                    write.done(synced=True)
                elif self._synced != self._written:
                    await anyio.to_thread.run_sync(fsync_fd, self._fd)
                    self._synced = self._written

    async def aclose(self) -> None:
        """Write what is staged, fsync and close; safe to call twice, and completes even
        when cancelled. Lines staged on a log whose earlier write failed are refused:
        their `commit` raises, and so does `aclose` (after closing)."""
        with anyio.CancelScope(shield=True):
            async with self._lock:
                fd = self._fd
                if fd is None:
                    return
                refused = None
                write = None
                if self._staged:
                    try:
                        write = self._take()
                    except OSError as exc:  # an earlier write failed: nothing is written
                        refused = exc
                self._fd = None

                def close() -> None:
                    try:
                        if write is not None:
                            write.run_sync(sync=False)
                        fsync_fd(fd)
                    finally:
                        os.close(fd)

                try:
                    await anyio.to_thread.run_sync(close)
                except Exception as exc:
                    if write is not None:
                        write.failed(exc)
                    raise
                if write is not None:
                    write.done(synced=True)
                self._synced = self._written
                if refused is not None:
                    raise refused
