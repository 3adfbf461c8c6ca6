"""Deterministic per-key randomness: every fact of the World is a hash of (seed, key).

Hashing instead of a stateful RNG keeps World.build O(1) per work and lets any fact be
decided lazily, in any order, in any thread, with the same answer.
"""

from __future__ import annotations

from hashlib import blake2b
from statistics import NormalDist

_STD = NormalDist()
_TWO64 = float(2**64)


def h64(*parts: object) -> int:
    """A 64-bit hash of the parts (stable across runs and platforms)."""
    key = "\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")
    return int.from_bytes(blake2b(key, digest_size=8).digest(), "big")


def u01(*parts: object) -> float:
    """A uniform number in [0, 1) decided by the parts."""
    return h64(*parts) / _TWO64


def pick(options: tuple[str, ...] | list[str], *parts: object) -> str:
    return options[h64(*parts) % len(options)]


def weighted(weights: dict[str, float], *parts: object) -> str:
    """Pick a key with probability proportional to its weight."""
    total = sum(weights.values())
    x = u01(*parts) * total
    acc = 0.0
    last = ""
    for key, w in weights.items():
        if w <= 0:
            continue
        acc += w
        last = key
        if x < acc:
            return key
    return last


def lognormal_ms(median_ms: float, p95_ms: float, u: float) -> float:
    """Quantile u of a lognormal with the given median and 95th percentile."""
    if median_ms <= 0:
        return 0.0
    import math

    sigma = math.log(max(p95_ms, median_ms * 1.0001) / median_ms) / 1.6448536269514722
    u = min(max(u, 1e-6), 1 - 1e-6)
    return median_ms * math.exp(sigma * _STD.inv_cdf(u))
