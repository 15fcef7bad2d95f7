"""Callbacks: call party A, then (once A answered and heard the announcement) party B, and
bridge them (``POST /v1/callbacks``).

A row is written before A is dialled (``status`` ``queued``) and follows the callback through
``calling_a``, ``calling_b``, ``bridged`` to ``completed`` or ``failed``; ``outcome_a`` and
``outcome_b`` say how each leg ended (``completed``, ``busy``, ``no_answer``, ``rejected``...,
or ``not_called`` for a B never dialled). ``call_id_a`` / ``call_id_b`` are the legs' ids in
their webhook events.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utc_now


class CallbackStatus(StrEnum):
    QUEUED = "queued"
    CALLING_A = "calling_a"
    CALLING_B = "calling_b"
    BRIDGED = "bridged"
    COMPLETED = "completed"
    FAILED = "failed"


class CallbackBase(SQLModel):
    #: E.164 numbers (or SIP URIs) of the two parties; A is called first.
    a: str = Field(max_length=200)
    b: str = Field(max_length=200)
    #: Caller id shown to A, and to B.
    caller_id_a: str | None = Field(default=None, max_length=200)
    caller_id_b: str | None = Field(default=None, max_length=200)
    #: Said to A once A answers, before B is dialled.
    announce_a: str | None = Field(default=None, max_length=2000)
    #: Said to B once B answers, before the bridge.
    whisper_b: str | None = Field(default=None, max_length=2000)
    #: A key B must press after the whisper to take the call.
    confirm_digit: str | None = Field(default=None, max_length=1)
    #: Seconds each party rings.
    ring_timeout_s: int = 30
    #: Record the bridged conversation (kept on the request; recording runs where dial does).
    record: bool = False


class Callback(CallbackBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    status: str = Field(default=CallbackStatus.QUEUED.value, max_length=16)
    outcome_a: str | None = Field(default=None, max_length=32)
    outcome_b: str | None = Field(default=None, max_length=32)
    call_id_a: str | None = Field(default=None, max_length=40)
    call_id_b: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    answered_a_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    bridged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, max_length=1000)


class CallbackPublic(CallbackBase):
    id: int
    status: str
    outcome_a: str | None
    outcome_b: str | None
    call_id_a: str | None
    call_id_b: str | None
    created_at: datetime
    answered_a_at: datetime | None
    bridged_at: datetime | None
    ended_at: datetime | None
    error: str | None
