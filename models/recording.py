"""Recordings of call control: a bridged call (``dial`` with ``record``), a conference's mix,
a caller's message (the ``record`` action), or a recording started on a live call.

One row per finished WAV file. ``path`` is relative to the recordings folder
(``CALLROBOT_RECORDINGS_DIR``), which every host mounts at its own place: the row never names
a host's absolute path. A robot call's own stereo recording stays on its ``call`` row
(``call.recording_path``, relative to the same folder).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utc_now


class RecordingSource(StrEnum):
    #: A bridged call of the ``dial`` action (``record: {channels}``).
    DIAL = "dial"
    #: A conference room's mix.
    CONFERENCE = "conference"
    #: The ``record`` action: the caller alone (a message).
    RECORD = "record"
    #: Started on a live call through the API.
    CALL = "call"


class RecordingBase(SQLModel):
    source: str = Field(max_length=16)
    #: The call-control leg recorded (``call_...``, as in its events); the caller's leg of a
    #: bridge.
    call_id: str | None = Field(default=None, max_length=40, index=True)
    #: The conference whose mix this is (an id of the process that hosted the room).
    conference_id: int | None = Field(default=None, index=True)
    conference_name: str | None = Field(default=None, max_length=100)
    channels: int = 1
    sample_rate: int = 8000
    duration_ms: int = 0
    size_bytes: int = 0
    #: Hex SHA-256 of the whole file, as written.
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class Recording(RecordingBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    #: Relative to the recordings folder (POSIX separators).
    path: str = Field(max_length=500)
