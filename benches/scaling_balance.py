"""The load-imbalance bound of a parallel batch: how fast ``n`` threads could finish a batch whose
pairs take the measured single-thread times, under a given way of handing pairs to threads,
with perfect hardware (no slowdown per core, no overhead).

``efficiency = Σ times / (n · makespan)``: 1.0 means no thread ever waits for another. A
speed-up measured below ``n · efficiency`` comes from something else than the hand-out (the
hardware, the serial part); one near it is limited by the hand-out.

Schedules (pairs in index order):
- ``static``: ``n`` contiguous shares of ``⌈N/n⌉`` pairs (a fixed split);
- ``strided``: thread ``k`` gets pairs ``k, k+n, …`` (the process ceiling's split);
- ``dynamic``: a free thread takes the next pair (the best in-order hand-out);
- ``guided``: a free thread takes ``⌈left / 2n⌉`` pairs (the engine's claims, rust/dispenser.rs).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

SCHEDULES = ("static", "strided", "dynamic", "guided")


def _self_scheduled(times: Sequence[float], n: int, claim: Callable[[int], int]) -> float:
    """Makespan when each free thread (earliest first, lowest id on ties) claims the next
    ``claim(left)`` pairs."""
    free = [(0.0, k) for k in range(n)]
    heapq.heapify(free)
    end, i = 0.0, 0
    while i < len(times):
        t, k = heapq.heappop(free)
        take = max(1, claim(len(times) - i))
        t += sum(times[i:i + take])
        i += take
        end = max(end, t)
        heapq.heappush(free, (t, k))
    return end


def makespan(times: Sequence[float], n: int, schedule: str) -> float:
    """Time for ``n`` threads to compute pairs of single-thread ``times`` under ``schedule``."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if schedule == "static":
        share = -(-len(times) // n)
        return max((sum(times[k:k + share]) for k in range(0, len(times), share)), default=0.0)
    if schedule == "strided":
        return max(sum(times[k::n]) for k in range(n))
    if schedule == "dynamic":
        return _self_scheduled(times, n, lambda left: 1)
    if schedule == "guided":
        return _self_scheduled(times, n, lambda left: -(-left // (2 * n)))
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")


def efficiency(times: Sequence[float], n: int, schedule: str) -> float:
    """``Σ times / (n · makespan)``: the efficiency bound that the hand-out alone allows."""
    span = makespan(times, n, schedule)
    return sum(times) / (n * span) if span > 0 else 1.0
