"""The confirmation gate of a writing job (contracts §11), in the library: plan, show,
ask, then write exactly what was shown.

```
confirmed(run, options, confirm)
   ├─ yes=True                      ─► run(options)
   ├─ a saved plan (options.plan)   ─► confirm(its counts) ─► run(options)
   └─ else ─► run(plan options) ─► nothing to write / not every bucket shown ─► the plan
                                 ─► confirm(the plan) ─► run(options + that plan)
```

`confirm` is any callable (sync or async) given a `PlanToConfirm`; the CLI's asks on the
terminal, a library caller's may check the counts or a ticket. A "no" raises
`NotConfirmed` (exit 2, nothing written). What is confirmed is written through that
plan, so a bucket changed since it was shown is a `conflict`, not written.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from .errors import ConfigError, NotConfirmed
from .exitcodes import EXIT_SIGINT, EXIT_SIGTERM

if TYPE_CHECKING:
    from .job import JobRun, RunOptions

__all__ = ("CHANGING", "Confirm", "PlanToConfirm", "confirmed", "saved_plan", "shows_every_bucket")

#: the kinds of change that write
CHANGING = ("create", "modify", "delete")


@dataclass(frozen=True, slots=True)
class PlanToConfirm:
    """What a writing job would do, to be confirmed: the plan job's id and folder, its
    counts by kind of change, and (for a plan just made) its `JobRun`."""

    job_id: str
    report_folder: Path
    #: buckets per kind of change: create, modify, delete, unchanged
    changes: Mapping[str, int]
    #: the plan just made (its summary, its diffs); None for a saved plan
    run: JobRun | None = None

    @property
    def count(self) -> int:
        """How many buckets would be written."""
        return sum(int(self.changes.get(kind, 0)) for kind in CHANGING)


#: says whether to write what the plan shows (sync or async)
Confirm = Callable[[PlanToConfirm], bool | Awaitable[bool]]


def shows_every_bucket(plan: JobRun) -> bool:
    """A plan stopped by a signal, or whose listing failed, does not show every bucket:
    it could not be run (`run --plan` refuses it), so it is not asked about."""
    stopped = plan.exit_code in {EXIT_SIGINT, EXIT_SIGTERM}
    return not stopped and "targets_error" not in plan.summary.extra


async def saved_plan(report_dir: Path, plan_id: str) -> PlanToConfirm | None:
    """The counts of saved plan `plan_id`, or None when its summary cannot be read (then
    the job itself refuses the plan, exit 2, before any request)."""
    folder = report_dir / plan_id
    try:
        text = await anyio.Path(folder / "summary.json").read_text(encoding="utf-8")
        changes = {kind: int(count) for kind, count in json.loads(text)["changes"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return PlanToConfirm(plan_id, folder, changes)


async def _ask(confirm: Confirm, plan: PlanToConfirm) -> None:
    answer = confirm(plan)
    if inspect.isawaitable(answer):
        answer = await answer
    if answer is not True:
        raise NotConfirmed(
            f"not confirmed: nothing written (plan {plan.job_id}, "
            f"{plan.count} bucket{'' if plan.count == 1 else 's'} to write)",
            hint=f"its diffs are in {plan.report_folder / 'report.jsonl'}",
        )


async def confirmed(
    run: Callable[[RunOptions], Awaitable[JobRun]],
    options: RunOptions,
    *,
    report_dir: Path,
    confirm: Confirm | None,
    yes: bool = False,
) -> JobRun:
    """Run a writing job once confirmed: with `yes`, at once; else through a plan that
    `confirm` said yes to. Returns the job's run, or the plan's when there is nothing to
    write or the plan does not show every bucket (its `action` is "plan": nothing was
    written). Raises NotConfirmed on a no, ConfigError with neither `confirm` nor `yes`."""
    if yes:
        return await run(options)
    if confirm is None:
        raise ConfigError(
            "this job writes and nothing confirmed it",
            hint="pass confirm= (shown the plan, it says yes or no) or yes=True "
            "(after a plan you read)",
        )
    if options.plan is not None:
        saved = await saved_plan(report_dir, options.plan)
        if saved is not None and saved.count:
            await _ask(confirm, saved)
        return await run(options)
    plan = await run(dataclasses.replace(options, dry_run=True, resume=None))
    shown = PlanToConfirm(
        plan.job_id, plan.report_folder or report_dir, dict(plan.summary.changes), plan
    )
    if shown.count == 0 or not shows_every_bucket(plan):
        return plan
    await _ask(confirm, shown)
    return await run(dataclasses.replace(options, plan=plan.job_id))
