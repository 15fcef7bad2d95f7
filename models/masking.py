"""Masking sessions: two parties reach each other through proxy numbers, never seeing the
other's real number.

Each :class:`MaskingParticipant` has a real number and a proxy number from the tenant's pool.
A call from a participant's real number to its own proxy number is bridged to the other
participant's real number, shown the other participant's proxy number as caller id. The pair
``(real_number, proxy_number)`` is unique, so it finds the session through one index; the
same real number in two sessions therefore gets two different proxy numbers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utc_now


class MaskingSession(SQLModel, table=True):
    __tablename__ = "masking_session"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_masking_session_name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    #: The tenant's name for it (an order or ride id), unique per tenant.
    name: str = Field(max_length=200)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class MaskingParticipant(SQLModel, table=True):
    __tablename__ = "masking_participant"
    __table_args__ = (
        UniqueConstraint("real_number", "proxy_number", name="uq_masking_real_proxy"),
        #: Also the index that finds a session's participants.
        UniqueConstraint("session_id", "real_number", name="uq_masking_session_real"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id")
    session_id: int = Field(foreign_key="masking_session.id")
    #: E.164; never logged, never shown to the other participant.
    real_number: str = Field(max_length=20)
    #: Indexed: deleting a number checks that no participant uses it.
    proxy_number_id: int = Field(foreign_key="phone_number.id", index=True)
    #: The proxy's E.164 number (copied so one index answers the lookup).
    proxy_number: str = Field(max_length=20)
    #: The session's expiry, copied so the lookup needs no join.
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
