"""The one retry layer: which errors are retried, how long to wait, attempts counted.

The SDK's own retryer is switched off in `backends/` (NopRetryer), so every retry a job
makes is made here and counted on the bucket's record. `retrying()` is a *factory*: a
tenacity retrying object keeps per-run state, so one is built per call and never shared
across tasks (tenacity#93).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import anyio
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from .errors import Throttled, TransientError

__all__ = ("THROTTLE_FACTOR", "Pace", "RetryConfig", "Sleep", "Tries", "backoff_delay", "retrying")

#: throttling (503 ServiceUnavailable, 429) backs off this much harder than a 5xx: the
#: service is telling us to send less, not that one request went wrong
THROTTLE_FACTOR = 4.0

Sleep = Callable[[float], Awaitable[None]]
#: awaited before every attempt (the rate limit); a no-op when there is none
Pace = Callable[[], Awaitable[None]]
P = ParamSpec("P")
T = TypeVar("T")


async def _no_pace() -> None:
    return None


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """How hard to try one call (contracts §1 `retry`)."""

    attempts: int = 10
    base_delay_s: float = 0.2
    max_delay_s: float = 10.0


def backoff_delay(
    cfg: RetryConfig, attempt: int, error: BaseException | None, rand: float | None = None
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, base * 2**(n-1))].

    `attempt` is the number of the attempt that just failed (1 for the first). A
    throttling error multiplies the ceiling by THROTTLE_FACTOR (still capped at max).
    """
    ceiling = cfg.base_delay_s * (2 ** (attempt - 1))
    if isinstance(error, Throttled):
        ceiling *= THROTTLE_FACTOR
    ceiling = min(cfg.max_delay_s, ceiling)
    fraction = random.random() if rand is None else rand  # noqa: S311 - jitter, not crypto
    return float(ceiling * fraction)


def retrying(cfg: RetryConfig, *, sleep: Sleep = anyio.sleep, done: int = 0) -> AsyncRetrying:
    """A fresh retrying object for one call: only TransientError is retried.

    `done` is the number of attempts already made outside it (their backoff counted).
    The last exception is re-raised as it is (`reraise=True`), so callers see our error
    tree, never tenacity's RetryError.
    """

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return backoff_delay(cfg, done + state.attempt_number, error)

    return AsyncRetrying(
        stop=stop_after_attempt(max(1, cfg.attempts - done)),
        wait=wait,
        retry=retry_if_exception_type(TransientError),
        sleep=sleep,
        reraise=True,
    )


class Tries:
    """Makes a bucket's calls with retries and counts every request sent for it.

    One `Tries` per bucket: `await tries(backend.get_policy, bucket)` retries transient
    errors, `tries.count` is the bucket's `attempts`, `tries.request_id` the last one seen.
    """

    def __init__(
        self, cfg: RetryConfig, *, sleep: Sleep = anyio.sleep, pace: Pace = _no_pace
    ) -> None:
        self.cfg = cfg
        self.sleep = sleep
        self.pace = pace
        self.count = 0

    async def __call__(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Call `fn` until it succeeds, a permanent error, or the attempts run out.

        The first attempt is made directly; tenacity is set up only once it failed with
        a transient error (building it costs more than a successful call of ours).
        """
        await self.pace()
        self.count += 1
        try:
            return await fn(*args, **kwargs)
        except TransientError as first:
            if self.cfg.attempts <= 1:
                raise
            await self.sleep(backoff_delay(self.cfg, 1, first))
        async for attempt in retrying(self.cfg, sleep=self.sleep, done=1):
            with attempt:
                await self.pace()
                self.count += 1
                return await fn(*args, **kwargs)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
