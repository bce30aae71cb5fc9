"""SIGINT and SIGTERM stop a job (contracts §14 "Stopping"), the OS side of `stopping.py`.

```
first signal ─► engine.stop() (no new target) + Stop.request() (no new attempt)
grace (timeouts.stop_grace_s) over, or a second signal ─► Stop.abandon()
later signals ─► taken and ignored; while the files are flushed ─► signals_ignored
```

The exit code names the first signal: 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

from .engine import Engine
from .exitcodes import EXIT_SIGINT, EXIT_SIGTERM
from .results import Result, Target
from .stopping import Stop

__all__ = ("STOP_SIGNALS", "SignalWatcher", "signals_ignored")

#: the signals that stop a job (the first gracefully)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalWatcher:
    """Turns the first SIGINT/SIGTERM into a graceful stop (no new target, no new
    attempt), and the grace's end, or a second signal, into abandoning the calls in
    flight (contracts §14). Later signals are taken and ignored; while the files are
    flushed, `signals_ignored` ignores them."""

    def __init__(self, engine: Engine[Target, Result], stop: Stop, grace_s: float) -> None:
        self.engine = engine
        self.stop = stop
        self.grace_s = grace_s
        self.received: int | None = None

    async def watch(self) -> None:
        """Take the job's stop signals until cancelled (run it in the job's task group)."""
        with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
            async for signum in signals:
                self.received = signum
                self.engine.stop()
                self.stop.request()
                break
            with anyio.move_on_after(self.grace_s):
                async for _ in signals:
                    break  # a second signal: abandon at once
            self.stop.abandon()
            async for _ in signals:  # later ones: already abandoning, flushing next
                pass

    @property
    def exit_code(self) -> int | None:
        """130 or 143 for the first signal taken (contracts §14); None: none came."""
        if self.received is None:
            return None
        return EXIT_SIGINT if self.received == signal.SIGINT else EXIT_SIGTERM


@contextmanager
def signals_ignored(enabled: bool) -> Iterator[None]:
    """SIGINT and SIGTERM ignored inside (while the job's files are flushed, after the
    watcher has stopped taking them), their handlers restored after."""
    if not enabled:
        yield
        return
    kept = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in kept.items():
            signal.signal(signum, handler)
