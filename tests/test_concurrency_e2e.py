"""Concurrency is real: the worker pool keeps the service busy at its concurrency.

No wall-clock assertion: the emulator counts the requests it is serving at once, and
with a whole second of latency on each, 64 workers that really run side by side keep
about 64 of them in flight, where a pool that serialised somewhere (a lock, a thread
limit, a pool of 20 connections) would peak far lower. The second is long against what
a worker needs to send its next request, even on a loaded machine (at 50 ms, a busy CI
machine's client could not refill the pool in time and the peak fell to 53).
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from osspolicy._internal.job import JobRun, run_job
from osspolicy._internal.manifest import parse_manifest
from osspolicy.emulator import Emulator

#: the transport is what this module tests: `make test` runs it on both engines
pytestmark = pytest.mark.both_engines

CONCURRENCY = 64
#: three rounds of the pool
NAMES = [f"cc-{i:05d}" for i in range(3 * CONCURRENCY)]
LATENCY_MS = 1000


@pytest.mark.parametrize("engine", ["threads", "aio"])
def test_64_workers_keep_at_least_58_requests_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """A backup of 192 buckets at concurrency 64 with 1 s latency: the emulator's peak of
    requests in flight reaches 58 or more, and the engine ran all 64 workers."""
    with Emulator(latency_ms=LATENCY_MS) as emu:
        emu.seed_buckets(NAMES)
        monkeypatch.setenv("OSS_ACCESS_KEY_ID", emu.access_key_id)
        monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emu.access_key_secret)
        manifest = parse_manifest(
            {
                "action": "backup",
                "targets": {"buckets": NAMES},
                "connection": {"region": emu.region, "endpoint": emu.endpoint},
                "concurrency": CONCURRENCY,
                "engine": engine,
            },
            source="backup.yaml",
            base=tmp_path,
        )

        async def backup() -> JobRun:
            return await run_job(manifest)

        job = anyio.run(backup)

        assert job.exit_code == 0
        assert job.stats.max_in_flight == CONCURRENCY
        assert emu.peak_in_flight >= 58
