"""What a shut pre-flight gate means for the job (contracts §15); `preflight.py` only
classifies and gates.

```
a gate shuts ─► nothing finished yet, one account, not a resume?
                  yes ─► the job stops: engine.stop(), every target left `skipped`
                         (note preflight), exit 2, nothing to resume (`job_finish.py`)
                  no  ─► only that (account, region)'s targets are skipped (preflight)
```
"""

from __future__ import annotations

import functools

from .connection import endpoint_for
from .engine import Engine
from .errors import PreflightFailed
from .manifest import Manifest
from .operations import skipped
from .preflight import NOTE as PREFLIGHT
from .preflight import Preflight
from .results import Result, Target

__all__ = ("PreflightStop",)


class PreflightStop:
    """What a shut pre-flight gate means for the job (contracts §15): before any target
    finished, in a job of one account that is not a resume, the job stops (exit 2, one
    line, nothing to resume); else only that pair's targets are skipped (`preflight`)."""

    def __init__(self, engine: Engine[Target, Result], *, accounts: int) -> None:
        self.engine = engine
        self.accounts = accounts
        self.resumed = False
        self.failure: PreflightFailed | None = None

    @classmethod
    def gates(
        cls, manifest: Manifest, engine: Engine[Target, Result], *, accounts: int
    ) -> tuple[PreflightStop, Preflight]:
        """The job's gates, and this, told of each that shuts."""
        stopper = cls(engine, accounts=accounts)
        connection = manifest.connection
        gates = Preflight(
            region=connection.region,
            endpoint_for=functools.partial(endpoint_for, connection),
            on_shut=stopper.shut,
        )
        return stopper, gates

    def shut(self, failure: PreflightFailed) -> None:
        """A gate shut: stop the job if nothing has finished yet (and it may)."""
        if self.failure is not None or self.accounts > 1 or self.resumed:
            return
        if self.engine.stats.finished == 0:
            self.failure = failure
            self.engine.stop()

    def skipped(self, action: str, target: Target) -> Result | None:
        """The record of a target left when the job stopped, or None (not stopped)."""
        if self.failure is None:
            return None
        return skipped(action, target, self.failure.reason, note=PREFLIGHT)
