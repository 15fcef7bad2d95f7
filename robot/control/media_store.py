"""Uploaded media: the one writer of ``media`` rows and files, and what ``play`` loads.

:func:`store_media` checks an upload like every audio file from outside
(:func:`robot.audio_files.read_audio_file`: a complete RIFF/WAVE file, rate, channels and
length within ``input_limits``; its size within ``input_limits.media_max_bytes``), converts
it once to what calls play (8 kHz mono 16-bit PCM) and keeps it in the recordings folder
every host shares (``media/TENANT/MEDIA_ID.wav``), counted by ``quotas.max_stored_media``.
:class:`StoredMedia` is a call's :class:`~robot.control.runner.MediaLoader` for one tenant:
it finds which ``media_id`` values a list names that the tenant has not uploaded (so the list
is refused before anything plays) and loads each file once per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from models.media import Media
from models.transactions import write_transaction
from models.types import utc_now
from robot.audio import TELEPHONY_RATE_HZ, AudioChunk, mono_chunk, read_wav, write_wav
from robot.audio_files import AudioFileError, read_audio_file
from robot.control.actions import Action, ActionError, Play
from robot.errors import CallrobotError, NotFoundError
from robot.input_limits import InputLimits, setting_name
from robot.quotas import check_media, stored_media
from robot.recording_files import resolve_stored, stored_path, wav_facts

logger = logging.getLogger(__name__)

MEDIA = Media.__table__  # type: ignore[attr-defined]

__all__ = [
    "MEDIA",
    "StoredMedia",
    "UploadedMedia",
    "check_media_bytes",
    "check_media_ids",
    "convert_media",
    "media_folder",
    "missing_media",
    "store_media",
]

#: Folder of uploads inside the recordings folder.
MEDIA_FOLDER = "media"


@dataclass(frozen=True, slots=True)
class UploadedMedia:
    media_id: str
    row: dict[str, Any]


def new_media_id() -> str:
    return "med_" + secrets.token_hex(12)


def media_folder(root: Path, tenant_id: int) -> Path:
    return root / MEDIA_FOLDER / str(tenant_id)


def check_media_bytes(data: bytes, name: str, limits: InputLimits) -> None:
    """Refuse (:class:`AudioFileError` naming ``name``) a file past the size cap or not a WAV."""
    if len(data) > limits.media_max_bytes:
        raise AudioFileError(
            f"{name}: {len(data)} bytes, more than {limits.media_max_bytes} "
            f"(limit {setting_name('media_max_bytes')})"
        )
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFileError(f"{name}: not a WAV file (no RIFF/WAVE header)")


def convert_media(upload: Path, name: str, limits: InputLimits) -> tuple[AudioChunk, int, int]:
    """The upload as played (8 kHz mono), its own rate and channels; errors name ``name``."""
    try:
        samples, rate = read_audio_file(upload, limits)
    except AudioFileError as e:  # never show the server's path: name the upload instead
        raise AudioFileError(str(e).replace(str(upload), name)) from e
    if samples.shape[0] == 0:
        raise AudioFileError(f"{name}: the file holds no audio")
    chunk = mono_chunk(samples, rate).resampled(TELEPHONY_RATE_HZ)
    return chunk, rate, int(samples.shape[1])


def store_media(
    engine: Engine,
    root: Path,
    tenant_id: int,
    data: bytes,
    name: str,
    *,
    limits: InputLimits,
    max_stored: int,
) -> UploadedMedia:
    """Check, convert and store one upload; its row. Raises :class:`AudioFileError` naming
    ``name`` and the limit, or :class:`~robot.errors.QuotaExceededError`."""
    check_media_bytes(data, name, limits)
    with engine.connect() as conn:  # refuse early; checked again when the row is written
        if stored_media(conn, tenant_id) >= max_stored:
            check_media(conn, tenant_id, max_stored)
    folder = media_folder(root, tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    media_id = new_media_id()
    upload = folder / f".{media_id}.upload"
    final = folder / f"{media_id}.wav"
    try:
        upload.write_bytes(data)
        chunk, rate, channels = convert_media(upload, name, limits)
        write_wav(final, chunk)
        facts = wav_facts(final)
        row = {
            "media_id": media_id,
            "tenant_id": tenant_id,
            "name": name[:200],
            "path": stored_path(root, final),
            "duration_ms": facts.duration_ms,
            "sample_rate": facts.sample_rate,
            "channels": facts.channels,
            "size_bytes": facts.size_bytes,
            "sha256": facts.sha256,
            "uploaded_sample_rate": rate,
            "uploaded_channels": channels,
            "created_at": utc_now(),
        }
        with write_transaction(engine) as conn:
            check_media(conn, tenant_id, max_stored)
            row["id"] = conn.execute(insert(MEDIA).values(row).returning(MEDIA.c.id)).scalar_one()
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    finally:
        upload.unlink(missing_ok=True)
    return UploadedMedia(media_id, row)


def delete_media_file(root: Path, stored: str) -> None:
    """Remove a deleted row's file (gone already, or outside the folder: nothing to do)."""
    with contextlib.suppress(OSError, NotFoundError):
        resolve_stored(root, stored).unlink(missing_ok=True)


def known_media(conn: Connection, tenant_id: int, media_ids: Collection[str]) -> dict[str, str]:
    """``media_id -> stored path`` of those of ``media_ids`` that ``tenant_id`` uploaded."""
    query = select(MEDIA.c.media_id, MEDIA.c.path).where(
        MEDIA.c.tenant_id == tenant_id, MEDIA.c.media_id.in_(sorted(media_ids))
    )
    return {str(m): str(p) for m, p in conn.execute(query)}


def missing_media(
    actions: list[Action], missing: Collection[str], field: str = "actions"
) -> list[tuple[str, str]]:
    """``(path, message)`` for each ``play`` of ``actions`` naming an id in ``missing``."""
    return [
        (f"{field}[{i}].play.media_id", f"no uploaded media {a.media_id!r}")
        for i, a in enumerate(actions)
        if isinstance(a, Play) and a.media_id is not None and a.media_id in missing
    ]


def check_media_ids(conn: Connection, tenant_id: int, actions: list[Action]) -> None:
    """Refuse (:class:`ActionError` naming each index) a ``play`` of media the tenant has not
    uploaded (unknown, deleted, another tenant's)."""
    wanted = {a.media_id for a in actions if isinstance(a, Play) and a.media_id is not None}
    if not wanted:
        return
    problems = missing_media(actions, wanted - set(known_media(conn, tenant_id, wanted)))
    if problems:
        raise ActionError(problems)


class StoredMedia:
    """The uploads of one tenant, as a call's ``play`` loads them (each once per call)."""

    def __init__(self, engine: Engine, root: Path, tenant_id: int) -> None:
        self.engine = engine
        self.root = root
        self.tenant_id = tenant_id
        self._paths: dict[str, str] = {}
        self._chunks: dict[str, AudioChunk] = {}

    def _find(self, media_ids: Collection[str]) -> dict[str, str]:
        with self.engine.connect() as conn:
            return known_media(conn, self.tenant_id, media_ids)

    async def missing(self, media_ids: Collection[str]) -> set[str]:
        """The ids of ``media_ids`` this tenant has not uploaded (another tenant's included)."""
        wanted = set(media_ids) - set(self._paths)
        if wanted:
            self._paths.update(await asyncio.to_thread(self._find, wanted))
        return set(media_ids) - set(self._paths)

    async def load(self, play: Play) -> AudioChunk | None:
        """The audio of ``play``'s ``media_id``; None for a ``url`` (not loaded here) or a
        file deleted since the list was checked."""
        media_id = play.media_id
        if media_id is None:
            return None
        if media_id not in self._chunks:
            if await self.missing([media_id]):
                return None
            try:
                path = resolve_stored(self.root, self._paths[media_id])
                chunk = await asyncio.to_thread(read_wav, path, TELEPHONY_RATE_HZ)
            except CallrobotError as e:
                logger.warning("media %s cannot be played: %s", media_id, e)
                return None
            self._chunks[media_id] = chunk
        return self._chunks[media_id]
