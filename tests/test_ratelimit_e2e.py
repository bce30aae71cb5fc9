"""`rate_limit` end to end: the emulator's own request log shows the job kept to it."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path

import pytest

from osspolicy.emulator import Emulator
from osspolicy.job import RunOptions, run_job
from osspolicy.manifest import parse_manifest
from osspolicy.ratelimit import default_burst

RATE = 50
BUCKETS = [f"paced-{i:05d}" for i in range(200)]


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(fault_rate=0.1, fault_seed=5) as emulator:
        monkeypatch.setenv("OSS_ACCESS_KEY_ID", emulator.access_key_id)
        monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emulator.access_key_secret)
        yield emulator


async def no_sleep(_seconds: float) -> None:
    """No backoff wait: only the rate limit may slow the job down."""


def busiest_second(times: list[float]) -> int:
    """The most requests any window [t, t + 1 s) holds, t being a request's time."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


@pytest.mark.asyncio
async def test_no_second_holds_more_than_the_rate_plus_the_burst(
    tmp_path: Path, emu: Emulator
) -> None:
    """A backup of 200 buckets at rate_limit 50 with 64 workers and 10% faults: in the
    service's log no one-second window holds more than 50 + burst requests, retries
    included (this test takes about 4 s by nature)."""
    emu.seed_buckets(BUCKETS)
    data = {
        "action": "backup",
        "targets": {"buckets": BUCKETS},
        "connection": {"region": emu.region, "endpoint": emu.endpoint},
        "concurrency": 64,
        "rate_limit": RATE,
    }
    manifest = parse_manifest(data, source="job.yaml", base=tmp_path)

    job = await run_job(manifest, RunOptions(), sleep=no_sleep)

    assert job.exit_code == 0
    log = emu.request_log
    assert len(log) > len(BUCKETS)  # the faults were retried, and paced too
    assert busiest_second([entry.time for entry in log]) <= RATE + default_burst(RATE)
