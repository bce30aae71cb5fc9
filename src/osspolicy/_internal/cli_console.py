"""The CLI's two consoles and the program-wide options that decide what they print.

`out` is stdout, `err` stderr (progress, warnings, errors, hints); `GlobalOptions` holds
`--debug`, `-q`/`-v`, `--stats` and `--json` as `cli.main` found them. Every other
`cli_*` module prints through these; nothing here runs or decides a job.
"""

from __future__ import annotations

import json
import sys
import traceback

from . import render
from .console_text import visible

__all__ = (
    "GlobalOptions",
    "err",
    "fail",
    "out",
    "print_json",
)

out = render.make_console()
err = render.make_console(stderr=True)


class GlobalOptions:
    """The options of the whole program (accepted before or after the subcommand)."""

    debug = False
    #: -1 quiet (only the last line and errors), 0 normal, 1 verbose (every failure)
    verbosity = 0
    #: seconds between status lines when stderr is not a terminal
    stats_interval = 5.0
    #: `--json` was given: an error is also one JSON object on stdout
    as_json = False


def fail(message: str, code: int) -> int:
    """One line on stderr; with `--json`, also `{"error", "exit_code"}` on stdout."""
    if GlobalOptions.debug:
        traceback.print_exc()
    err.print(f"osspolicy: error: {visible(message)}", markup=False, soft_wrap=True)
    if GlobalOptions.as_json:
        sys.stdout.write(render.error_object(message, code) + "\n")
    return code


def print_json(value: object) -> None:
    """The one JSON object (or list) of a command on stdout."""
    sys.stdout.write(json.dumps(value) + "\n")
