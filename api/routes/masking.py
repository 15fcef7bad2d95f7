"""Masking sessions: participants reach each other through proxy numbers of the tenant."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from api.deps import IdPath, LimitQuery, OffsetQuery, SessionDep, TenantDep, WriteSessionDep
from api.deps import tenant_id_of as owner
from models.masking import MaskingParticipant, MaskingSession
from robot.control.masking import (
    MAX_PARTICIPANTS,
    MAX_TTL_S,
    MIN_TTL_S,
    add_participant,
    create_session,
    delete_session,
    get_session,
    participants_of,
)
from robot.errors import NotFoundError

router = APIRouter(prefix="/v1/masking/sessions", tags=["masking"])


class ParticipantAdd(BaseModel):
    number: str = Field(min_length=1, max_length=20, examples=["+12025550143"])


class SessionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["order-1234"])
    ttl_s: int = Field(ge=MIN_TTL_S, le=MAX_TTL_S, description="Seconds until it expires.")
    participants: list[ParticipantAdd] = Field(default_factory=list, max_length=MAX_PARTICIPANTS)


class ParticipantOut(BaseModel):
    id: int
    #: The participant's real number (shown to the tenant only, never to the other party).
    number: str
    #: The number this participant calls to reach the other one (and sees calls come from).
    proxy_number: str
    created_at: datetime


class SessionOut(BaseModel):
    id: int
    name: str
    expires_at: datetime
    created_at: datetime
    participants: list[ParticipantOut]


class SessionList(BaseModel):
    items: list[SessionOut]


def _participant_out(p: MaskingParticipant) -> ParticipantOut:
    assert p.id is not None
    return ParticipantOut(
        id=p.id, number=p.real_number, proxy_number=p.proxy_number, created_at=p.created_at
    )


def _session_out(session: Session, masking: MaskingSession) -> SessionOut:
    assert masking.id is not None
    people = [_participant_out(p) for p in participants_of(session, masking.id)]
    return SessionOut(
        id=masking.id,
        name=masking.name,
        expires_at=masking.expires_at,
        created_at=masking.created_at,
        participants=people,
    )


@router.post("", status_code=201, response_model=SessionOut)
def create(data: SessionCreate, session: WriteSessionDep, tenant: TenantDep) -> SessionOut:
    """Open a session (409 while a live one has the name), with up to two participants."""
    masking = create_session(session, owner(tenant), data.name, data.ttl_s)
    assert masking.id is not None
    for participant in data.participants:
        add_participant(session, owner(tenant), masking.id, participant.number)
    session.commit()
    return _session_out(session, masking)


@router.get("", response_model=SessionList)
def list_sessions(
    session: SessionDep, tenant: TenantDep, limit: LimitQuery = 100, offset: OffsetQuery = 0
) -> SessionList:
    rows = session.exec(
        select(MaskingSession)
        .where(MaskingSession.tenant_id == owner(tenant))
        .order_by(MaskingSession.id)  # type: ignore[arg-type]
        .offset(offset)
        .limit(limit)
    ).all()
    return SessionList(items=[_session_out(session, m) for m in rows])


@router.get("/{session_id}", response_model=SessionOut)
def get(session_id: IdPath, session: SessionDep, tenant: TenantDep) -> SessionOut:
    return _session_out(session, get_session(session, owner(tenant), session_id))


@router.delete("/{session_id}", status_code=204)
def delete(session_id: IdPath, session: WriteSessionDep, tenant: TenantDep) -> Response:
    """Close a session at once; its proxy numbers are free again."""
    delete_session(session, owner(tenant), session_id)
    session.commit()
    return Response(status_code=204)


@router.post("/{session_id}/participants", status_code=201, response_model=ParticipantOut)
def add(
    session_id: IdPath, data: ParticipantAdd, session: WriteSessionDep, tenant: TenantDep
) -> ParticipantOut:
    """Add a participant; it gets a proxy number from the numbers tagged ``proxy``."""
    participant = add_participant(session, owner(tenant), session_id, data.number)
    session.commit()
    return _participant_out(participant)


@router.delete("/{session_id}/participants/{participant_id}", status_code=204)
def remove(
    session_id: IdPath, participant_id: IdPath, session: WriteSessionDep, tenant: TenantDep
) -> Response:
    masking = get_session(session, owner(tenant), session_id)
    participant = session.get(MaskingParticipant, participant_id)
    if participant is None or participant.session_id != masking.id:
        raise NotFoundError(f"participant {participant_id} not found")
    session.delete(participant)
    session.commit()
    return Response(status_code=204)
