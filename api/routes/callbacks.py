"""Callbacks: call A, then B once A answered, and bridge them (``robot.control.callback``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import AliasChoices, BaseModel, Field
from sqlmodel import Session, select

from api.control import call_control
from api.deps import IdPath, LimitQuery, OffsetQuery, SessionDep, TenantDep, WriteSessionDep
from api.deps import tenant_id_of as owner
from models.callback import Callback, CallbackPublic
from robot.carriers.base import DTMF_DIGITS
from robot.errors import NotFoundError, ValidationError
from robot.phone import is_e164, is_sip_uri, normalise_number

router = APIRouter(prefix="/v1/callbacks", tags=["callbacks"])

Text = Annotated[str, Field(min_length=1, max_length=2000)]


class CallbackRequest(BaseModel):
    a: str = Field(
        min_length=1, max_length=200, description="Called first.", examples=["+12025550143"]
    )
    b: str = Field(
        min_length=1,
        max_length=200,
        description="Called once A answered.",
        examples=["+12025550177"],
    )
    caller_id_a: str | None = Field(default=None, max_length=32, description="Shown to A.")
    caller_id_b: str | None = Field(default=None, max_length=32, description="Shown to B.")
    announce_a: Text | None = Field(default=None, description="Said to A before B is dialled.")
    whisper_b: Text | None = Field(default=None, description="Said to B alone before the bridge.")
    confirm_digit: str | None = Field(
        default=None, min_length=1, max_length=1, description="Key B presses to take the call."
    )
    ring_timeout_s: int = Field(
        default=30,
        ge=1,
        le=600,
        validation_alias=AliasChoices("ring_timeout_s", "ring_timeout"),
        description="Seconds each party rings (also accepted as `ring_timeout`).",
    )
    record: bool = False
    region: str = Field(default="US", min_length=2, max_length=2, description="For local numbers.")


class CallbackList(BaseModel):
    items: list[CallbackPublic]


def _party(value: str, region: str, field: str) -> str:
    value = value.strip()
    if is_e164(value) or is_sip_uri(value):
        return value
    return normalise_number(value, region, field)


def _caller_id(value: str | None, field: str) -> str | None:
    if value is not None and not is_e164(value):
        raise ValidationError(f"{field}: not an E.164 number")
    return value


def _order(data: CallbackRequest, tenant_id: int) -> Callback:
    if data.confirm_digit is not None and data.confirm_digit not in DTMF_DIGITS:
        raise ValidationError("confirm_digit: one of 0-9, *, #, A-D")
    return Callback(
        tenant_id=tenant_id,
        a=_party(data.a, data.region, "a"),
        b=_party(data.b, data.region, "b"),
        caller_id_a=_caller_id(data.caller_id_a, "caller_id_a"),
        caller_id_b=_caller_id(data.caller_id_b, "caller_id_b"),
        announce_a=data.announce_a,
        whisper_b=data.whisper_b,
        confirm_digit=data.confirm_digit,
        ring_timeout_s=data.ring_timeout_s,
        record=data.record,
    )


def _owned(session: Session, tenant_id: int, callback_id: int) -> Callback:
    found = session.get(Callback, callback_id)
    if found is None or found.tenant_id != tenant_id:
        raise NotFoundError(f"callback {callback_id} not found")
    return found


@router.post("", status_code=202, response_model=CallbackPublic)
async def create(
    data: CallbackRequest, request: Request, session: WriteSessionDep, tenant: TenantDep
) -> CallbackPublic:
    """Call A now; once A answers (and hears ``announce_a``) call B and bridge them.

    Poll ``GET /v1/callbacks/{id}`` or follow the legs' webhook events (``callback:ID``).
    """
    order = _order(data, owner(tenant))
    control = await call_control(request.app)
    order = await run_in_threadpool(_store, session, order)
    control.start_callback(Callback.model_validate(order.model_dump()))
    return _public(order)


def _public(row: Callback) -> CallbackPublic:
    return CallbackPublic.model_validate(row, from_attributes=True)


def _store(session: Session, order: Callback) -> Callback:
    session.add(order)
    session.commit()
    session.refresh(order)
    return order


@router.get("", response_model=CallbackList)
def list_callbacks(
    session: SessionDep, tenant: TenantDep, limit: LimitQuery = 50, offset: OffsetQuery = 0
) -> CallbackList:
    """The tenant's callbacks, newest first."""
    rows = session.exec(
        select(Callback)
        .where(Callback.tenant_id == owner(tenant))
        .order_by(Callback.id.desc())  # type: ignore[union-attr]
        .offset(offset)
        .limit(limit)
    ).all()
    return CallbackList(items=[_public(r) for r in rows])


@router.get("/{callback_id}", response_model=CallbackPublic)
def get(callback_id: IdPath, session: SessionDep, tenant: TenantDep) -> CallbackPublic:
    return _public(_owned(session, owner(tenant), callback_id))
