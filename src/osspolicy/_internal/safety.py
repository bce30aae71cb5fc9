"""The safety of writing jobs (contracts §11), as wrappers around an action's parts.

```
targets ──► [saved plan: its buckets instead] ──► step ──► sink ──► [threshold: stop]
                                                   │
                              write_step asks its gate before each write:
                              [saved plan's guard: conflict] ─► [canary: hold, or skip]
```

Nothing here is a branch of `run_job`: a `Safety` is built once per job from the
manifest and the options, and wraps the target stream, the write gate, the step and
the sink (design.md). A job that stops taking targets (a canary that failed, a failure
threshold) drains the rest of its targets as `skipped` records whose note says why, so
every target has its record and `--resume` can carry on once the cause is fixed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from .deciders import Decider, Decision
from .decision_steps import NEW_ACCESS, WriteGate
from .engine import Engine
from .errors import ConfigError
from .exitcodes import EXIT_SIGINT, EXIT_SIGTERM
from .journal import JOURNAL_NAME, JournalHeader
from .jsonfiles import iter_jsonl, read_jsonl_ends
from .operations import Step, StepResult, failure, skipped
from .report import JSONL_NAME, SUMMARY_NAME
from .results import SUCCESS_OUTCOMES, Change, Outcome, Result, Target
from .retry import Tries

__all__ = (
    "Canary",
    "Gates",
    "PlannedChange",
    "Safety",
    "SavedPlan",
    "Stopper",
    "Threshold",
)

Sink = Callable[[Sequence[Result]], Awaitable[None]]
#: failures are counted as a share of finished targets only after this many (contracts §11)
RATE_AFTER = 20


class Stopper:
    """Stops the engine once, draining the targets left, and remembers why."""

    def __init__(self, engine: Engine[Target, Result]) -> None:
        self._engine = engine
        #: the note of the records of the targets skipped because of the stop
        self.note: str | None = None
        #: one sentence saying why the job stopped
        self.reason: str | None = None

    def stop(self, note: str, reason: str) -> None:
        """Take no new target; the first reason given is the one kept."""
        if self.note is None:
            self.note, self.reason = note, reason
            self._engine.stop(drain=True)

    def skip_reason(self) -> str:
        """What a target skipped by the stop records as its error message."""
        return f"not attempted: {self.reason}" if self.reason else "the job was stopped"


class Gates:
    """Several write gates asked in turn; the first refusal wins."""

    def __init__(self, gates: Sequence[WriteGate]) -> None:
        self._gates = tuple(gates)

    async def admit(self, target: Target, decision: Decision) -> StepResult | None:
        """The first gate's refusal, or None when every gate lets the write go."""
        for gate in self._gates:
            refused = await gate.admit(target, decision)
            if refused is not None:
                return refused
        return None


class Canary:
    """The first `size` targets that need a write go alone, and are read back.

    Every other write waits until they are done; unless all of them succeeded and read
    back as what was sent (the job's own decider finds nothing left to change:
    canonical equality for apply, bytes for restore), the job stops and no other write
    is sent (contracts §11).
    """

    def __init__(self, size: int, stopper: Stopper) -> None:
        self.size = size
        self._stopper = stopper
        self._members: set[str] = set()
        self._settled = 0
        self._failed = False
        self._done = anyio.Event()

    @property
    def passed(self) -> bool:
        """True once every canary write succeeded and read back right."""
        return self._done.is_set() and not self._failed

    async def admit(self, target: Target, decision: Decision) -> StepResult | None:
        """A canary slot while one is free, else wait for the canary's verdict."""
        if len(self._members) < self.size:
            self._members.add(target.bucket)
            return None
        await self._done.wait()
        if not self._failed:
            return None
        return dataclasses.replace(
            decision.done(Outcome.SKIPPED, error_message=self._stopper.skip_reason()),
            note="canary",
        )

    def step(self, step: Step, decide: Decider) -> Step:
        """`step`, with each canary write marked, read back and judged."""

        async def canary_step(target: Target, tries: Tries) -> StepResult:
            try:
                done = await step(target, tries)
            except Exception as exc:
                if target.bucket not in self._members:
                    raise
                done = failure(exc)  # a canary member is settled whatever it raised
            if target.bucket not in self._members:
                return done
            if done.outcome in {Outcome.APPLIED, Outcome.DELETED}:
                done = await self._read_back(target, tries, done, decide)
            self._settle(target, ok=done.outcome in SUCCESS_OUTCOMES)
            return dataclasses.replace(done, canary=True)

        return canary_step

    async def _read_back(
        self, target: Target, tries: Tries, done: StepResult, decide: Decider
    ) -> StepResult:
        try:
            again = await decide(target, tries)
        except Exception as exc:  # the read-back fails this bucket alone; the write went
            failed = failure(exc)
            return dataclasses.replace(failed, sha256_after=done.sha256_after)
        if again.change is Change.NONE:
            return done
        return dataclasses.replace(
            done,
            outcome=Outcome.FAILED,
            error_code="CanaryMismatch",
            error_message="read back after the write, the policy is not what was sent",
        )

    def _settle(self, target: Target, *, ok: bool) -> None:
        self._settled += 1
        if not ok and not self._failed:
            self._failed = True
            self._stopper.stop(
                "canary",
                f"the canary failed on {target.bucket}; no write went beyond the first "
                f"{len(self._members)} targets",
            )
        if self._failed or self._settled >= self.size:
            self._done.set()

    def finish(self) -> None:
        """Release any waiter once the targets are exhausted (fewer than `size` writes)."""
        self._done.set()


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """What a saved plan showed for one bucket."""

    target: Target
    outcome: Outcome
    change: Change | None
    read_sha256: str | None
    error_code: str | None = None


class SavedPlan:
    """A plan job's records, applied exactly (`run --plan PLAN_JOB_ID`, contracts §11).

    Its buckets are the run's targets; a bucket whose policy is no longer what the plan
    read, or whose change would differ from the one shown, is a `conflict` and is not
    written. A bucket the plan could not read fails (`NotPlanned`, note `plan`).
    """

    def __init__(self, job_id: str, changes: Mapping[str, PlannedChange]) -> None:
        self.job_id = job_id
        self._changes = changes

    @classmethod
    async def load(cls, report_dir: Path, job_id: str, *, manifest_sha256: str) -> SavedPlan:
        """Read plan `job_id` of `report_dir`; refused (exit 2) when it is not a finished
        plan of this manifest."""
        folder = Path(report_dir) / job_id
        header: JournalHeader | None = None
        try:
            async for record in iter_jsonl(folder / JOURNAL_NAME):
                header = JournalHeader.from_record(record)
                break
        except (OSError, ValueError):
            header = None
        if header is None or header.action != "plan":
            raise ConfigError(
                f"no plan {job_id} in {report_dir}",
                hint="give the job id a `osspolicy plan` printed, with the same report_dir",
            )
        if header.manifest_sha256 != f"plan:{manifest_sha256}":
            raise ConfigError(
                f"plan {job_id} was made from another manifest (or another version of it)",
                hint="plan this manifest again and run that plan",
            )
        if (unfinished := await _unfinished(folder, job_id)) is not None:
            raise ConfigError(unfinished, hint="plan this manifest again and run that plan")
        changes: dict[str, PlannedChange] = {}
        async for record in iter_jsonl(folder / JSONL_NAME):
            result = Result.from_record(record)
            target = Target(result.bucket, result.region, result.account)
            changes[result.bucket] = PlannedChange(
                target, result.outcome, result.change, result.read_sha256, result.error_code
            )
        return cls(job_id, changes)

    def __len__(self) -> int:
        return len(self._changes)

    async def targets(self) -> AsyncIterator[Target]:
        """The plan's buckets, in its order."""
        for planned in self._changes.values():
            yield planned.target

    def settled(self) -> dict[str, StepResult]:
        """The buckets the plan could not read, or refused for new access
        (`--deny-new-access`): it showed no write for them, so nothing is written, and
        they are failures (exit 1)."""
        return {
            bucket: self._not_planned(planned)
            for bucket, planned in self._changes.items()
            # a conflict the plan showed (a rollback's later change) is decided again
            if planned.outcome not in {Outcome.PLANNED, Outcome.UNCHANGED, Outcome.CONFLICT}
        }

    def _not_planned(self, planned: PlannedChange) -> StepResult:
        if planned.error_code == NEW_ACCESS:
            return StepResult(
                Outcome.FAILED,
                error_code=NEW_ACCESS,
                error_message=f"plan {self.job_id} refused it for new access "
                "(--deny-new-access); not written",
                note="plan",
            )
        return StepResult(
            Outcome.FAILED,
            error_code="NotPlanned",
            error_message=f"plan {self.job_id} could not read this bucket; plan again",
            note="plan",
        )

    async def admit(self, target: Target, decision: Decision) -> StepResult | None:
        """None when the bucket is as the plan read it and needs what it showed."""
        planned = self._changes.get(target.bucket)
        if (
            planned is not None
            and planned.read_sha256 == decision.read_sha256
            and planned.change == decision.change
        ):
            return None
        return decision.done(
            Outcome.CONFLICT,
            error_code="PlanStale",
            error_message=(
                f"the policy changed since plan {self.job_id} read it; not written "
                "(plan again to see the change)"
            ),
        )


async def _unfinished(folder: Path, job_id: str) -> str | None:
    """Why the plan in `folder` is not whole (None when it is): a plan shows every
    bucket only when it ran through: its journal ends with the `finished` line that a
    job whose listing failed, or that was interrupted, never gets (`job_finish.finish_job`), and
    its `summary.json` (written after that line) is there."""
    try:
        _, last = await read_jsonl_ends(folder / JOURNAL_NAME)
    except OSError:
        last = None
    try:
        summary = json.loads(await anyio.Path(folder / SUMMARY_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        summary = None
    if not isinstance(summary, dict):
        return f"plan {job_id} did not finish; it may not show every bucket"
    if last is not None and last.get("finished") is True:
        return None
    if summary.get("exit_code") in {EXIT_SIGINT, EXIT_SIGTERM}:
        return f"plan {job_id} was interrupted; it does not show every bucket"
    if "targets_error" in summary:
        return f"plan {job_id}: {summary['targets_error']}; it does not show every bucket"
    return f"plan {job_id} did not finish; it may not show every bucket"


class Threshold:
    """Stops the job when failures reach `max_failures`, or their share of finished
    targets reaches `max_failure_rate` (after `RATE_AFTER` finished); counted per run."""

    def __init__(self, max_failures: int, max_failure_rate: float, stopper: Stopper) -> None:
        self.max_failures = max_failures
        self.max_failure_rate = max_failure_rate
        self._stopper = stopper
        self.failures = 0
        self.finished = 0

    def sink(self, sink: Sink) -> Sink:
        """`sink`, counting each batch and stopping the job once the threshold is met."""

        async def counting_sink(results: Sequence[Result]) -> None:
            await sink(results)
            for result in results:
                if result.outcome is not Outcome.SKIPPED:
                    self.finished += 1
                    self.failures += result.failed
            if reason := self._reached():
                self._stopper.stop("threshold", reason)

        return counting_sink

    def _reached(self) -> str | None:
        if self.max_failures and self.failures >= self.max_failures:
            return f"{self.failures} failures reached max_failures ({self.max_failures})"
        rate = self.failures / self.finished if self.finished else 0.0
        if self.max_failure_rate and self.finished >= RATE_AFTER and rate >= self.max_failure_rate:
            return (
                f"{self.failures} failures in {self.finished} finished targets reached "
                f"max_failure_rate ({self.max_failure_rate:g})"
            )
        return None


class Safety:
    """Every safety feature a job's manifest and options ask for, as one set of wrappers.

    Built once per job (`open`); `run_job` passes its parts through without knowing
    which are on: the gate goes to the action's write step, `step` wraps the step
    (canary read-back), `targets` the target stream (a saved plan's buckets), `sink`
    the sink (failure threshold), and `skip` makes the records of what a stop left.
    """

    def __init__(
        self,
        stopper: Stopper,
        *,
        plan: SavedPlan | None = None,
        canary: Canary | None = None,
        threshold: Threshold | None = None,
    ) -> None:
        self.stopper = stopper
        self.plan = plan
        self.canary = canary
        self.threshold = threshold
        gates: list[WriteGate] = [g for g in (plan, canary) if g is not None]
        #: what `write_step` asks before each write (None: nothing to ask)
        self.gate: WriteGate | None = Gates(gates) if gates else None

    @classmethod
    async def open(
        cls,
        *,
        writes: bool,
        engine: Engine[Target, Result],
        canary: int,
        max_failures: int,
        max_failure_rate: float,
        plan: Callable[[], Awaitable[SavedPlan]] | None = None,
    ) -> Safety:
        """The safety of one job: a canary and a threshold for a writing job (when
        asked), and the saved plan it runs (`plan` loads it; refused if stale)."""
        stopper = Stopper(engine)
        return cls(
            stopper,
            plan=await plan() if plan is not None else None,
            canary=Canary(canary, stopper) if writes and canary > 0 else None,
            threshold=(
                Threshold(max_failures, max_failure_rate, stopper)
                if max_failures > 0 or max_failure_rate > 0
                else None
            ),
        )

    def settled(self) -> dict[str, StepResult]:
        """Targets whose record is known before any request (a plan's unread ones)."""
        return self.plan.settled() if self.plan is not None else {}

    def total(self) -> int | None:
        """The number of targets when the safety decides them (a saved plan's)."""
        return len(self.plan) if self.plan is not None else None

    def targets(self, targets: AsyncIterator[Target]) -> AsyncIterator[Target]:
        """The saved plan's buckets instead of `targets`, when running a plan."""
        return self.plan.targets() if self.plan is not None else targets

    def step(self, step: Step, decide: Decider | None) -> Step:
        """`step` with the canary's read-back, when there is a canary."""
        if self.canary is None or decide is None:
            return step
        return self.canary.step(step, decide)

    def sink(self, sink: Sink) -> Sink:
        """`sink`, counting failures against the threshold, when there is one."""
        return self.threshold.sink(sink) if self.threshold is not None else sink

    def skip(self, action: str, target: Target) -> Result:
        """The record of a target not attempted because the job stopped."""
        reason = self.stopper.skip_reason()
        if self.stopper.note is None:  # not a canary nor a threshold: a stop signal
            reason = "the job was stopped before this bucket"
        return skipped(action, target, reason, note=self.stopper.note or "interrupted")

    def finish(self) -> None:
        """Release what may still wait (a canary of fewer writes than its size)."""
        if self.canary is not None:
            self.canary.finish()

    def summary_extra(self) -> dict[str, Any]:
        """What the job's summary says of its safety: why it stopped, which plan it ran."""
        extra: dict[str, Any] = {}
        if self.stopper.reason is not None:
            extra["stopped"] = f"{self.stopper.note}: {self.stopper.reason}"
        if self.plan is not None:
            extra["plan"] = self.plan.job_id
        return extra
