"""The exit codes of jobs (contracts §4), and the rule that picks 0 or 1 from outcomes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .results import DRIFT_OUTCOMES, FAILURE_OUTCOMES, Outcome

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


def exit_code_for(
    counts: Mapping[Outcome, int] | Mapping[str, int], *, targets_complete: bool = True
) -> int:
    """The exit code of a job that ran through (contracts §4): `EXIT_FAILURES` when any
    failure outcome has a count or the targets could not all be listed, else
    `EXIT_DRIFT` when a check found drift, else `EXIT_OK`."""

    def total(outcomes: frozenset[Outcome]) -> int:
        return sum(count for outcome, count in counts.items() if Outcome(outcome) in outcomes)

    if total(FAILURE_OUTCOMES) or not targets_complete:
        return EXIT_FAILURES
    return EXIT_DRIFT if total(DRIFT_OUTCOMES) else EXIT_OK
