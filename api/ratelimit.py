"""Abuse protections kept in the API process: a request rate per tenant, bad keys per address.

:class:`TokenBucket` gives each tenant ``burst`` requests at once and ``rate_per_s`` sustained;
a request without a token is refused with 429 and ``Retry-After`` (the seconds until the next
token). :class:`BadKeyThrottle` counts wrong API keys per client address (the count decays
over time): past ``auth_failures_free`` each further 401 is answered after a delay that
doubles up to ``auth_delay_max_s``; past ``auth_failures_block`` the address gets 429 at once,
without a key lookup. :class:`ApiGuard` holds both for one app (``app.state.api_guard``).

State is per process: with several API processes or hosts each applies the limits on its own.
Both classes take a clock (and the throttle a sleep) so tests drive time without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from api.errors import RateLimitedError
from robot.config import QuotaSettings

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: Tenants or addresses remembered at once; beyond it, idle entries are forgotten first.
MAX_ENTRIES = 100_000


@dataclass
class TokenBucket:
    """Per-key token buckets: ``burst`` tokens at most, refilled at ``rate_per_s``."""

    rate_per_s: float
    burst: float
    clock: Clock = time.monotonic
    #: key -> (tokens, monotonic time they were counted at)
    buckets: dict[object, tuple[float, float]] = field(default_factory=dict)

    def wait_for(self, key: object) -> float:
        """Seconds until ``key`` has a token (0.0: it has one now); spends nothing."""
        tokens, at = self.buckets.get(key, (self.burst, self.clock()))
        tokens = min(self.burst, tokens + (self.clock() - at) * self.rate_per_s)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate_per_s

    def take(self, key: object) -> float:
        """Spend one token for ``key``: 0.0 if there was one, else seconds until there is."""
        now = self.clock()
        tokens, at = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate_per_s)
        if tokens >= 1.0:
            if len(self.buckets) >= MAX_ENTRIES and key not in self.buckets:
                self._forget_full(now)
            self.buckets[key] = (tokens - 1.0, now)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate_per_s

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely (they hold no state worth keeping)."""
        for key, (tokens, at) in list(self.buckets.items()):
            if tokens + (now - at) * self.rate_per_s >= self.burst:
                del self.buckets[key]
        if len(self.buckets) >= MAX_ENTRIES:
            self.buckets.clear()


@dataclass
class BadKeyThrottle:
    """Wrong API keys per client address, with a count that decays over time."""

    free: int
    delay_base_s: float
    delay_max_s: float
    block_at: int
    decay_per_s: float
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    #: address -> (failure count, monotonic time it was counted at)
    failures: dict[str, tuple[float, float]] = field(default_factory=dict)

    def count(self, address: str) -> float:
        count, at = self.failures.get(address, (0.0, self.clock()))
        return max(0.0, count - (self.clock() - at) * self.decay_per_s)

    def blocked_for(self, address: str) -> float:
        """Seconds until ``address`` may try keys again; 0.0 when it may now."""
        excess = self.count(address) - self.block_at + 1.0
        return excess / self.decay_per_s if excess > 0 else 0.0

    def delay_for(self, count: float) -> float:
        """The wait before answering the ``count``-th bad key in a row."""
        over = int(count + 0.5) - self.free  # the count decays between failures: round it
        if over <= 0:
            return 0.0
        return min(self.delay_max_s, self.delay_base_s * 2.0 ** min(over - 1, 32))

    def record(self, address: str) -> float:
        """Count one more bad key from ``address``; returns the delay it earns."""
        count = self.count(address) + 1.0
        if len(self.failures) >= MAX_ENTRIES and address not in self.failures:
            self._forget_idle()
        self.failures[address] = (count, self.clock())
        return self.delay_for(count)

    async def failed(self, address: str) -> float:
        """Count a bad key and wait the delay it earns (returned, for the record)."""
        delay = self.record(address)
        if delay > 0:
            await self.sleep(delay)
        return delay

    def _forget_idle(self) -> None:
        for address in list(self.failures):
            if self.count(address) == 0.0:
                del self.failures[address]
        if len(self.failures) >= MAX_ENTRIES:
            self.failures.clear()


@dataclass
class ApiGuard:
    """The limits one app applies before a route runs."""

    requests: TokenBucket
    bad_keys: BadKeyThrottle

    @classmethod
    def from_settings(cls, quotas: QuotaSettings, clock: Clock = time.monotonic) -> ApiGuard:
        return cls(
            requests=TokenBucket(quotas.rate_per_s, quotas.burst, clock),
            bad_keys=BadKeyThrottle(
                free=quotas.auth_failures_free,
                delay_base_s=quotas.auth_delay_base_s,
                delay_max_s=quotas.auth_delay_max_s,
                block_at=quotas.auth_failures_block,
                decay_per_s=quotas.auth_failures_decay_per_s,
                clock=clock,
            ),
        )

    def refuse_blocked_address(self, address: str) -> None:
        wait = self.bad_keys.blocked_for(address)
        if wait > 0:
            raise RateLimitedError(
                f"too many bad API keys from {address}; try again later", retry_after_s=wait
            )

    def spend(self, tenant_id: int) -> None:
        """Spend one of the tenant's requests, or raise RateLimitedError (429)."""
        wait = self.requests.take(tenant_id)
        if wait > 0:
            raise rate_limited(wait)


def rate_limited(wait_s: float) -> RateLimitedError:
    return RateLimitedError(
        "rate limit: too many requests for this tenant "
        "(quotas.rate_per_s, quotas.burst); try again later",
        retry_after_s=wait_s,
    )
