"""Read-only jobs kept in memory: nothing written to disk (contracts §15, §16).

```
RunOptions(in_memory=True) ─► check: the action writes nothing and keeps no folder
                           ─► MemoryReport (records + summary), no journal, no lock
get (one bucket)           ─► backup_step into MemoryPolicies: the bytes as OSS sent them
```

A job whose point is a file (a backup, a plan, a rollback's snapshot) or that writes to a
bucket cannot run in memory: a ConfigError says so before anything is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from .actions import Action, JobContext, Prepared, listed_targets, listed_total
from .errors import ConfigError
from .operations import backup_step
from .results import DEFAULT_ACCOUNT, Target

__all__ = ("GET", "IN_MEMORY_ACTIONS", "MemoryPolicies", "policies_of", "refuse_in_memory")

#: the actions that may run with no report folder: they write nothing and keep nothing
IN_MEMORY_ACTIONS = frozenset({"get", "status", "check", "plan", "audit"})


class MemoryPolicies:
    """A backup sink that keeps each bucket's policy bytes (None: no policy) in memory."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes | None] = {}

    async def add(
        self,
        bucket: str,
        region: str | None,  # noqa: ARG002 - the sink's signature
        body: bytes | None,
        request_id: str | None,  # noqa: ARG002 - the sink's signature
        *,
        account: str = DEFAULT_ACCOUNT,  # noqa: ARG002 - the sink's signature
    ) -> str | None:
        """Keep the bytes exactly; no file is written, so none is named."""
        self.bodies[bucket] = body
        return None


@dataclass(frozen=True, slots=True)
class _Get:
    """Read each target's policy and keep its bytes in memory (`osspolicy get`)."""

    name: str = "get"
    writes: bool = False
    resumable: bool = False

    def targets(self, ctx: JobContext) -> AsyncIterator[Target]:
        return listed_targets(ctx)

    async def total(self, ctx: JobContext) -> int | None:
        return await listed_total(ctx)

    async def prepare(self, ctx: JobContext) -> Prepared:
        kept = MemoryPolicies()
        return Prepared(backup_step(ctx.backend, kept), policies=kept.bodies)


GET = _Get()


def refuse_in_memory(action: Action, *, resume: str | None = None) -> None:
    """A ConfigError unless `action` may run with no report folder (read-only, no file);
    a job kept in memory has no journal, so nothing to resume either."""
    if resume is not None:
        raise ConfigError(
            f"a {action.name} job without a report folder cannot be resumed",
            hint="run it again",
        )
    if action.name not in IN_MEMORY_ACTIONS:
        why = "it writes to buckets" if action.writes else "its result is a folder"
        raise ConfigError(
            f"a {action.name} job cannot run without a report folder: {why}",
            hint="give it a report_dir",
        )


def policies_of(prepared: Prepared) -> Mapping[str, bytes | None]:
    """The policy bytes a `get` kept (empty for any other action)."""
    return prepared.policies if prepared.policies is not None else {}
