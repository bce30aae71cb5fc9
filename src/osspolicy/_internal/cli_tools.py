"""The commands beside the jobs: `demo` (the emulator, seeded, and every job run on it)
and `schema` (the manifests' JSON Schema for editors, or their Markdown reference).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_console import err, out, print_json
from .cli_options import JsonList
from .exitcodes import EXIT_OK

__all__ = (
    "demo",
    "schema",
)


def demo(
    buckets: Annotated[int, typer.Option(min=3, help="How many buckets to create.")] = 300,
    output: Annotated[Path, typer.Option(help="Where backups and reports go.")] = Path(
        "demo-output"
    ),
    as_json: JsonList = False,
) -> int:
    """Start the emulator, seed buckets, and run backup, plan, apply and restore on it."""
    from .demo import run_demo

    code = run_demo(buckets=buckets, output=output, console=err if as_json else out)
    if as_json:
        print_json({"action": "demo", "exit_code": code, "output": str(output)})
    return code


def schema(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the manifest reference (Markdown).")
    ] = False,
    as_json: Annotated[  # noqa: ARG001 - the schema is JSON already
        bool, typer.Option("--json", help="Print the JSON Schema (the default).")
    ] = False,
) -> int:
    """Print the JSON Schema of job manifests (for editors), from the models that
    validate them."""
    from .schema import schema_json, schema_markdown

    sys.stdout.write(schema_markdown() if markdown else schema_json())
    return EXIT_OK
