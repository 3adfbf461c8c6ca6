"""The work's shared slots hand a freed slot to the earliest tier's waiter."""

from __future__ import annotations

import asyncio

from fallback_kit.engine.slots import PrioritySlots


def within(awaitable):
    """Fail within a second instead of hanging when a slot is never handed out."""
    return asyncio.wait_for(awaitable, 1)


async def test_a_freed_slot_goes_to_the_earliest_tier_not_the_first_to_queue():
    """A hedged tier that queued first does not overtake the tier it hedges."""
    slots = PrioritySlots(1)
    await within(slots.acquire(0))
    order: list[str] = []

    async def wait(name: str, priority: int) -> None:
        await slots.acquire(priority)
        order.append(name)
        slots.release()

    hedge = asyncio.create_task(wait("tier 2", 1))
    await asyncio.sleep(0)
    first = asyncio.create_task(wait("tier 1", 0))
    await asyncio.sleep(0)
    slots.release()
    await within(asyncio.gather(hedge, first))
    assert order == ["tier 1", "tier 2"]


async def test_a_waiter_woken_in_the_same_instant_still_bids():
    """A source woken in the same instant the slot is freed (its tier's own slot freed
    just before) competes for the slot by tier."""
    slots = PrioritySlots(1)
    await within(slots.acquire(0))
    got: list[str] = []

    async def take(name: str, priority: int) -> None:
        await slots.acquire(priority)
        got.append(name)

    late = asyncio.create_task(take("later tier", 2))
    await asyncio.sleep(0)
    same_turn = asyncio.create_task(take("own tier", 0))  # woken, not yet run
    slots.release()
    await asyncio.sleep(0.01)
    assert got == ["own tier"]
    late.cancel()
    await within(asyncio.gather(late, same_turn, return_exceptions=True))


async def test_a_cancelled_waiter_leaves_the_queue():
    """A waiter cancelled while queued gives up its place; the slot goes to the next."""
    slots = PrioritySlots(1)
    await within(slots.acquire(0))
    gone = asyncio.create_task(slots.acquire(0))
    stays = asyncio.create_task(slots.acquire(1))
    await asyncio.sleep(0)
    gone.cancel()
    (ended,) = await asyncio.gather(gone, return_exceptions=True)
    assert isinstance(ended, asyncio.CancelledError)  # cancelled cleanly, nothing else
    assert repr(slots) == "<PrioritySlots free=0 waiting=1>"  # it left the queue at once
    slots.release()
    await asyncio.wait_for(stays, 1)
    assert repr(slots) == "<PrioritySlots free=0 waiting=0>"


async def test_a_waiter_cancelled_after_a_release_in_the_same_turn_ends_cancelled():
    """A release and a cancel in the same turn (the hand-out runs first and drops the
    cancelled waiter): the waiter ends cancelled, not with an error, and the slot stays
    free for the next one."""
    slots = PrioritySlots(1)
    await within(slots.acquire(0))
    waiter = asyncio.create_task(slots.acquire(0))
    await asyncio.sleep(0)
    slots.release()
    waiter.cancel()
    (ended,) = await asyncio.gather(waiter, return_exceptions=True)
    assert isinstance(ended, asyncio.CancelledError)
    assert repr(slots) == "<PrioritySlots free=1 waiting=0>"
    await asyncio.wait_for(slots.acquire(5), 1)


async def test_a_tiers_view_queues_with_its_tiers_priority():
    """`at(tier)` hands out slots by tier as PrioritySlots does: a later tier's view that
    queued first still yields to an earlier tier's view."""
    slots = PrioritySlots(1)
    await within(slots.at(0).acquire())
    order: list[int] = []

    async def take(tier: int) -> None:
        await slots.at(tier).acquire()
        order.append(tier)
        slots.at(tier).release()

    later = asyncio.create_task(take(2))
    await asyncio.sleep(0)
    earlier = asyncio.create_task(take(1))
    await asyncio.sleep(0)
    slots.at(0).release()
    await within(asyncio.gather(later, earlier))
    assert order == [1, 2]


async def test_every_released_slot_is_free_again():
    """Two holders of two slots release both: two new holders get them at once."""
    slots = PrioritySlots(2)
    await within(slots.acquire(0))
    await within(slots.acquire(0))
    slots.release()
    slots.release()
    assert repr(slots) == "<PrioritySlots free=2 waiting=0>"
    await within(slots.acquire(1))
    await within(slots.acquire(1))
