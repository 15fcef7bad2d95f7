"""Uploaded media for the ``play`` action: upload a WAV file, list, metadata, delete.

An upload (a raw ``audio/wav`` body or the ``file`` part of a multipart form) is checked like
every audio file from outside (complete WAV, rate, channels, length and size within
``input_limits``), converted once to 8 kHz mono and kept in the recordings folder every host
shares; ``{"play": {"media_id": "med_..."}}`` then plays it on the tenant's calls. Each tenant
stores at most ``quotas.max_stored_media`` files; another tenant's media answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlmodel import Session, select

from api.bodies import read_upload_bytes, upload_openapi
from api.deps import (
    MAX_ID,
    EngineDep,
    LimitQuery,
    SessionDep,
    SettingsDep,
    TenantDep,
    WriteSessionDep,
    tenant_id_of,
)
from models.media import Media
from robot.control.media_store import delete_media_file, store_media
from robot.errors import NotFoundError
from robot.input_limits import setting_name

router = APIRouter(prefix="/v1/media", tags=["media"])

WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")
MediaIdPath = Annotated[str, PathParam(min_length=1, max_length=40, pattern=r"^med_[0-9a-f]+$")]


class MediaOut(BaseModel):
    #: What ``play.media_id`` names.
    id: str
    name: str
    #: The stored file, as played: 8 kHz mono.
    duration_ms: int
    sample_rate: int
    channels: int
    size_bytes: int
    sha256: str
    #: The uploaded file's own sample rate and channels.
    uploaded_sample_rate: int
    uploaded_channels: int
    created_at: datetime


class MediaPage(BaseModel):
    items: list[MediaOut]
    #: Pass as ``cursor`` to get the next (older) page; null on the last page.
    next_cursor: int | None


def _out(row: Any) -> MediaOut:
    fields = dict(row if isinstance(row, dict) else row.model_dump())
    return MediaOut.model_validate({**fields, "id": fields["media_id"]})


def get_owned_media(session: Session, tenant_id: int, media_id: str) -> Media:
    row = session.exec(
        select(Media).where(Media.media_id == media_id, Media.tenant_id == tenant_id)
    ).first()
    if row is None:
        raise NotFoundError(f"media {media_id} not found")
    return row


@router.post(
    "",
    status_code=201,
    response_model=MediaOut,
    openapi_extra=upload_openapi(WAV_TYPES, "A WAV file (8-48 kHz, mono or stereo)."),
)
async def upload_media(
    request: Request, engine: EngineDep, settings: SettingsDep, tenant: TenantDep
) -> MediaOut:
    """Upload a WAV file; 422 names what is wrong with it, 413 past
    ``input_limits.media_max_bytes``, 409 at ``quotas.max_stored_media``."""
    limits = settings.input_limits
    upload = await read_upload_bytes(
        request,
        accepted=WAV_TYPES,
        default_filename="media.wav",
        max_bytes=limits.media_max_bytes,
        limit_name=setting_name("media_max_bytes"),
    )
    stored = await run_in_threadpool(
        store_media,
        engine,
        settings.recordings_root(),
        tenant_id_of(tenant),
        upload.data,
        upload.filename,
        limits=limits,
        max_stored=settings.quotas.max_stored_media,
    )
    return _out(stored.row)


@router.get("", response_model=MediaPage)
def list_media(
    session: SessionDep,
    tenant: TenantDep,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID, description="From next_cursor.")] = None,
    limit: LimitQuery = 50,
) -> MediaPage:
    """The tenant's uploads, newest first."""
    query = select(Media).where(Media.tenant_id == tenant_id_of(tenant))
    if cursor is not None:
        query = query.where(Media.id < cursor)  # type: ignore[operator]
    rows = session.exec(query.order_by(Media.id.desc()).limit(limit + 1)).all()  # type: ignore[union-attr]
    page = rows[:limit]
    next_cursor = page[-1].id if len(rows) > limit and page else None
    return MediaPage(items=[_out(row) for row in page], next_cursor=next_cursor)


@router.get("/{media_id}", response_model=MediaOut)
def get_media(media_id: MediaIdPath, session: SessionDep, tenant: TenantDep) -> MediaOut:
    """One upload's metadata."""
    return _out(get_owned_media(session, tenant_id_of(tenant), media_id))


@router.delete("/{media_id}", status_code=204)
def delete_media(
    media_id: MediaIdPath, session: WriteSessionDep, settings: SettingsDep, tenant: TenantDep
) -> Response:
    """Delete the upload: its row, then its file. Calls that name it afterwards are refused."""
    row = get_owned_media(session, tenant_id_of(tenant), media_id)
    stored = row.path
    session.delete(row)
    session.commit()
    delete_media_file(settings.recordings_root(), stored)
    return Response(status_code=204)
