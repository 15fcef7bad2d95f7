"""Request dependencies as ``Annotated`` aliases: ``EngineDep``, ``SessionDep``, ``TenantDep``."""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.errors import AuthenticationError
from api.ratelimit import ApiGuard
from models.apikey import ApiKey, hash_token, token_prefix
from models.tenant import Tenant
from models.transactions import for_writes
from robot.config import Settings

#: Largest id any path or filter accepts (fits a 32-bit integer column everywhere).
MAX_ID = 2**31 - 1

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API key from `callrobot keys create --tenant NAME`.",
)


# Dependencies are ``async def`` where they do no blocking work: a sync dependency costs a
# thread hop per request.


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_session(engine: EngineDep) -> AsyncIterator[Session]:
    """A session per request; it connects only when a query runs (in the route's thread)."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_write_session(engine: EngineDep) -> AsyncIterator[Session]:
    """A session for a route that reads, then writes with the ORM.

    Its transactions take the write lock before the first read (see
    :mod:`models.transactions`); the route commits.
    """
    with Session(for_writes(engine), expire_on_commit=False) as session:
        yield session


WriteSessionDep = Annotated[Session, Depends(get_write_session)]


#: Keys recently checked: sha256 digest -> (checked at, monotonic s; tenant). A revoked key
#: stops working within this many seconds.
AUTH_CACHE_S = 5.0
_auth_cache: dict[str, tuple[float, Tenant]] = {}
_AUTH_CACHE_MAX = 10_000


def forget_cached_keys() -> None:
    """Drop every cached key check (after a revocation in this process)."""
    _auth_cache.clear()


def cached_tenant(digest: str) -> Tenant | None:
    """The tenant of a key checked within ``AUTH_CACHE_S``, by the key's SHA-256 (or None)."""
    cached = _auth_cache.get(digest)
    if cached is not None and time.monotonic() - cached[0] < AUTH_CACHE_S:
        return cached[1]
    return None


def authenticate(session: Session, token: str) -> Tenant:
    """The tenant owning ``token``; raises AuthenticationError for unknown or revoked keys."""
    digest = hash_token(token)
    cached = cached_tenant(digest)
    if cached is not None:
        return cached
    keys = ApiKey.__table__.c  # type: ignore[attr-defined]
    tenants = Tenant.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(
        sa_select(tenants.id, tenants.name, tenants.created_at, keys.key_hash)
        .join_from(ApiKey.__table__, Tenant.__table__, tenants.id == keys.tenant_id)  # type: ignore[attr-defined]
        .where(keys.prefix == token_prefix(token), keys.revoked_at.is_(None))
    ).all()
    for tenant_id, name, created_at, key_hash in rows:
        if hmac.compare_digest(key_hash, digest):
            tenant = Tenant(id=tenant_id, name=name, created_at=created_at)
            if len(_auth_cache) >= _AUTH_CACHE_MAX:
                _auth_cache.clear()
            _auth_cache[digest] = (time.monotonic(), tenant)
            return tenant
    raise AuthenticationError("the API key is unknown or revoked")


async def get_tenant(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Tenant:
    """The key's tenant, within its request rate; bad keys are slowed down (``api.ratelimit``)."""
    if credentials is None or not credentials.credentials:
        raise AuthenticationError("Authorization: Bearer KEY header is required")
    token = credentials.credentials
    guard: ApiGuard = request.app.state.api_guard
    address = request.client.host if request.client else "unknown"
    tenant = cached_tenant(hash_token(token))
    if tenant is None:
        guard.refuse_blocked_address(address)
        try:
            tenant = await run_in_threadpool(authenticate, session, token)
        except AuthenticationError:
            await guard.bad_keys.failed(address)
            raise
    guard.spend(tenant_id_of(tenant))
    return tenant


TenantDep = Annotated[Tenant, Depends(get_tenant)]


def tenant_id_of(tenant: Tenant) -> int:
    assert tenant.id is not None
    return tenant.id


#: Path ids and paging parameters, bounded so no value reaches the database unchecked.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
LimitQuery = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip.")]
