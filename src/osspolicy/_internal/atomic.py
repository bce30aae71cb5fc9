"""Private folders and whole files: made 0700 and 0600, written atomically, read whole.

The one place that knows how osspolicy puts a whole file on disk (contracts §2):

- folders are 0700 and files 0600, whatever the umask says;
- whole files (policies, `summary.json`, `manifest.yaml`) go to a temporary name in the
  same folder (`.<name>.tmp-<hex>`), are fsynced, renamed over the target with
  `os.replace`, and the folder is fsynced; a failed or cancelled write removes its
  temporary file and leaves the target as it was.

Writing is done in ONE worker-thread hop per file (`anyio.to_thread.run_sync`, which
waits for its thread when the task is cancelled): a whole-file write is then never torn
by a cancellation, which lands after it. One hop instead of aiofiles' one per open/write/
fsync/close/rename measured at a tenth of the CPU per bucket (2.2 ms -> 0.2 ms).

The blocking steps (`open_private`, `write_fully`, `fsync_fd`, `fsync_folder_sync`,
`replace_file_sync`, `errors_named`) are public for the writers that batch them into
their own hops: `appendlog.py` and `atomic_folder.py`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from typing import TYPE_CHECKING

import aiofiles
import anyio

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = (
    "FILE_MODE",
    "FOLDER_MODE",
    "TEMP_MARKER",
    "errors_named",
    "fsync_dir",
    "fsync_fd",
    "fsync_folder_sync",
    "is_temp_name",
    "make_new_dir",
    "make_private_dir",
    "open_private",
    "read_bytes",
    "remove_file",
    "remove_temp_files",
    "replace_file_sync",
    "sha256_file",
    "temp_name_for",
    "write_atomic",
    "write_fully",
)

FILE_MODE = 0o600
FOLDER_MODE = 0o700
#: every temporary name is `.<target name>` + TEMP_MARKER + 8 hex digits
TEMP_MARKER = ".tmp-"

_CHUNK = 1 << 20


# -- names ------------------------------------------------------------------------------


def _temp_path(path: str) -> str:
    head, name = os.path.split(path)
    # str paths, not pathlib: these run per file of a backup (issue 15's profile)
    return os.path.join(head, f".{name}{TEMP_MARKER}{secrets.token_hex(4)}")  # noqa: PTH118


def temp_name_for(path: Path) -> Path:
    """A fresh temporary name beside `path`: `.<name>.tmp-<8 hex>`."""
    return path.with_name(_temp_path(os.fspath(path)).rpartition(os.sep)[2])


def is_temp_name(name: str) -> bool:
    """True for a name `temp_name_for` makes (a leftover of an interrupted write)."""
    head, marker, tail = name.rpartition(TEMP_MARKER)
    return (
        bool(marker)
        and name.startswith(".")
        and len(head) > 1
        and len(tail) == 8
        and all(c in "0123456789abcdef" for c in tail)
    )


# -- blocking steps (run in a worker thread) --------------------------------------------


def fsync_folder_sync(path: Path | str) -> None:
    """Make the folder's entries durable (blocking)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_fd(fd: int) -> None:
    """Fsync an open file (blocking; one name for the tests to count fsyncs by)."""
    os.fsync(fd)


def open_private(path: str, flags: int) -> int:
    """`os.open` with mode 0600 whatever the umask filters out (blocking)."""
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # the mode given to open() is filtered by the umask
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_fully(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (blocking)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@contextlib.contextmanager
def errors_named(path: Path | str) -> Iterator[None]:
    """An OS error of a write to a file descriptor names no file: give it `path`, so a
    job that fails on its disk can say where (contracts §14)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = os.fspath(path)
        raise


def replace_file_sync(path: Path | str, data: bytes) -> None:
    """Write `data` to a temporary file, fsync it and rename it over `path` (blocking;
    the folder is not fsynced). A failure removes the temporary file."""
    path = os.fspath(path)
    temp = _temp_path(path)
    fd = open_private(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        try:
            with errors_named(path):
                write_fully(fd, data)
                fsync_fd(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)  # noqa: PTH105 - str paths (see _temp_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)  # noqa: PTH108 - str paths (see _temp_path)
        raise


# -- folders ----------------------------------------------------------------------------


def _make_private_dir_sync(path: Path) -> None:
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to chmod
        folder.chmod(FOLDER_MODE)  # mkdir's mode is filtered by the umask
        fsync_folder_sync(folder.parent)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a folder")


def _make_new_dir_sync(path: Path) -> None:
    _make_private_dir_sync(path.parent)
    path.mkdir(mode=FOLDER_MODE)  # FileExistsError: never write into another job's folder
    path.chmod(FOLDER_MODE)
    fsync_folder_sync(path.parent)


async def make_private_dir(path: Path) -> None:
    """Make `path` and its missing parents, each 0700; folders that exist are left alone."""
    await anyio.to_thread.run_sync(_make_private_dir_sync, path)


async def make_new_dir(path: Path) -> None:
    """Make `path` (0700), which must not exist yet; raises `FileExistsError` if it does."""
    await anyio.to_thread.run_sync(_make_new_dir_sync, path)


async def fsync_dir(path: Path) -> None:
    """Make the folder's entries (new, renamed, removed files) durable."""
    await anyio.to_thread.run_sync(fsync_folder_sync, path)


async def remove_file(path: Path) -> bool:
    """Remove `path` durably (its folder fsynced); False if there was nothing to remove."""

    def remove() -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_folder_sync(path.parent)
        return True

    return await anyio.to_thread.run_sync(remove)


async def remove_temp_files(folder: Path) -> list[Path]:
    """Remove the temporary files an interrupted `write_atomic` left in `folder`."""

    def remove() -> list[Path]:
        removed = []
        for entry in folder.iterdir():
            if is_temp_name(entry.name) and entry.is_file():
                entry.unlink(missing_ok=True)
                removed.append(entry)
        return removed

    return await anyio.to_thread.run_sync(remove)


# -- whole files ------------------------------------------------------------------------


def _write_atomic_sync(path: Path, data: bytes) -> None:
    replace_file_sync(path, data)
    fsync_folder_sync(path.parent)


async def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with exactly `data` (0600), durably and all at once.

    The temporary file is written, fsynced, renamed over `path` and the folder fsynced in
    one thread hop. A failure removes the temporary file and leaves `path` as it was; a
    cancellation waits for the hop, so `path` is wholly old or wholly new, never torn.
    """
    await anyio.to_thread.run_sync(_write_atomic_sync, path, data)


async def read_bytes(path: Path) -> bytes:
    """The whole file; `FileNotFoundError` if there is none."""
    async with aiofiles.open(path, "rb") as file:
        return await file.read()


async def sha256_file(path: Path) -> str:
    """Hex sha256 of the file's bytes."""
    digest = hashlib.sha256()
    async with aiofiles.open(path, "rb") as file:
        while chunk := await file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
