"""What one delivery attempt is: the leased delivery, its result, the retry delay, redelivery."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Connection

from models.types import utc_now
from models.webhook import DeliveryStatus
from robot.crm.outbox import DELIVERY
from robot.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    id: int
    event_id: str
    event_type: str
    endpoint_id: int
    body: str
    url: str
    secret: str
    attempts: int
    retry_started_at: datetime
    #: When the event was written to the outbox (delivery latency).
    queued_at: datetime | None = None
    #: Whether the endpoint also wants the Standard Webhooks headers.
    standard_webhooks: bool = False


@dataclass(frozen=True, slots=True)
class AttemptResult:
    delivery: ClaimedDelivery
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff_s(attempts: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Delay before retry number ``attempts``: doubling, capped, with 50 % random jitter."""
    ceiling = min(max_s, base_s * (2 ** max(0, attempts - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def schedule_redelivery(
    conn: Connection, delivery_id: int, tenant_id: int, now: datetime | None = None
) -> None:
    """Make a delivery (usually ``dead``) pending again now, with a fresh retry period."""
    now = now or utc_now()
    result = conn.execute(
        update(DELIVERY)
        .where(DELIVERY.c.id == delivery_id, DELIVERY.c.tenant_id == tenant_id)
        .values(
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=now,
            retry_started_at=now,
            lease_owner=None,
            lease_until=None,
            delivered_at=None,
        )
    )
    if result.rowcount != 1:
        raise NotFoundError(f"webhook delivery {delivery_id} not found")
