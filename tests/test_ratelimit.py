"""The GCRA rate limit on a fake clock: burst, steady rate, windows, retries paced."""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from time import monotonic

import anyio
import anyio.lowlevel
import pytest

from osspolicy._internal.errors import ServerError, Stopped
from osspolicy._internal.ratelimit import Limiter, RateLimit, default_burst
from osspolicy._internal.retry import RetryConfig, Tries


class FakeTime:
    """A clock that only moves when someone sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()  # others run meanwhile, as in a real sleep


def limiter(rate: float, burst: int, time: FakeTime) -> Limiter:
    return RateLimit(rate, burst).new_state(clock=time.clock, sleep=time.sleep)


@pytest.mark.parametrize(("rate", "burst"), [(0.5, 1), (10, 1), (10.5, 2), (50, 5), (1000, 100)])
def test_the_default_burst_is_a_tenth_of_a_second_of_requests(rate: float, burst: int) -> None:
    """default_burst(rate) = max(1, ceil(rate / 10)), as documented."""
    assert default_burst(rate) == burst
    assert RateLimit.per_second(rate) == RateLimit(rate, burst)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (10, 0)])
def test_a_limit_that_admits_nothing_is_refused(rate: float, burst: int) -> None:
    """A rate that is not positive, or a burst below 1, is a ValueError."""
    with pytest.raises(ValueError, match="must be"):
        RateLimit(rate, burst)


@pytest.mark.asyncio
async def test_a_job_starts_without_a_burst() -> None:
    """A fresh limiter has no credit: the first request goes at once, then one every
    1/rate s, whatever the burst."""
    time = FakeTime()
    limit = limiter(10, 3, time)
    starts = []
    for _ in range(4):
        await limit.acquire()
        starts.append(time.now - 1000.0)
    assert starts == pytest.approx([0, 0.1, 0.2, 0.3])


def test_the_blocking_limiter_keeps_the_same_pace_for_threads_and_counts_its_calls() -> None:
    """`new_blocking()` (AssumeRole in the credentials library's threads) schedules as
    the async limiter does: at once, then one every 1/rate s; it counts the calls it let
    through and the most that started within one second."""
    now = [1000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limit = RateLimit(4, 1).new_blocking(clock=lambda: now[0], sleep=sleep)
    starts = []
    for _ in range(4):
        limit.acquire()
        starts.append(now[0] - 1000.0)
    assert starts == pytest.approx([0, 0.25, 0.5, 0.75])
    assert (limit.acquired, limit.busiest_second) == (4, 4)
    for _ in range(8):
        limit.acquire()
    assert (limit.acquired, limit.busiest_second) == (12, 4)


@pytest.mark.asyncio
async def test_after_a_pause_half_the_burst_goes_at_once_then_one_per_interval() -> None:
    """Idle for a while, the limiter lets ceil(burst / 2) requests start at once (the
    other half is headroom for the transit), then paces them one every 1/rate s again."""
    time = FakeTime()
    limit = limiter(10, 5, time)
    await limit.acquire()
    time.now += 60
    start = time.now
    starts = []
    for _ in range(6):
        await limit.acquire()
        starts.append(time.now - start)
    assert starts == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])


@pytest.mark.asyncio
async def test_callers_waiting_together_start_in_the_order_they_asked() -> None:
    """Concurrent callers queue first come, first served: asked at the same instant,
    they start at 0, T, 2T, ... in the order they asked (no two share a slot)."""
    time = FakeTime()
    limit = limiter(4, 2, time)
    starts: list[tuple[int, float]] = []

    async def caller(n: int) -> None:
        await limit.acquire()
        starts.append((n, time.now - 1000.0))

    async with anyio.create_task_group() as tg:
        for n in range(4):
            tg.start_soon(caller, n)
    assert [n for n, _ in starts] == [0, 1, 2, 3]
    assert [t for _, t in starts] == pytest.approx([0, 0.25, 0.5, 0.75])


@pytest.mark.asyncio
async def test_a_late_wake_up_delays_the_callers_behind_it_instead_of_bunching() -> None:
    """The bound holds for the times requests really start: when the event loop wakes a
    caller late (a busy machine, a GC pause), the callers queued behind it start at
    least T after it, never together with it (real clock; about 0.2 s)."""
    interval = 0.01
    sleeps = 0

    async def oversleeping(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        await anyio.sleep(seconds + (0.035 if sleeps == 3 else 0.0))

    limit = RateLimit(1 / interval, 1).new_state(sleep=oversleeping)
    starts: list[float] = []

    async def caller() -> None:
        await limit.acquire()
        starts.append(monotonic())

    async with anyio.create_task_group() as tg:
        for _ in range(12):
            tg.start_soon(caller)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 11
    assert min(gaps) >= interval - 1e-4
    assert max(gaps) >= interval + 0.03  # the late wake-up happened, and was not made up


@pytest.mark.asyncio
async def test_a_pause_earns_back_the_burst_and_no_more() -> None:
    """Credit does not pile up while idle: after a long pause only ceil(burst / 2) go at
    once."""
    time = FakeTime()
    limit = limiter(10, 5, time)
    await limit.acquire()
    time.now += 3600
    time.sleeps.clear()
    for _ in range(5):
        await limit.acquire()
    assert time.sleeps == pytest.approx([0.1, 0.1])


@pytest.mark.parametrize(("burst", "at_once"), [(1, 1), (2, 1), (3, 2), (5, 3), (100, 50)])
def test_the_limiter_spends_half_the_burst_itself(burst: int, at_once: int) -> None:
    """at_once = ceil(burst / 2): what the limiter lets start together after a pause."""
    assert RateLimit(10, burst).at_once == at_once


async def paced_starts(limit: Limiter, time: FakeTime, count: int = 400) -> list[float]:
    """`count` requests as fast as the limiter lets them go, with idle spells of
    different lengths between some of them."""
    starts = []
    for i in range(count):
        if i % 37 == 0:
            time.now += 0.37 * (i % 5)
        await limit.acquire()
        starts.append(time.now)
    return starts


def busiest_second(times: list[float]) -> int:
    """The most of `times` any window [t, t + 1 s) holds."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


@pytest.mark.asyncio
@pytest.mark.parametrize(("rate", "burst"), [(50, 5), (7, 1), (3.5, 2), (1000, 100)])
async def test_no_one_second_window_holds_more_than_rate_plus_half_the_burst_of_starts(
    rate: float, burst: int
) -> None:
    """Over many requests with pauses, any window [t, t+1) holds at most
    floor(rate) + ceil(burst / 2) starts."""
    time = FakeTime()
    starts = await paced_starts(limiter(rate, burst, time), time)
    assert busiest_second(starts) <= math.floor(rate) + RateLimit(rate, burst).at_once


@pytest.mark.asyncio
@pytest.mark.parametrize(("rate", "burst"), [(50, 5), (7, 1), (3.5, 2), (1000, 100)])
async def test_with_transit_times_spread_over_the_headroom_the_service_sees_rate_plus_burst(
    rate: float, burst: int
) -> None:
    """The promise on the service's side: whatever each request's transit time, as long
    as they differ by no more than (burst - ceil(burst / 2)) / rate s, no one-second
    window of arrivals holds more than rate + burst. The transit times here are the
    worst case: the requests just before a window are held back into it, the ones inside
    it are not (a sawtooth, at many phases)."""
    time = FakeTime()
    starts = await paced_starts(limiter(rate, burst, time), time, count=1000)
    spread = (burst - math.ceil(burst / 2)) / rate  # the documented headroom
    period = 1.0 + spread
    for phase in (k * period / 40 for k in range(40)):
        arrivals = [
            start + (spread if (start - phase) % period < spread else 0.0) for start in starts
        ]
        assert busiest_second(arrivals) <= math.floor(rate) + burst


@pytest.mark.asyncio
async def test_every_attempt_of_a_call_is_paced_retries_included() -> None:
    """As `Tries(pace=limiter.acquire)`, the limiter is awaited before each attempt."""
    time = FakeTime()
    limit = limiter(10, 1, time)
    paced = 0

    async def pace() -> None:
        nonlocal paced
        paced += 1
        await limit.acquire()

    failures = iter([ServerError("boom"), ServerError("boom")])

    async def flaky() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "ok"

    async def no_backoff(_seconds: float) -> None:
        return None

    tries = Tries(RetryConfig(attempts=5), sleep=no_backoff, pace=pace)
    assert await tries(flaky) == "ok"
    assert (tries.count, paced) == (3, 3)
    assert time.sleeps == pytest.approx([0.1, 0.1])


def test_a_closed_blocking_limiter_releases_its_waiting_thread_at_once() -> None:
    """A job stopped while AssumeRole calls wait for their turn (a slow `sts_rate_limit`):
    `close` wakes the waiting thread, which raises `Stopped` instead of waiting its turn
    (here 1,000 s), and every later call is refused the same way."""
    limit = RateLimit(0.001, 1).new_blocking()
    limit.acquire()  # the first call starts at once
    raised: list[BaseException] = []

    def second() -> None:
        try:
            limit.acquire()
        except Stopped as exc:
            raised.append(exc)

    waiter = threading.Thread(target=second)
    waiter.start()
    limit.close()
    waiter.join(timeout=60)
    assert not waiter.is_alive()
    assert len(raised) == 1
    with pytest.raises(Stopped):
        limit.acquire()
    assert limit.acquired == 1
