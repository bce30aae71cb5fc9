"""What a resume keeps of how its job started (`resumed.py`, contracts §5), on the memory
backend: the start's binding options and a plan's final conflicts. The end-to-end proofs
over HTTP are in tests/test_binding_e2e.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from osspolicy._internal.backends.memory import MemoryBackend
from osspolicy._internal.errors import AccessDenied, ConfigError
from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import Manifest, parse_manifest
from osspolicy._internal.results import Outcome

pytestmark = pytest.mark.asyncio

BASELINE: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "resumed-baseline",
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:PutObject"],
            "Resource": ["acs:oss:*:*:${bucket}/locked/*"],
        }
    ],
}
OTHER = json.dumps({"Version": "1", "Statement": []}).encode()
BUCKETS = [f"resumed-{i:02d}" for i in range(6)]


async def no_sleep(_delay: float) -> None:
    """Retries back off without waiting."""


def manifest(tmp_path: Path, buckets: Sequence[str] = BUCKETS) -> Manifest:
    return parse_manifest(
        {
            "action": "apply",
            "targets": {"buckets": list(buckets)},
            "connection": {"region": "cn-hangzhou", "endpoint": "http://127.0.0.1:9"},
            "policy": {"document": BASELINE},
            "retry": {"attempts": 1},
        },
        source="apply.yaml",
        base=tmp_path,
    )


def backend() -> MemoryBackend:
    memory = MemoryBackend()
    for name in BUCKETS:
        memory.add_bucket(name)
    return memory


async def run(job: Manifest, memory: MemoryBackend, options: RunOptions) -> JobRun:
    with anyio.fail_after(5):
        return await run_job(job, options, backend=memory, sleep=no_sleep)


async def test_a_resume_given_a_binding_flag_the_job_started_without_is_refused(
    tmp_path: Path,
) -> None:
    """A job started without `--skip-damaged` is not resumed with it: ConfigError naming
    the flag and how the job started, before any request."""
    memory = backend()
    memory.fail_next(BUCKETS[0], AccessDenied("denied"))
    job = manifest(tmp_path)
    first = await run(job, memory, RunOptions())
    assert first.exit_code == 1
    memory.calls.clear()

    with pytest.raises(ConfigError, match=r"--skip-damaged differs .*\(without --skip-damaged\)"):
        await run(job, memory, RunOptions(resume=first.job_id, skip_damaged=True))
    assert memory.calls == []


async def test_a_plan_run_left_with_only_conflicts_has_nothing_to_resume(
    tmp_path: Path,
) -> None:
    """A job run from a plan whose only unfinished bucket is a conflict is final: its
    resume is refused, saying the conflict is kept and to plan again, before any
    request."""
    memory = backend()
    job = manifest(tmp_path)
    plan = await run(job, memory, RunOptions(dry_run=True))
    memory.buckets[BUCKETS[2]].policy = OTHER
    applied = await run(job, memory, RunOptions(plan=plan.job_id))
    assert applied.summary.counts[Outcome.CONFLICT] == 1
    memory.calls.clear()

    with pytest.raises(ConfigError, match="kept as a conflict") as refused:
        await run(job, memory, RunOptions(resume=applied.job_id))
    assert "plan again" in str(refused.value)
    assert memory.calls == []
