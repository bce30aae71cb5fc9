"""Any job of the API as an async iterator of its records (contracts §16):
`async with osspolicy.stream(osspolicy.backup, m) as results: async for r in results`.

The job runs in a task beside the reader; each record goes through a bounded memory
stream, so a slow reader slows the job, never the other way round; leaving the block
early cancels the job (it stays resumable); its error reaches the reader once the
records ended, as itself (never an ExceptionGroup).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio

from .job import JobRun
from .results import Result

__all__ = ("ResultStream", "stream")


class ResultStream:
    """The records of a running job, in finishing order (`async for`); `run` is its
    `JobRun` once the records ended. A slow reader slows the job (the buffer is
    bounded), never the other way round."""

    def __init__(self, buffer: int) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[Result](buffer)
        self._run: JobRun | None = None
        self._error: Exception | None = None

    def __aiter__(self) -> AsyncIterator[Result]:
        return self._records()

    async def _records(self) -> AsyncIterator[Result]:
        async with self._receive:
            async for result in self._receive:
                yield result
        if self._error is not None:
            raise self._error

    @property
    def run(self) -> JobRun:
        """The job's run; an error once the records ended is raised by the iteration."""
        if self._run is None:
            raise RuntimeError("the job has not finished: read its records to the end first")
        return self._run

    @property
    def ended(self) -> bool:
        """Whether the job ended (its run, or its error, is known)."""
        return self._run is not None or self._error is not None

    async def drive(
        self,
        job: Callable[..., Awaitable[JobRun]],
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> None:
        """Run the job, each record also sent to the stream (after the caller's own
        `on_result`, if given); its error is kept for the reader."""
        given = kwargs.pop("on_result", None)

        async def on_result(result: Result) -> None:
            if callable(given):
                maybe = given(result)
                if maybe is not None:
                    await maybe
            await self._send.send(result)

        async with self._send:
            try:
                self._run = await job(*args, on_result=on_result, **kwargs)
            except Exception as exc:  # raised to the reader once the records ended
                self._error = exc


@asynccontextmanager
async def stream(
    job: Callable[..., Awaitable[JobRun]], /, *args: object, buffer: int = 64, **kwargs: object
) -> AsyncIterator[ResultStream]:
    """Run `job(*args, **kwargs)` (any function of this module) and yield its records as
    they come::

        async with osspolicy.stream(osspolicy._internal.backup, manifest) as results:
            async for result in results:
                ...
        print(results.run.exit_code)

    Leaving the block before the records ended cancels the job (it stays resumable)."""
    results = ResultStream(buffer)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(results.drive, job, args, kwargs)
            yield results
            if not results.ended:  # left before the end
                group.cancel_scope.cancel()
    except ExceptionGroup as errors:  # one error (the job's, the reader's): itself
        if len(errors.exceptions) == 1:
            raise errors.exceptions[0] from None
        raise
