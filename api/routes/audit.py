"""``GET /v1/audit``: the tenant's audit log (keys created and revoked, campaign actions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import select

from api.deps import MAX_ID, LimitQuery, SessionDep, TenantDep, tenant_id_of
from models.audit import AuditAction, AuditEntry, AuditEntryPublic

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditPage(BaseModel):
    items: list[AuditEntryPublic]
    #: Pass as ``cursor`` to get the next (older) page; null on the last page.
    next_cursor: int | None


@router.get("", response_model=AuditPage)
def list_entries(
    session: SessionDep,
    tenant: TenantDep,
    action: AuditAction | None = None,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID, description="From next_cursor.")] = None,
    limit: LimitQuery = 100,
) -> AuditPage:
    """Audit entries newest first, optionally of one action."""
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id_of(tenant))
    if action is not None:
        query = query.where(AuditEntry.action == action.value)
    if cursor is not None:
        query = query.where(AuditEntry.id < cursor)  # type: ignore[operator]
    rows = session.exec(query.order_by(AuditEntry.id.desc()).limit(limit + 1)).all()  # type: ignore[union-attr]
    page = [AuditEntryPublic.model_validate(row) for row in rows[:limit]]
    next_cursor = page[-1].id if len(rows) > limit and page else None
    return AuditPage(items=page, next_cursor=next_cursor)
