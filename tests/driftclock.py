"""A fake-time event loop for tests whose code waits on rates that are not binary
fractions of a second (aiolimiter at 3/s, 1/3 s, ...)."""

from __future__ import annotations

import asyncio
from typing import Any


class _DriftSelector:
    def __init__(self, real: Any, loop: DriftClockLoop) -> None:
        self._real, self._loop = real, loop

    def select(self, timeout: float | None = None) -> Any:
        events = self._real.select(0)
        if events:
            return events
        if timeout is None:
            raise RuntimeError("deadlock: the loop waits with nothing scheduled")
        self._loop.now += max(timeout, 1e-9)  # time always moves a little, as it does
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class DriftClockLoop(asyncio.SelectorEventLoop):
    """Fake time that jumps to the next timer and, like real time, moves >= 1 ns per wait.

    looptime keeps time on a 1 us grid and asyncio fires a timer up to 1 ns early, so a
    wait for an instant a float-rounding error past "now" returns at once without moving
    time; code that loops until `loop.time() >= t` then spins forever (aiolimiter with a
    period that is not a binary fraction, e.g. 3/s, does exactly this). Real clocks always
    move on; this clock does too, by at least 1 ns per loop iteration.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self._selector = _DriftSelector(self._selector, self)  # type: ignore[assignment]

    def time(self) -> float:
        return self.now
