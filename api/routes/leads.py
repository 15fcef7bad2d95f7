"""Leads: import CSV (raw or multipart) or JSON with a per-row report; list and read them."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import select

from api.bodies import read_upload, upload_openapi
from api.deps import (
    EngineDep,
    IdPath,
    LimitQuery,
    OffsetQuery,
    SessionDep,
    SettingsDep,
    TenantDep,
    tenant_id_of,
)
from api.routes.campaigns import get_owned_campaign
from models.lead import Lead, LeadPublic, LeadStatus
from models.tenancy import get_owned
from robot.errors import ValidationError
from robot.leads import (
    ImportReport,
    RawRow,
    RejectedRow,
    import_rows,
    read_rows,
    rows_from_json,
)
from robot.quotas import room_for_calls

router = APIRouter(tags=["leads"])

CSV_TYPES = ("text/csv", "application/csv")
JSON_TYPES = ("application/json",)
MAX_LEADS_BYTES = 50_000_000
EXAMPLE_CSV = "phone,first_name,timezone\n+12025550143,Ann,America/New_York\n"


class RejectedRowOut(BaseModel):
    row: int
    line: int | None
    field: str | None
    reason: str


class ImportReportOut(BaseModel):
    campaign_id: int
    source: str
    rows: int
    imported: int
    rejected_count: int
    rejected: list[RejectedRowOut]


class LeadList(BaseModel):
    items: list[LeadPublic]


def _safe_name(filename: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename).name)[:100] or "leads.csv"


def _capped(rows: Iterable[RawRow], room: int, cut: list[RejectedRow]) -> Iterator[RawRow]:
    """The first ``room`` rows; the rest go to ``cut`` as rejected (queued-calls cap)."""
    for index, raw in enumerate(rows):
        if index < room:
            yield raw
        else:
            reason = f"quotas.max_queued_calls: no room left (this import had room for {room})"
            cut.append(RejectedRow(row=raw.row, reason=reason, line=raw.line))


def _import(
    engine: Engine, campaign_id: int, rows: Iterable[RawRow], source: str, room: int
) -> ImportReport:
    cut: list[RejectedRow] = []
    report = import_rows(engine, campaign_id, _capped(rows, room, cut), source=source)
    report.rows += len(cut)
    report.rejected = sorted([*report.rejected, *cut], key=lambda r: r.row)
    return report


def _import_csv(
    engine: Engine, campaign_id: int, text: str, filename: str, room: int
) -> ImportReport:
    with tempfile.TemporaryDirectory(prefix="callrobot-leads-") as folder:
        path = Path(folder) / _safe_name(filename)
        path.write_text(text, encoding="utf-8")
        try:
            report = _import(engine, campaign_id, read_rows(path, "csv"), str(path), room)
        except ValidationError as e:
            raise ValidationError(str(e).replace(str(path), filename)) from e
    report.source = filename
    return report


def _import_json(
    engine: Engine, campaign_id: int, text: str, filename: str, room: int
) -> ImportReport:
    return _import(engine, campaign_id, rows_from_json(text, filename), filename, room)


def _room(engine: Engine, tenant_id: int, limit: int) -> int:
    with engine.connect() as conn:
        return room_for_calls(conn, tenant_id, limit)


def import_leads_text(
    engine: Engine,
    tenant_id: int,
    campaign_id: int,
    text: str,
    filename: str,
    max_queued_calls: int,
    *,
    is_json: bool = False,
) -> ImportReport:
    """Import an uploaded lead file (CSV, or JSON when ``is_json`` or named ``*.json``) into
    an owned campaign, up to the tenant's room for queued calls (the API and the console)."""
    room = _room(engine, tenant_id, max_queued_calls)
    is_json = is_json or filename.lower().endswith(".json")
    importer = _import_json if is_json else _import_csv
    return importer(engine, campaign_id, text, filename, room)


@router.post(
    "/v1/campaigns/{campaign_id}/leads",
    response_model=ImportReportOut,
    openapi_extra=upload_openapi(
        (*CSV_TYPES, *JSON_TYPES),
        "Leads as CSV (header row; a phone column) or a JSON array of objects.",
        EXAMPLE_CSV,
    ),
)
async def import_campaign_leads(
    campaign_id: IdPath,
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    tenant: TenantDep,
) -> dict[str, Any]:
    """Import leads; every good row is kept and every rejected row reported with its reason.

    409 when the tenant's queued calls are at ``quotas.max_queued_calls`` already; rows beyond
    the room left are rejected in the report.
    """
    tenant_id = tenant_id_of(tenant)
    await run_in_threadpool(get_owned_campaign, session, tenant_id, campaign_id)
    limit = settings.quotas.max_queued_calls
    await run_in_threadpool(_room, engine, tenant_id, limit)  # 409 before reading the body
    upload = await read_upload(
        request,
        accepted=(*CSV_TYPES, *JSON_TYPES),
        default_filename="leads",
        max_bytes=MAX_LEADS_BYTES,
    )
    report = await run_in_threadpool(
        lambda: import_leads_text(
            engine,
            tenant_id,
            campaign_id,
            upload.text,
            upload.filename,
            limit,
            is_json=upload.media_type in JSON_TYPES,
        )
    )
    return report.to_dict()


@router.get("/v1/campaigns/{campaign_id}/leads", response_model=LeadList)
def list_leads(
    campaign_id: IdPath,
    session: SessionDep,
    tenant: TenantDep,
    status: LeadStatus | None = None,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> LeadList:
    """A campaign's leads, optionally only those in one status."""
    get_owned_campaign(session, tenant_id_of(tenant), campaign_id)
    query = select(Lead).where(Lead.campaign_id == campaign_id)
    if status is not None:
        query = query.where(Lead.status == status)
    rows = session.exec(query.order_by(Lead.id).offset(offset).limit(limit)).all()  # type: ignore[arg-type]
    return LeadList(items=[LeadPublic.model_validate(lead) for lead in rows])


@router.get("/v1/leads/{lead_id}", response_model=LeadPublic)
def get_lead(lead_id: IdPath, session: SessionDep, tenant: TenantDep) -> Lead:
    return get_owned(session, Lead, lead_id, tenant_id_of(tenant), "lead")
