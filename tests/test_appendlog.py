"""Append-only logs: 0600, whole lines, fsync rule, group commit, torn tails cut."""

from __future__ import annotations

import errno
import stat
from pathlib import Path

import anyio
import pytest

from osspolicy._internal import appendlog
from osspolicy._internal.appendlog import AppendLog, append_together
from osspolicy._internal.jsonfiles import json_line, read_jsonl


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.asyncio
async def test_append_log_writes_lines_with_mode_0600(tmp_path: Path) -> None:
    """AppendLog creates a 0600 file and appends each record as one JSON line."""
    path = tmp_path / "log.jsonl"
    async with await AppendLog.open(path, fsync_every=2) as log:
        await log.append_json({"n": 1, "text": "é\n"})
        await log.append(b'{"n": 2}')
        await log.flush()
    assert mode_of(path) == 0o600
    assert await read_jsonl(path) == [{"n": 1, "text": "é\n"}, {"n": 2}]
    assert log.closed


@pytest.mark.asyncio
async def test_append_log_fsyncs_every_n_lines_and_on_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With fsync_every=3, five appends fsync once; flush fsyncs the other two."""
    calls: list[int] = []
    real_fsync = appendlog.fsync_fd

    def counting(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    log = await AppendLog.open(tmp_path / "log.jsonl", fsync_every=3)
    monkeypatch.setattr(appendlog, "fsync_fd", counting)
    for n in range(5):
        await log.append_json({"n": n})
    assert len(calls) == 1
    await log.flush()
    assert len(calls) == 2
    await log.flush()
    assert len(calls) == 2  # nothing new to sync
    await log.aclose()


@pytest.mark.asyncio
async def test_concurrent_appends_each_land_whole(tmp_path: Path) -> None:
    """Many tasks appending at once give one intact line each."""
    path = tmp_path / "log.jsonl"
    async with await AppendLog.open(path, fsync_every=4) as log, anyio.create_task_group() as group:
        for n in range(50):
            group.start_soon(log.append_json, {"n": n, "pad": "x" * n})
    records = await read_jsonl(path)
    assert sorted(r["n"] for r in records) == list(range(50))


@pytest.mark.asyncio
async def test_exclusive_append_log_refuses_an_existing_file(tmp_path: Path) -> None:
    """exclusive=True never appends to a file another job made."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"")
    with pytest.raises(FileExistsError):
        await AppendLog.open(path, exclusive=True)


@pytest.mark.asyncio
async def test_reopening_an_append_log_cuts_a_torn_tail_so_the_file_stays_valid(
    tmp_path: Path,
) -> None:
    """Appending after a torn line would corrupt the file: the torn bytes are cut first."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2, "hal')
    async with await AppendLog.open(path) as log:
        assert log.trimmed == len(b'{"n": 2, "hal')
        await log.append_json({"n": 3})
    assert path.read_bytes() == b'{"n": 1}\n{"n":3}\n'


@pytest.mark.asyncio
async def test_text_append_log_keeps_a_complete_last_line(tmp_path: Path) -> None:
    """With jsonl=False (CSV) only a line without its newline counts as torn."""
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n1,2\n3,")
    async with await AppendLog.open(path, jsonl=False) as log:
        await log.append(b"4,5")
    assert path.read_bytes() == b"a,b\n1,2\n4,5\n"


@pytest.mark.asyncio
async def test_append_many_is_one_write_counted_as_its_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of four lines with fsync_every=4 lands in order and fsyncs once."""
    calls: list[int] = []
    real_fsync = appendlog.fsync_fd

    def counting(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    path = tmp_path / "log.jsonl"
    log = await AppendLog.open(path, fsync_every=4)
    monkeypatch.setattr(appendlog, "fsync_fd", counting)
    await log.append_many(json_line({"n": n}) for n in range(4))
    await log.append_many([])
    assert len(calls) == 1
    await log.aclose()
    assert await read_jsonl(path) == [{"n": n} for n in range(4)]


class CountingWrites:
    """Counts the thread hops of appends (`write_fully` calls)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.appends = 0
        real_write_all = appendlog.write_fully

        def write_all(fd: int, data: bytes) -> None:
            self.appends += 1
            real_write_all(fd, data)

        monkeypatch.setattr(appendlog, "write_fully", write_all)


@pytest.mark.asyncio
async def test_appends_waiting_for_a_write_share_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: 50 tasks appending at once take far fewer writes than 50, and each
    returns only once its own line is in the file."""
    path = tmp_path / "log.jsonl"
    counting = CountingWrites(monkeypatch)
    seen: list[int] = []

    async def append(log: AppendLog, n: int) -> None:
        await log.append_json({"n": n})
        on_disk = {r["n"] for r in await read_jsonl(path)}
        seen.append(n if n in on_disk else -1)

    async with await AppendLog.open(path, fsync_every=1) as log, anyio.create_task_group() as group:
        for n in range(50):
            group.start_soon(append, log, n)
    assert sorted(r["n"] for r in await read_jsonl(path)) == list(range(50))
    assert sorted(seen) == list(range(50))  # no append returned before its line was written
    assert counting.appends <= 3  # the first write, then everyone who waited for it


@pytest.mark.asyncio
async def test_a_failed_group_write_fails_every_append_it_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails (disk full) fails the appends whose lines it carried and the
    ones after: no caller is told its line is written when it is not."""
    log = await AppendLog.open(tmp_path / "log.jsonl")

    def disk_full(fd: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(appendlog, "write_fully", disk_full)
    outcomes: list[str] = []

    async def append(n: int) -> None:
        try:
            await log.append_json({"n": n})
        except OSError:
            outcomes.append("failed")
        else:
            outcomes.append("written")

    async with anyio.create_task_group() as group:
        for n in range(10):
            group.start_soon(append, n)
    assert outcomes == ["failed"] * 10
    await log.aclose()


@pytest.mark.asyncio
async def test_append_together_writes_each_log_its_own_lines_after_what_waits(
    tmp_path: Path,
) -> None:
    """One call appends to several logs (one thread hop): each gets exactly its lines, in
    order, after lines appended to it before; each keeps its own fsync rule."""
    first = await AppendLog.open(tmp_path / "a.jsonl", exclusive=True, fsync_every=2)
    second = await AppendLog.open(tmp_path / "b.jsonl", exclusive=True)
    await first.append(b'{"n": 0}')
    await append_together([(first, [b'{"n": 1}', b'{"n": 2}']), (second, [b'{"m": 1}'])])
    await first.aclose()
    await second.aclose()
    assert (tmp_path / "a.jsonl").read_bytes() == b'{"n": 0}\n{"n": 1}\n{"n": 2}\n'
    assert (tmp_path / "b.jsonl").read_bytes() == b'{"m": 1}\n'
