"""Where one-bucket writing commands keep their jobs: the user's state folder.

`osspolicy put` and `delete` are run from anywhere, so their report and snapshot go to
one place per user (contracts §15): `platformdirs.user_state_path("osspolicy")`
(`$XDG_STATE_HOME/osspolicy` on Linux, else `~/.local/state/osspolicy`), as `reports/`
and `backups/`. `rollback JOB_ID` looks there when the job is not in its `--report-dir`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ("FoundJob", "find_job", "state_backups", "state_reports")

#: the application name of the state folder
_APP = "osspolicy"


def _state() -> Path:
    import platformdirs  # noqa: PLC0415 - only the commands that use it pay its import

    return platformdirs.user_state_path(_APP)


def state_reports() -> Path:
    """The report folder of one-bucket writing commands."""
    return _state() / "reports"


def state_backups() -> Path:
    """The backup (snapshot) folder of one-bucket writing commands."""
    return _state() / "backups"


@dataclass(frozen=True, slots=True)
class FoundJob:
    """A job's report folder, and whether it was found in the state folder instead."""

    report_dir: Path
    elsewhere: bool

    def folder(self, job_id: str) -> Path:
        return self.report_dir / job_id


def find_job(job_id: str, report_dir: Path) -> FoundJob:
    """`report_dir` if it holds the job; else the state folder's reports if they do; else
    `report_dir` (whose missing job the caller reports as such)."""
    if (report_dir / job_id).is_dir():
        return FoundJob(report_dir, elsewhere=False)
    state = state_reports()
    if (state / job_id).is_dir():
        return FoundJob(state, elsewhere=True)
    return FoundJob(report_dir, elsewhere=False)
