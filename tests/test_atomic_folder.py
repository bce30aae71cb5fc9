"""An atomic folder: files grouped into few hops, each followed by its index line."""

from __future__ import annotations

import errno
import json
import stat
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from unittest import mock

import anyio
import pytest

from osspolicy._internal import appendlog, atomic_folder
from osspolicy._internal.appendlog import AppendLog
from osspolicy._internal.atomic import is_temp_name
from osspolicy._internal.atomic_folder import AtomicFolder
from osspolicy._internal.jsonfiles import json_line, read_jsonl


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def temp_files(folder: Path) -> list[str]:
    return [name for name in names(folder) if is_temp_name(name)]


class CountingGroups:
    """Counts the thread hops of an atomic folder's groups (`_write_group_sync` calls)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.groups = 0
        real_group = atomic_folder._write_group_sync

        def write_group(folder: Path | str, group: list[atomic_folder._PendingFile]) -> None:
            self.groups += 1
            real_group(folder, group)

        monkeypatch.setattr(atomic_folder, "_write_group_sync", write_group)


@pytest.mark.asyncio
async def test_atomic_folder_groups_concurrent_files_and_keeps_each_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 files written at once into one folder: every file exact and 0600, no temp
    left, in a handful of thread hops (one folder fsync each) instead of 40."""
    counting = CountingGroups(monkeypatch)
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
    real_replace = atomic_folder.replace_file_sync

    def replace(path: Path | str, data: bytes) -> None:
        if Path(path).name == name:
            raise OSError(errno.EIO, "Input/output error")
        real_replace(path, data)

    monkeypatch.setattr(atomic_folder, "replace_file_sync", replace)


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
async def test_files_and_their_index_lines_share_one_hop_and_no_line_precedes_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 buckets recorded at once, every third without a file: each file exact, each
    line once, in a handful of hops (files, one folder fsync, then the lines, together);
    whenever index lines are written, the files they name are already in place."""
    index_path = tmp_path / "index.jsonl"
    policies = tmp_path / "policies"
    policies.mkdir()
    counting = CountingGroups(monkeypatch)
    log = await AppendLog.open(index_path, exclusive=True)
    folder = AtomicFolder(policies, log)
    real_write_all = appendlog.write_fully
    early: list[str] = []

    def write_all(fd: int, data: bytes) -> None:
        if fd == log._fd:  # the index's own descriptor
            for line in data.splitlines():
                record = json.loads(line)
                if record["file"] and not (policies / record["file"]).exists():
                    early.append(record["file"])
        real_write_all(fd, data)

    monkeypatch.setattr(appendlog, "write_fully", write_all)

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
    monkeypatch.setattr(appendlog, "write_fully", mock.Mock(side_effect=no_space))

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


@pytest.mark.asyncio
async def test_a_direct_append_racing_a_group_write_is_written_once_when_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line appended to the index while a group of files and lines is being written
    waits for that group and is on disk, exactly once and after the group's line, when
    its append returns (the group's line count once made it look written already)."""
    log = await AppendLog.open(tmp_path / "index.jsonl", exclusive=True)
    folder = AtomicFolder(tmp_path, log)
    in_hop, go_on = anyio.Event(), anyio.Event()
    real_group = atomic_folder._write_group_sync

    def held_group(folder_path: Path | str, group: list[atomic_folder._PendingFile]) -> None:
        anyio.from_thread.run_sync(in_hop.set)  # the group's hop has begun...
        anyio.from_thread.run(go_on.wait)  # ...and holds the index until told
        real_group(folder_path, group)

    monkeypatch.setattr(atomic_folder, "_write_group_sync", held_group)
    on_return: list[list[str]] = []

    async def append_directly() -> None:
        await log.append(json_line({"n": "direct"}))
        on_return.append([r["n"] for r in await read_jsonl(tmp_path / "index.jsonl")])

    async def add_with_its_line() -> None:
        await folder.add("a.json", b"{}", line=json_line({"n": "group"}))

    async with anyio.create_task_group() as group:
        group.start_soon(add_with_its_line)
        await in_hop.wait()
        group.start_soon(append_directly)
        await anyio.wait_all_tasks_blocked()  # the direct line is staged, its append waits
        go_on.set()
    assert on_return == [["group", "direct"]]
    await log.aclose()
    assert [r["n"] for r in await read_jsonl(tmp_path / "index.jsonl")] == ["group", "direct"]
