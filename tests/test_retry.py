"""The one retry layer: transient errors retried with backoff, attempts counted."""

from __future__ import annotations

import pytest

from osspolicy._internal.errors import (
    AccessDenied,
    NetworkError,
    NoSuchBucket,
    ServerError,
    Throttled,
)
from osspolicy._internal.retry import THROTTLE_FACTOR, RetryConfig, Tries, backoff_delay


class RecordingSleep:
    """A sleep that records the delays instead of waiting (no wall clock in tests)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Flaky:
    """Fails with the given errors in turn, then returns 'ok'."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.asyncio
async def test_success_first_time_counts_one_attempt_and_never_sleeps() -> None:
    """A call that succeeds at once is one attempt with no sleep."""
    sleep = RecordingSleep()
    tries = Tries(RetryConfig(), sleep=sleep)
    assert await tries(Flaky()) == "ok"
    assert tries.count == 1
    assert sleep.delays == []


@pytest.mark.asyncio
async def test_transient_errors_are_retried_until_success() -> None:
    """5xx, throttling and network errors are retried, and every attempt is counted."""
    sleep = RecordingSleep()
    tries = Tries(RetryConfig(attempts=5), sleep=sleep)
    flaky = Flaky(ServerError("boom"), Throttled("slow down"), NetworkError("reset"))
    assert await tries(flaky) == "ok"
    assert tries.count == 4
    assert len(sleep.delays) == 3


@pytest.mark.asyncio
async def test_permanent_errors_are_not_retried() -> None:
    """A permanent error (NoSuchBucket) is raised after one attempt, no sleep."""
    sleep = RecordingSleep()
    tries = Tries(RetryConfig(), sleep=sleep)
    with pytest.raises(NoSuchBucket):
        await tries(Flaky(NoSuchBucket("gone")))
    assert tries.count == 1
    assert sleep.delays == []


@pytest.mark.asyncio
async def test_attempts_run_out_with_the_last_error_raised() -> None:
    """After `attempts` tries the last transient error itself is raised (not RetryError)."""
    sleep = RecordingSleep()
    tries = Tries(RetryConfig(attempts=3), sleep=sleep)
    with pytest.raises(ServerError, match="third"):
        await tries(Flaky(ServerError("first"), ServerError("second"), ServerError("third")))
    assert tries.count == 3
    assert len(sleep.delays) == 2


@pytest.mark.asyncio
async def test_counts_add_up_across_calls_of_one_bucket() -> None:
    """One Tries serves all calls of a bucket, so attempts is the bucket's total."""
    tries = Tries(RetryConfig(), sleep=RecordingSleep())
    await tries(Flaky(ServerError("x")))
    await tries(Flaky())
    assert tries.count == 3


@pytest.mark.asyncio
async def test_a_mid_retry_permanent_error_stops_retrying() -> None:
    """A permanent error after transient ones ends the retries at once."""
    tries = Tries(RetryConfig(), sleep=RecordingSleep())
    with pytest.raises(AccessDenied):
        await tries(Flaky(ServerError("x"), AccessDenied("no")))
    assert tries.count == 2


@pytest.mark.asyncio
async def test_delays_grow_exponentially_within_their_ceiling() -> None:
    """Each delay is within [0, min(max, base * 2**(n-1))] (full jitter)."""
    sleep = RecordingSleep()
    cfg = RetryConfig(attempts=8, base_delay_s=0.1, max_delay_s=1.0)
    tries = Tries(cfg, sleep=sleep)
    with pytest.raises(ServerError):
        await tries(Flaky(*[ServerError(str(i)) for i in range(8)]))
    assert len(sleep.delays) == 7
    for n, delay in enumerate(sleep.delays, start=1):
        assert 0 <= delay <= min(1.0, 0.1 * 2 ** (n - 1))


def test_backoff_ceiling_doubles_per_attempt_and_caps() -> None:
    """With the jitter pinned at 1, delays are base * 2**(n-1) up to max_delay_s."""
    cfg = RetryConfig(base_delay_s=0.2, max_delay_s=1.0)
    delays = [backoff_delay(cfg, n, ServerError("x"), rand=1.0) for n in range(1, 6)]
    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])


def test_throttling_backs_off_harder_than_a_server_error() -> None:
    """A Throttled error's ceiling is THROTTLE_FACTOR times a 5xx's (capped at max)."""
    cfg = RetryConfig(base_delay_s=0.1, max_delay_s=100.0)
    server = backoff_delay(cfg, 2, ServerError("x"), rand=1.0)
    throttled = backoff_delay(cfg, 2, Throttled("x"), rand=1.0)
    assert throttled == pytest.approx(server * THROTTLE_FACTOR)


@pytest.mark.asyncio
async def test_pace_is_awaited_before_every_attempt() -> None:
    """The rate limit hook runs once per request sent, retries included."""
    paced = 0

    async def pace() -> None:
        nonlocal paced
        paced += 1

    tries = Tries(RetryConfig(), sleep=RecordingSleep(), pace=pace)
    await tries(Flaky(ServerError("x"), Throttled("y")))
    assert paced == tries.count == 3
