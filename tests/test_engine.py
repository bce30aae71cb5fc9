"""The worker pool: bounded concurrency, flat memory, every target accounted for."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import anyio
import anyio.lowlevel
import pytest

from osspolicy._internal.backends.memory import MemoryBackend
from osspolicy._internal.engine import Engine
from osspolicy._internal.operations import backup_step, perform, skipped
from osspolicy._internal.results import Outcome, Result, Target
from osspolicy._internal.retry import RetryConfig, Tries


async def numbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


class Spy:
    """Records how many calls run at once (aiometer's TestMaxAtOnce spy); the first
    calls wait until `fill` of them run together, so the test shows the pool fills up."""

    def __init__(self, fill: int = 1) -> None:
        self.running = 0
        self.max_running = 0
        self.full = anyio.Event()
        self.fill = fill

    async def work(self, item: int) -> int:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        if self.running >= self.fill:
            self.full.set()
        with anyio.fail_after(5):
            await self.full.wait()
        await anyio.lowlevel.checkpoint()
        self.running -= 1
        return item


@pytest.mark.asyncio
async def test_every_target_reaches_the_sink_once() -> None:
    """Each target pulled from the iterator yields exactly one result at the sink."""
    seen: list[int] = []

    async def sink(results: Sequence[int]) -> None:
        seen.extend(results)

    spy = Spy()
    await Engine[int, int](8).run(numbers(1000), spy.work, sink, skip=lambda t: -t)
    assert sorted(seen) == list(range(1000))


@pytest.mark.asyncio
async def test_no_more_than_workers_calls_at_once() -> None:
    """At most `workers` calls are in flight, and the pool does fill up to that."""
    spy = Spy(fill=16)

    async def sink(_: Sequence[int]) -> None:
        return None

    engine = Engine[int, int](16)
    await engine.run(numbers(500), spy.work, sink, skip=lambda t: t)
    assert spy.max_running == 16
    assert engine.stats.max_in_flight == 16


@pytest.mark.asyncio
async def test_memory_stays_flat_over_100k_targets() -> None:
    """Over 100,000 targets the engine holds a small multiple of the concurrency, never
    the whole input: fixed task count, bounded buffer, targets pulled lazily."""
    backend = MemoryBackend(record_calls=False)
    for i in range(100):
        backend.add_bucket(f"bucket-{i:03d}", b'{"Version":"1"}' if i % 3 else None)

    class NullSink:
        async def add(
            self,
            bucket: str,
            region: str | None,
            body: bytes | None,
            rid: str | None,
            *,
            account: str = "default",
        ) -> None:
            return None

    step = backup_step(backend, NullSink())
    engine = Engine[Target, Result](64)
    pulled_ahead: list[int] = []
    finished = 0

    async def targets() -> AsyncIterator[Target]:
        for i in range(100_000):
            pulled_ahead.append(i - finished)
            yield Target(f"bucket-{i % 100:03d}")

    async def sink(results: Sequence[Result]) -> None:
        nonlocal finished
        assert all(r.outcome in {Outcome.FETCHED, Outcome.NO_POLICY} for r in results)
        finished += len(results)

    async def work(target: Target) -> Result:
        return await perform("backup", target, step, Tries(RetryConfig()))

    await engine.run(targets(), work, sink, skip=lambda t: skipped("backup", t, "stopped"))
    assert finished == 100_000
    assert engine.stats.tasks == 0  # all joined
    assert engine.stats.max_buffered <= 64
    assert engine.stats.max_in_flight <= 64
    # targets pulled but not yet finished: buffer + workers + the results stream, at most
    assert max(pulled_ahead) <= 4 * 64


@pytest.mark.asyncio
async def test_stop_finishes_in_flight_and_skips_the_buffered() -> None:
    """After stop(), calls in flight complete, buffered targets become skip records, and
    no more targets are pulled."""
    results: list[tuple[str, int]] = []
    engine = Engine[int, tuple[str, int]](2, buffer=4)
    gate = anyio.Event()
    pulled = 0

    async def targets() -> AsyncIterator[int]:
        nonlocal pulled
        for i in range(1000):
            pulled += 1
            yield i

    async def work(item: int) -> tuple[str, int]:
        if item == 0:
            engine.stop()
            gate.set()
        await gate.wait()
        return ("done", item)

    async def sink(batch: Sequence[tuple[str, int]]) -> None:
        results.extend(batch)

    await engine.run(targets(), work, sink, skip=lambda t: ("skipped", t))
    done = [i for kind, i in results if kind == "done"]
    assert 0 in done
    assert len(done) <= 2  # only the calls already in flight
    assert len(results) == pulled  # every pulled target has a record
    assert pulled < 20


@pytest.mark.asyncio
async def test_stop_before_run_pulls_nothing() -> None:
    """An engine stopped before it starts sends nothing to work and pulls no target."""
    engine = Engine[int, int](4)
    engine.stop()
    calls: list[int] = []

    async def work(item: int) -> int:
        calls.append(item)
        return item

    async def sink(_: Sequence[int]) -> None:
        return None

    await engine.run(numbers(10), work, sink, skip=lambda t: t)
    assert calls == []
    assert engine.stats.pulled == 0
