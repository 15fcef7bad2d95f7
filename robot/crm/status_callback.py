"""A call's ``status_callback``: one more webhook endpoint, for the events of one call tree.

A routing answer or ``POST /v1/calls`` may name a URL that gets the call's progress events.
It is stored as a ``webhook_endpoint`` row with ``scope`` set to the call tree's ordering key
(``call:ID``), its event types, and the secret that signs its requests; from then on
:func:`~robot.crm.outbox.enqueue_event` gives every event of that tree (of those types) a
delivery to it, and the delivery worker (:mod:`robot.crm.delivery`) sends them like every
webhook: signed, at least once, in order, under the same private-address rule. Events of the
tree written before the URL was known get their deliveries here, in their order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert, select

from models.types import utc_now
from robot.crm.outbox import DELIVERY, ENDPOINT, OUTBOX, Executor, delivery_row
from robot.crm.urls import check_webhook_url
from robot.errors import ValidationError

logger = logging.getLogger(__name__)

__all__ = ["STATUS_CALLBACK_DESCRIPTION", "add_status_callback", "check_status_callback"]

#: ``description`` of the endpoint rows made for status callbacks.
STATUS_CALLBACK_DESCRIPTION = "status_callback"


def check_status_callback(url: str, *, allow_private: bool) -> str:
    """``url`` if a status callback may go there (the webhook rule); the error names
    ``status_callback``."""
    try:
        return check_webhook_url(url, allow_private=allow_private)
    except ValidationError as e:
        raise ValidationError(f"status_callback: {str(e).removeprefix('url: ')}") from e


def add_status_callback(
    conn: Executor,
    *,
    tenant_id: int,
    ordering_key: str,
    url: str,
    secret: str,
    event_types: Iterable[str],
    now: datetime | None = None,
) -> int:
    """Store the status callback of the call tree ``ordering_key`` inside ``conn``'s
    transaction and queue the tree's earlier events of ``event_types``; return its id."""
    now = now or utc_now()
    types = sorted(set(event_types))
    endpoint_id = conn.execute(
        insert(ENDPOINT)
        .values(
            tenant_id=tenant_id,
            url=url,
            event_types=types,
            description=STATUS_CALLBACK_DESCRIPTION,
            enabled=False,
            standard_webhooks=False,
            secret=secret,
            created_at=now,
            scope=ordering_key,
        )
        .returning(ENDPOINT.c.id)
    ).scalar_one()
    earlier = (
        conn.execute(
            select(OUTBOX.c.id)
            .where(
                OUTBOX.c.tenant_id == tenant_id,
                OUTBOX.c.ordering_key == ordering_key,
                OUTBOX.c.type.in_(types),
            )
            .order_by(OUTBOX.c.id)
        )
        .scalars()
        .all()
    )
    if earlier:
        rows = [delivery_row(tenant_id, pk, endpoint_id, ordering_key, now) for pk in earlier]
        conn.execute(insert(DELIVERY), rows)
    logger.debug(
        "status callback %d for %s (%d earlier event(s))", endpoint_id, ordering_key, len(earlier)
    )
    return int(endpoint_id)
