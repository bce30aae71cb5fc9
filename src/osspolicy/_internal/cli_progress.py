"""A job running under the CLI: a progress bar on a terminal (total when known, rate,
ETA, failures), else a status line on stderr every `--stats` seconds.

The job reports to it through `run_job`'s `on_start` and `on_result` callables; the
bar and the lines are the only things printed while it runs.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from .cli_console import GlobalOptions, err

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from .job import JobRun, RunOptions
    from .manifest import Manifest
    from .results import Result

__all__ = ("run_with_progress",)


class _Status:
    """What a running job has done so far, for the progress bar and the status lines."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.job_id: str | None = None
        self.total: int | None = None
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()

    def rate(self) -> str:
        """Buckets per second so far, for the progress bar."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return f"{self.done / elapsed:,.0f}/s"

    def line(self) -> str:
        """One status line (rclone's `--stats` style)."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        of = f"/{self.total:,}" if self.total is not None else ""
        eta = ""
        if self.total is not None and rate > 0:
            eta = f", ETA {max(self.total - self.done, 0) / rate:.0f}s"
        return (
            f"osspolicy: {self.label} {self.job_id or ''}: {self.done:,}{of} done, "
            f"{self.failed:,} failed, {rate:,.0f}/s, {elapsed:.0f}s elapsed{eta}"
        )


async def run_with_progress(manifest: Manifest, options: RunOptions, source: str) -> JobRun:
    """Run the job; on a terminal a progress bar (total when known, rate, ETA, failures),
    else a status line on stderr every `GlobalOptions.stats_interval` seconds."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from .job import run_job

    status = _Status("plan" if options.dry_run else manifest.action)
    bar: Progress | None = None
    task: Any = None

    def started(job_id: str, total: int | None) -> None:
        status.job_id, status.total = job_id, total
        if bar is not None:
            bar.update(task, total=total)

    def advance(result: Result) -> None:
        status.done += 1
        status.failed += result.failed
        if bar is not None:
            bar.update(task, advance=1, failed=status.failed, rate=status.rate())

    async def status_lines() -> None:
        while True:
            await anyio.sleep(GlobalOptions.stats_interval)
            if status.job_id is not None:  # the job has started
                err.print(status.line(), markup=False, soft_wrap=True)

    run = partial(
        run_job,
        manifest,
        options,
        source=source,
        on_result=advance,
        on_start=started,
        handle_signals=True,
    )
    if err.is_terminal and GlobalOptions.verbosity >= 0:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed  {task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task(status.label, total=None, failed=0, rate="")
            return await run()
    if GlobalOptions.verbosity < 0 or GlobalOptions.stats_interval <= 0:
        return await run()
    return await _beside(run, status_lines)


async def _beside(
    run: Callable[[], Awaitable[JobRun]], background: Callable[[], Coroutine[Any, Any, None]]
) -> JobRun:
    """`run()` with `background()` running beside it until it ends. An error of `run`
    is raised as itself: out of a task group it would come wrapped in an ExceptionGroup,
    and `main` would not see the ConfigError (exit 2, one line) inside it."""
    result: JobRun | None = None
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(background)
        try:
            result = await run()
        except Exception as exc:
            failure = exc
        group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if result is None:  # pragma: no cover - run() returned a JobRun or raised
        raise AssertionError("the job returned nothing")
    return result
