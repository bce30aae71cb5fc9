"""JSON files and JSON lines read back: a torn last line tolerated, a bad middle named."""

from __future__ import annotations

from pathlib import Path

import pytest

from osspolicy._internal import jsonfiles
from osspolicy._internal.jsonfiles import iter_jsonl, read_jsonl, read_jsonl_ends


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
    monkeypatch.setattr(jsonfiles, "_CHUNK", 7)
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": "0123456789"}\n{"b": 1}\n{"c": [1, 2, 3]}\n')
    assert [r async for r in iter_jsonl(path)] == [
        {"a": "0123456789"},
        {"b": 1},
        {"c": [1, 2, 3]},
    ]


@pytest.mark.asyncio
async def test_read_ends_gives_the_first_and_last_good_records(tmp_path: Path) -> None:
    """read_jsonl_ends reads the header and the last complete record, skipping a torn tail."""
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"head": 1}\n{"n": 1}\n{"end": true}\n{"torn')
    assert await read_jsonl_ends(path) == ({"head": 1}, {"end": True})
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b'{"torn')
    assert await read_jsonl_ends(empty) == (None, None)
