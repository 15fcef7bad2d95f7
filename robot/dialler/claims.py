"""Crash-safe claiming of due leads, leases, and the attempt bookkeeping around each call.

PostgreSQL claims with ``SELECT ... FOR UPDATE SKIP LOCKED`` inside one short
``UPDATE ... RETURNING``; SQLite runs one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n)
RETURNING`` under ``BEGIN IMMEDIATE`` (WAL mode). A claim sets ``lease_owner``/``lease_until``
and moves ``next_attempt_at`` to the end of the lease, so a leased lead is not due while its
worker lives and comes back by itself when the lease runs out.

Every write that follows a claim is guarded by ``lease_owner``: a worker that lost its lease
cannot overwrite the lead's state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from models.call import Call
from models.campaign import Campaign
from models.db import is_postgres
from models.dnc import DncEntry
from models.lead import Lead, LeadStatus
from models.transactions import DatabaseError, write_transaction
from robot.errors import CallrobotError

logger = logging.getLogger(__name__)

LEAD = Lead.__table__  # type: ignore[attr-defined]
CALL = Call.__table__  # type: ignore[attr-defined]
DNC = DncEntry.__table__  # type: ignore[attr-defined]

LOST_WORKER_ERROR = "worker lost during the call; lease expired"


class LeaseLostError(CallrobotError):
    """This worker no longer holds the lead's lease (it expired and another worker took it)."""


@dataclass(frozen=True, slots=True)
class ClaimedLead:
    id: int
    tenant_id: int
    campaign_id: int
    number: str
    time_zones: tuple[str, ...]
    calling_window: dict[str, Any] | None
    variables: dict[str, Any]
    attempts: int
    lease_until: datetime


_CLAIM_COLUMNS = (
    LEAD.c.id,
    LEAD.c.tenant_id,
    LEAD.c.campaign_id,
    LEAD.c.number,
    LEAD.c.time_zones,
    LEAD.c.calling_window,
    LEAD.c.variables,
    LEAD.c.attempts,
    LEAD.c.lease_until,
)


def due_leads_query(campaign_id: int, now: datetime, limit: int) -> Any:
    """The pick-next query: an index range scan on (campaign_id, status, next_attempt_at)."""
    return (
        select(LEAD.c.id)
        .where(
            LEAD.c.campaign_id == campaign_id,
            LEAD.c.status == LeadStatus.PENDING.value,
            LEAD.c.next_attempt_at <= now,
        )
        .order_by(LEAD.c.next_attempt_at)
        .limit(limit)
    )


def claim_due_leads(
    engine: Engine,
    campaign_id: int,
    owner: str,
    limit: int,
    lease_s: float,
    now: datetime,
    *,
    campaign_cap: int | None = None,
) -> list[ClaimedLead]:
    """Atomically lease up to ``limit`` due leads of a campaign to ``owner``.

    With ``campaign_cap``, leads leased by every worker together stay within the cap: the
    campaign row is locked (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises
    claims) while the live leases are counted.
    """
    if limit <= 0:
        return []
    until = now + timedelta(seconds=lease_s)
    values = {
        "lease_owner": owner,
        "lease_until": until,
        "next_attempt_at": until,
        "updated_at": now,
    }
    lease_free = or_(LEAD.c.lease_until.is_(None), LEAD.c.lease_until < now)
    postgres = is_postgres(engine)
    with write_transaction(engine) as conn:
        if campaign_cap is not None:
            limit = min(limit, campaign_cap - _leased_now(conn, campaign_id, now, lock=postgres))
            if limit <= 0:
                return []
        due = due_leads_query(campaign_id, now, limit)
        if postgres:
            picked = due.with_for_update(skip_locked=True).cte("picked")
            stmt = update(LEAD).where(LEAD.c.id == picked.c.id, lease_free)
        else:
            stmt = update(LEAD).where(LEAD.c.id.in_(due.scalar_subquery()), lease_free)
        rows = conn.execute(stmt.values(**values).returning(*_CLAIM_COLUMNS)).all()
    claimed = [
        ClaimedLead(
            id=r.id,
            tenant_id=r.tenant_id,
            campaign_id=r.campaign_id,
            number=r.number,
            time_zones=tuple(r.time_zones.split(",")),
            calling_window=r.calling_window,
            variables=r.variables or {},
            attempts=r.attempts,
            lease_until=r.lease_until,
        )
        for r in rows
    ]
    claimed.sort(key=lambda c: c.id)
    return claimed


def _leased_now(conn: Connection, campaign_id: int, now: datetime, *, lock: bool) -> int:
    """Leads of the campaign leased right now, by any worker (a range scan of ix_lead_lease)."""
    if lock:
        campaign = Campaign.__table__  # type: ignore[attr-defined]
        conn.execute(select(campaign.c.id).where(campaign.c.id == campaign_id).with_for_update())
    return int(
        conn.execute(
            select(func.count())
            .select_from(LEAD)
            .where(LEAD.c.campaign_id == campaign_id, LEAD.c.lease_until > now)
        ).scalar_one()
    )


def extend_leases(
    engine: Engine, lead_ids: Sequence[int], owner: str, lease_s: float, now: datetime
) -> set[int]:
    """Heartbeat: push the lease of ``lead_ids`` held by ``owner``; return the ids still held."""
    if not lead_ids:
        return set()
    until = now + timedelta(seconds=lease_s)
    with write_transaction(engine) as conn:
        rows = conn.execute(
            update(LEAD)
            .where(LEAD.c.id.in_(list(lead_ids)), LEAD.c.lease_owner == owner)
            .values(lease_until=until, next_attempt_at=until)
            .returning(LEAD.c.id)
        ).all()
    held = {r.id for r in rows}
    lost = set(lead_ids) - held
    if lost:
        logger.warning("lost the lease on %d lead(s): %s", len(lost), sorted(lost))
    return held


def release_lead(
    engine: Engine,
    lead_id: int,
    owner: str,
    now: datetime,
    *,
    status: LeadStatus = LeadStatus.PENDING,
    next_attempt_at: datetime | None = None,
    reason: str | None = None,
) -> bool:
    """Give a claimed lead back without calling it (window closed, on DNC...)."""
    with write_transaction(engine) as conn:
        result = conn.execute(
            update(LEAD)
            .where(LEAD.c.id == lead_id, LEAD.c.lease_owner == owner)
            .values(
                status=status.value,
                next_attempt_at=next_attempt_at,
                status_reason=reason,
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
        )
    return result.rowcount == 1


def dnc_numbers(engine: Engine, tenant_id: int, numbers: Sequence[str]) -> set[str]:
    """Which of ``numbers`` are on the tenant's do-not-call list."""
    if not numbers:
        return set()
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(DNC.c.number).where(
                    DNC.c.tenant_id == tenant_id, DNC.c.number.in_(list(numbers))
                )
            ).all()
    except SQLAlchemyError as e:
        raise DatabaseError(f"reading the do-not-call list failed: {e}") from e
    return {r.number for r in rows}


def add_dnc_number(
    conn: Connection, tenant_id: int, number: str, reason: str, now: datetime
) -> None:
    """Add a number to the tenant's DNC list inside ``conn``'s transaction (no-op if there)."""
    exists = conn.execute(
        select(DNC.c.id).where(DNC.c.tenant_id == tenant_id, DNC.c.number == number)
    ).first()
    if exists is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(DNC).values(
                        tenant_id=tenant_id, number=number, reason=reason, created_at=now
                    )
                )
        except IntegrityError:
            logger.debug("DNC entry for %s added concurrently", number)


def begin_attempt(
    engine: Engine, lead: ClaimedLead, owner: str, campaign_id: int | None, now: datetime
) -> tuple[int, int] | None:
    """Record the attempt as started before dialling; return ``(call_id, attempt_number)``.

    Returns ``None`` (and ends the lead as ``dnc``) when the number went on the do-not-call
    list since it was claimed. Attempts left open by a worker that died are closed as
    ``failed`` here (they were already counted when they began).
    """
    with write_transaction(engine) as conn:
        on_dnc = conn.execute(
            select(DNC.c.id).where(DNC.c.tenant_id == lead.tenant_id, DNC.c.number == lead.number)
        ).first()
        if on_dnc is not None:
            conn.execute(
                update(LEAD)
                .where(LEAD.c.id == lead.id, LEAD.c.lease_owner == owner)
                .values(
                    status=LeadStatus.DNC.value,
                    next_attempt_at=None,
                    status_reason="number is on the do-not-call list",
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                )
            )
            return None
        row = conn.execute(
            update(LEAD)
            .where(
                LEAD.c.id == lead.id,
                LEAD.c.lease_owner == owner,
                LEAD.c.status == LeadStatus.PENDING.value,
            )
            .values(attempts=LEAD.c.attempts + 1, updated_at=now)
            .returning(LEAD.c.attempts)
        ).first()
        if row is None:
            raise LeaseLostError(f"lead {lead.id}: lease lost before dialling")
        stale = conn.execute(
            update(CALL)
            .where(CALL.c.lead_id == lead.id, CALL.c.ended_at.is_(None))
            .values(
                ended_at=now, outcome="failed", disposition="incomplete", error=LOST_WORKER_ERROR
            )
        )
        if stale.rowcount:
            logger.warning(
                "lead %d: closed %d attempt(s) of a lost worker", lead.id, stale.rowcount
            )
        call_id = conn.execute(
            insert(CALL)
            .values(
                tenant_id=lead.tenant_id,
                campaign_id=campaign_id,
                lead_id=lead.id,
                number=lead.number,
                attempt=row.attempts,
                worker=owner,
                started_at=now,
                slots={},
                transcript=[],
                signalling={},
            )
            .returning(CALL.c.id)
        ).scalar_one()
    return int(call_id), int(row.attempts)


def count_pending(engine: Engine, campaign_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(LEAD)
                .where(LEAD.c.campaign_id == campaign_id, LEAD.c.status == LeadStatus.PENDING.value)
            ).scalar_one()
        )


def due_lead_ids(
    engine: Engine, campaign_ids: Sequence[int], now: datetime, limit: int
) -> list[int]:
    """Ids of leads due now and not leased, up to ``limit`` per campaign (reads only)."""
    with engine.connect() as conn:
        return [
            int(lead_id)
            for campaign_id in campaign_ids
            for lead_id in conn.execute(due_leads_query(campaign_id, now, limit)).scalars()
        ]
