"""File primitives: private modes, atomic whole files, append-only JSON lines."""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import anyio
import anyio.lowlevel
import pytest

from osspolicy._internal import files
from osspolicy._internal.files import (
    AppendLog,
    AtomicFolder,
    append_together,
    is_temp_name,
    iter_jsonl,
    json_line,
    make_new_dir,
    make_private_dir,
    read_jsonl,
    read_jsonl_ends,
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

    monkeypatch.setattr(files, "_fsync", disk_full)
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
    real_fsync = files._fsync
    with anyio.CancelScope() as scope:

        def cancel_then_fsync(fd: int) -> None:
            anyio.from_thread.run_sync(scope.cancel)  # cancelled while the file is written
            real_fsync(fd)

        monkeypatch.setattr(files, "_fsync", cancel_then_fsync)
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
    real_fsync = files._fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    log = await AppendLog.open(tmp_path / "log.jsonl", fsync_every=3)
    monkeypatch.setattr(files, "_fsync", counting)
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
async def test_torn_last_line_is_skipped_when_reading(tmp_path: Path) -> None:
    """An incomplete last line (a crash mid-append) is ignored by read_jsonl."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2}\n{"n": 3, "te')
    assert await read_jsonl(path) == [{"n": 1}, {"n": 2}]


@pytest.mark.asyncio
async def test_unparsable_last_line_is_skipped_but_a_bad_middle_line_raises(
    tmp_path: Path,
) -> None:
    """Garbage is tolerated only as the last line; anywhere else it is an error naming it."""
    last = tmp_path / "last.jsonl"
    last.write_bytes(b'{"n": 1}\n\x00\x00\x00\n')
    assert await read_jsonl(last) == [{"n": 1}]
    middle = tmp_path / "middle.jsonl"
    middle.write_bytes(b'{"n": 1}\nnot json\n{"n": 3}\n')
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        await read_jsonl(middle)


@pytest.mark.asyncio
async def test_bad_line_error_type_is_the_callers_choice(tmp_path: Path) -> None:
    """read_jsonl raises whatever bad_line builds, given the line number and reason."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'[1, 2]\n{"n": 2}\n')

    class Custom(Exception):
        pass

    def bad_line(line_no: int, reason: str) -> Exception:
        return Custom(f"#{line_no} {reason}")

    with pytest.raises(Custom, match="#1 not a JSON object"):
        await read_jsonl(path, bad_line=bad_line)


@pytest.mark.asyncio
async def test_iter_jsonl_streams_long_lines_across_read_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records are streamed in order even when lines straddle the read chunks."""
    monkeypatch.setattr(files, "_CHUNK", 7)
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": "0123456789"}\n{"b": 1}\n{"c": [1, 2, 3]}\n')
    assert [r async for r in iter_jsonl(path)] == [
        {"a": "0123456789"},
        {"b": 1},
        {"c": [1, 2, 3]},
    ]


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
async def test_read_ends_gives_the_first_and_last_good_records(tmp_path: Path) -> None:
    """read_jsonl_ends reads the header and the last complete record, skipping a torn tail."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"head": 1}\n{"n": 1}\n{"end": true}\n{"torn')
    assert await read_jsonl_ends(path) == ({"head": 1}, {"end": True})
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b'{"torn')
    assert await read_jsonl_ends(empty) == (None, None)


@pytest.mark.asyncio
async def test_append_many_is_one_write_counted_as_its_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of four lines with fsync_every=4 lands in order and fsyncs once."""
    calls: list[int] = []
    real_fsync = files._fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    path = tmp_path / "log.jsonl"
    log = await AppendLog.open(path, fsync_every=4)
    monkeypatch.setattr(files, "_fsync", counting)
    await log.append_many(json_line({"n": n}) for n in range(4))
    await log.append_many([])
    assert len(calls) == 1
    await log.aclose()
    assert await read_jsonl(path) == [{"n": n} for n in range(4)]


class CountingWrites:
    """Counts the thread hops of appends (`_write_all` calls) and of atomic groups."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.appends = 0
        self.groups = 0
        real_write_all, real_group = files._write_all, files._write_group_sync

        def write_all(fd: int, data: bytes) -> None:
            self.appends += 1
            real_write_all(fd, data)

        def write_group(folder: Path | str, group: list[files._PendingFile]) -> None:
            self.groups += 1
            real_group(folder, group)

        monkeypatch.setattr(files, "_write_all", write_all)
        monkeypatch.setattr(files, "_write_group_sync", write_group)


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

    monkeypatch.setattr(files, "_write_all", disk_full)
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
async def test_atomic_folder_groups_concurrent_files_and_keeps_each_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 files written at once into one folder: every file exact and 0600, no temp
    left, in a handful of thread hops (one folder fsync each) instead of 40."""
    counting = CountingWrites(monkeypatch)
    folder = AtomicFolder(tmp_path)
    async with anyio.create_task_group() as group:
        for n in range(40):
            group.start_soon(folder.write, tmp_path / f"b-{n}.json", b"x" * n)
    assert [(tmp_path / f"b-{n}.json").read_bytes() for n in range(40)] == [
        b"x" * n for n in range(40)
    ]
    assert {mode_of(tmp_path / f"b-{n}.json") for n in range(40)} == {0o600}
    assert temp_files(tmp_path) == []
    assert counting.groups <= 3


def fail_writing(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Every whole-file write of a file called `name` fails with EIO (the others work)."""
    real_replace = files._replace_sync

    def replace(path: Path | str, data: bytes) -> None:
        if Path(path).name == name:
            raise OSError(errno.EIO, "Input/output error")
        real_replace(path, data)

    monkeypatch.setattr(files, "_replace_sync", replace)


async def each_outcome(
    write: Callable[[str], Awaitable[None]], file_names: Sequence[str]
) -> dict[str, str]:
    """Run `write` for every name at once: "ok", or its OSError's strerror (or text)."""
    results: dict[str, str] = {}

    async def one(name: str) -> None:
        try:
            await write(name)
        except OSError as exc:
            results[name] = exc.strerror or str(exc)
        else:
            results[name] = "ok"

    async with anyio.create_task_group() as group:
        for name in file_names:
            group.start_soon(one, name)
    return results


@pytest.mark.asyncio
async def test_one_failing_file_of_a_group_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer of the file that fails gets the error; the others' files are written."""
    fail_writing(monkeypatch, "bad.json")
    folder = AtomicFolder(tmp_path)

    async def write(name: str) -> None:
        await folder.write(tmp_path / name, name.encode())

    results = await each_outcome(write, ("a.json", "bad.json", "c.json"))
    assert results == {"a.json": "ok", "bad.json": "Input/output error", "c.json": "ok"}
    assert names(tmp_path) == ["a.json", "c.json"]


@pytest.mark.asyncio
async def test_atomic_folder_refuses_a_file_of_another_folder(tmp_path: Path) -> None:
    """One folder per writer: its single fsync covers only its own entries."""
    with pytest.raises(ValueError, match="is not in"):
        await AtomicFolder(tmp_path / "a").write(tmp_path / "b" / "x.json", b"{}")


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


# -- a folder of files with an index line each (a backup's policies and index.jsonl)


@pytest.mark.asyncio
async def test_files_and_their_index_lines_share_one_hop_and_no_line_precedes_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 buckets recorded at once, every third without a file: each file exact, each
    line once, in a handful of hops (files, one folder fsync, then the lines, together);
    whenever index lines are written, the files they name are already in place."""
    index_path = tmp_path / "index.jsonl"
    policies = tmp_path / "policies"
    policies.mkdir()
    counting = CountingWrites(monkeypatch)
    log = await AppendLog.open(index_path, exclusive=True)
    folder = AtomicFolder(policies, log)
    real_write_all = files._write_all
    early: list[str] = []

    def write_all(fd: int, data: bytes) -> None:
        if fd == log._fd:  # the index's own descriptor
            for line in data.splitlines():
                record = json.loads(line)
                if record["file"] and not (policies / record["file"]).exists():
                    early.append(record["file"])
        real_write_all(fd, data)

    monkeypatch.setattr(files, "_write_all", write_all)

    async def add(n: int) -> None:
        name = None if n % 3 == 0 else f"b-{n}.json"
        path = await folder.add(name, b"x" * n, line=json_line({"n": n, "file": name}))
        assert path == (None if name is None else str(policies / name))

    async with anyio.create_task_group() as group:
        for n in range(40):
            group.start_soon(add, n)
    await log.aclose()
    lines = await read_jsonl(index_path)
    assert sorted(r["n"] for r in lines) == list(range(40))
    assert names(policies) == sorted(f"b-{n}.json" for n in range(40) if n % 3)
    assert all((policies / f"b-{n}.json").read_bytes() == b"x" * n for n in range(40) if n % 3)
    assert early == []
    assert counting.groups <= 3


@pytest.mark.asyncio
async def test_a_file_that_fails_keeps_its_line_out_of_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bucket whose file could not be written gets the error and no index line (so
    a resumed backup does it again); the others of its group are recorded."""
    fail_writing(monkeypatch, "bad.json")
    log = await AppendLog.open(tmp_path / "index.jsonl", exclusive=True)
    folder = AtomicFolder(tmp_path / "p", log)
    (tmp_path / "p").mkdir()

    async def add(name: str) -> None:
        await folder.add(name, b"{}", line=json_line({"file": name}))

    results = await each_outcome(add, ("a.json", "bad.json", "c.json"))
    await log.aclose()
    assert results == {"a.json": "ok", "bad.json": "Input/output error", "c.json": "ok"}
    assert sorted(r["file"] for r in await read_jsonl(tmp_path / "index.jsonl")) == [
        "a.json",
        "c.json",
    ]


@pytest.mark.asyncio
async def test_an_index_that_cannot_be_written_fails_every_bucket_of_its_group_and_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full on the index: no bucket is told it is recorded when its line is not."""
    log = await AppendLog.open(tmp_path / "index.jsonl", exclusive=True)
    folder = AtomicFolder(tmp_path, log)
    no_space = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(files, "_write_all", mock.Mock(side_effect=no_space))

    async def add(name: str) -> None:
        await folder.add(None, b"", line=json_line({"n": name}))

    first = await each_outcome(add, [str(n) for n in range(10)])
    after = await each_outcome(add, ["10"])
    assert first == {str(n): "No space left on device" for n in range(10)}
    assert after["10"].startswith("an earlier append to")  # and the ones after it fail too
    await log.aclose()


@pytest.mark.asyncio
async def test_a_folder_without_index_takes_no_lines_and_names_stay_inside(
    tmp_path: Path,
) -> None:
    """`add` needs the index it appends to, and a name is a file of this folder."""
    with pytest.raises(ValueError, match="no index"):
        await AtomicFolder(tmp_path).add("a.json", b"{}", line=b"{}")
    log = await AppendLog.open(tmp_path / "index.jsonl", exclusive=True)
    for name in ("../x.json", "", ".."):
        with pytest.raises(ValueError, match="not a file name"):
            await AtomicFolder(tmp_path, log).add(name, b"{}", line=b"{}")
    await log.aclose()
