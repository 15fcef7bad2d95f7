"""Calls: place one now, list and filter, detail (events, transcript, signalling), recording."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import AliasChoices, BaseModel, Field
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from api.action_calls import start_action_call
from api.deps import (
    MAX_ID,
    IdPath,
    LimitQuery,
    SessionDep,
    SettingsDep,
    TenantDep,
    WriteSessionDep,
    tenant_id_of,
)
from api.placement import PlaceCall, call_number, open_call_row, run_placed_call
from api.recording import recording_response, wav_responses
from api.routes.scripts import get_owned_script
from models.call import Call
from models.tenancy import get_owned
from models.webhook import OutboxEvent
from robot.config import Settings
from robot.control.actions import MAX_ACTIONS
from robot.control.routing import STATUS_EVENTS
from robot.crm.outbox import recording_url
from robot.errors import NotFoundError, ValidationError
from robot.recording_files import resolve_stored

router = APIRouter(prefix="/v1/calls", tags=["calls"])

Scalar = str | int | float | bool


class CallRequest(BaseModel):
    number: str = Field(min_length=1, max_length=40, examples=["+12025550143"])
    script_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, examples=[1], description="Run this dialogue script."
    )
    actions: list[Any] | None = Field(
        default=None,
        max_length=MAX_ACTIONS,
        description="Or run these call-control actions once the number answers.",
        examples=[[{"say": {"text": "Your order has shipped."}}, {"hangup": {}}]],
    )
    status_callback: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="With actions: also POST the call's events here (signed with the "
        "routing_secret of caller_id, one of the tenant's numbers).",
    )
    events: list[str] | None = Field(
        default=None,
        max_length=len(STATUS_EVENTS),
        description="Event types sent to status_callback (default: all call progress events).",
    )
    ring_timeout_s: int = Field(
        default=30,
        ge=1,
        le=600,
        validation_alias=AliasChoices("ring_timeout_s", "ring_timeout"),
        description="With actions: seconds the number rings.",
    )
    variables: dict[str, Scalar] = Field(
        default_factory=dict, examples=[{"first_name": "Ann", "interest": "solar panels"}]
    )
    timezone: str | None = Field(default=None, max_length=64, examples=["America/New_York"])
    region: str = Field(default="US", min_length=2, max_length=2)
    caller_id: str | None = Field(default=None, max_length=32)


class CallAccepted(BaseModel):
    id: int
    status: str = "queued"
    url: str
    #: A call running actions: the leg's id in its events (``call_...``).
    call_id: str | None = None


class CallSummary(BaseModel):
    id: int
    number: str
    campaign_id: int | None
    lead_id: int | None
    attempt: int
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    disposition: str | None
    q850: int | None
    duration_ms: float | None


class CallPage(BaseModel):
    items: list[CallSummary]
    #: Pass as ``cursor`` to get the next (older) page; null on the last page.
    next_cursor: int | None


class TranscriptTurnOut(BaseModel):
    who: str
    text: str
    start_ms: float | None = None
    end_ms: float | None = None
    state: str | None = None
    intent: str | None = None
    confidence: float | None = None
    interrupted: bool | None = None
    #: The recognizer that produced a callee turn's text.
    engine: str | None = None
    #: Why a callee turn was not taken as an answer.
    ignored: str | None = None


class VoicemailVerdictOut(BaseModel):
    verdict: str | None
    reason: str | None
    decision_ms: float | None


class CallEventOut(BaseModel):
    type: str
    at: datetime | None
    event_id: str | None = None


class CallDetail(CallSummary):
    slots: dict[str, Any]
    transcript: list[TranscriptTurnOut]
    signalling: dict[str, Any]
    voicemail: VoicemailVerdictOut
    events: list[CallEventOut]
    recording_url: str | None
    error: str | None


def get_owned_call(session: Session, tenant_id: int, call_id: int) -> Call:
    return get_owned(session, Call, call_id, tenant_id, "call")


def _summary(call: Call) -> dict[str, Any]:
    return CallSummary.model_validate(call, from_attributes=True).model_dump()


def _prepare_call(
    session: Session, tenant_id: int, data: CallRequest, settings: Settings
) -> PlaceCall:
    """Check the request and the tenant's caps, and write the call row (no outcome yet)."""
    number = call_number(data.number, data.region, settings.carrier_url)
    if data.script_id is None:
        raise ValidationError("script_id: give script_id (a dialogue script) or actions")
    script = get_owned_script(session, tenant_id, data.script_id)
    call_id = open_call_row(session, tenant_id, number, settings)
    assert script.id is not None
    return PlaceCall(
        call_id=call_id,
        tenant_id=tenant_id,
        number=number,
        script_id=script.id,
        script_yaml=script.yaml_text,
        variables=dict(data.variables),
        timezone=data.timezone,
        caller_id=data.caller_id,
    )


@router.post("", status_code=202, response_model=CallAccepted)
async def place_call(
    data: CallRequest,
    request: Request,
    session: WriteSessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
) -> CallAccepted:
    """Place one call now with a script, or with ``actions`` (call control: the same JSON as a
    routing answer's); it runs in the background (poll its URL).

    409 when the tenant's queued calls or stored recordings are at their cap (``quotas``).
    """
    if data.actions is not None:
        if data.script_id is not None:
            raise ValidationError("actions: give script_id or actions, not both")
        order = await start_action_call(data, request, session, settings, tenant)
        url = f"/v1/calls/{order.record_id}"
        return CallAccepted(id=order.record_id, url=url, call_id=order.call_id)
    if data.status_callback is not None or data.events is not None:
        raise ValidationError("status_callback: only a call with actions has one")
    job = await run_in_threadpool(_prepare_call, session, tenant_id_of(tenant), data, settings)
    state = request.app.state
    task = asyncio.create_task(
        run_placed_call(state.engine, state.call_placer, job, settings.public_base_url)
    )
    state.background.add(task)
    task.add_done_callback(state.background.discard)
    return CallAccepted(id=job.call_id, url=f"/v1/calls/{job.call_id}")


@router.get("", response_model=CallPage)
def list_calls(
    session: SessionDep,
    tenant: TenantDep,
    campaign_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    lead_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    disposition: Annotated[str | None, Query(max_length=32)] = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID, description="From next_cursor.")] = None,
    limit: LimitQuery = 50,
) -> CallPage:
    """Calls newest first, filtered; page with ``cursor``."""
    table = Call.__table__.c  # type: ignore[attr-defined]
    columns = [table[name] for name in CallSummary.model_fields]
    query = sa_select(*columns).where(table.tenant_id == tenant_id_of(tenant))
    for column, value in (
        (table.campaign_id, campaign_id),
        (table.lead_id, lead_id),
        (table.outcome, outcome),
        (table.disposition, disposition),
    ):
        if value is not None:
            query = query.where(column == value)
    for name, moment in (("started_after", started_after), ("started_before", started_before)):
        if moment is not None and moment.tzinfo is None:
            raise ValidationError(f"{name}: give a time zone (e.g. 2026-11-26T10:00:00Z)")
    if started_after is not None:
        query = query.where(table.started_at >= started_after)
    if started_before is not None:
        query = query.where(table.started_at < started_before)
    if cursor is not None:
        query = query.where(table.id < cursor)
    rows = session.execute(query.order_by(table.id.desc()).limit(limit + 1)).all()
    page = [CallSummary.model_validate(row._mapping) for row in rows[:limit]]
    next_cursor = page[-1].id if len(rows) > limit and page else None
    return CallPage(items=page, next_cursor=next_cursor)


def _timeline(session: Session, call: Call) -> list[CallEventOut]:
    events = [CallEventOut(type="call.started", at=call.started_at)]
    if call.answered_at is not None:
        events.append(CallEventOut(type="call.answered", at=call.answered_at))
    if call.voicemail_verdict is not None:
        events.append(CallEventOut(type=f"voicemail.{call.voicemail_verdict}", at=None))
    if call.ended_at is not None:
        events.append(CallEventOut(type="call.ended", at=call.ended_at))
    outbox = session.exec(
        select(OutboxEvent)
        .where(OutboxEvent.call_id == call.id, OutboxEvent.tenant_id == call.tenant_id)
        .order_by(OutboxEvent.id)  # type: ignore[arg-type]
    ).all()
    events += [CallEventOut(type=e.type, at=e.created_at, event_id=e.event_id) for e in outbox]
    return events


@router.get("/{call_id}", response_model=CallDetail)
def get_call(
    call_id: IdPath, session: SessionDep, settings: SettingsDep, tenant: TenantDep
) -> CallDetail:
    """Everything about one call: outcome, disposition, transcript turns, signalling, events."""
    call = get_owned_call(session, tenant_id_of(tenant), call_id)
    assert call.id is not None
    turns = [TranscriptTurnOut.model_validate(t) for t in call.transcript or [] if "who" in t]
    return CallDetail(
        **_summary(call),
        slots=call.slots or {},
        transcript=turns,
        signalling=call.signalling or {},
        voicemail=VoicemailVerdictOut(
            verdict=call.voicemail_verdict,
            reason=call.voicemail_reason,
            decision_ms=call.voicemail_decision_ms,
        ),
        events=_timeline(session, call),
        recording_url=(
            recording_url(call.id, settings.public_base_url) if call.recording_path else None
        ),
        error=call.error,
    )


@router.get(
    "/{call_id}/recording",
    response_class=StreamingResponse,
    responses=wav_responses("The stereo WAV recording.", "No such call, or no recording."),
)
def get_recording(
    call_id: IdPath, request: Request, session: SessionDep, settings: SettingsDep, tenant: TenantDep
) -> Any:
    """Stream the call's WAV; supports ``Range: bytes=...`` (206, 416)."""
    call = get_owned_call(session, tenant_id_of(tenant), call_id)
    if not call.recording_path:
        raise NotFoundError(f"call {call_id} has no recording")
    path = resolve_stored(settings.recordings_root(), call.recording_path)
    return recording_response(str(path), request.headers.get("range"), call_id)
