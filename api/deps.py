"""Request dependencies as ``Annotated`` aliases: ``EngineDep``, ``SessionDep``, ``TenantDep``."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.errors import AuthenticationError
from models.apikey import ApiKey, hash_token, token_prefix
from models.tenant import Tenant
from robot.config import Settings

#: Largest id any path or filter accepts (fits a 32-bit integer column everywhere).
MAX_ID = 2**31 - 1

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API key from `callrobot keys create --tenant NAME`.",
)


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_session(engine: EngineDep) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def authenticate(session: Session, token: str) -> Tenant:
    """The tenant owning ``token``; raises AuthenticationError for unknown or revoked keys."""
    digest = hash_token(token)
    candidates = session.exec(select(ApiKey).where(ApiKey.prefix == token_prefix(token))).all()
    for key in candidates:
        if hmac.compare_digest(key.key_hash, digest) and key.revoked_at is None:
            tenant = session.get(Tenant, key.tenant_id)
            if tenant is not None:
                return tenant
    raise AuthenticationError("the API key is unknown or revoked")


def get_tenant(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Tenant:
    if credentials is None or not credentials.credentials:
        raise AuthenticationError("Authorization: Bearer KEY header is required")
    return authenticate(session, credentials.credentials)


TenantDep = Annotated[Tenant, Depends(get_tenant)]


def tenant_id_of(tenant: Tenant) -> int:
    assert tenant.id is not None
    return tenant.id


#: Path ids and paging parameters, bounded so no value reaches the database unchecked.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
LimitQuery = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip.")]
