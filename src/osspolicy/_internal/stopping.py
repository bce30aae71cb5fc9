"""A job's stop (contracts §14 "Stopping"): no new attempt, a grace, then abandonment.

```
signal ─► Stop.request() ─► no attempt starts (Stopped: the target is `skipped`)
                            retry sleeps and rate-limit waits end at once
   grace (timeouts.stop_grace_s), or a second signal
       ─► Stop.abandon()  ─► every call in flight ends now (Interrupted: `failed`)
```

`Tries` (retry.py) makes each attempt inside `Stop.call()`, which registers a `Call` and
makes it the context's current one; a backend asks `current_call()` how to be told to
give up (`Call.on_abandon`): the aio backend cancels its shielded scope, the thread
backend stops waiting for its thread and shuts the call's socket down, so the thread
ends too. Nothing is cancelled before `abandon()`: in the grace, calls in flight finish
and their answers are recorded.

A worker thread whose call was abandoned may stay blocked a while (a connect, a name
lookup): it is noted here (`note_abandoned_thread`), and the CLI leaves without joining
it once the job's files are flushed (`join_abandoned_threads`).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec

import anyio

from .errors import Stopped

__all__ = ("Call", "Stop", "current_call", "join_abandoned_threads", "note_abandoned_thread")

P = ParamSpec("P")


class Call:
    """One attempt in flight: the ways to end it now, run once by `abandon()`."""

    __slots__ = ("_enders", "abandoned")

    def __init__(self) -> None:
        self.abandoned = False
        self._enders: list[Callable[[], None]] = []

    def on_abandon(self, end: Callable[[], None]) -> None:
        """Call `end()` when the call is abandoned (at once if it already is)."""
        if self.abandoned:
            end()
        else:
            self._enders.append(end)

    def abandon(self) -> None:
        """Give up the call: every `end` registered runs (once)."""
        if self.abandoned:
            return
        self.abandoned = True
        enders, self._enders = self._enders, []
        for end in enders:
            end()


_CURRENT: ContextVar[Call | None] = ContextVar("osspolicy_call", default=None)


def current_call() -> Call | None:
    """The attempt this code runs in (None outside `Stop.call()`)."""
    return _CURRENT.get()


class Stop:
    """One job's stop: requested once (first signal), then abandoned (grace or second
    signal). Every attempt and every wait of the job's `Tries` goes through it."""

    def __init__(self) -> None:
        self.requested = False
        self.abandoned = False
        self._calls: set[Call] = set()
        self._waits: set[anyio.CancelScope] = set()

    def request(self) -> None:
        """Start no attempt from now on; end every retry sleep and pace wait now."""
        self.requested = True
        for scope in list(self._waits):
            scope.cancel()

    def abandon(self) -> None:
        """Also give up every call in flight (after the grace, or at a second signal)."""
        self.request()
        self.abandoned = True
        for call in list(self._calls):
            call.abandon()

    def check(self) -> None:
        """Raise Stopped once a stop was requested."""
        if self.requested:
            raise Stopped("not attempted: the job was interrupted")

    @contextmanager
    def call(self) -> Iterator[Call]:
        """One attempt: refused (Stopped) once stopping; abandoned with the others."""
        self.check()
        call = Call()
        self._calls.add(call)
        token = _CURRENT.set(call)
        try:
            yield call
        finally:
            _CURRENT.reset(token)
            self._calls.discard(call)

    async def wait(
        self, wait: Callable[P, Awaitable[None]], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """`await wait(...)` (a retry sleep, the rate limit), ended by a stop request:
        then, as before it, Stopped."""
        self.check()
        with anyio.CancelScope() as scope:
            self._waits.add(scope)
            try:
                await wait(*args, **kwargs)
            finally:
                self._waits.discard(scope)
        self.check()


_ABANDONED: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_ABANDONED_LOCK = threading.Lock()


def note_abandoned_thread(thread: threading.Thread) -> None:
    """`thread` is still making a call that a stop abandoned."""
    with _ABANDONED_LOCK:
        _ABANDONED.add(thread)


def join_abandoned_threads(timeout_s: float) -> bool:
    """Wait up to `timeout_s` in all for the threads of abandoned calls to end; whether
    they all did (a thread still blocked would keep the interpreter from exiting)."""
    with _ABANDONED_LOCK:
        threads = list(_ABANDONED)
    ends_at = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, ends_at - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)
