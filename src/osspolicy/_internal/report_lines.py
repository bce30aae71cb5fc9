"""A report's records as bytes (contracts §3): JSON lines for `report.jsonl` and the
journal, rows for `report.csv`, each batch encoded once.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from .jsonfiles import json_line
from .results import Result

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ("COLUMNS", "Lines", "csv_line", "csv_row", "encode")

#: the columns of report.csv, in the order of `Result.to_record()`
COLUMNS: tuple[str, ...] = tuple(field.name for field in fields(Result))


def csv_line(values: Iterable[object]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


def _csv_value(value: object) -> object:
    """A CSV cell: booleans `true`/`false`, null empty (contracts §3), a list joined by "; "."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return value


def csv_row(record: Mapping[str, Any]) -> bytes:
    return csv_line(_csv_value(record.get(column)) for column in COLUMNS)


@dataclass(frozen=True, slots=True)
class Lines:
    """A batch of records encoded once: JSON lines (report and journal) and CSV rows."""

    jsonl: list[bytes]
    csv: list[bytes]


def encode(results: Iterable[Result]) -> Lines:
    """Each record's JSON line and CSV row, encoded once per batch."""
    records = [result.to_record() for result in results]
    return Lines([json_line(record) for record in records], [csv_row(r) for r in records])
