"""Private folders and atomic whole files: modes whatever the umask, never torn."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from osspolicy._internal import atomic
from osspolicy._internal.atomic import (
    is_temp_name,
    make_new_dir,
    make_private_dir,
    remove_temp_files,
    temp_name_for,
    write_atomic,
)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def temp_files(folder: Path) -> list[str]:
    return [name for name in names(folder) if is_temp_name(name)]


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.asyncio
async def test_private_dir_is_0700_with_parents_even_under_a_hostile_umask(tmp_path: Path) -> None:
    """make_private_dir makes every missing folder 0700 whatever the umask filters out."""
    with umask(0o277):
        await make_private_dir(tmp_path / "a" / "b")
    assert mode_of(tmp_path / "a") == 0o700
    assert mode_of(tmp_path / "a" / "b") == 0o700


@pytest.mark.asyncio
async def test_private_dir_leaves_an_existing_folder_alone(tmp_path: Path) -> None:
    """A folder that already exists (e.g. the user's backups/) keeps its mode."""
    (tmp_path / "shared").mkdir(mode=0o755)
    (tmp_path / "shared").chmod(0o755)
    await make_private_dir(tmp_path / "shared")
    assert mode_of(tmp_path / "shared") == 0o755


@pytest.mark.asyncio
async def test_new_dir_refuses_an_existing_folder(tmp_path: Path) -> None:
    """A new job never writes into another job's folder: make_new_dir raises if it exists."""
    await make_new_dir(tmp_path / "job")
    assert mode_of(tmp_path / "job") == 0o700
    with pytest.raises(FileExistsError):
        await make_new_dir(tmp_path / "job")


@pytest.mark.asyncio
async def test_atomic_write_replaces_content_with_mode_0600_and_no_temp_left(
    tmp_path: Path,
) -> None:
    """write_atomic gives exactly the bytes, mode 0600 under any umask, and no temp file."""
    target = tmp_path / "p.json"
    target.write_bytes(b"old")
    target.chmod(0o644)
    with umask(0o277):
        await write_atomic(target, b"new \xe2\x9c\x93\r\n\t ")
    assert target.read_bytes() == b"new \xe2\x9c\x93\r\n\t "
    assert mode_of(target) == 0o600
    assert temp_files(tmp_path) == []


@pytest.mark.asyncio
async def test_failed_atomic_write_removes_its_temp_file_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails (disk full at fsync) raises, keeps the target and removes the temp."""
    target = tmp_path / "p.json"
    target.write_bytes(b"old")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "fsync_fd", disk_full)
    with pytest.raises(OSError, match="No space"):
        await write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert temp_files(tmp_path) == []


@pytest.mark.asyncio
async def test_cancelled_atomic_write_completes_whole_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancellation that arrives mid-write waits for it: the new file whole, no temp."""
    target = tmp_path / "p.json"
    target.write_bytes(b"old")
    real_fsync = atomic.fsync_fd
    with anyio.CancelScope() as scope:

        def cancel_then_fsync(fd: int) -> None:
            anyio.from_thread.run_sync(scope.cancel)  # cancelled while the file is written
            real_fsync(fd)

        monkeypatch.setattr(atomic, "fsync_fd", cancel_then_fsync)
        await write_atomic(target, b"new")
        await anyio.lowlevel.checkpoint()  # where the pending cancellation lands
    assert scope.cancelled_caught
    assert target.read_bytes() == b"new"
    assert temp_files(tmp_path) == []


@pytest.mark.asyncio
async def test_temp_names_are_recognisable_and_leftovers_can_be_removed(tmp_path: Path) -> None:
    """Temporary names look like .<name>.tmp-<hex>; remove_temp_files removes only those."""
    temp = temp_name_for(tmp_path / "b.json")
    assert temp.name.startswith(".b.json.tmp-")
    temp.write_bytes(b"half")
    (tmp_path / "b.json").write_bytes(b"{}")
    removed = await remove_temp_files(tmp_path)
    assert removed == [temp]
    assert names(tmp_path) == ["b.json"]
