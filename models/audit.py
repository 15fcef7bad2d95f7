"""Audit log: who created or revoked a key, and who started, paused or stopped a campaign.

One row per action, never updated. :func:`record_audit` is the only writer: it takes the
session or connection of the change it records, so the entry commits (or rolls back) with it.
``actor`` says who asked: ``key:cr_abcd1234`` for an API key (its visible prefix), ``cli`` for
the command line.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Index, insert
from sqlmodel import Field, SQLModel

from models.types import JsonColumn, UTCDateTime, utc_now


class AuditAction(StrEnum):
    KEY_CREATED = "key.created"
    KEY_REVOKED = "key.revoked"
    CAMPAIGN_STARTED = "campaign.started"
    CAMPAIGN_PAUSED = "campaign.paused"
    CAMPAIGN_STOPPED = "campaign.stopped"


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_tenant_id_id", "tenant_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    #: ``key:<prefix>`` or ``cli``.
    actor: str = Field(max_length=100)
    action: str = Field(max_length=32)
    #: What the action was done to: ``api_key`` or ``campaign``, and its id.
    target_type: str = Field(max_length=32)
    target_id: int | None = None
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JsonColumn)


class AuditEntryPublic(SQLModel):
    id: int
    at: datetime
    actor: str
    action: AuditAction
    target_type: str
    target_id: int | None
    details: dict[str, Any]


class Executes(Protocol):
    """A Session or a Connection: whatever carries the change being recorded."""

    def execute(self, statement: Any, /) -> Any: ...


def record_audit(
    db: Executes,
    tenant_id: int,
    action: AuditAction,
    *,
    actor: str,
    target_type: str,
    target_id: int | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add one audit entry in ``db``'s transaction."""
    db.execute(
        insert(AuditEntry.__table__).values(  # type: ignore[attr-defined]
            tenant_id=tenant_id,
            at=utc_now(),
            actor=actor[:100],
            action=action.value,
            target_type=target_type,
            target_id=target_id,
            details=details or {},
        )
    )
