"""Calls: one row per attempt (campaign calls and API one-off calls alike).

A campaign attempt is written *before* dialling (``started_at`` set, ``ended_at`` empty), so
an attempt whose worker died is visible, counted, and closed as ``failed`` when the lead is
recovered.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Field, SQLModel

from models.types import JsonColumn, UTCDateTime, utc_now


class Disposition(StrEnum):
    """What the conversation concluded (the outcome says how the call ended)."""

    QUALIFIED = "qualified"
    NOT_INTERESTED = "not_interested"
    CALLBACK = "callback"
    WRONG_PERSON = "wrong_person"
    DO_NOT_CALL = "do_not_call"
    NO_CONSENT = "no_consent"
    TRANSFERRED = "transferred"
    INCOMPLETE = "incomplete"


class CallBase(SQLModel):
    number: str = Field(max_length=64)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    lead_id: int | None = Field(default=None, foreign_key="lead.id", index=True)
    attempt: int = 1


class CallCreate(CallBase):
    pass


class Call(CallBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    #: Worker that placed the call (the lease owner).
    worker: str | None = Field(default=None, max_length=100)
    started_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: A robot.carriers.base.CallOutcome value; empty while the call runs.
    outcome: str | None = Field(default=None, max_length=32, index=True)
    disposition: str | None = Field(default=None, max_length=32)
    #: The disposition is one the script counts as a qualified lead (``lead.qualified``).
    qualified: bool = False
    q850: int | None = None
    voicemail_verdict: str | None = Field(default=None, max_length=16)
    voicemail_reason: str | None = Field(default=None, max_length=500)
    voicemail_decision_ms: float | None = None
    slots: dict[str, Any] = Field(default_factory=dict, sa_type=JsonColumn)
    transcript: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonColumn)
    signalling: dict[str, Any] = Field(default_factory=dict, sa_type=JsonColumn)
    recording_path: str | None = Field(default=None, max_length=1000)
    duration_ms: float | None = None
    error: str | None = Field(default=None, max_length=1000)


class CallPublic(CallBase):
    id: int
    tenant_id: int
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    disposition: str | None
    qualified: bool
    q850: int | None
    voicemail_verdict: str | None
    voicemail_reason: str | None
    voicemail_decision_ms: float | None
    slots: dict[str, Any]
    recording_path: str | None
    duration_ms: float | None
