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


# -- staging: every staged line is written exactly once, or refused


@pytest.mark.asyncio
async def test_staged_lines_are_written_in_the_order_staged_by_the_next_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`stage` queues lines without writing; one `commit` writes everything staged so
    far in one write, in order, and the other tickets are then settled too."""
    path = tmp_path / "log.jsonl"
    counting = CountingWrites(monkeypatch)
    async with await AppendLog.open(path, exclusive=True) as log:
        first = log.stage([b'{"n": 1}', b'{"n": 2}'])
        second = log.stage([b'{"n": 3}'])
        assert path.read_bytes() == b""
        await log.commit(second)
        assert first.written
        assert second.written
        await log.commit(first)  # already written: returns at once
    assert path.read_bytes() == b'{"n": 1}\n{"n": 2}\n{"n": 3}\n'
    assert counting.appends == 1


@pytest.mark.asyncio
async def test_aclose_writes_the_lines_staged_and_never_committed(tmp_path: Path) -> None:
    """A staged line nobody waited for is written by `aclose`, not dropped."""
    path = tmp_path / "log.jsonl"
    log = await AppendLog.open(path, exclusive=True)
    await log.append(b'{"n": 1}')
    staged = log.stage([b'{"n": 2}'])
    await log.aclose()
    assert staged.written
    assert path.read_bytes() == b'{"n": 1}\n{"n": 2}\n'
    with pytest.raises(ValueError, match="is closed"):
        log.stage([b'{"n": 3}'])


@pytest.mark.asyncio
async def test_aclose_refuses_lines_staged_on_a_log_whose_write_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines staged while a write was failing are not silently dropped: `aclose` raises
    (naming the failure as the cause) and so does their `commit`; none is written."""
    path = tmp_path / "log.jsonl"
    log = await AppendLog.open(path, exclusive=True)
    in_write, go_on = anyio.Event(), anyio.Event()

    def failing_write(fd: int, data: bytes) -> None:
        anyio.from_thread.run_sync(in_write.set)
        anyio.from_thread.run(go_on.wait)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(appendlog, "write_fully", failing_write)
    outcome: list[str] = []

    async def append_first() -> None:
        with pytest.raises(OSError, match="No space") as caught:
            await log.append(b'{"n": 1}')
        outcome.append(caught.value.strerror or "")

    async with anyio.create_task_group() as group:
        group.start_soon(append_first)
        await in_write.wait()
        late = log.stage([b'{"n": 2}'])  # staged while the write that fails is in its hop
        go_on.set()
    assert outcome == ["No space left on device"]
    assert not late.settled
    with pytest.raises(OSError, match=r"an earlier append to .* failed") as refused:
        await log.aclose()
    assert isinstance(refused.value.__cause__, OSError)
    assert refused.value.__cause__.errno == errno.ENOSPC
    assert log.closed
    with pytest.raises(OSError, match="an earlier append"):
        await log.commit(late)
    assert path.read_bytes() == b""


@pytest.mark.asyncio
async def test_append_after_writes_staged_lines_then_the_prepared_ones_in_one_hop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`append_after` runs the writer's own work first, then appends what was staged and
    the lines that work returned, fsynced, in one write; a `prepare` that raises writes
    nothing and leaves what is staged for the next write."""
    path = tmp_path / "log.jsonl"
    counting = CountingWrites(monkeypatch)
    log = await AppendLog.open(path, exclusive=True, fsync_every=100)
    staged = log.stage([b'{"n": 1}'])
    order: list[str] = []

    def prepare() -> list[bytes]:
        order.append(f"prepare with {path.read_bytes()!r}")
        return [b'{"n": 2}', b'{"n": 3}']

    assert await log.append_after(prepare) == 2
    assert staged.written
    assert order == ["prepare with b''"]

    def broken() -> list[bytes]:
        raise RuntimeError("the files could not be written")

    again = log.stage([b'{"n": 4}'])
    with pytest.raises(RuntimeError):
        await log.append_after(broken)
    assert not again.settled
    await log.aclose()
    assert again.written
    assert path.read_bytes() == b'{"n": 1}\n{"n": 2}\n{"n": 3}\n{"n": 4}\n'
    assert counting.appends == 2  # append_after's write, then aclose's


@pytest.mark.asyncio
async def test_append_together_stages_nothing_when_one_log_has_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One call to several logs where one already failed raises and leaves the others
    untouched: no line of that call turns up later in the healthy log."""
    healthy = await AppendLog.open(tmp_path / "a.jsonl", exclusive=True)
    broken = await AppendLog.open(tmp_path / "b.jsonl", exclusive=True)
    real_write = appendlog.write_fully

    def full_for_broken(fd: int, data: bytes) -> None:
        if fd == broken._fd:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fd, data)

    monkeypatch.setattr(appendlog, "write_fully", full_for_broken)
    with pytest.raises(OSError, match="No space"):
        await broken.append(b'{"m": 0}')
    with pytest.raises(OSError, match="an earlier append"):
        await append_together([(healthy, [b'{"n": 1}']), (broken, [b'{"m": 1}'])])
    await healthy.append(b'{"n": 2}')
    await healthy.aclose()
    await broken.aclose()
    assert (tmp_path / "a.jsonl").read_bytes() == b'{"n": 2}\n'
