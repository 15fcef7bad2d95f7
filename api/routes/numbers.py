"""The tenant's phone numbers: routing of inbound calls, default actions and pool tags."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from api.deps import (
    IdPath,
    LimitQuery,
    OffsetQuery,
    SessionDep,
    SettingsDep,
    TenantDep,
    WriteSessionDep,
    tenant_id_of,
)
from models.number import PhoneNumber, PhoneNumberPublic
from models.tenancy import get_owned
from models.types import utc_now
from robot.control.numbers import checked_number_fields

router = APIRouter(prefix="/v1/numbers", tags=["numbers"])

ACTIONS_EXAMPLE = [{"say": {"text": "We are closed. Please call again tomorrow."}}, {"hangup": {}}]


class NumberCreate(BaseModel):
    number: str = Field(min_length=1, max_length=20, examples=["+12025550100"])
    time_zone: str = Field(
        default="UTC", min_length=1, max_length=64, examples=["America/New_York"]
    )
    routing_url: str | None = Field(
        default=None, max_length=2000, examples=["https://crm.example.com/voice/route"]
    )
    fallback_url: str | None = Field(default=None, max_length=2000)
    default_actions: list[Any] = Field(
        default_factory=list,
        max_length=100,
        description="Actions run when neither routing_url nor fallback_url answers.",
        examples=[ACTIONS_EXAMPLE],
    )
    tags: list[str] = Field(default_factory=list, max_length=20, examples=[["proxy"]])
    routing_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="Signing secret of routing requests; generated when not given.",
    )


class NumberUpdate(BaseModel):
    time_zone: str | None = Field(default=None, min_length=1, max_length=64)
    routing_url: str | None = Field(default=None, max_length=2000)
    fallback_url: str | None = Field(default=None, max_length=2000)
    default_actions: list[Any] | None = Field(default=None, max_length=100)
    tags: list[str] | None = Field(default=None, max_length=20)


class NumberCreated(PhoneNumberPublic):
    #: Shown only in this response: keep it to verify the routing requests' signature.
    routing_secret: str


class NumberList(BaseModel):
    items: list[PhoneNumberPublic]


def get_owned_number(session: Session, tenant_id: int, number_id: int) -> PhoneNumber:
    return get_owned(session, PhoneNumber, number_id, tenant_id, "number")


@router.post("", status_code=201, response_model=NumberCreated)
def create_number(
    data: NumberCreate, session: WriteSessionDep, settings: SettingsDep, tenant: TenantDep
) -> NumberCreated:
    """Add a number (409 when any tenant already has it)."""
    fields = checked_number_fields(
        data.model_dump(exclude={"routing_secret"}),
        allow_private=settings.webhooks_allow_private,
    )
    number = PhoneNumber(
        tenant_id=tenant_id_of(tenant),
        routing_secret=data.routing_secret or f"rtsec_{secrets.token_urlsafe(32)}",
        **fields,
    )
    session.add(number)
    session.commit()
    session.refresh(number)
    public = PhoneNumberPublic.model_validate(number, from_attributes=True)
    return NumberCreated(**public.model_dump(), routing_secret=number.routing_secret)


@router.get("", response_model=NumberList)
def list_numbers(
    session: SessionDep, tenant: TenantDep, limit: LimitQuery = 100, offset: OffsetQuery = 0
) -> NumberList:
    rows = session.exec(
        select(PhoneNumber)
        .where(PhoneNumber.tenant_id == tenant_id_of(tenant))
        .order_by(PhoneNumber.id)  # type: ignore[arg-type]
        .offset(offset)
        .limit(limit)
    ).all()
    return NumberList(items=[PhoneNumberPublic.model_validate(n) for n in rows])


@router.get("/{number_id}", response_model=PhoneNumberPublic)
def get_number(number_id: IdPath, session: SessionDep, tenant: TenantDep) -> PhoneNumber:
    return get_owned_number(session, tenant_id_of(tenant), number_id)


@router.patch("/{number_id}", response_model=PhoneNumberPublic)
def update_number(
    number_id: IdPath,
    data: NumberUpdate,
    session: WriteSessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
) -> PhoneNumber:
    """Change the given fields; ``null`` clears ``routing_url`` or ``fallback_url``."""
    number = get_owned_number(session, tenant_id_of(tenant), number_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("time_zone", "default_actions", "tags"):
        if field in changes and changes[field] is None:
            changes.pop(field)
    fields = checked_number_fields(changes, allow_private=settings.webhooks_allow_private)
    for name, value in fields.items():
        setattr(number, name, value)
    number.updated_at = utc_now()
    session.add(number)
    session.commit()
    session.refresh(number)
    return number


@router.delete("/{number_id}", status_code=204)
def delete_number(number_id: IdPath, session: WriteSessionDep, tenant: TenantDep) -> Response:
    """Remove a number (409 while a masking session uses it as a proxy)."""
    number = get_owned_number(session, tenant_id_of(tenant), number_id)
    session.delete(number)
    session.commit()
    return Response(status_code=204)
