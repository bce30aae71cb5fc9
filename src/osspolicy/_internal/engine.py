"""The async worker pool: N workers drain one bounded stream, results flow to one writer.

```
targets ─► producer ─► [stream, buffer B] ─► N workers ─► [stream] ─► writer ─► sink
```

Memory stays flat whatever the number of targets: the producer pulls the next target only
when the buffer has room, and the task count is fixed at N + 2 (anyio's memory-object
stream pattern; never one task per target, never the whole list).

The writer hands the sink every result that is ready at once (a batch), so the report
and journal append once per batch rather than once per bucket.

`stop()` is the graceful stop of SIGINT/SIGTERM: the producer stops pulling targets, the
workers finish the calls in flight, the targets already buffered become `skip(target)`
records, and every result reaches the sink before `run()` returns. Nothing is cancelled
half-way. `stop(drain=True)` (a canary that failed, a failure threshold) keeps pulling
instead, so that every remaining target gets its `skip(target)` record.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio
from anyio.streams.memory import (
    MemoryObjectReceiveStream as ObjectReceiveStream,
)
from anyio.streams.memory import (
    MemoryObjectSendStream as ObjectSendStream,
)

__all__ = ("Engine", "EngineStats")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class EngineStats:
    """What the engine holds, for tests and progress: proves memory stays flat."""

    tasks: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    buffered: int = 0
    max_buffered: int = 0
    pulled: int = 0
    finished: int = 0


class Engine(Generic[T, R]):
    """Run `work` on every target with `workers` at once; each result goes to `sink`."""

    #: the most results handed to the sink at once
    MAX_BATCH = 512

    def __init__(self, workers: int, *, buffer: int | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.buffer = buffer if buffer is not None else workers
        self.stats = EngineStats()
        self._stopping = False
        self._draining = False
        self._producer_scope: anyio.CancelScope | None = None

    def stop(self, *, drain: bool = False) -> None:
        """Start no more work; finish what is in flight; skip what is buffered, and with
        `drain` every target still to come (else they are not pulled at all)."""
        first = not self._stopping
        self._stopping = True
        self._draining = drain and (first or self._draining)
        if not self._draining and self._producer_scope is not None:
            self._producer_scope.cancel()

    async def run(
        self,
        targets: AsyncIterable[T],
        work: Callable[[T], Awaitable[R]],
        sink: Callable[[Sequence[R]], Awaitable[None]],
        skip: Callable[[T], R],
    ) -> None:
        """Drive every target through `work` (or `skip` once stopping) into `sink`,
        which receives the results in batches of whatever is ready."""
        send_targets, receive_targets = anyio.create_memory_object_stream[T](self.buffer)
        send_results, receive_results = anyio.create_memory_object_stream[R](self.buffer)
        async with anyio.create_task_group() as group:
            self.stats.tasks = self.workers + 2
            group.start_soon(self._write, receive_results, sink)
            group.start_soon(self._produce, targets, send_targets)
            async with send_results, receive_targets:
                for _ in range(self.workers):
                    group.start_soon(
                        self._work, receive_targets.clone(), send_results.clone(), work, skip
                    )
        self.stats.tasks = 0

    async def _produce(self, targets: AsyncIterable[T], send: ObjectSendStream[T]) -> None:
        """Pull targets while the buffer has room; only the pull is cancelled by stop().

        A target already pulled is always handed on (a worker skips it if stopping), so
        no target is dropped between the iterator and a record.
        """
        done = object()
        iterator = aiter(targets)
        async with send:
            while not self._stopping or self._draining:
                with anyio.CancelScope() as scope:
                    self._producer_scope = scope
                    target = await anext(iterator, done)
                self._producer_scope = None
                if scope.cancelled_caught or target is done:
                    break
                await send.send(target)  # type: ignore[arg-type]
                self.stats.pulled += 1
                used = send.statistics().current_buffer_used
                self.stats.buffered = used
                self.stats.max_buffered = max(self.stats.max_buffered, used)

    async def _work(
        self,
        receive: ObjectReceiveStream[T],
        send: ObjectSendStream[R],
        work: Callable[[T], Awaitable[R]],
        skip: Callable[[T], R],
    ) -> None:
        async with receive, send:
            async for target in receive:
                self.stats.buffered = receive.statistics().current_buffer_used
                if self._stopping:
                    result = skip(target)
                else:
                    self.stats.in_flight += 1
                    self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
                    try:
                        result = await work(target)
                    finally:
                        self.stats.in_flight -= 1
                await send.send(result)

    async def _write(
        self, receive: ObjectReceiveStream[R], sink: Callable[[Sequence[R]], Awaitable[None]]
    ) -> None:
        async with receive:
            async for first in receive:
                batch = [first]
                while len(batch) < self.MAX_BATCH:
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                await sink(batch)
                self.stats.finished += len(batch)
