"""API keys: a tenant authenticates with ``Authorization: Bearer KEY``.

A key is shown once, when created. Only its SHA-256 hash is stored, with a short visible
prefix (``cr_`` and 8 characters) used to find the row without scanning every hash.
:func:`create_api_key` and :func:`revoke_api_key` are the only writers (the API and the CLI
both call them); each writes its audit entry in the same transaction.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Field, Session, SQLModel, select

from models.audit import AuditAction, record_audit
from models.types import UTCDateTime, utc_now
from robot.errors import NotFoundError, QuotaExceededError, ValidationError

KEY_PREFIX = "cr_"
#: Characters of the key (after ``cr_``) that are stored in clear for the lookup.
VISIBLE_CHARS = 8


def new_token() -> str:
    """A fresh key: ``cr_`` and the URL-safe form of 32 random bytes."""
    raw = secrets.token_bytes(32)
    return KEY_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def token_prefix(token: str) -> str:
    return token[: len(KEY_PREFIX) + VISIBLE_CHARS]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    name: str | None = Field(default=None, max_length=200)
    prefix: str = Field(max_length=16, index=True)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiKeyPublic(SQLModel):
    id: int
    tenant_id: int
    name: str | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def active_key_count(session: Session, tenant_id: int) -> int:
    query = select(func.count()).where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
    return int(session.exec(query).one())


def create_api_key(
    session: Session, tenant_id: int, name: str | None = None, *, actor: str = "cli"
) -> str:
    """Store a new key for the tenant (hashed) and return the key itself, to show once."""
    return issue_api_key(session, tenant_id, name, actor=actor)[0]


def issue_api_key(
    session: Session,
    tenant_id: int,
    name: str | None = None,
    *,
    actor: str,
    max_keys: int | None = None,
) -> tuple[str, ApiKey]:
    """Store a new key for the tenant (hashed); returns the key itself, to show once, and its row.

    ``max_keys`` caps the tenant's active keys (``QuotaExceededError`` beyond it).
    """
    if max_keys is not None and active_key_count(session, tenant_id) >= max_keys:
        raise QuotaExceededError(
            f"the tenant has {max_keys} active API keys (quotas.max_api_keys); revoke one first"
        )
    token = new_token()
    key = ApiKey(
        tenant_id=tenant_id, name=name, prefix=token_prefix(token), key_hash=hash_token(token)
    )
    session.add(key)
    session.flush()
    assert key.id is not None
    record_audit(
        session,
        tenant_id,
        AuditAction.KEY_CREATED,
        actor=actor,
        target_type="api_key",
        target_id=key.id,
        details={"prefix": key.prefix, "name": name},
    )
    return token, key


def find_api_key(session: Session, tenant_id: int, id_or_prefix: str | int) -> ApiKey:
    """The tenant's key by id, or by its visible prefix (``cr_abcd1234``)."""
    if isinstance(id_or_prefix, int) or id_or_prefix.isdigit():
        key = session.get(ApiKey, int(id_or_prefix))
        if key is None or key.tenant_id != tenant_id:
            raise NotFoundError(f"API key {id_or_prefix} not found")
        return key
    prefix = token_prefix(id_or_prefix)
    rows = session.exec(
        select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.prefix == prefix)
    ).all()
    if not rows:
        raise NotFoundError(f"API key {prefix}... not found")
    if len(rows) > 1:
        raise ValidationError(f"key: {len(rows)} keys start with {prefix}; give the key's id")
    return rows[0]


def revoke_api_key(
    session: Session, tenant_id: int, id_or_prefix: str | int, *, actor: str = "cli"
) -> ApiKey:
    """Revoke one of the tenant's keys (revoking it again changes nothing).

    API processes stop accepting it within their key cache time (5 s).
    """
    key = find_api_key(session, tenant_id, id_or_prefix)
    if key.revoked_at is not None:
        return key
    key.revoked_at = utc_now()
    session.add(key)
    session.flush()
    record_audit(
        session,
        tenant_id,
        AuditAction.KEY_REVOKED,
        actor=actor,
        target_type="api_key",
        target_id=key.id,
        details={"prefix": key.prefix, "name": key.name},
    )
    return key
