"""The options several commands share, each declared once (typer `Annotated` types).

An option only one group of commands takes is declared beside them (`cli_batch.py`,
`cli_bucket.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = (
    "Endpoint",
    "Json",
    "JsonList",
    "ReportDir",
    "Yes",
)

Endpoint = Annotated[str | None, typer.Option(help="Override connection.endpoint.")]
Yes = Annotated[bool, typer.Option("--yes", help="Confirm writes without asking.")]
ReportDir = Annotated[Path, typer.Option(help="Where the jobs' report folders are.")]
#: a job's `--json`: its one object when it ends
Json = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object on stdout when the job ends."),
]
#: `--json` where the answer is not a job's summary (a bucket, a list of jobs, a check)
JsonList = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
