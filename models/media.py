"""Audio a tenant uploads (``/v1/media``) for the ``play`` action's ``media_id``.

One row per upload. The file is kept as played: 8 kHz mono 16-bit PCM WAV, converted once at
upload, in the recordings folder that every host shares (``CALLROBOT_RECORDINGS_DIR``); ``path``
is relative to it, like a recording's, so whichever host runs a call finds the file.
``media_id`` (``med_`` and 24 hex digits) is what actions and the API name; ``id`` stays
internal.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utc_now


class MediaBase(SQLModel):
    #: The uploaded file's name (or ``media.wav`` for a raw body).
    name: str = Field(max_length=200)
    #: The stored file's length, rate (8000) and channels (1).
    duration_ms: int = 0
    sample_rate: int = 8000
    channels: int = 1
    size_bytes: int = 0
    #: Hex SHA-256 of the stored file.
    sha256: str = Field(max_length=64)
    #: The uploaded file's own sample rate and channels, before conversion.
    uploaded_sample_rate: int = 8000
    uploaded_channels: int = 1
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class Media(MediaBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    media_id: str = Field(max_length=40, unique=True, index=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    #: Relative to the recordings folder (POSIX separators).
    path: str = Field(max_length=500)
