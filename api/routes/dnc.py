"""The tenant's do-not-call list: add, list and remove numbers (stored as E.164)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field
from sqlmodel import select

from api.deps import (
    EngineDep,
    LimitQuery,
    OffsetQuery,
    SessionDep,
    TenantDep,
    WriteSessionDep,
    tenant_id_of,
)
from models.dnc import DncEntry, DncEntryPublic
from robot.dialler.campaigns import add_to_dnc
from robot.errors import NotFoundError
from robot.phone import normalise_number

router = APIRouter(prefix="/v1/dnc", tags=["do-not-call"])


class DncAdd(BaseModel):
    number: str = Field(min_length=1, max_length=40, examples=["+12025550143"])
    reason: str | None = Field(default=None, max_length=200, examples=["asked by phone"])
    #: Region for numbers written without a country code.
    region: str = Field(default="US", min_length=2, max_length=2)


class DncList(BaseModel):
    items: list[DncEntryPublic]


@router.post("", status_code=201, response_model=DncEntryPublic)
def add(data: DncAdd, session: SessionDep, engine: EngineDep, tenant: TenantDep) -> DncEntry:
    """Add a number (idempotent: adding it again returns the existing entry)."""
    tenant_id = tenant_id_of(tenant)
    number = normalise_number(data.number, data.region)
    add_to_dnc(engine, tenant_id, number, data.reason or "added through the API")
    session.rollback()  # end the read snapshot: see the committed entry
    entry = session.exec(
        select(DncEntry).where(DncEntry.tenant_id == tenant_id, DncEntry.number == number)
    ).one()
    return entry


@router.get("", response_model=DncList)
def list_numbers(
    session: SessionDep,
    tenant: TenantDep,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> DncList:
    rows = session.exec(
        select(DncEntry)
        .where(DncEntry.tenant_id == tenant_id_of(tenant))
        .order_by(DncEntry.id)  # type: ignore[arg-type]
        .offset(offset)
        .limit(limit)
    ).all()
    return DncList(items=[DncEntryPublic.model_validate(e) for e in rows])


@router.delete("/{number}", status_code=204)
def remove(
    number: Annotated[str, Path(min_length=1, max_length=40)],
    session: WriteSessionDep,
    tenant: TenantDep,
    region: Annotated[str, Query(min_length=2, max_length=2)] = "US",
) -> Response:
    """Take a number off the list (404 when it is not on it)."""
    e164 = normalise_number(number, region)
    entry = session.exec(
        select(DncEntry).where(DncEntry.tenant_id == tenant_id_of(tenant), DncEntry.number == e164)
    ).first()
    if entry is None:
        raise NotFoundError(f"number: {number} is not on the do-not-call list")
    session.delete(entry)
    session.commit()
    return Response(status_code=204)
