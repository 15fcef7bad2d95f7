"""The durable outbox: events are written in the same transaction as the change behind them.

Call :func:`record_call_events` inside the transaction that stores a call's final state (a
SQLAlchemy ``Connection`` or ``Session``; the call row is read back inside it, so the events
carry exactly what was committed). Each event becomes one ``outbox_event`` row with its exact
JSON body and one ``webhook_delivery`` row per enabled endpoint subscribed to its type; the
delivery worker (:mod:`robot.crm.delivery`) sends them after the commit.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from models.call import Call
from models.campaign import Campaign
from models.lead import Lead
from models.transactions import DatabaseError, write_transaction
from models.types import utc_now
from models.webhook import DeliveryStatus, EventType, OutboxEvent, WebhookDelivery, WebhookEndpoint
from robot.config import get_settings
from robot.errors import NotFoundError

logger = logging.getLogger(__name__)

OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]
DELIVERY = WebhookDelivery.__table__  # type: ignore[attr-defined]
ENDPOINT = WebhookEndpoint.__table__  # type: ignore[attr-defined]
CALL = Call.__table__  # type: ignore[attr-defined]
LEAD = Lead.__table__  # type: ignore[attr-defined]
CAMPAIGN = Campaign.__table__  # type: ignore[attr-defined]

Executor = Connection | Session


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def event_body(event_id: str, event_type: str, created_at: datetime, data: dict[str, Any]) -> str:
    """The JSON body sent for an event: ``{"id", "type", "created_at", "data"}``."""
    payload = {"id": event_id, "type": event_type, "created_at": _iso(created_at), "data": data}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


def enqueue_event(
    conn: Executor,
    *,
    tenant_id: int,
    event_type: str,
    data: dict[str, Any],
    ordering_key: str,
    call_id: int | None = None,
    lead_id: int | None = None,
    campaign_id: int | None = None,
    dedupe_key: str | None = None,
    now: datetime | None = None,
) -> str:
    """Write one event and its deliveries inside ``conn``'s transaction; return the event id.

    ``dedupe_key`` names the fact the event reports; writing the same fact twice fails the
    transaction (IntegrityError), so two writers can never both report it.
    """
    now = now or utc_now()
    event_id = new_event_id()
    event_pk = conn.execute(
        insert(OUTBOX)
        .values(
            event_id=event_id,
            tenant_id=tenant_id,
            type=event_type,
            ordering_key=ordering_key,
            call_id=call_id,
            lead_id=lead_id,
            campaign_id=campaign_id,
            dedupe_key=dedupe_key,
            body=event_body(event_id, event_type, now, data),
            created_at=now,
        )
        .returning(OUTBOX.c.id)
    ).scalar_one()
    # Every enabled endpoint of the tenant, and the status callbacks of this call tree.
    endpoints = conn.execute(
        select(ENDPOINT.c.id, ENDPOINT.c.event_types).where(
            ENDPOINT.c.tenant_id == tenant_id,
            or_(
                and_(ENDPOINT.c.enabled.is_(True), ENDPOINT.c.scope.is_(None)),
                ENDPOINT.c.scope == ordering_key,
            ),
        )
    ).all()
    rows = [
        delivery_row(tenant_id, event_pk, endpoint.id, ordering_key, now)
        for endpoint in endpoints
        if not endpoint.event_types or event_type in endpoint.event_types
    ]
    if rows:
        conn.execute(insert(DELIVERY), rows)
    logger.debug("event %s (%s) queued for %d endpoint(s)", event_id, event_type, len(rows))
    return event_id


def delivery_row(
    tenant_id: int, event_pk: int, endpoint_id: int, ordering_key: str, now: datetime
) -> dict[str, Any]:
    """A new ``webhook_delivery`` row: pending, due ``now``."""
    return {
        "tenant_id": tenant_id,
        "event_pk": event_pk,
        "endpoint_id": endpoint_id,
        "ordering_key": ordering_key,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "retry_started_at": now,
        "created_at": now,
    }


def recording_url(call_id: int, public_base_url: str | None = None) -> str:
    base = (public_base_url or get_settings().public_base_url).rstrip("/")
    return f"{base}/v1/calls/{call_id}/recording"


def _ordering_key(call: Any) -> str:
    return f"lead:{call.lead_id}" if call.lead_id is not None else f"call:{call.id}"


def record_call_events(
    conn: Executor,
    call: int | Call,
    *,
    public_base_url: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Queue the events of a finished call; return their ids in delivery order.

    Always ``call.completed``; ``recording.ready`` when the call was recorded;
    ``lead.qualified`` when the disposition is ``qualified``. ``call`` is a call id (read
    inside the transaction) or a ``Call`` row holding its final state.
    """
    call_id = call if isinstance(call, int) else call.id
    row = conn.execute(select(CALL).where(CALL.c.id == call_id)).first()
    if row is None:
        raise NotFoundError(f"call {call_id} not found")
    lead = None
    if row.lead_id is not None:
        lead = conn.execute(select(LEAD).where(LEAD.c.id == row.lead_id)).first()
    url = recording_url(row.id, public_base_url) if row.recording_path else None
    common = {
        "call_id": row.id,
        "campaign_id": row.campaign_id,
        "lead_id": row.lead_id,
        "number": row.number,
    }
    key = _ordering_key(row)
    ids = {"call_id": row.id, "lead_id": row.lead_id, "campaign_id": row.campaign_id}
    completed = {
        **common,
        "attempt": row.attempt,
        "outcome": row.outcome,
        "disposition": row.disposition,
        "q850": row.q850,
        "voicemail_verdict": row.voicemail_verdict,
        "started_at": _iso(row.started_at),
        "answered_at": _iso(row.answered_at),
        "ended_at": _iso(row.ended_at),
        "duration_ms": row.duration_ms,
        "answers": row.slots or {},
        "recording_url": url,
    }
    out = [
        enqueue_event(
            conn,
            tenant_id=row.tenant_id,
            event_type=EventType.CALL_COMPLETED,
            data=completed,
            ordering_key=key,
            dedupe_key=f"call:{row.id}:{EventType.CALL_COMPLETED}",
            now=now,
            **ids,
        )
    ]
    if url is not None:
        ready = {**common, "recording_url": url, "duration_ms": row.duration_ms}
        out.append(
            enqueue_event(
                conn,
                tenant_id=row.tenant_id,
                event_type=EventType.RECORDING_READY,
                data=ready,
                ordering_key=key,
                dedupe_key=f"call:{row.id}:{EventType.RECORDING_READY}",
                now=now,
                **ids,
            )
        )
    if row.qualified:
        answers = dict(row.slots or {})
        qualified = {
            **common,
            "answers": answers,
            "consent": answers.get("consent"),
            "disposition": row.disposition,
            "variables": dict(lead.variables or {}) if lead is not None else {},
            "transcript": list(row.transcript or []),
            "recording_url": url,
        }
        out.append(
            enqueue_event(
                conn,
                tenant_id=row.tenant_id,
                event_type=EventType.LEAD_QUALIFIED,
                data=qualified,
                ordering_key=key,
                dedupe_key=f"call:{row.id}:{EventType.LEAD_QUALIFIED}",
                now=now,
                **ids,
            )
        )
    return out


def record_campaign_finished(
    conn: Executor, campaign_id: int, *, now: datetime | None = None
) -> str:
    """Queue ``campaign.finished`` for a campaign that has just finished or stopped."""
    row = conn.execute(select(CAMPAIGN).where(CAMPAIGN.c.id == campaign_id)).first()
    if row is None:
        raise NotFoundError(f"campaign {campaign_id} not found")
    data = {
        "campaign_id": row.id,
        "name": row.name,
        "status": row.status,
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
    }
    return enqueue_event(
        conn,
        tenant_id=row.tenant_id,
        event_type=EventType.CAMPAIGN_FINISHED,
        data=data,
        ordering_key=f"campaign:{row.id}",
        campaign_id=row.id,
        dedupe_key=campaign_finished_key(row.id, row.finished_at),
        now=now,
    )


def campaign_finished_key(campaign_id: int, finished_at: datetime | None) -> str:
    return f"campaign:{campaign_id}:finished:{_iso(finished_at)}"


#: Most calls a sweep reports at once.
SWEEP_LIMIT = 500
#: Call ids below the watermark that every sweep looks at again.
SWEEP_REVISIT_IDS = 1000


def sweep_unreported(engine: Engine, from_call_id: int = 0) -> tuple[int, int]:
    """Queue events for finished calls and campaigns that have none yet.

    The catch-up for writers that store a call's end without :func:`record_call_events` (or
    crashed between two transactions): every finished call gets its events exactly once (the
    dedupe keys stop a concurrent sweeper). Calls below ``from_call_id`` are not looked at;
    returns ``(events queued, the from_call_id to use next time)``.
    """
    queued = 0
    reported = exists().where(OUTBOX.c.call_id == CALL.c.id)
    with engine.connect() as conn:
        running = conn.execute(select(func.min(CALL.c.id)).where(CALL.c.outcome.is_(None)))
        lowest_running = running.scalar_one()
        top = conn.execute(select(func.max(CALL.c.id))).scalar_one() or 0
        call_ids = (
            conn.execute(
                select(CALL.c.id)
                .where(
                    CALL.c.id >= from_call_id,
                    CALL.c.id <= top,
                    CALL.c.outcome.is_not(None),
                    CALL.c.ended_at.is_not(None),
                    ~reported,
                )
                .order_by(CALL.c.id)
                .limit(SWEEP_LIMIT)
            )
            .scalars()
            .all()
        )
        finished = conn.execute(
            select(CAMPAIGN.c.id, CAMPAIGN.c.finished_at).where(
                CAMPAIGN.c.status.in_(("finished", "stopped")),
                CAMPAIGN.c.finished_at.is_not(None),
            )
        ).all()
        keys = {campaign_finished_key(c.id, c.finished_at): c.id for c in finished}
        known = (
            set(
                conn.execute(select(OUTBOX.c.dedupe_key).where(OUTBOX.c.dedupe_key.in_(list(keys))))
                .scalars()
                .all()
            )
            if keys
            else set()
        )
    for call_id in call_ids:
        queued += _record_once(engine, partial(record_call_events, call=call_id))
    for key, campaign_id in keys.items():
        if key not in known:
            queued += _record_once(engine, partial(_campaign_events, campaign_id=campaign_id))
    if len(call_ids) >= SWEEP_LIMIT:
        next_from = call_ids[-1] + 1
    else:
        next_from = min(lowest_running or top + 1, top + 1)
    if queued:
        logger.info("queued %d event(s) for finished calls and campaigns", queued)
    # Ids are not always committed in order (PostgreSQL sequences): look back a little.
    return queued, max(0, max(next_from, from_call_id) - SWEEP_REVISIT_IDS)


def _campaign_events(conn: Connection, campaign_id: int) -> list[str]:
    return [record_campaign_finished(conn, campaign_id)]


def _record_once(engine: Engine, write: Callable[[Connection], list[str]]) -> int:
    try:
        with write_transaction(engine) as conn:
            return len(write(conn))
    except DatabaseError as e:
        if isinstance(e.__cause__, IntegrityError):
            return 0  # another sweeper reported it first
        raise


def delivery_depth(engine: Engine) -> dict[str, int]:
    """Deliveries waiting (``pending``) and given up (``dead``), all tenants together."""
    statuses = (DeliveryStatus.PENDING.value, DeliveryStatus.DEAD.value)
    with engine.connect() as conn:
        rows = conn.execute(
            select(DELIVERY.c.status, func.count())
            .where(DELIVERY.c.status.in_(statuses))
            .group_by(DELIVERY.c.status)
        ).all()
    counts = dict.fromkeys(statuses, 0)
    counts.update({status: int(count) for status, count in rows})
    return counts
