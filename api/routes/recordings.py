"""Recordings of call control: list, metadata, the WAV file (with ``Range``), delete; start
and stop a recording on a live call (``/v1/calls/{call_id}/recordings``).

Files live in the recordings folder that every host shares (``CALLROBOT_RECORDINGS_DIR``);
rows hold paths relative to it, and a path that would lead outside it is refused (404), so
any API process serves any host's recording. A live call is recorded where its media runs:
starting or stopping one reaches only the calls of the process that answers the request.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

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
from api.recording import recording_response, wav_responses
from models.recording import Recording, RecordingSource
from models.tenancy import get_owned
from robot.control.recorder import LiveRecordings
from robot.control.recording_store import media_path
from robot.errors import NotFoundError
from robot.recording_files import resolve_stored

router = APIRouter(prefix="/v1/recordings", tags=["recordings"])
calls_router = APIRouter(prefix="/v1/calls", tags=["recordings"])
CallIdPath = Annotated[str, PathParam(min_length=1, max_length=40, pattern=r"^call_[0-9a-f]+$")]


class RecordingStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: Literal[1, 2] = Field(
        2, description="2: this call left, the party it is bridged to right; 1: mixed."
    )


class RecordingStarted(BaseModel):
    call_id: str
    status: Literal["in_progress"] = "in_progress"
    channels: int


class RecordingOut(BaseModel):
    id: int
    #: ``dial`` (a bridged call), ``conference`` (a room's mix), ``record`` (a caller's
    #: message) or ``call`` (started on a live call through the API).
    source: RecordingSource
    #: The call-control leg recorded (``call_...``, as in its events).
    call_id: str | None
    conference_id: int | None
    conference_name: str | None
    #: 2: the caller left, the other party right; 1: mono (mixed).
    channels: int
    sample_rate: int
    duration_ms: int
    size_bytes: int
    sha256: str
    created_at: datetime
    media_url: str


class RecordingPage(BaseModel):
    items: list[RecordingOut]
    #: Pass as ``cursor`` to get the next (older) page; null on the last page.
    next_cursor: int | None


def _out(row: Recording) -> RecordingOut:
    assert row.id is not None
    return RecordingOut.model_validate(
        {**row.model_dump(), "media_url": media_path(row.id)}, from_attributes=False
    )


def get_owned_recording(session: Session, tenant_id: int, recording_id: int) -> Recording:
    return get_owned(session, Recording, recording_id, tenant_id, "recording")


@router.get("", response_model=RecordingPage)
def list_recordings(
    session: SessionDep,
    tenant: TenantDep,
    call_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    conference_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    source: RecordingSource | None = None,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID, description="From next_cursor.")] = None,
    limit: LimitQuery = 50,
) -> RecordingPage:
    """The tenant's recordings, newest first; filter by call, conference or source."""
    query = select(Recording).where(Recording.tenant_id == tenant_id_of(tenant))
    if call_id is not None:
        query = query.where(Recording.call_id == call_id)
    if conference_id is not None:
        query = query.where(Recording.conference_id == conference_id)
    if source is not None:
        query = query.where(Recording.source == source.value)
    if cursor is not None:
        query = query.where(Recording.id < cursor)  # type: ignore[operator]
    order = Recording.id.desc()  # type: ignore[union-attr]
    rows = session.exec(query.order_by(order).limit(limit + 1)).all()
    page = [_out(row) for row in rows[:limit]]
    next_cursor = page[-1].id if len(rows) > limit and page else None
    return RecordingPage(items=page, next_cursor=next_cursor)


@router.get("/{recording_id}", response_model=RecordingOut)
def get_recording(recording_id: IdPath, session: SessionDep, tenant: TenantDep) -> RecordingOut:
    """One recording's metadata (length, channels, size, SHA-256, where it came from)."""
    return _out(get_owned_recording(session, tenant_id_of(tenant), recording_id))


@router.get(
    "/{recording_id}/media",
    response_class=StreamingResponse,
    responses=wav_responses("The WAV file.", "No such recording, or its file is missing."),
)
def get_media(
    recording_id: IdPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
) -> Any:
    """The WAV file; supports ``Range: bytes=...`` (206, 416)."""
    row = get_owned_recording(session, tenant_id_of(tenant), recording_id)
    path = resolve_stored(settings.recordings_root(), row.path)
    return recording_response(
        str(path), request.headers.get("range"), recording_id, kind="recording"
    )


@router.delete("/{recording_id}", status_code=204)
def delete_recording(
    recording_id: IdPath, session: WriteSessionDep, settings: SettingsDep, tenant: TenantDep
) -> Response:
    """Delete the recording: its row, then its file (it no longer counts in the quota)."""
    row = get_owned_recording(session, tenant_id_of(tenant), recording_id)
    stored = row.path
    session.delete(row)
    session.commit()
    with contextlib.suppress(OSError, NotFoundError):  # gone already, or outside the folder
        resolve_stored(settings.recordings_root(), stored).unlink(missing_ok=True)
    return Response(status_code=204)


def _live(request: Request) -> LiveRecordings | None:
    control = request.app.state.call_control
    return None if control is None else control.recordings


@calls_router.post("/{call_id}/recordings", status_code=201, response_model=RecordingStarted)
async def start_call_recording(
    call_id: CallIdPath, data: RecordingStart, request: Request, tenant: TenantDep
) -> RecordingStarted:
    """Start recording a live call-control leg (an inbound call, a callback's A leg) of this
    process. With 2 channels and a bridge under way the other party is the right channel;
    otherwise the call alone is recorded (1 channel). Starting it again is harmless.
    404 when no such call is live here; 409 at ``quotas.max_stored_recordings``."""
    live = _live(request)
    recording = None
    if live is not None:
        recording = await live.start(tenant_id_of(tenant), call_id, data.channels)
    if recording is None:
        raise NotFoundError(f"call_id: no live call {call_id!r} in this process")
    return RecordingStarted(call_id=call_id, channels=recording.writer.channels)


@calls_router.post("/{call_id}/recordings/stop", response_model=RecordingOut)
async def stop_call_recording(
    call_id: CallIdPath, request: Request, session: SessionDep, tenant: TenantDep
) -> RecordingOut:
    """Stop the recording started on the call and return it, stored (404 when none runs).
    A recording still running when the call ends is stored then."""
    live = _live(request)
    tenant_id = tenant_id_of(tenant)
    result = None if live is None else await live.stop(tenant_id, call_id)
    if result is None or result.recording_id is None:
        raise NotFoundError(f"call_id: no recording runs on call {call_id!r}")
    row = await run_in_threadpool(get_owned_recording, session, tenant_id, result.recording_id)
    return _out(row)
