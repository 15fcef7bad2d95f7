"""The one writer of ``recording`` rows and the one shape of a ``recording.completed`` event.

A finished WAV file in the recordings folder becomes a row (:func:`insert_recording`, in the
caller's transaction) and an event whose data :func:`completed_data` builds, whether a bridge,
a ``record`` action, a recording started by the API or a conference room wrote the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from models.recording import Recording
from models.types import utc_now
from robot.recording_files import WavFacts, stored_path, wav_facts

RECORDING = Recording.__table__  # type: ignore[attr-defined]

__all__ = ["RECORDING", "completed_data", "insert_recording", "media_path"]


def media_path(recording_id: int) -> str:
    """Where the API serves a recording's WAV file."""
    return f"/v1/recordings/{recording_id}/media"


def insert_recording(
    conn: Connection,
    *,
    tenant_id: int,
    root: Path,
    path: Path,
    source: str,
    call_id: str | None = None,
    conference_id: int | None = None,
    conference_name: str | None = None,
    facts: WavFacts | None = None,
) -> tuple[int, WavFacts]:
    """Write the row of the finished file ``path`` (inside ``root``); its id and facts."""
    facts = facts or wav_facts(path)
    row = conn.execute(
        insert(RECORDING)
        .values(
            tenant_id=tenant_id,
            path=stored_path(root, path),
            source=source,
            call_id=call_id,
            conference_id=conference_id,
            conference_name=conference_name,
            channels=facts.channels,
            sample_rate=facts.sample_rate,
            duration_ms=facts.duration_ms,
            size_bytes=facts.size_bytes,
            sha256=facts.sha256,
            created_at=utc_now(),
        )
        .returning(RECORDING.c.id)
    ).scalar_one()
    return int(row), facts


def completed_data(recording_id: int, source: str, facts: WavFacts) -> dict[str, Any]:
    """The fields of a ``recording.completed`` event (beside the call's or room's own)."""
    return {
        "recording_id": recording_id,
        "source": source,
        "channels": facts.channels,
        "sample_rate": facts.sample_rate,
        "duration_ms": facts.duration_ms,
        "size_bytes": facts.size_bytes,
        "sha256": facts.sha256,
        "recording_url": media_path(recording_id),
    }
