"""What a resumed job's folders prove (resume_check.py), on folders written by the real
BackupWriter and damaged by hand; no request is made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osspolicy._internal.backup import INDEX_NAME, POLICIES_DIR
from osspolicy._internal.backup_writer import BackupWriter
from osspolicy._internal.errors import BackupError
from osspolicy._internal.resume_check import recheck_backup, scan_index

JOB = "20261123T014501Z-backup-3f9a"
POLICY = b'{"Version":"1","Statement":[]}'


async def folder_of(tmp_path: Path, **buckets: bytes | None) -> Path:
    """An unfinished backup folder holding `buckets` (name -> policy bytes or None)."""
    writer = await BackupWriter.create(tmp_path / JOB, job_id=JOB)
    for bucket, body in buckets.items():
        await writer.add(bucket, "cn-hangzhou", body, "req")
    await writer.aclose()
    return writer.folder


def indexed(folder: Path) -> list[str]:
    return [json.loads(line)["bucket"] for line in (folder / INDEX_NAME).read_bytes().splitlines()]


@pytest.mark.asyncio
async def test_a_sound_folder_proves_every_bucket_and_is_left_as_it_was(tmp_path: Path) -> None:
    """Index lines with their files (and a bucket without policy) prove their buckets;
    nothing is rewritten."""
    folder = await folder_of(tmp_path, a=POLICY, b=None)
    before = (folder / INDEX_NAME).read_bytes()

    assert await recheck_backup(folder, {"a", "b"}) == set()

    assert (folder / INDEX_NAME).read_bytes() == before


@pytest.mark.asyncio
async def test_a_vanished_folder_proves_nothing(tmp_path: Path) -> None:
    """A folder that is not there leaves every done bucket to run again."""
    assert await recheck_backup(tmp_path / JOB, {"a", "b"}) == {"a", "b"}


@pytest.mark.asyncio
async def test_a_changed_file_drops_its_line_and_its_file(tmp_path: Path) -> None:
    """A policy file that no longer has its line's sha256 leaves its bucket unproven, and
    both its line and the file are removed, the other lines kept in order."""
    folder = await folder_of(tmp_path, a=POLICY, b=POLICY, c=None)
    (folder / POLICIES_DIR / "b.json").write_bytes(b"{}")

    assert await recheck_backup(folder, {"a", "b", "c"}) == {"b"}

    assert indexed(folder) == ["a", "c"]
    assert not (folder / POLICIES_DIR / "b.json").exists()


@pytest.mark.asyncio
async def test_a_torn_last_line_proves_nothing_and_is_cut_off_with_a_rewrite(
    tmp_path: Path,
) -> None:
    """A half-written last index line does not prove its bucket; the rewrite that drops a
    broken line leaves no torn tail behind."""
    folder = await folder_of(tmp_path, a=POLICY, b=POLICY, c=POLICY)
    index = folder / INDEX_NAME
    index.write_bytes(index.read_bytes()[:-10])
    (folder / POLICIES_DIR / "a.json").unlink()

    assert await recheck_backup(folder, {"a", "b", "c"}) == {"a", "c"}

    assert indexed(folder) == ["b"]
    assert index.read_bytes().endswith(b"\n")


@pytest.mark.asyncio
async def test_a_bad_line_before_the_last_is_a_damaged_index(tmp_path: Path) -> None:
    """A line that is not JSON anywhere but last raises BackupError naming the line."""
    folder = await folder_of(tmp_path, a=POLICY, b=POLICY)
    index = folder / INDEX_NAME
    _, second = index.read_bytes().splitlines(keepends=True)
    index.write_bytes(b"not json\n" + second)

    with pytest.raises(BackupError, match="line 1"):
        await scan_index(folder)
