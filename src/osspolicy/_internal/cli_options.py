"""The options several commands share, each declared once (typer `Annotated` types).

An option only one group of commands takes is declared beside them (`cli_batch.py`,
`cli_bucket.py`). The connection and pace overrides (`--region`, `--concurrency`,
`--rate-limit`, `--attempts`, `--engine`) are here: every job over many buckets (`run`,
`plan`, `check`, `audit`, …) takes them, so the README's promise that a flag overrides
the manifest holds for each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = (
    "Attempts",
    "Concurrency",
    "Endpoint",
    "EngineName",
    "Json",
    "JsonList",
    "RateLimit",
    "Region",
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
Region = Annotated[str | None, typer.Option(help="Override connection.region.")]
Concurrency = Annotated[int | None, typer.Option(min=1, help="Override concurrency.")]
RateLimit = Annotated[
    float | None, typer.Option(min=0, help="Override rate_limit (requests/s, 0 = none).")
]
Attempts = Annotated[
    int | None, typer.Option(min=1, max=100, help="Override retry.attempts (tries per call).")
]
EngineName = Annotated[str | None, typer.Option(help="Override engine: threads or aio.")]
