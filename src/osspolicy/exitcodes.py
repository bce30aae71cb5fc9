"""The exit codes of jobs (contracts §4), and the rule that picks 0 or 1 from outcomes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .results import FAILURE_OUTCOMES, Outcome

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = (
    "EXIT_DRIFT",
    "EXIT_FAILURES",
    "EXIT_OK",
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
    "EXIT_USAGE",
    "exit_code_for",
)

EXIT_OK = 0
"""Every target succeeded or was skipped at the user's request."""
EXIT_FAILURES = 1
"""At least one failure, or the job stopped at a threshold or a canary."""
EXIT_USAGE = 2
"""Bad input or usage; nothing was sent."""
EXIT_DRIFT = 3
"""`check` found drift."""
EXIT_SIGINT = 130
"""Interrupted by SIGINT (report, journal and files flushed first)."""
EXIT_SIGTERM = 143
"""Interrupted by SIGTERM (report, journal and files flushed first)."""


def exit_code_for(counts: Mapping[Outcome, int] | Mapping[str, int]) -> int:
    """`EXIT_FAILURES` when any failure outcome has a count, else `EXIT_OK`."""
    failed = sum(count for outcome, count in counts.items() if Outcome(outcome) in FAILURE_OUTCOMES)
    return EXIT_FAILURES if failed else EXIT_OK
