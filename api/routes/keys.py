"""API keys of the calling tenant: list, create (shown once), revoke. Each change is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from api.actor import ActorDep
from api.deps import (
    IdPath,
    LimitQuery,
    OffsetQuery,
    SessionDep,
    SettingsDep,
    TenantDep,
    WriteSessionDep,
    forget_cached_keys,
    tenant_id_of,
)
from api.errors import ConflictError
from models.apikey import (
    ApiKey,
    ApiKeyPublic,
    find_api_key,
    hash_token,
    issue_api_key,
    revoke_api_key,
)

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyCreate(BaseModel):
    name: str | None = Field(default=None, max_length=200, examples=["CRM sync"])


class KeyCreated(BaseModel):
    id: int
    name: str | None
    prefix: str
    created_at: datetime
    #: The key itself: shown this once, only its hash is stored.
    key: str


class KeyList(BaseModel):
    items: list[ApiKeyPublic]


@router.get("", response_model=KeyList)
def list_keys(
    session: SessionDep, tenant: TenantDep, limit: LimitQuery = 100, offset: OffsetQuery = 0
) -> KeyList:
    """The tenant's keys (never the keys themselves: their visible prefix)."""
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id_of(tenant))
    rows = session.exec(query.order_by(ApiKey.id).offset(offset).limit(limit)).all()  # type: ignore[arg-type]
    return KeyList(items=[ApiKeyPublic.model_validate(k) for k in rows])


@router.post("", status_code=201, response_model=KeyCreated)
def create_key(
    session: WriteSessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
    actor: ActorDep,
    data: Annotated[KeyCreate | None, Body()] = None,
) -> KeyCreated:
    """A new key for this tenant, shown once (409 beyond ``quotas.max_api_keys`` active keys)."""
    name = data.name if data is not None else None
    token, key = issue_api_key(
        session,
        tenant_id_of(tenant),
        name,
        actor=actor,
        max_keys=settings.quotas.max_api_keys,
    )
    session.commit()
    assert key.id is not None
    return KeyCreated(
        id=key.id, name=key.name, prefix=key.prefix, created_at=key.created_at, key=token
    )


def _revoke(session: Session, tenant_id: int, key_id: int, token: str, actor: str) -> None:
    key = find_api_key(session, tenant_id, key_id)
    if key.key_hash == hash_token(token):
        raise ConflictError("key: this request's own key; revoke it with another key")
    revoke_api_key(session, tenant_id, key_id, actor=actor)
    session.commit()


@router.delete("/{key_id}", status_code=204)
def revoke_key(
    key_id: IdPath, request: Request, session: WriteSessionDep, tenant: TenantDep, actor: ActorDep
) -> Response:
    """Revoke a key; it stops working at once here, within 5 s on other API processes."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    _revoke(session, tenant_id_of(tenant), key_id, token, actor)
    forget_cached_keys()
    return Response(status_code=204)
