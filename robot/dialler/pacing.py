"""Pacing: a calls-per-second token bucket and the fair share of call slots.

Slots go to running campaigns in proportion to their priority (weighted fair share): each free
slot goes to the campaign with the least ``active / priority`` that is still below its own
concurrency cap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


class TokenBucket:
    """At most ``rate_per_s`` takes per second on average, bursts up to ``burst``."""

    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate_per_s = rate_per_s
        self.burst = burst if burst is not None else max(1.0, rate_per_s)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()

    def try_take(self) -> float:
        """Take a token and return 0.0, or return the seconds until one is available."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate_per_s)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate_per_s

    async def take(self) -> None:
        while (wait_s := self.try_take()) > 0:
            await asyncio.sleep(wait_s)


@dataclass(frozen=True, slots=True)
class CampaignLoad:
    campaign_id: int
    priority: int
    active: int
    max_concurrent: int


def share_slots(free_slots: int, campaigns: Iterable[CampaignLoad]) -> dict[int, int]:
    """Split ``free_slots`` among campaigns by priority, respecting each campaign's cap."""
    loads = sorted(campaigns, key=lambda c: c.campaign_id)
    given = {c.campaign_id: 0 for c in loads}
    for _ in range(max(0, free_slots)):
        eligible = [c for c in loads if c.active + given[c.campaign_id] < c.max_concurrent]
        if not eligible:
            break
        best = min(
            eligible,
            key=lambda c: ((c.active + given[c.campaign_id]) / max(1, c.priority), c.campaign_id),
        )
        given[best.campaign_id] += 1
    return {cid: n for cid, n in given.items() if n > 0}
