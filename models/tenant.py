"""Tenants: every other row (scripts, campaigns, leads, calls, DNC entries) belongs to one."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utc_now


class TenantBase(SQLModel):
    name: str = Field(max_length=200, index=True, unique=True)


class TenantCreate(TenantBase):
    pass


class TenantUpdate(SQLModel):
    name: str | None = Field(default=None, max_length=200)


class Tenant(TenantBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class TenantPublic(TenantBase):
    id: int
    created_at: datetime
