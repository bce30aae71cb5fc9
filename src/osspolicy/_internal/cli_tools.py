"""The commands beside the jobs: `demo` (the emulator, seeded, and every job run on it),
`schema` (the manifests' JSON Schema for editors, or their Markdown reference) and
`roles` (the least-privilege RAM policies of a Resource Directory job).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_console import err, out, print_json
from .cli_options import JsonList
from .errors import ConfigError
from .exitcodes import EXIT_OK
from .roles import DEFAULT_ROLE, DOCUMENTS, MANAGEMENT_PLACEHOLDER, role_policies

__all__ = (
    "demo",
    "roles",
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


def roles(
    role: Annotated[
        str,
        typer.Option(help="The member role's name (the manifest's resource_directory.role)."),
    ] = DEFAULT_ROLE,
    management_account: Annotated[
        str | None,
        typer.Option(
            help="The account id the role trusts: the directory's management account (or "
            "its delegated administrator)."
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(
            help=f"Print one policy document alone ({', '.join(DOCUMENTS)}), e.g. to pass "
            "it to RAM."
        ),
    ] = None,
    as_json: Annotated[  # noqa: ARG001 - the answer is JSON already
        bool, typer.Option("--json", help="Print the same JSON (the default).")
    ] = False,
) -> int:
    """Print the least-privilege RAM policies of a Resource Directory job as JSON: the
    member role's `read` and `write` permissions, its `trust` policy, and the `caller`
    policy of the directory account's own identity."""
    if only is not None and only not in DOCUMENTS:
        raise ConfigError(
            f"--only {only!r} is not a policy document", hint=f"use one of {', '.join(DOCUMENTS)}"
        )
    policies = role_policies(role, management_account)
    sys.stdout.write(json.dumps(policies[only] if only else policies, indent=2) + "\n")
    if management_account is None and only in {None, "trust"}:
        err.print(
            f"note: the trust policy names {MANAGEMENT_PLACEHOLDER}, a placeholder: "
            "pass --management-account ID for the account it should trust",
            markup=False,
            soft_wrap=True,
        )
    return EXIT_OK
