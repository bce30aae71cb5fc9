"""One job from a command, start to exit code: the gate with the terminal's confirm, the
job under its progress bar, its summary, then the hints that help next (plan again, the
resume line, `--force`) or, for a job that failed as a whole, its one line.

Every writing command (`run`, `restore`, `rollback`, `put`, `delete`) and the reading
jobs (`plan`, `check`) end here; what a job does is the library's.
"""

from __future__ import annotations

import signal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from . import render
from .cli_confirm import need_terminal, terminal_confirm
from .cli_console import err, fail, out, print_json
from .cli_progress import run_with_progress
from .cli_summary import render_summary
from .errors import JobFailed, NotConfirmed
from .exitcodes import EXIT_FAILURES, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE

if TYPE_CHECKING:
    from .job import JobRun, RunOptions
    from .manifest import Manifest

__all__ = ("execute",)


def execute(
    manifest: Manifest,
    options: RunOptions,
    source: str,
    *,
    as_json: bool,
    yes: bool = True,
    rerun: str | None = None,
) -> int:
    """Run the job of `manifest` as the command `source` asked, print what it did, and
    return its exit code (a writing job without `yes` is confirmed on the terminal;
    `rerun` is the command a rollback's `--force` hint repeats)."""
    from .gate import confirmed
    from .resumed import resumed

    console = err if as_json else out  # with --json, stdout holds only the JSON object
    writes = _writes(manifest, options)
    gated = writes and not yes
    if gated:
        need_terminal()
        if options.resume is not None:  # ask about the job that was started (its plan)
            continuing = anyio.run(resumed, manifest, options)
            manifest, options = continuing.manifest, continuing.options

    async def run(chosen: RunOptions) -> JobRun:
        return await run_with_progress(manifest, chosen, source)

    gate = partial(
        confirmed,
        run,
        report_dir=Path(manifest.report_dir),
        confirm=terminal_confirm(console),
        yes=not gated,
    )
    try:
        result = anyio.run(gate, options)
    except NotConfirmed:  # the answer was no: `_ask` said "nothing written"
        return EXIT_USAGE
    except JobFailed as exc:
        return _job_failed(exc, source, yes=yes and writes)
    _after_a_stop(result)
    render_summary(result, console)
    if gated and result.action == "plan":  # the gate's plan: nothing was written
        _nothing_written(result)
        return result.exit_code
    _hints(result, source, yes=yes and writes, rerun=rerun)
    if as_json:
        print_json(result.to_json())
    return result.exit_code


def _nothing_written(plan: JobRun) -> None:
    """The gate returned its plan, with changes it could not ask about: why."""
    from .gate import PlanToConfirm, shows_every_bucket

    if PlanToConfirm(plan.job_id, Path(), dict(plan.summary.changes)).count and not (
        shows_every_bucket(plan)
    ):
        err.print(
            "nothing written: the plan does not show every bucket (see above); run "
            "again once the cause is fixed",
            markup=False,
            soft_wrap=True,
        )


def _hints(result: JobRun, source: str, *, yes: bool, rerun: str | None) -> None:
    """What helps next: plan again, why a resume would not, the resume line, --force."""
    from .report import MANIFEST_NAME

    folder = result.report_folder
    kept = source if Path(source).is_file() or folder is None else str(folder / MANIFEST_NAME)
    hints = [render.replan_hint(result, kept), *render.unresumable_hints(result, kept)]
    resume = render.resume_hint(result, kept, source, yes=yes)
    for hint in [*hints, resume]:
        if hint is not None:
            err.print(hint, markup=False, soft_wrap=True)
    if rerun is not None and (hint := render.force_hint(result, rerun)) is not None:
        err.print(hint, markup=False, soft_wrap=True)


#: the jobs `--resume` never continues: a failed one is run again
_NOT_RESUMABLE = frozenset({"plan", "check", "status", "get"})


def _job_failed(exc: JobFailed, source: str, *, yes: bool) -> int:
    """A job that failed as a whole (contracts §14): its one line, and how to resume it
    when its folders were made (what was flushed stays)."""
    from .jobid import parse_job_id
    from .report import MANIFEST_NAME

    code = fail(str(exc), EXIT_FAILURES)
    action = parse_job_id(exc.job_id).action if exc.job_id is not None else None
    if action in _NOT_RESUMABLE:  # a plan or a check is run again, never resumed
        return code
    if exc.job_id is not None and exc.report_folder is not None:
        kept = source if Path(source).is_file() else str(Path(exc.report_folder) / MANIFEST_NAME)
        rollback = action == "rollback"
        line = render.resume_line(kept, exc.job_id, rollback=rollback, yes=yes)
        err.print(line, markup=False, soft_wrap=True)
    return code


def _after_a_stop(result: JobRun) -> None:
    """A job stopped by a signal is flushed: further SIGINT/SIGTERM change nothing (no
    traceback while its summary and resume line are printed)."""
    if result.exit_code in {EXIT_SIGINT, EXIT_SIGTERM}:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)


def _writes(manifest: Manifest, options: RunOptions) -> bool:
    from .actions import action_for

    action = action_for(
        manifest, dry_run=options.dry_run, check=options.check, rollback=options.rollback
    )
    return action.writes
