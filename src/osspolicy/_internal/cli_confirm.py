"""The terminal's answer to the gate (contracts §11): the plan is shown, then a y/N
question on stderr is answered on stdin.

The gate itself is the library's (`gate.py`); the CLI passes `terminal_confirm` as its
`confirm`. A writing job without `--yes` and without a terminal to ask on stops first
(`need_terminal`, exit 2).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .cli_console import err
from .cli_summary import render_summary
from .errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from .gate import Confirm, PlanToConfirm

__all__ = (
    "need_terminal",
    "terminal_confirm",
)


def terminal_confirm(console: Console) -> Confirm:
    """The CLI's `confirm` (contracts §11): the plan just made is shown (a saved plan's
    counts), then asked about on the terminal."""
    from .report import CHANGE_KINDS

    def ask(plan: PlanToConfirm) -> bool:
        if plan.run is not None:
            render_summary(plan.run, console)
        else:
            shown = ", ".join(f"{int(plan.changes.get(kind, 0))} {kind}" for kind in CHANGE_KINDS)
            err.print(f"plan {plan.job_id}: {shown}", markup=False)
        return _ask(plan.count, plan.job_id, plan.report_folder)

    return ask


def need_terminal() -> None:
    """A writing job without `--yes` asks; without a terminal to ask on, exit 2."""
    if not sys.stdin.isatty():
        raise ConfigError(
            "this job writes, and standard input is not a terminal to confirm it",
            hint="pass --yes to confirm (after `osspolicy plan`), or run a saved plan with "
            "--plan PLAN_JOB_ID --yes",
        )


def _ask(count: int, plan_id: str, folder: Path) -> bool:
    """Ask on the terminal whether to write `count` changes; only y/yes says yes. The
    question stands apart from the plan's lines above it (a blank line, on stderr)."""
    err.print()
    err.print(
        f"Write these {count} changes (plan {plan_id}; diffs in {folder}/report.jsonl)? [y/N] ",
        end="",
        markup=False,
    )
    answer = sys.stdin.readline().strip().lower()
    if answer not in {"y", "yes"}:
        err.print("nothing written", markup=False)
        return False
    return True
