"""JSON on disk: one-object files, and JSON-lines files read back.

- a JSON file (`summary.json`, a lock) is written indented with `write_atomic` and read
  back as one object;
- a JSON-lines record is compact UTF-8 JSON and a newline (`json_line`), whatever file
  it is appended to (`appendlog.py`);
- reading JSON lines tolerates a torn LAST line (no newline, or not a JSON object: what a
  crash or a power cut leaves) and raises on a bad line anywhere else (contracts §2).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeAlias

import aiofiles
import anyio

from .atomic import read_bytes, write_atomic

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping
    from pathlib import Path

__all__ = (
    "BadLineFactory",
    "good_length",
    "iter_jsonl",
    "json_line",
    "read_json_object",
    "read_jsonl",
    "read_jsonl_ends",
    "write_json_atomic",
)

_CHUNK = 1 << 20

#: builds the exception `read_jsonl` raises for a bad line: (1-based line number, reason)
BadLineFactory: TypeAlias = Callable[[int, str], Exception]


def _value_error(line_no: int, reason: str) -> Exception:
    return ValueError(f"line {line_no}: {reason}")


# -- writing ----------------------------------------------------------------------------

#: one encoder for every compact line (json.dumps with options builds one per call)
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json_text(obj: object, *, indent: int | None) -> str:
    if indent is None:
        return _COMPACT.encode(obj)
    return json.dumps(obj, ensure_ascii=False, indent=indent, separators=(",", ": "))


def json_line(record: Mapping[str, Any]) -> bytes:
    """One JSON-lines record: compact UTF-8 JSON and a newline."""
    return (_json_text(record, indent=None) + "\n").encode()


async def write_json_atomic(path: Path, obj: Mapping[str, Any]) -> None:
    """Write `obj` as indented UTF-8 JSON with `write_atomic`."""
    await write_atomic(path, (_json_text(obj, indent=2) + "\n").encode())


async def read_json_object(path: Path) -> dict[str, Any]:
    """Parse a JSON object file; `ValueError` if it is not one, `OSError` if unreadable."""
    data = await read_bytes(path)
    obj = json.loads(data)  # JSONDecodeError and UnicodeDecodeError are ValueErrors
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")  # noqa: TRY004 - a content error, not a type
    return obj


# -- JSON lines: reading ----------------------------------------------------------------


def _parse_object(raw: bytes) -> dict[str, Any] | None:
    """The record on a complete line (newline included), or None if it is not one."""
    if not raw.endswith(b"\n"):
        return None
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _bad_reason(raw: bytes) -> str:
    try:
        json.loads(raw)
    except ValueError:
        return "not valid JSON"
    return "not a JSON object"


async def _raw_lines(path: Path) -> AsyncGenerator[bytes, None]:
    """The file's lines, each with its newline; the last one may lack it."""
    async with aiofiles.open(path, "rb") as file:
        rest = b""
        while chunk := await file.read(_CHUNK):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield line + b"\n"
        if rest:
            yield rest


async def iter_jsonl(
    path: Path, *, bad_line: BadLineFactory = _value_error
) -> AsyncGenerator[dict[str, Any], None]:
    """The records of a JSON-lines file, streamed; a torn last line is skipped.

    A line that is not a JSON object anywhere but last raises `bad_line(n, reason)`.
    """
    pending: bytes | None = None
    line_no = 0
    async with aclosing(_raw_lines(path)) as lines:
        async for raw in lines:
            if pending is not None:
                record = _parse_object(pending)
                if record is None:
                    raise bad_line(line_no, _bad_reason(pending))
                yield record
            pending = raw
            line_no += 1
    if pending is not None and (record := _parse_object(pending)) is not None:
        yield record


async def read_jsonl(
    path: Path, *, bad_line: BadLineFactory = _value_error
) -> list[dict[str, Any]]:
    """All records of a JSON-lines file (see `iter_jsonl`)."""
    async with aclosing(iter_jsonl(path, bad_line=bad_line)) as records:
        return [record async for record in records]


def _line_start_before(fd: int, end: int) -> int:
    """Where the line that ends at `end` (its newline at end-1, or torn) starts."""
    if end == 0:
        return 0
    pos = end - 1 if os.pread(fd, 1, end - 1) == b"\n" else end
    while pos > 0:
        start = max(0, pos - 65536)
        found = os.pread(fd, pos - start, start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        pos = start
    return 0


def good_length(fd: int, *, jsonl: bool) -> tuple[int, int]:
    """(end of the last good line, file size) of an open file (blocking): the two differ
    by a torn last line. With `jsonl`, a last line that is not a JSON object is torn;
    otherwise only one that lacks its newline is."""
    size = os.fstat(fd).st_size
    start = _line_start_before(fd, size)
    last = os.pread(fd, size - start, start)
    complete = last.endswith(b"\n") and (not jsonl or _parse_object(last) is not None)
    return (size if complete else start), size


def _read_ends_sync(path: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    fd = os.open(path, os.O_RDONLY)
    try:
        end, _ = good_length(fd, jsonl=True)
        if end == 0:
            return None, None
        last_start = _line_start_before(fd, end)
        last = _parse_object(os.pread(fd, end - last_start, last_start))
        head = os.pread(fd, min(_CHUNK, end), 0)
        first = _parse_object(head[: head.find(b"\n") + 1]) if b"\n" in head else None
        return first, last
    finally:
        os.close(fd)


async def read_jsonl_ends(path: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The first and the last good record of a JSON-lines file, without reading it all.

    A torn last line is skipped; lines between are not checked. None where there is none.
    """
    return await anyio.to_thread.run_sync(_read_ends_sync, path)
