"""Leads: one number to call in one campaign, with its schedule and lease.

Scheduling lives in ``next_attempt_at``: a pending lead is due when it is in the past, and
it is always moved to the next opening of the lead's calling window, so picking the next due
leads is an index range scan on ``(campaign_id, status, next_attempt_at)``. A worker that
claims a lead sets ``lease_owner``/``lease_until`` and pushes ``next_attempt_at`` to the end
of the lease, so a lead held by a live worker is not due, and a lead whose worker died
becomes due again by itself when the lease runs out.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import JsonColumn, UTCDateTime, utc_now


class LeadStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (possibly leased right now)
    DONE = "done"  # ended by a final disposition or outcome
    EXHAUSTED = "exhausted"  # max attempts reached
    INVALID = "invalid"  # the number does not exist
    DNC = "dnc"  # on the tenant's do-not-call list


class LeadBase(SQLModel):
    #: E.164 number.
    number: str = Field(max_length=20)
    #: Explicit IANA zone given at import (else derived from the number, else the campaign's).
    timezone: str | None = Field(default=None, max_length=64)
    #: Extra import columns, usable in scripts as ``{lead.column}``.
    variables: dict[str, Any] = Field(default_factory=dict, sa_type=JsonColumn)
    #: Per-lead calling window (JSON form of CallingWindow) replacing the campaign's.
    calling_window: dict[str, Any] | None = Field(default=None, sa_type=JsonColumn)


class LeadCreate(LeadBase):
    pass


class LeadUpdate(SQLModel):
    timezone: str | None = None
    variables: dict[str, Any] | None = None
    calling_window: dict[str, Any] | None = None


class Lead(LeadBase, table=True):
    __table_args__ = (
        UniqueConstraint("campaign_id", "number", name="uq_lead_campaign_number"),
        Index("ix_lead_due", "campaign_id", "status", "next_attempt_at"),
        # Leads leased right now, counted against the campaign's concurrency cap.
        Index("ix_lead_lease", "campaign_id", "lease_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    #: Candidate zones, comma-separated; the window must be open in all of them.
    time_zones: str = Field(max_length=1000)
    #: Where the zones came from: "lead", "number" or "campaign".
    tz_source: str = Field(max_length=16)
    status: LeadStatus = Field(default=LeadStatus.PENDING, sa_type=String(16))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_outcome: str | None = Field(default=None, max_length=32)
    last_disposition: str | None = Field(default=None, max_length=32)
    callback_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Why the lead is waiting or ended (e.g. "window closed in Asia/Omsk").
    status_reason: str | None = Field(default=None, max_length=500)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class LeadPublic(LeadBase):
    id: int
    tenant_id: int
    campaign_id: int
    time_zones: str
    tz_source: str
    status: LeadStatus
    attempts: int
    next_attempt_at: datetime | None
    last_outcome: str | None
    last_disposition: str | None
    callback_at: datetime | None
    status_reason: str | None
