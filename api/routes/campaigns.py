"""Campaigns: create (pinning a script version), read, update, start/pause/stop, stats."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlmodel import Session, select

from api.actor import ActorDep
from api.deps import (
    EngineDep,
    IdPath,
    LimitQuery,
    OffsetQuery,
    SessionDep,
    SettingsDep,
    TenantDep,
    WriteSessionDep,
    tenant_id_of,
)
from api.routes.scripts import get_owned_script
from models.campaign import (
    Campaign,
    CampaignCreate,
    CampaignPublic,
    CampaignStatus,
    CampaignUpdate,
)
from models.tenancy import get_owned
from robot.config import QuotaSettings, Settings
from robot.dialler.campaigns import campaign_stats, change_status, create_campaign
from robot.dialler.retry import RetryPolicy
from robot.errors import ValidationError
from robot.quotas import check_recordings
from robot.windows import CallingWindow

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])

CAMPAIGN_EXAMPLE = {
    "name": "Solar leads, November",
    "script_id": 1,
    "default_region": "US",
    "default_timezone": "America/New_York",
    "max_concurrent_calls": 5,
    "calling_window": {"hours": {"sun": None}},
}


class CampaignList(BaseModel):
    items: list[CampaignPublic]


def get_owned_campaign(session: Session, tenant_id: int, campaign_id: int) -> Campaign:
    return get_owned(session, Campaign, campaign_id, tenant_id, "campaign")


def pin_script(session: Session, tenant_id: int, data: CampaignCreate) -> CampaignCreate:
    if data.script_id is None:
        if data.script_version is not None:
            raise ValidationError("script_version: give script_id too")
        return data
    script = get_owned_script(session, tenant_id, data.script_id)
    if data.script_version is not None and data.script_version != script.version:
        raise ValidationError(
            f"script_version: script {script.id} is version {script.version}, "
            f"not {data.script_version}"
        )
    return data.model_copy(update={"script_version": script.version})


@router.post(
    "",
    status_code=201,
    response_model=CampaignPublic,
    openapi_extra={"requestBody": {"content": {"application/json": {"example": CAMPAIGN_EXAMPLE}}}},
)
def create(
    data: CampaignCreate, session: SessionDep, engine: EngineDep, tenant: TenantDep
) -> Campaign:
    """Create a draft campaign. ``script_id`` pins that exact script version."""
    tenant_id = tenant_id_of(tenant)
    return create_campaign(engine, tenant_id, pin_script(session, tenant_id, data))


@router.get("", response_model=CampaignList)
def list_campaigns(
    session: SessionDep,
    tenant: TenantDep,
    status: CampaignStatus | None = None,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> CampaignList:
    query = select(Campaign).where(Campaign.tenant_id == tenant_id_of(tenant))
    if status is not None:
        query = query.where(Campaign.status == status)
    rows = session.exec(query.order_by(Campaign.id).offset(offset).limit(limit)).all()  # type: ignore[arg-type]
    return CampaignList(items=[CampaignPublic.model_validate(c) for c in rows])


@router.get("/{campaign_id}", response_model=CampaignPublic)
def get_one(campaign_id: IdPath, session: SessionDep, tenant: TenantDep) -> Campaign:
    return get_owned_campaign(session, tenant_id_of(tenant), campaign_id)


@router.patch("/{campaign_id}", response_model=CampaignPublic)
def update_campaign(
    campaign_id: IdPath, data: CampaignUpdate, session: WriteSessionDep, tenant: TenantDep
) -> Campaign:
    """Change name, priority, concurrency, caller id, calling window or retry policy."""
    campaign = get_owned_campaign(session, tenant_id_of(tenant), campaign_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and not (changes["name"] or "").strip():
        raise ValidationError("name: must not be empty")
    for key in ("name", "priority", "max_concurrent_calls"):
        if key in changes and changes[key] is None:
            raise ValidationError(f"{key}: must not be null")
    if "calling_window" in changes:
        CallingWindow.from_dict(changes["calling_window"], "calling_window")
    if "retry_policy" in changes:
        RetryPolicy.from_dict(changes["retry_policy"], "retry_policy")
    for key, value in changes.items():
        setattr(campaign, key, value)
    session.add(campaign)
    session.commit()
    session.refresh(campaign)
    return campaign


def apply_action(
    engine: Any, campaign: Campaign, action: str, actor: str, quotas: QuotaSettings
) -> None:
    """Apply an action (``change_status`` also queues its events and its audit entry)."""
    assert campaign.id is not None
    if action == "start":
        with engine.connect() as conn:
            check_recordings(conn, campaign.tenant_id, quotas.max_stored_recordings)
    change_status(
        engine,
        campaign.id,
        action,
        campaign.tenant_id,
        actor=actor,
        max_running=quotas.max_running_campaigns,
    )


async def _act(
    campaign_id: int,
    action: str,
    session: Session,
    engine: Any,
    tenant_id: int,
    actor: str,
    settings: Settings,
) -> Campaign:
    campaign = await run_in_threadpool(get_owned_campaign, session, tenant_id, campaign_id)
    await run_in_threadpool(apply_action, engine, campaign, action, actor, settings.quotas)
    session.rollback()  # end the read snapshot: see the committed change
    return await run_in_threadpool(get_owned_campaign, session, tenant_id, campaign_id)


@router.post("/{campaign_id}/start", response_model=CampaignPublic)
async def start(
    campaign_id: IdPath,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    tenant: TenantDep,
    actor: ActorDep,
) -> Campaign:
    """Start (or resume) calling; the campaign needs a script.

    409 when the tenant already runs ``quotas.max_running_campaigns`` campaigns or stores
    ``quotas.max_stored_recordings`` recordings.
    """
    return await _act(campaign_id, "start", session, engine, tenant_id_of(tenant), actor, settings)


@router.post("/{campaign_id}/pause", response_model=CampaignPublic)
async def pause(
    campaign_id: IdPath,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    tenant: TenantDep,
    actor: ActorDep,
) -> Campaign:
    """Pause calling; calls in progress finish."""
    return await _act(campaign_id, "pause", session, engine, tenant_id_of(tenant), actor, settings)


@router.post("/{campaign_id}/stop", response_model=CampaignPublic)
async def stop(
    campaign_id: IdPath,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    tenant: TenantDep,
    actor: ActorDep,
) -> Campaign:
    """Stop the campaign for good (sends ``campaign.finished``)."""
    return await _act(campaign_id, "stop", session, engine, tenant_id_of(tenant), actor, settings)


@router.get("/{campaign_id}/stats")
def stats(campaign_id: IdPath, engine: EngineDep, tenant: TenantDep) -> dict[str, Any]:
    """Leads by status, calls by outcome and disposition, calls in flight."""
    return campaign_stats(engine, campaign_id, tenant_id_of(tenant)).to_dict()
