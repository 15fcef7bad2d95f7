"""A tenant's phone numbers: where inbound calls to them are routed, and their pool tags.

``number`` is E.164 and unique across tenants (an inbound call finds its number, and so its
tenant, through the unique index). ``default_actions`` holds the JSON form of
:mod:`robot.control.actions` (run when neither ``routing_url`` nor ``fallback_url`` answers);
``tags`` put a number in pools (``proxy`` numbers serve masking sessions).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import JsonColumn, UTCDateTime, utc_now


class PhoneNumberBase(SQLModel):
    number: str = Field(max_length=20)
    #: IANA zone of the number's local time (sent in routing requests).
    time_zone: str = Field(default="UTC", max_length=64)
    routing_url: str | None = Field(default=None, max_length=2000)
    fallback_url: str | None = Field(default=None, max_length=2000)
    default_actions: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonColumn)
    tags: list[str] = Field(default_factory=list, sa_type=JsonColumn)


class PhoneNumber(PhoneNumberBase, table=True):
    __tablename__ = "phone_number"
    __table_args__ = (UniqueConstraint("number", name="uq_phone_number_number"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    #: HMAC key for the routing requests' Callrobot-Signature (kept readable: signing needs it).
    routing_secret: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class PhoneNumberPublic(PhoneNumberBase):
    id: int
    created_at: datetime
    updated_at: datetime
