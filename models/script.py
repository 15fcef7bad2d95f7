"""Dialogue scripts as stored: YAML text, versioned per tenant and name."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utc_now


class ScriptBase(SQLModel):
    name: str = Field(max_length=200)
    version: int = Field(default=1, ge=1)
    yaml_text: str = Field(sa_type=Text)


class ScriptCreate(ScriptBase):
    pass


class Script(ScriptBase, table=True):
    __table_args__ = (UniqueConstraint("tenant_id", "name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class ScriptPublic(ScriptBase):
    id: int
    tenant_id: int
    created_at: datetime
