"""The target stream of a job of several accounts (`account_streams.py`), on in-memory
listings: accounts in turn, each at most its cap of targets held."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import anyio
import pytest

from osspolicy._internal.account_streams import AccountSlots, Listing, interleave
from osspolicy._internal.results import Target


async def listed(account: str, count: int) -> AsyncIterator[Target]:
    for i in range(count):
        yield Target(f"{account}-{i}", "cn-hangzhou", account)


def listings(**counts: int) -> list[Listing]:
    return [(name, functools.partial(listed, name, n)) for name, n in counts.items()]


async def names(targets: AsyncIterator[Target]) -> list[str]:
    return [t.bucket async for t in targets]


@pytest.mark.asyncio
async def test_without_slots_the_accounts_come_one_after_the_other() -> None:
    """A job of one account has no slots: its listing, as it is."""
    assert await names(interleave(listings(a=2, b=1), None)) == ["a-0", "a-1", "b-0"]


@pytest.mark.asyncio
async def test_the_open_accounts_take_turns_while_each_has_a_free_slot() -> None:
    """With room for everything, the listings of the window (workers / cap + 1) give one
    target each in turn; the next account opens when one is done."""
    slots = AccountSlots(cap=4, workers=4)  # a window of 2 listings
    stream = slots.hold(interleave(listings(a=3, b=2, c=2), slots))
    seen = []
    async for target in stream:
        seen.append(target.bucket)
        slots.release(target.account)  # its record is made at once
    assert seen == ["a-0", "b-0", "a-1", "b-1", "a-2", "c-0", "c-1"]


@pytest.mark.asyncio
async def test_an_account_at_its_cap_is_passed_over_and_another_opened() -> None:
    """Account a holds its one slot (a slow bucket): the stream goes on with b, and when
    b is at its cap too, opens c; a's next target comes once its slot is released."""
    slots = AccountSlots(cap=1, workers=2)  # a window of 3 listings
    stream = slots.hold(interleave(listings(a=2, b=2, c=1, d=1), slots))
    first = [await anext(stream) for _ in range(4)]  # nothing released yet
    assert [t.bucket for t in first] == ["a-0", "b-0", "c-0", "d-0"]
    pulled: list[str] = []

    async def pull() -> None:
        pulled.append((await anext(stream)).bucket)

    async with anyio.create_task_group() as group:
        group.start_soon(pull)
        await anyio.wait_all_tasks_blocked()
        assert pulled == []  # every account holds its one slot: the stream waits
        slots.release("b")
    assert pulled == ["b-1"]
    slots.release("a")
    assert (await anext(stream)).bucket == "a-1"


def test_a_job_of_one_account_has_no_slots_and_a_cap_is_never_above_the_workers() -> None:
    """`AccountSlots.of`: None for one account; `account_concurrency` 0 (or more than
    the workers) is the workers; the window is workers / cap + 1 listings."""
    assert AccountSlots.of(accounts=1, concurrency=8, cap=2) is None
    made = {cap: AccountSlots.of(accounts=3, concurrency=8, cap=cap) for cap in (0, 20, 2)}
    assert {cap: (s.cap, s.window) for cap, s in made.items() if s is not None} == {
        0: (8, 2),
        20: (8, 2),
        2: (2, 5),
    }
