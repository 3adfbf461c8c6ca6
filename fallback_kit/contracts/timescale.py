"""How fast the run's clock runs against the web's: the one rule for scaled time.

The live web runs at factor 1. The sandbox can shrink every delay it serves by a factor
(0.1 = ten times faster) so a run takes seconds; the engine then shrinks the plan's
durations by the same factor, so the run behaves as it would in real time, and records
times in the web's own (unscaled) milliseconds.

Factor 0 means "the web answers at once" (the zero-delay benchmark). There the durations
split in two kinds, and this class is the only place that says which is which:
- **budgets** (timeouts, deadlines, hedge points, the breaker's window) keep their real
  length: scaled to zero, every timeout would fire before any answer;
- **waits** the web imposes (backoff, Retry-After, rate-limit spacing, breaker cooldown)
  vanish, and rate limits are lifted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["REAL_TIME", "TimeScale"]


@dataclass(frozen=True, slots=True)
class TimeScale:
    """A time-scale factor >= 0: 1 is real time, 0.1 ten times faster, 0 a web that
    answers at once."""

    factor: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.factor, int | float) and math.isfinite(self.factor)
                and self.factor >= 0):
            raise ValueError(f"time scale must be a finite number >= 0, not {self.factor!r}")

    @property
    def instant(self) -> bool:
        """True when the web answers at once (factor 0)."""
        return self.factor == 0

    def budget_s(self, ms: float) -> float:
        """A plan budget in milliseconds -> real seconds (kept whole at factor 0)."""
        return ms / 1000 * (self.factor or 1.0)

    def budget_ms(self, ms: float) -> float:
        """A plan budget in milliseconds -> real milliseconds (kept whole at factor 0)."""
        return ms * (self.factor or 1.0)

    def wait_s(self, seconds: float) -> float:
        """A wait the web imposes, in its seconds -> real seconds (none at factor 0)."""
        return seconds * self.factor

    def wait_ms(self, ms: float) -> float:
        """A wait the web imposes, in its milliseconds -> real milliseconds."""
        return ms * self.factor

    def rate(self, per_second: float) -> float | None:
        """A rate limit in the web's time -> real requests per second; None (no limit)
        at factor 0, where there is no time to space requests in."""
        return per_second / self.factor if self.factor else None

    def web_ms(self, real_seconds: float) -> float:
        """Real seconds elapsed -> the web's milliseconds, as recorded in the store."""
        return real_seconds * 1000 / (self.factor or 1.0)


REAL_TIME = TimeScale(1.0)
