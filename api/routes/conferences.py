"""Conference rooms: create, add calls or dial numbers in, mute, hold, kick, list, end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.deps import IdPath, TenantDep, tenant_id_of
from api.errors import ConflictError
from api.recording import recording_response, wav_responses
from robot.control.conference import ConferenceEndedError, Member, MemberOptions
from robot.control.conference_rooms import (
    ConferenceConflictError,
    ConferenceRooms,
    Room,
    recording_path,
)
from robot.errors import NotFoundError
from robot.phone import is_e164, is_sip_uri

router = APIRouter(prefix="/v1/conferences", tags=["conferences"])


def get_rooms(request: Request) -> ConferenceRooms:
    rooms: ConferenceRooms = request.app.state.conferences
    return rooms


RoomsDep = Annotated[ConferenceRooms, Depends(get_rooms)]


@contextmanager
def _conflicts() -> Iterator[None]:
    try:
        yield
    except (ConferenceConflictError, ConferenceEndedError) as e:
        raise ConflictError(str(e)) from e


class ConferenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$", examples=["standup"]
    )
    record: bool = Field(False, description="Record the whole mix as a WAV file.")


class ParticipantAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_id: str | None = Field(None, min_length=1, max_length=200, description="A live call.")
    number: str | None = Field(
        None,
        max_length=300,
        description="E.164 number or SIP URI to dial.",
        examples=["+12025550143"],
    )
    caller_id: str | None = Field(None, max_length=20)
    timeout_s: int = Field(30, ge=1, le=120, description="Seconds to ring a dialled number.")
    muted: bool = False
    start_on_enter: bool = True
    end_on_exit: bool = False
    beep: bool = True

    @field_validator("number")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        if value is not None and not (is_e164(value) or is_sip_uri(value)):
            raise ValueError("not an E.164 number or SIP URI")
        return value

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, value: str | None) -> str | None:
        if value is not None and not is_e164(value):
            raise ValueError("not an E.164 number")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ParticipantAdd:
        if (self.call_id is None) == (self.number is None):
            raise ValueError("give exactly one of call_id and number")
        return self


class ParticipantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    muted: bool | None = None
    hold: bool | None = Field(None, description="A held participant hears nothing, is not heard.")


class ParticipantOut(BaseModel):
    id: int
    call_id: str
    status: Literal["dialling", "joined"]
    muted: bool = False
    hold: bool = False
    speaking: bool = False
    start_on_enter: bool = True
    end_on_exit: bool = False


class ConferenceOut(BaseModel):
    id: int
    name: str
    #: ``waiting`` until a ``start_on_enter`` participant is in, then ``in_progress``.
    status: Literal["waiting", "in_progress", "ended"]
    end_reason: str | None
    #: True while its two participants talk over a direct RTP relay instead of the mixer.
    relayed: bool
    participants: list[ParticipantOut]
    recording_url: str | None


class ConferenceList(BaseModel):
    items: list[ConferenceOut]


def _member_out(member: Member) -> ParticipantOut:
    return ParticipantOut(
        id=member.id,
        call_id=member.call.call_id,
        status="joined",
        muted=member.muted,
        hold=member.held,
        speaking=member.speaking.speaking,
        start_on_enter=member.options.start_on_enter,
        end_on_exit=member.options.end_on_exit,
    )


def _participants(room: Room) -> list[ParticipantOut]:
    people = [_member_out(m) for m in room.conference.members.values()]
    people += [
        ParticipantOut(id=pid, call_id=call.call_id, status="dialling")
        for pid, call in room.dialling.items()
    ]
    return sorted(people, key=lambda p: p.id)


def _room_out(room: Room) -> ConferenceOut:
    conference = room.conference
    status: Any = (
        "ended" if conference.ended.is_set() else "in_progress" if conference.started else "waiting"
    )
    return ConferenceOut(
        id=conference.id,
        name=conference.name,
        status=status,
        end_reason=conference.end_reason,
        relayed=conference.relayed,
        participants=_participants(room),
        recording_url=recording_path(conference.id) if room.record else None,
    )


@router.post("", status_code=201, response_model=ConferenceOut)
async def create(data: ConferenceCreate, rooms: RoomsDep, tenant: TenantDep) -> ConferenceOut:
    """Open a room (409 while a live room of the tenant has the name)."""
    with _conflicts():
        room = rooms.create(tenant_id_of(tenant), data.name, record=data.record)
    return _room_out(room)


@router.get("", response_model=ConferenceList)
async def list_rooms(rooms: RoomsDep, tenant: TenantDep) -> ConferenceList:
    """The tenant's rooms, live and recently ended."""
    return ConferenceList(items=[_room_out(r) for r in rooms.list(tenant_id_of(tenant))])


@router.get("/{conference_id}", response_model=ConferenceOut)
async def get(conference_id: IdPath, rooms: RoomsDep, tenant: TenantDep) -> ConferenceOut:
    return _room_out(rooms.get(tenant_id_of(tenant), conference_id))


@router.delete("/{conference_id}", status_code=204)
async def end(conference_id: IdPath, rooms: RoomsDep, tenant: TenantDep) -> Response:
    """End the room: every participant leaves it; dialled-in legs are hung up."""
    room = rooms.get(tenant_id_of(tenant), conference_id)
    await room.conference.end("ended_by_api")
    return Response(status_code=204)


@router.get(
    "/{conference_id}/recording",
    response_class=StreamingResponse,
    responses=wav_responses(
        "The mix, 8 kHz mono WAV.", "No such conference, or no finished recording."
    ),
)
async def recording(
    conference_id: IdPath, request: Request, rooms: RoomsDep, tenant: TenantDep
) -> Any:
    """The whole mix once the room has ended; supports ``Range: bytes=...``."""
    room = rooms.get(tenant_id_of(tenant), conference_id)
    path = room.conference.record_to
    if not room.record or path is None or not room.conference.ended.is_set():
        raise NotFoundError(f"conference {conference_id}: no finished recording")
    return recording_response(
        str(path), request.headers.get("range"), conference_id, kind="conference"
    )


@router.get("/{conference_id}/participants", response_model=list[ParticipantOut])
async def participants(
    conference_id: IdPath, rooms: RoomsDep, tenant: TenantDep
) -> list[ParticipantOut]:
    return _participants(rooms.get(tenant_id_of(tenant), conference_id))


@router.post("/{conference_id}/participants", status_code=201, response_model=ParticipantOut)
async def add(
    conference_id: IdPath, data: ParticipantAdd, rooms: RoomsDep, tenant: TenantDep
) -> ParticipantOut:
    """Put a live call in the room (``call_id``), or dial ``number``: it joins on answer
    (``status: dialling`` until then)."""
    options = MemberOptions(
        muted=data.muted,
        start_on_enter=data.start_on_enter,
        end_on_exit=data.end_on_exit,
        beep=data.beep,
    )
    tenant_id = tenant_id_of(tenant)
    with _conflicts():
        if data.call_id is not None:
            member = rooms.add_call(tenant_id, conference_id, data.call_id, options)
            return _member_out(member)
        assert data.number is not None
        member_id, call = await rooms.dial(
            tenant_id,
            conference_id,
            data.number,
            options,
            caller_id=data.caller_id,
            timeout_s=data.timeout_s,
        )
    return ParticipantOut(
        id=member_id,
        call_id=call.call_id,
        status="dialling",
        muted=data.muted,
        start_on_enter=data.start_on_enter,
        end_on_exit=data.end_on_exit,
    )


@router.patch("/{conference_id}/participants/{participant_id}", response_model=ParticipantOut)
async def update(
    conference_id: IdPath,
    participant_id: IdPath,
    data: ParticipantUpdate,
    rooms: RoomsDep,
    tenant: TenantDep,
) -> ParticipantOut:
    """Mute or unmute, hold or resume a participant."""
    with _conflicts():
        room = rooms.live(tenant_id_of(tenant), conference_id)
    member = room.conference.member(participant_id)
    if data.muted is not None:
        room.conference.set_muted(participant_id, data.muted)
    if data.hold is not None:
        room.conference.set_held(participant_id, data.hold)
    return _member_out(member)


@router.delete("/{conference_id}/participants/{participant_id}", status_code=204)
async def kick(
    conference_id: IdPath, participant_id: IdPath, rooms: RoomsDep, tenant: TenantDep
) -> Response:
    """Remove a participant and hang up its call (a ringing one is cancelled)."""
    with _conflicts():
        await rooms.kick(tenant_id_of(tenant), conference_id, participant_id)
    return Response(status_code=204)
