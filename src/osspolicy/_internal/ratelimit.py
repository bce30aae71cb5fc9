"""The job's rate limit (`rate_limit` in the manifest): requests per second across all
workers, retries included.

A small config object and a state, as in aiometer's `meters.py`: `RateLimit` says how
fast (and how bursty) a job may be; `RateLimit.new_state()` makes the `Limiter` one job
shares. `await limiter.acquire()` before every request (it is `Tries`' `pace` hook, so
retries pass through it too).

The promise is about what the service sees, since that is what its throttling counts:
any one-second window of the service's log holds at most `rate + burst` requests.

The algorithm is GCRA, the Generic Cell Rate Algorithm (ITU-T I.371, "virtual
scheduling" form), as aiometer's rate meter and most API gateways use it. With an
emission interval T = 1/rate and a tolerance tau = (n - 1) * T, the limiter keeps one
number, the theoretical arrival time (TAT): a request may start at time t when
t >= TAT - tau, and starting moves TAT to max(TAT, t) + T. While a job keeps up with the
pace, requests start one every T; a job that fell behind (a pause, a slow disk) earns
credit back, one request per T of idleness, up to n requests at once. So any window of
W seconds holds at most W * rate + n starts.

The limiter spends only half of the burst itself (n = ceil(burst / 2), `at_once`) and
keeps the rest as headroom for the transit: a request reaches the service after a thread
hop and the network, and that time varies (on a busy machine by tens of milliseconds),
which no client controls. Starts that were T apart may arrive closer together; with a
spread of transit times up to (burst - n) * T (40 ms at 50/s, 50 ms at 1000/s) the
service's one-second windows still hold at most `rate + burst`.

The limiter starts with no credit (as if it had just spent its burst): the first
request goes at once, the next ones one every T. A job (or its resume, or the next job
of a script) never opens with a burst on top of whatever the service saw just before,
and the early requests, slower than the rest while connections open, cannot bunch up
with later ones in the service's one-second windows.

Callers queue in a FIFO lock, in the order they asked, and only the head of the queue
sleeps: it waits for its slot, starts, and moves TAT on from the moment it *actually*
started. So a late wake-up (a busy event loop, a garbage collection, a starved CI
machine) delays the requests behind it instead of letting them bunch up with it: the
bound holds for the times requests really start, not only for the times they were due.
A caller cancelled while waiting leaves TAT untouched (the job only ever goes slower
than the limit, never faster).

`RateLimit.new_blocking()` is the same algorithm for callers in worker threads (a
`threading.Lock` as the FIFO, `time.sleep` to wait): the credentials library refreshes
a token inside whichever thread signs a request, so the pace of AssumeRole calls
(`sts_rate_limit`) must hold there. It counts what it let through (`acquired`).

Burst: `default_burst(rate) = max(1, ceil(rate / 10))`, a tenth of a second's worth of
requests (1 for 10/s or less, 5 for 50/s, 100 for 1000/s): small against a one-second
window, yet enough that scheduling jitter between workers does not cost throughput.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from .errors import Stopped

__all__ = ("BlockingLimiter", "Clock", "Limiter", "RateLimit", "default_burst")

Clock = Callable[[], float]
#: a wait shorter than this is float rounding of (TAT - tau - now), not a wait
_ROUNDING = 1e-9


def default_burst(rate: float) -> int:
    """The documented burst of a limit of `rate` requests per second: a tenth of a
    second's worth, at least 1."""
    return max(1, math.ceil(rate / 10))


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `rate` requests per second on average, and `rate + burst` in any one
    second the service sees."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be positive, got {self.rate}")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst}")

    @classmethod
    def per_second(cls, rate: float) -> RateLimit:
        """A limit of `rate` requests per second with the documented burst."""
        return cls(rate, default_burst(rate))

    @property
    def at_once(self) -> int:
        """n: how many requests the limiter itself lets start together after a pause,
        half the burst (rounded up); the rest is headroom for the transit."""
        return math.ceil(self.burst / 2)

    @property
    def interval(self) -> float:
        """T: seconds between two requests at the steady rate."""
        return 1.0 / self.rate

    def new_state(
        self,
        *,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> Limiter:
        """A fresh limiter (one per job); `clock` and `sleep` are injectable for tests."""
        return Limiter(self, clock=clock, sleep=sleep)

    def new_blocking(
        self, *, clock: Clock = time.monotonic, sleep: Callable[[float], None] | None = None
    ) -> BlockingLimiter:
        """A fresh limiter for callers in worker threads (blocking `acquire`; its waits
        end at `close`, unless a test gives its own `sleep`)."""
        return BlockingLimiter(self, clock=clock, sleep=sleep)


class _Schedule:
    """GCRA's virtual scheduling: the one number (TAT) both limiters keep."""

    def __init__(self, limit: RateLimit) -> None:
        self._interval = limit.interval
        self._tolerance = (limit.at_once - 1) * limit.interval
        #: the theoretical arrival time of the next request; None until the first one
        self._tat: float | None = None

    def wait(self, now: float) -> float:
        """How long a call asking at `now` waits (0: it may start)."""
        if self._tat is None:  # no credit at the start: as if the burst had just gone
            self._tat = now + self._tolerance
        wait = self._tat - self._tolerance - now
        return wait if wait > _ROUNDING else 0.0

    def started(self, now: float) -> None:
        """A call started at `now` (when it really did, after any late wake-up)."""
        self._tat = max(self._tat if self._tat is not None else now, now) + self._interval


class Limiter:
    """The GCRA state of one job's limit; share it across all of the job's workers."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.limit = limit
        self._schedule = _Schedule(limit)
        self._clock = clock
        self._sleep = sleep
        #: FIFO: callers start in the order they asked; only the head sleeps
        self._queue = anyio.Lock(fast_acquire=True)

    async def acquire(self) -> None:
        """Wait until the next request may start (usable as `Tries(pace=...)`)."""
        async with self._queue:
            if wait := self._schedule.wait(self._clock()):
                await self._sleep(wait)
            self._schedule.started(self._clock())


class BlockingLimiter:
    """The GCRA state of one limit whose callers are worker threads: `acquire` blocks.

    The same virtual scheduling as `Limiter`; a lock held while the head of the queue
    sleeps keeps the callers in order. Its own accounting, which a job reports:
    `acquired` counts the calls let through, `busiest_second` is the most of them that
    started within one second (at most `rate` + `at_once`; what the service sees may
    bunch a little more, by how much the calls' transit times differ)."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.limit = limit
        self._schedule = _Schedule(limit)
        self._clock = clock
        self._sleep = sleep
        self._queue = threading.Lock()
        self._closed = threading.Event()
        #: how many calls `acquire` let through
        self.acquired = 0
        #: the most calls that started within one second
        self.busiest_second = 0
        self._last_second: deque[float] = deque()

    def close(self) -> None:
        """The job is stopping: every caller waiting for its turn, and every later one,
        raises `Stopped` at once (a slow pace would otherwise hold a Ctrl-C'd job until
        its threads had waited their turns)."""
        self._closed.set()

    def acquire(self) -> None:
        """Block until the next call may start; `Stopped` once `close` was called."""
        with self._queue:
            if self._closed.is_set():
                raise Stopped("the job is stopping: no new call starts")
            if wait := self._schedule.wait(self._clock()):
                if self._sleep is not None:
                    self._sleep(wait)
                elif self._closed.wait(wait):
                    raise Stopped("the job is stopping: no new call starts")
            now = self._clock()
            self._schedule.started(now)
            self.acquired += 1
            self._last_second.append(now)
            while self._last_second[0] <= now - 1.0:
                self._last_second.popleft()
            self.busiest_second = max(self.busiest_second, len(self._last_second))
