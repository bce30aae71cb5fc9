"""The one retry layer: which errors are retried, how long to wait, attempts counted.

The SDK's own retryer is switched off in `backends/` (NopRetryer), so every retry a job
makes is made here and counted on the bucket's record. `retrying()` is a *factory*: a
tenacity retrying object keeps per-run state, so one is built per call and never shared
across tasks (tenacity#93).

With a job's `Stop` (stopping.py), `Tries` starts no attempt once a stop is requested,
and its backoff sleeps and rate-limit waits end at once (Stopped: the target is
`skipped`); each attempt is one `Stop.call()`, so a stop can abandon it (Interrupted).

With a job's `Preflight` (preflight.py), `tries.at(account, region)` puts its calls behind
that pair's gate: the pair's first call makes at most 2 attempts for a cause retrying
cannot fix, and the others wait for it (contracts §15).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar, cast

import anyio
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from .errors import BackendError, Throttled, TransientError
from .preflight import Gate, Listing, Preflight
from .stopping import Stop

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
    With `stop`, no attempt starts after a stop request and waits end at once (Stopped).
    """

    def __init__(
        self,
        cfg: RetryConfig,
        *,
        sleep: Sleep = anyio.sleep,
        pace: Pace = _no_pace,
        stop: Stop | None = None,
        preflight: Preflight | None = None,
    ) -> None:
        self.cfg = cfg
        self.sleep = sleep
        self.pace = pace
        self.stop = stop
        self.preflight = preflight
        self.count = 0
        self._gate: Gate | None = None
        self._listing: Listing = False

    def at(self, account: str, region: str | None = None, *, listing: Listing = False) -> Tries:
        """These calls are `account`'s in `region` (None: the connection's): behind that
        pair's pre-flight gate, if the job has one. `listing`: a ListBuckets a denial
        stops (a discover job's, True; the owner id's, "account_id"). Returns itself."""
        if self.preflight is not None:
            self._gate = self.preflight.gate(account, region)
            self._listing = listing
        return self

    async def _wait(self, delay: float) -> None:
        """The backoff sleep; with a stop, ended by it (Stopped)."""
        if self.stop is None:
            await self.sleep(delay)
        else:
            await self.stop.wait(self.sleep, delay)

    async def _attempt(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """One attempt, paced; with a stop, refused once stopping and abandonable."""
        if self.stop is None:
            await self.pace()
            self.count += 1
            return await fn(*args, **kwargs)
        if self.pace is not _no_pace:
            await self.stop.wait(self.pace)
        with self.stop.call():
            self.count += 1
            return await fn(*args, **kwargs)

    async def _pause(self, attempt: int, error: BackendError) -> None:
        await self._wait(backoff_delay(self.cfg, attempt, error))

    async def __call__(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Call `fn` until it succeeds, a permanent error, or the attempts run out.

        Behind a gate that is not open yet, the call waits for the pair's first call or
        is that call (`preflight.Gate.first`). The first attempt is made directly;
        tenacity is set up only once it failed with a transient error (building it costs
        more than a successful call of ours).
        """
        call = functools.partial(self._attempt, fn, *args, **kwargs)
        done, error = 0, None
        gate = self._gate
        if gate is not None and not gate.is_open:
            first = await gate.first(
                call, self._pause, attempts=self.cfg.attempts, listing=self._listing
            )
            if first.attempts and first.error is None:
                return cast("T", first.value)
            done, error = first.attempts, first.error
        if error is None:
            try:
                return await call()
            except TransientError as exc:
                done, error = 1, exc
        if done >= self.cfg.attempts:
            raise error
        await self._pause(done, error)
        async for attempt in retrying(self.cfg, sleep=self._wait, done=done):
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
