"""`osspolicy diff A B`: what changed between two backups, per bucket and statement.

Parses the arguments, calls the library (`api_diff.diff`), prints: a line per bucket that
differs, its statements by Sid under it (`+` added, `-` removed, `~` changed, with what
changed), then the counts; `-q` only the counts; `--json` one object on stdout. Exit 0
when nothing differs, 3 when something does, 1 when a bucket is `unknown`, 2 for a
backup refused (incomplete or damaged without `--allow-incomplete`, not a backup).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import anyio
import typer

from .cli_console import GlobalOptions, out, print_json
from .cli_options import JsonList, ReportDir
from .console_text import visible

if TYPE_CHECKING:
    from .backup_diff import BackupDiff, BucketDiff

__all__ = ("diff", "diff_lines")

Side = Annotated[
    str, typer.Argument(help="A backup folder, or a backup job's id.", show_default=False)
]
#: a statement's change as its line starts
_MARKS = {"added": "+", "removed": "-", "changed": "~"}
#: width of the status column
_WIDTH = 10


def diff(
    a: Side,
    b: Side,
    report_dir: ReportDir = Path("reports"),
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Compare a backup that lacks buckets or has a damaged policy file (those "
            "buckets are unknown).",
        ),
    ] = False,
    as_json: JsonList = False,
) -> int:
    """Compare two backups: each bucket added, removed, changed (a reorder is not a
    change), only in one, or unknown; statements by Sid. Exit 0 same, 3 different, 1
    when a bucket is unknown (2: a backup refused)."""
    from .api_diff import diff as compare

    result = anyio.run(
        partial(compare, a, b, allow_incomplete=allow_incomplete, report_dir=report_dir)
    )
    if as_json:
        print_json(result.to_json())
        return result.exit_code
    quiet = GlobalOptions.verbosity < 0
    for line in diff_lines(result)[-1:] if quiet else diff_lines(result):
        out.print(line, markup=False, soft_wrap=True)
    return result.exit_code


def diff_lines(result: BackupDiff) -> list[str]:
    """The console's lines: A → B, each bucket that is not `same` with its statements,
    then the counts."""
    lines = [f"diff {result.a} → {result.b}"]
    for bucket in result.differing:
        lines += _bucket_lines(bucket)
    lines.append(_counts_line(result))
    return lines


def _bucket_lines(bucket: BucketDiff) -> list[str]:
    """A bucket's line and its statements' (the Sids and values as `visible` shows them:
    what a policy holds is never a terminal's control sequence)."""
    status = bucket.status.replace("_", " ")
    note = f": {visible(bucket.note)}" if bucket.note else ""
    lines = [f"{status:<{_WIDTH}} {visible(bucket.bucket)}{note}"]
    for statement in bucket.statements:
        what = f": {visible('; '.join(statement.details))}" if statement.details else ""
        lines.append(f"  {_MARKS[statement.change]} {visible(statement.statement)}{what}")
    return lines


def _counts_line(result: BackupDiff) -> str:
    """`2 buckets differ: 1 added, 1 changed; 4 same` (the statuses that occurred), or
    `No differences: 6 buckets the same.`"""
    counts = result.counts
    differ = {s: n for s, n in counts.items() if n and s not in {"same", "unknown"}}
    told = ", ".join(f"{n:,} {s.replace('_', ' ')}" for s, n in differ.items())
    rest = [f"{counts['same']:,} same"]
    if counts["unknown"]:
        rest.append(f"{counts['unknown']:,} unknown")
    total = sum(differ.values())
    if total:
        noun = "bucket differs" if total == 1 else "buckets differ"
        return f"{total:,} {noun}: {told}; {', '.join(rest)}"
    return f"No differences: {', '.join(rest)}."
