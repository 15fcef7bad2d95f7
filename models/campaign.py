"""Campaigns: a script (by id and version), a lead list and a calling policy.

``calling_window`` and ``retry_policy`` hold the JSON forms of
:class:`robot.windows.CallingWindow` and :class:`robot.dialler.retry.RetryPolicy`
(``None`` means the defaults).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from models.types import JsonColumn, UTCDateTime, utc_now


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"


class CampaignBase(SQLModel):
    name: str = Field(max_length=200)
    script_id: int | None = Field(default=None, foreign_key="script.id")
    script_version: int | None = None
    #: ISO 3166 region used to read numbers written without a country code.
    default_region: str = Field(default="US", max_length=2)
    #: IANA zone for leads whose zone is neither given nor derivable from the number.
    default_timezone: str = Field(default="UTC", max_length=64)
    #: Weight in the fair share of call slots among running campaigns (higher = more).
    priority: int = Field(default=1, ge=1, le=100)
    max_concurrent_calls: int = Field(default=10, ge=1)
    caller_id: str | None = Field(default=None, max_length=32)
    calling_window: dict[str, Any] | None = Field(default=None, sa_type=JsonColumn)
    retry_policy: dict[str, Any] | None = Field(default=None, sa_type=JsonColumn)


class CampaignCreate(CampaignBase):
    pass


class CampaignUpdate(SQLModel):
    name: str | None = None
    priority: int | None = Field(default=None, ge=1, le=100)
    max_concurrent_calls: int | None = Field(default=None, ge=1)
    caller_id: str | None = None
    calling_window: dict[str, Any] | None = None
    retry_policy: dict[str, Any] | None = None


class Campaign(CampaignBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    status: CampaignStatus = Field(default=CampaignStatus.DRAFT, sa_type=String(16), index=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CampaignPublic(CampaignBase):
    id: int
    tenant_id: int
    status: CampaignStatus
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
