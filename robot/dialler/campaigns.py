"""Campaign life (draft, running, paused, stopped, finished), stats, and the DNC list."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session
from sqlmodel import select as sqlmodel_select

from models.audit import AuditAction, record_audit
from models.campaign import Campaign, CampaignCreate, CampaignStatus
from models.lead import LeadStatus
from models.tenancy import get_owned
from models.tenant import Tenant
from models.transactions import DatabaseError, session_scope, write_transaction
from models.types import utc_now
from robot.crm.outbox import record_campaign_finished
from robot.dialler.claims import CALL, DNC, LEAD, add_dnc_number
from robot.dialler.retry import RetryPolicy
from robot.errors import ValidationError
from robot.quotas import check_running_campaigns
from robot.windows import CallingWindow, zone_info

logger = logging.getLogger(__name__)

CAMPAIGN = Campaign.__table__  # type: ignore[attr-defined]

#: Allowed transitions: action -> (statuses it may start from, status it leads to).
TRANSITIONS: dict[str, tuple[frozenset[CampaignStatus], CampaignStatus]] = {
    "start": (
        frozenset({CampaignStatus.DRAFT, CampaignStatus.PAUSED, CampaignStatus.FINISHED}),
        CampaignStatus.RUNNING,
    ),
    "pause": (frozenset({CampaignStatus.RUNNING}), CampaignStatus.PAUSED),
    "stop": (
        frozenset({CampaignStatus.DRAFT, CampaignStatus.RUNNING, CampaignStatus.PAUSED}),
        CampaignStatus.STOPPED,
    ),
}


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    """What the dialler needs to know about a running campaign."""

    id: int
    tenant_id: int
    priority: int
    max_concurrent_calls: int
    window: CallingWindow
    retry_policy: RetryPolicy
    script_id: int | None
    script_version: int | None
    caller_id: str | None


def get_or_create_tenant(engine: Engine, name: str) -> int:
    """The id of tenant ``name``, created if new (safe when two callers race)."""
    for _ in range(2):
        try:
            with session_scope(engine) as session:
                tenant = session.exec(sqlmodel_select(Tenant).where(Tenant.name == name)).first()
                if tenant is None:
                    tenant = Tenant(name=name)
                    session.add(tenant)
                    session.flush()
                assert tenant.id is not None
                return tenant.id
        except DatabaseError as e:
            if not isinstance(e.__cause__, IntegrityError):
                raise
    raise DatabaseError(f"tenant {name!r} could not be created")


def check_region(region: str) -> str:
    """The ISO 3166 region ``region`` upper-cased; ValidationError naming ``default_region``."""
    import phonenumbers

    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"default_region: unknown region {region!r}")
    return region.upper()


def create_campaign(engine: Engine, tenant_id: int, data: CampaignCreate) -> Campaign:
    """Create a draft campaign after checking its window, retry policy and default zone."""
    CallingWindow.from_dict(data.calling_window)
    RetryPolicy.from_dict(data.retry_policy)
    zone_info(data.default_timezone)
    region = check_region(data.default_region)
    campaign = Campaign.model_validate(
        data, update={"tenant_id": tenant_id, "default_region": region}
    )
    with session_scope(engine) as session:
        session.add(campaign)
        session.flush()
        session.refresh(campaign)
    return campaign


def get_campaign(engine: Engine, campaign_id: int, tenant_id: int | None = None) -> Campaign:
    with Session(engine) as session:
        return get_owned(session, Campaign, campaign_id, tenant_id, "campaign")


#: Audit action written for each campaign action.
AUDIT_ACTIONS = {
    "start": AuditAction.CAMPAIGN_STARTED,
    "pause": AuditAction.CAMPAIGN_PAUSED,
    "stop": AuditAction.CAMPAIGN_STOPPED,
}


def change_status(
    engine: Engine,
    campaign_id: int,
    action: str,
    tenant_id: int | None = None,
    *,
    actor: str = "cli",
    max_running: int | None = None,
) -> CampaignStatus:
    """Apply ``start``, ``pause`` or ``stop``: the one owner of these transitions.

    Refuses transitions that make no sense and starting a campaign without a script; in one
    transaction it checks the tenant's running-campaigns cap (``max_running``, on start),
    queues ``campaign.finished`` (on stop) and writes the audit entry naming ``actor``.
    """
    if action not in TRANSITIONS:
        raise ValidationError(f"unknown campaign action {action!r}")
    allowed_from, target = TRANSITIONS[action]
    campaign = get_campaign(engine, campaign_id, tenant_id)
    current = CampaignStatus(campaign.status)
    if current not in allowed_from:
        raise ValidationError(f"campaign {campaign_id} is {current.value}; cannot {action} it")
    if target is CampaignStatus.RUNNING and campaign.script_id is None:
        raise ValidationError("script_id: the campaign needs a script before it can start")
    now = utc_now()
    values: dict[str, Any] = {"status": target.value}
    if target is CampaignStatus.RUNNING and campaign.started_at is None:
        values["started_at"] = now
    if target is CampaignStatus.STOPPED:
        values["finished_at"] = now
    with write_transaction(engine) as conn:
        if target is CampaignStatus.RUNNING and max_running is not None:
            check_running_campaigns(conn, campaign.tenant_id, max_running)
        result = conn.execute(
            update(CAMPAIGN)
            .where(CAMPAIGN.c.id == campaign_id, CAMPAIGN.c.status == current.value)
            .values(**values)
        )
        if result.rowcount != 1:
            raise ValidationError(f"campaign {campaign_id} changed status meanwhile; try again")
        if target is CampaignStatus.STOPPED:
            record_campaign_finished(conn, campaign_id, now=now)
        record_audit(
            conn,
            campaign.tenant_id,
            AUDIT_ACTIONS[action],
            actor=actor,
            target_type="campaign",
            target_id=campaign_id,
            details={"from": current.value, "to": target.value},
        )
    logger.info("campaign %d: %s -> %s", campaign_id, current.value, target.value)
    return target


def finish_if_done(engine: Engine, campaign_id: int, now: datetime) -> bool:
    """Mark a running campaign finished when no lead is pending any more."""
    pending = (
        select(LEAD.c.id)
        .where(LEAD.c.campaign_id == campaign_id, LEAD.c.status == LeadStatus.PENDING.value)
        .limit(1)
    )
    with engine.connect() as conn:  # cheap read first: most polls find pending leads
        if conn.execute(pending).first() is not None:
            return False
    with write_transaction(engine) as conn:
        result = conn.execute(
            update(CAMPAIGN)
            .where(
                CAMPAIGN.c.id == campaign_id,
                CAMPAIGN.c.status == CampaignStatus.RUNNING.value,
                ~pending.exists(),
            )
            .values(status=CampaignStatus.FINISHED.value, finished_at=now)
        )
        if result.rowcount:
            record_campaign_finished(conn, campaign_id, now=now)
    if result.rowcount:
        logger.info("campaign %d finished: no lead left to call", campaign_id)
    return bool(result.rowcount)


def load_running_campaigns(
    engine: Engine, only_ids: frozenset[int] | None = None
) -> list[CampaignPlan]:
    query = select(CAMPAIGN).where(CAMPAIGN.c.status == CampaignStatus.RUNNING.value)
    if only_ids is not None:
        query = query.where(CAMPAIGN.c.id.in_(sorted(only_ids)))
    try:
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(CAMPAIGN.c.id)).all()
    except SQLAlchemyError as e:
        raise DatabaseError(f"loading running campaigns failed: {e}") from e
    return [
        CampaignPlan(
            id=r.id,
            tenant_id=r.tenant_id,
            priority=r.priority,
            max_concurrent_calls=r.max_concurrent_calls,
            window=CallingWindow.from_dict(r.calling_window, f"campaign {r.id} calling_window"),
            retry_policy=RetryPolicy.from_dict(r.retry_policy, f"campaign {r.id} retry_policy"),
            script_id=r.script_id,
            script_version=r.script_version,
            caller_id=r.caller_id,
        )
        for r in rows
    ]


def add_to_dnc(engine: Engine, tenant_id: int, number: str, reason: str = "requested") -> None:
    """Put an E.164 number on the tenant's do-not-call list at once (idempotent)."""
    with write_transaction(engine) as conn:
        add_dnc_number(conn, tenant_id, number, reason, utc_now())


def remove_from_dnc(engine: Engine, tenant_id: int, numbers: list[str]) -> list[str]:
    """Take ``numbers`` off the tenant's do-not-call list; the ones that were on it."""
    with write_transaction(engine) as conn:
        where = (DNC.c.tenant_id == tenant_id) & DNC.c.number.in_(numbers)
        listed = sorted(r.number for r in conn.execute(select(DNC.c.number).where(where)))
        conn.execute(delete(DNC).where(where))
    return listed


@dataclass(slots=True)
class CampaignStats:
    campaign_id: int
    status: str
    leads: int = 0
    remaining: int = 0
    in_flight: int = 0
    attempts: int = 0
    leads_by_status: dict[str, int] = field(default_factory=dict)
    calls_by_outcome: dict[str, int] = field(default_factory=dict)
    calls_by_disposition: dict[str, int] = field(default_factory=dict)
    #: Earliest time a pending lead may be called (``None`` when nothing is pending).
    next_window_opening: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        opening = self.next_window_opening
        out["next_window_opening"] = opening.isoformat() if opening else None
        return out


def campaign_stats(engine: Engine, campaign_id: int, tenant_id: int | None = None) -> CampaignStats:
    campaign = get_campaign(engine, campaign_id, tenant_id)
    stats = CampaignStats(campaign_id=campaign_id, status=str(campaign.status))
    with engine.connect() as conn:
        for status, count in conn.execute(
            select(LEAD.c.status, func.count())
            .where(LEAD.c.campaign_id == campaign_id)
            .group_by(LEAD.c.status)
        ):
            stats.leads_by_status[status] = count
            stats.leads += count
        stats.remaining = stats.leads_by_status.get(LeadStatus.PENDING.value, 0)
        for outcome, disposition, count in conn.execute(
            select(CALL.c.outcome, CALL.c.disposition, func.count())
            .where(CALL.c.campaign_id == campaign_id)
            .group_by(CALL.c.outcome, CALL.c.disposition)
        ):
            stats.attempts += count
            if outcome is None:
                stats.in_flight += count
                continue
            stats.calls_by_outcome[outcome] = stats.calls_by_outcome.get(outcome, 0) + count
            if disposition:
                by_disp = stats.calls_by_disposition
                by_disp[disposition] = by_disp.get(disposition, 0) + count
        stats.next_window_opening = conn.execute(
            select(func.min(LEAD.c.next_attempt_at)).where(
                LEAD.c.campaign_id == campaign_id, LEAD.c.status == LeadStatus.PENDING.value
            )
        ).scalar_one()
    return stats
