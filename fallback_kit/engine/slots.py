"""A work's shared slots (`budgets.max_concurrent`), handed out earliest tier first.

A hedge starts a later tier while an earlier one still runs; it should use spare
capacity, never overtake the tier it hedges. A plain semaphore serves waiters in
arrival order, so a hedged source that queued first would take the slot that an
earlier tier's queued source was waiting for. Here a freed slot goes to the waiter
of the lowest priority (the tier's index), first come first served within a tier.
The replay (engine/replay.py) follows the same rule.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

__all__ = ["PrioritySlots"]


class PrioritySlots:
    """Up to `size` holders at once; waiters served by (priority, arrival)."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    def __repr__(self) -> str:
        return f"<PrioritySlots free={self._free} waiting={len(self._waiters)}>"

    async def acquire(self, priority: int) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (priority, next(self._arrivals), future)
        heapq.heappush(self._waiters, entry)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed a slot just as it was cancelled: pass it on
            elif entry in self._waiters:  # a hand-out in the same turn may have dropped it
                self._waiters.remove(entry)
                heapq.heapify(self._waiters)
            raise

    def release(self) -> None:
        """Free a slot. It is handed out on the loop's next turn, so that a source that
        was woken in this same instant (its tier's own slot just freed) bids for it too."""
        self._free += 1
        if self._waiters:
            asyncio.get_running_loop().call_soon(self._hand_out)

    def _hand_out(self) -> None:
        while self._free > 0 and self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                self._free -= 1
                future.set_result(None)

    def at(self, priority: int) -> PrioritySlotsView:
        """These slots as seen by one tier: `acquire()` waits with its priority."""
        return PrioritySlotsView(self, priority)


class PrioritySlotsView:
    """A semaphore-shaped view of PrioritySlots for one priority."""

    def __init__(self, slots: PrioritySlots, priority: int) -> None:
        self._slots = slots
        self._priority = priority

    async def acquire(self) -> None:
        await self._slots.acquire(self._priority)

    def release(self) -> None:
        self._slots.release()
