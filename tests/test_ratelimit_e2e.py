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
#: the spread of transit times (limiter → worker thread → HTTP → emulator) allowed for:
#: requests that started a full interval apart may arrive closer together, on a busy
#: machine by tens of milliseconds; the limiter's own bound is proved in test_ratelimit
TRANSIT_SPREAD_S = 0.1
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
async def test_the_service_sees_the_rate_plus_the_burst_at_most(
    tmp_path: Path, emu: Emulator
) -> None:
    """A backup of 200 buckets at rate_limit 50 with 64 workers and 10% faults, retries
    included: over the whole run the emulator received no more than 50/s (+ the burst),
    and no one-second window of its log holds more than 50 + burst requests, give or take
    the requests a transit spread of 0.1 s can move into it (this test takes about 4 s by
    nature)."""
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
    assert len(arrivals) <= (span + TRANSIT_SPREAD_S) * RATE + burst
    assert busiest_second(arrivals) <= RATE + burst + TRANSIT_SPREAD_S * RATE
