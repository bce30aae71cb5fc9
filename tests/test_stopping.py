"""A job's stop in the retry layer (contracts §14): no new attempt, waits end, calls abandoned.

Pure logic over `Tries` and `Stop`: the calls are coroutines of the test, the sleeps
never end by themselves, so whatever ends them is the stop.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import anyio
import pytest

from osspolicy._internal.errors import Interrupted, ServerError, Stopped
from osspolicy._internal.retry import RetryConfig, Tries
from osspolicy._internal.stopping import (
    Stop,
    current_call,
    join_abandoned_threads,
    note_abandoned_thread,
)


async def never_ends(_delay: float) -> None:
    """A backoff sleep that only a stop can end."""
    await anyio.sleep_forever()


def test_no_attempt_starts_once_a_stop_is_requested() -> None:
    """After the stop request, a call through `Tries` raises Stopped and sends nothing."""
    sent: list[str] = []

    async def call() -> str:
        sent.append("sent")
        return "answer"

    async def main() -> None:
        stop = Stop()
        stop.request()
        tries = Tries(RetryConfig(), stop=stop)
        with pytest.raises(Stopped):
            await tries(call)
        assert (sent, tries.count) == ([], 0)

    anyio.run(main)


def test_a_target_waiting_for_a_retry_starts_no_new_attempt_when_stopped() -> None:
    """A stop during the backoff after a transient failure ends the sleep at once with
    Stopped: one attempt counted, no second one sent."""
    sent: list[int] = []

    async def failing() -> None:
        sent.append(len(sent) + 1)
        raise ServerError("boom")

    async def main() -> None:
        stop = Stop()
        tries = Tries(RetryConfig(attempts=10), sleep=never_ends, stop=stop)
        outcome: list[BaseException] = []

        async def run() -> None:
            try:
                await tries(failing)
            except Stopped as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await anyio.wait_all_tasks_blocked()  # the first failure is in its sleep
            stop.request()
        assert (sent, tries.count, len(outcome)) == ([1], 1, 1)

    anyio.run(main)


def test_a_call_in_flight_outlives_the_request_and_ends_interrupted_at_abandon() -> None:
    """The stop request leaves a call in flight alone; `abandon()` ends it through what
    it registered on its current call, and `Tries` does not retry the Interrupted."""
    progress: list[str] = []

    async def call() -> str:
        current = current_call()
        assert current is not None
        with anyio.CancelScope(shield=True) as scope:  # as a backend shields its call
            current.on_abandon(scope.cancel)
            await anyio.sleep_forever()
        progress.append("abandoned")
        raise Interrupted("abandoned")

    async def main() -> None:
        stop = Stop()
        tries = Tries(RetryConfig(attempts=10), sleep=never_ends, stop=stop)
        caught: list[BaseException] = []

        async def run() -> None:
            try:
                await tries(call)
            except Interrupted as exc:
                caught.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await anyio.wait_all_tasks_blocked()
            stop.request()
            await anyio.wait_all_tasks_blocked()
            assert progress == []  # still in flight
            stop.abandon()
        assert (progress, len(caught), tries.count) == (["abandoned"], 1, 1)

    anyio.run(main)


def test_abandon_gives_up_every_call_in_flight() -> None:
    """`Stop.abandon()` abandons each registered call once, even one registered after."""
    stop = Stop()
    ended: list[str] = []
    with stop.call() as call:
        call.on_abandon(lambda: ended.append("first"))
        stop.abandon()
        stop.abandon()
        call.on_abandon(lambda: ended.append("late"))
    assert ended == ["first", "late"]
    assert current_call() is None


def test_a_wait_ended_by_the_stop_raises_stopped() -> None:
    """A rate-limit or backoff wait in progress ends at the stop request with Stopped."""

    async def main() -> None:
        stop = Stop()
        caught: list[BaseException] = []

        async def wait() -> None:
            try:
                await stop.wait(never_ends, 60.0)
            except Stopped as exc:
                caught.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            stop.request()
        assert len(caught) == 1

    anyio.run(main)


def test_the_exit_waits_briefly_for_a_thread_of_an_abandoned_call() -> None:
    """`join_abandoned_threads` says whether the noted threads ended within the wait."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    note_abandoned_thread(thread)
    assert join_abandoned_threads(0.01) is False
    release.set()
    assert join_abandoned_threads(10.0) is True


#: a process whose non-daemon thread is blocked for good in an abandoned call
BLOCKED_EXIT = """
import threading
from osspolicy._internal.cli import _exit
from osspolicy._internal.stopping import note_abandoned_thread
thread = threading.Thread(target=threading.Event().wait)
thread.start()
note_abandoned_thread(thread)
print("flushed", flush=True)
_exit(130)
"""


def test_a_thread_blocked_in_an_abandoned_call_does_not_keep_the_process_alive() -> None:
    """The CLI's exit leaves with the job's code although a worker thread of an abandoned
    call is still blocked (a plain exit would join it forever)."""
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED_EXIT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (130, "flushed\n")
