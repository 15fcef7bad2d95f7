"""The do-not-call list: normalised E.164 numbers per tenant, never dialled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utc_now


class DncEntryBase(SQLModel):
    number: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=200)


class DncEntryCreate(DncEntryBase):
    pass


class DncEntry(DncEntryBase, table=True):
    __tablename__ = "dnc_entry"
    __table_args__ = (UniqueConstraint("tenant_id", "number", name="uq_dnc_tenant_number"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class DncEntryPublic(DncEntryBase):
    id: int
    tenant_id: int
    created_at: datetime
