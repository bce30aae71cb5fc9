"""The aio engine's credentials are fetched off the event loop (contracts §10)."""

from __future__ import annotations

import threading

import pytest

from osspolicy._internal.backends.credentials import OffLoopCredentials


class CountingProvider:
    """An SDK-style provider that counts its fetches and the threads they ran on."""

    def __init__(self) -> None:
        self.fetches = 0
        self.threads: set[int] = set()

    def get_credentials(self) -> str:
        self.fetches += 1
        self.threads.add(threading.get_ident())
        return f"credentials-{self.fetches}"


@pytest.mark.asyncio
async def test_the_loop_only_reads_what_a_worker_thread_fetched() -> None:
    """`refresh()` fetches in a worker thread, at most once per interval; the SDK's
    `get_credentials()` on the loop then returns that without fetching."""
    now = [0.0]
    inner = CountingProvider()
    provider = OffLoopCredentials(inner, every_s=10.0, clock=lambda: now[0])
    await provider.refresh()
    assert provider.get_credentials() == "credentials-1"
    assert provider.get_credentials() == "credentials-1"
    await provider.refresh()  # within the interval: nothing fetched
    assert inner.fetches == 1
    now[0] = 10.0
    await provider.refresh()
    assert (inner.fetches, provider.get_credentials()) == (2, "credentials-2")
    assert threading.get_ident() not in inner.threads


@pytest.mark.asyncio
async def test_a_forced_refresh_fetches_at_once() -> None:
    """After a request failed on expired credentials the next ones are fetched at once."""
    inner = CountingProvider()
    provider = OffLoopCredentials(inner, every_s=3600.0, clock=lambda: 0.0)
    await provider.refresh()
    await provider.refresh(force=True)
    assert (inner.fetches, provider.get_credentials()) == (2, "credentials-2")
