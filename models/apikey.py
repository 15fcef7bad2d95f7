"""API keys: a tenant authenticates with ``Authorization: Bearer KEY``.

A key is shown once, when created. Only its SHA-256 hash is stored, with a short visible
prefix (``cr_`` and 8 characters) used to find the row without scanning every hash.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime

from sqlmodel import Field, Session, SQLModel

from models.types import UTCDateTime, utc_now

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


def create_api_key(session: Session, tenant_id: int, name: str | None = None) -> str:
    """Store a new key for the tenant (hashed) and return the key itself, to show once."""
    token = new_token()
    session.add(
        ApiKey(
            tenant_id=tenant_id, name=name, prefix=token_prefix(token), key_hash=hash_token(token)
        )
    )
    return token
