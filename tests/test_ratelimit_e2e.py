"""`rate_limit` end to end: the emulator's own request log shows the job kept to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from osspolicy._internal.job import RunOptions, run_job
from osspolicy._internal.manifest import parse_manifest
from osspolicy._internal.ratelimit import default_burst
from osspolicy.emulator import Emulator

from .test_ratelimit import busiest_second

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


@pytest.mark.asyncio
async def test_the_service_sees_the_rate_plus_the_burst_at_most(
    tmp_path: Path, emu: Emulator
) -> None:
    """A backup of 200 buckets at rate_limit 50 with 64 workers and 10% faults, retries
    included: no one-second window of the emulator's log holds more than 50 + the
    documented burst requests, and the whole run keeps to 50/s plus the burst (this test
    takes about 4 s by nature)."""
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
    arrivals = sorted(entry.time for entry in emu.request_log)
    assert len(arrivals) > len(BUCKETS)  # the faults were retried, and paced too
    burst = default_burst(RATE)
    span = arrivals[-1] - arrivals[0]
    assert busiest_second(arrivals) <= RATE + burst
    assert len(arrivals) <= span * RATE + burst
