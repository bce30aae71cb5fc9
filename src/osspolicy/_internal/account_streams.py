"""The target stream of a job of several accounts: the accounts interleaved, each one
holding at most `account_concurrency` workers (contracts §17).

```
account A's listing ─┐
account B's listing ─┼─► interleave: round-robin over the open listings, skipping an
account C's listing ─┘   account at its cap ─► hold: a slot per target ─► engine
                                                 work / skip done ─► slot released
```

A target holds a slot of its account from the moment the stream hands it on until its
record is made (buffered or in flight), so no account ever holds more than its cap of
the engine's workers, and the engine's buffer never fills with one account's targets
while another's wait. `interleave` opens the listings in the accounts' order, a few at
a time (enough to keep every worker busy with accounts at their cap, and one more), and
another whenever every open one is at its cap: a slow account keeps its cap of workers,
the others go on with the rest. Each open listing holds one ListBuckets page at most,
so memory stays flat whatever the bucket count. With one account there is no cap and
nothing to interleave (`AccountSlots.of` gives None).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import anyio

from .results import Result, Target

__all__ = ("AccountSlots", "Listing", "capped", "interleave")

#: one account's targets, opened when the stream gets to it
Listing = tuple[str, Callable[[], AsyncIterator[Target]]]
Work = Callable[[Target], Awaitable[Result]]
Skip = Callable[[Target], Result]
Sink = Callable[[Sequence[Result]], Awaitable[None]]


class AccountSlots:
    """How many targets each account holds (handed on, record not made yet), at most
    `cap`; and the most workers one account had at once (the job's own accounting)."""

    def __init__(self, cap: int, workers: int) -> None:
        self.cap = cap
        #: how many listings `interleave` keeps open: enough accounts at their cap to
        #: keep every worker busy, and one more
        self.window = math.ceil(workers / cap) + 1
        self._held: Counter[str] = Counter()
        self._working: Counter[str] = Counter()
        self._freed = anyio.Event()
        #: the most targets one account had in the workers at once
        self.max_in_flight = 0

    @classmethod
    def of(cls, *, accounts: int, concurrency: int, cap: int) -> AccountSlots | None:
        """The slots of a job of `accounts` accounts and `concurrency` workers, each
        account at most `cap` (0: all of them); None for one account: nothing to share."""
        if accounts < 2:
            return None
        return cls(min(cap or concurrency, concurrency), concurrency)

    def free(self, account: str) -> bool:
        """Whether `account` may take one more target now."""
        return self._held[account] < self.cap

    async def freed(self) -> None:
        """Wait until some account releases a slot."""
        await self._freed.wait()

    async def hold(self, targets: AsyncIterator[Target]) -> AsyncIterator[Target]:
        """Each target once its account has a free slot (taken: `release` frees it)."""
        async for target in targets:
            while not self.free(target.account):
                await self.freed()
            self._held[target.account] += 1
            yield target

    def release(self, account: str) -> None:
        """A target of `account` got its record: its slot is free again."""
        self._held[account] -= 1
        freed, self._freed = self._freed, anyio.Event()
        freed.set()

    def working(self, work: Work) -> Work:
        """`work`, counting each account's targets in flight and releasing the slot."""

        async def counted(target: Target) -> Result:
            account = target.account
            self._working[account] += 1
            self.max_in_flight = max(self.max_in_flight, self._working[account])
            try:
                return await work(target)
            finally:
                self._working[account] -= 1
                self.release(account)

        return counted

    def skipping(self, skip: Skip) -> Skip:
        """`skip`, releasing the target's slot."""

        def released(target: Target) -> Result:
            try:
                return skip(target)
            finally:
                self.release(target.account)

        return released

    def summary_extra(self) -> dict[str, Any]:
        """The cap and the most workers one account held, for summary.json."""
        return {"account_concurrency": self.cap, "max_account_in_flight": self.max_in_flight}


class _Rotation:
    """The listings `interleave` has open, taking turns; the rest wait to be opened."""

    def __init__(self, listings: Sequence[Listing], slots: AccountSlots | None) -> None:
        self._pending = deque(listings)
        self._open: deque[tuple[str, AsyncIterator[Target]]] = deque()
        self._slots = slots
        self._window = slots.window if slots is not None else 1

    def __bool__(self) -> bool:
        return bool(self._pending or self._open)

    def _open_next(self) -> bool:
        if not self._pending:
            return False
        account, listing = self._pending.popleft()
        self._open.append((account, listing()))
        return True

    def turn(self) -> AsyncIterator[Target] | None:
        """The next open listing whose account has a free slot (None: each one is at
        its cap), opening listings up to the window first."""
        while len(self._open) < self._window and self._open_next():
            pass
        for _ in range(len(self._open)):
            account, listing = self._open[0]
            if self._slots is None or self._slots.free(account):
                return listing
            self._open.rotate(-1)
        return None

    async def wait(self) -> None:
        """Every open account is at its cap: open one more, else wait for a slot."""
        if not self._open_next() and self._slots is not None:
            await self._slots.freed()

    def passed(self, target: Target | None) -> None:
        """The current listing gave `target` (its turn passes) or ended (None: closed)."""
        if target is None:
            self._open.popleft()
        else:
            self._open.rotate(-1)

    async def aclose(self) -> None:
        """Close the listings still open (a stop, an error), shielded from a cancel."""
        with anyio.CancelScope(shield=True):
            for _, listing in self._open:
                closing = getattr(listing, "aclose", None)
                if closing is not None:
                    await closing()


def capped(
    slots: AccountSlots | None,
    targets: AsyncIterator[Target],
    work: Work,
    sink: Sink,
    skip: Skip,
) -> tuple[AsyncIterator[Target], Work, Sink, Skip]:
    """The engine's arguments (`Engine.run`'s order), each target holding a slot of its
    account until its record is made (as they are, without `slots`)."""
    if slots is None:
        return targets, work, sink, skip
    return slots.hold(targets), slots.working(work), sink, slots.skipping(skip)


async def interleave(
    listings: Sequence[Listing], slots: AccountSlots | None
) -> AsyncIterator[Target]:
    """Every target of every listing, the accounts in turn: one from each open listing
    whose account has a free slot, round-robin (without `slots`: one listing after the
    other). An error of a listing ends the stream (the open ones are closed)."""
    if slots is None:  # one account: its listing as it is
        for _, listed in listings:
            async for each in listed():
                yield each
        return
    rotation = _Rotation(listings, slots)
    try:
        while rotation:
            listing = rotation.turn()
            if listing is None:
                await rotation.wait()
                continue
            target = await anext(listing, None)
            rotation.passed(target)
            if target is not None:
                yield target
    finally:
        await rotation.aclose()
