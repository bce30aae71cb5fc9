"""Start-up: how long `osspolicy --version`, `--help` and a shell completion take.

Each command runs as a whole new process, several times, and the median is kept (the
first run warms the file cache as any earlier call would; nothing else is cached). The
baseline is the interpreter alone (`python -c pass`), so a ratio shows what osspolicy
adds. Completion is what bash's Tab runs: the console script with typer's
`_OSSPOLICY_COMPLETE=complete_bash` and the words typed so far. Contracts §15: each answers
in at most 0.3 s here.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ._report import Goal, Table, ratio

__all__ = ("StartupResult", "run_startup")

#: the start-up of each command should be at most this (contracts §15)
GOAL_MS = 300.0
_SCRIPT = Path(sys.executable).with_name("osspolicy")


@dataclass(frozen=True, slots=True)
class StartupResult:
    """The table, and the goals: each command's median against 300 ms."""

    table: Table
    goals: list[Goal]

    def goals_table(self) -> Table:
        """The goals of contracts §15's start-up, as met / short."""
        table = Table("Goals (issue 20, start-up)", ("goal", "measured", "target", "verdict"))
        for goal in self.goals:
            table.add(*goal.cells())
        return table


def _median_s(argv: list[str], env: Mapping[str, str], runs: int) -> float:
    times = []
    for _ in range(runs + 1):  # the first only warms the file cache
        started = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def run_startup(runs: int, progress: Callable[[str], None]) -> StartupResult:
    """Time the interpreter alone, then each command, `runs` times each."""
    env = dict(os.environ)
    completion = env | {
        "_OSSPOLICY_COMPLETE": "complete_bash",
        "COMP_WORDS": "osspolicy r",
        "COMP_CWORD": "1",
    }
    commands: list[tuple[str, list[str], Mapping[str, str]]] = [
        ("python -c pass", [sys.executable, "-c", "pass"], env),
        ("osspolicy --version", [str(_SCRIPT), "--version"], env),
        ("osspolicy --help", [str(_SCRIPT), "--help"], env),
        ("completion (osspolicy r<Tab>)", [str(_SCRIPT)], completion),
    ]
    table = Table(
        f"Start-up: median of {runs} new processes each",
        ["command", "median (ms)", "vs python alone"],
    )
    goals = []
    baseline = 0.0
    for name, argv, command_env in commands:
        progress(f"startup: {name}")
        ms = 1000 * _median_s(argv, command_env, runs)
        baseline = baseline or ms  # the first command is the interpreter alone
        table.add(name, f"{ms:.0f}", f"{ratio(ms, baseline):.2f}x")
        if argv[0] != sys.executable:
            goals.append(Goal(f"start-up: {name}", ms, GOAL_MS, unit="ms", at_most=True))
    return StartupResult(table, goals)
