"""Masking sessions: two parties call each other through proxy numbers from a pool.

Each participant gets a proxy number from the tenant's numbers tagged with the pool's tag
(``proxy``). A participant calls its own proxy number; :func:`resolve_masked` finds the
session by ``(from, to)`` through the unique index on ``(real_number, proxy_number)`` and
returns the other participant's real number to dial, with the other participant's proxy
number as caller id: each side only ever sees proxy numbers, and calling back the shown
number reaches the same session. A real number in several live sessions gets a different
proxy number in each, which keeps the lookup unambiguous.

Real numbers behind masking are never logged (ids only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from models.masking import MaskingParticipant, MaskingSession
from models.number import PhoneNumber
from models.tenancy import get_owned
from models.types import utc_now
from robot.errors import QuotaExceededError, ValidationError
from robot.phone import is_e164

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_PARTICIPANTS",
    "PROXY_TAG",
    "MaskedRoute",
    "add_participant",
    "create_session",
    "delete_session",
    "resolve_masked",
]

SESSION = MaskingSession.__table__  # type: ignore[attr-defined]
PARTICIPANT = MaskingParticipant.__table__  # type: ignore[attr-defined]
NUMBER = PhoneNumber.__table__  # type: ignore[attr-defined]
#: Tag of the numbers a tenant lends to masking sessions.
PROXY_TAG = "proxy"
#: Parties of one session (one on each side of the call).
MAX_PARTICIPANTS = 2
#: Numbers of the pool read at a time while looking for a free proxy.
PROXY_PAGE = 500
MIN_TTL_S = 60
MAX_TTL_S = 90 * 24 * 3600


@dataclass(frozen=True, slots=True)
class MaskedRoute:
    """Where a call into a masking session goes."""

    tenant_id: int
    session_id: int
    #: The other participant's real number (dial it; never show it to the caller).
    dial: str
    #: Caller id shown to the other participant: the proxy number it uses for this session.
    caller_id: str


def create_session(
    session: Session, tenant_id: int, name: str, ttl_s: int, *, now: datetime | None = None
) -> MaskingSession:
    """A new session expiring ``ttl_s`` from now; an expired one of the same name is removed
    first (a live one makes the commit fail: the name is unique per tenant)."""
    if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
        raise ValidationError(f"ttl_s: must be between {MIN_TTL_S} and {MAX_TTL_S} seconds")
    now = now or utc_now()
    expired = session.execute(
        select(SESSION.c.id).where(
            SESSION.c.tenant_id == tenant_id, SESSION.c.name == name, SESSION.c.expires_at <= now
        )
    ).first()
    if expired is not None:
        delete_session(session, tenant_id, expired.id)
    masking = MaskingSession(
        tenant_id=tenant_id, name=name, expires_at=now + timedelta(seconds=ttl_s), created_at=now
    )
    session.add(masking)
    session.flush()
    return masking


def get_session(session: Session, tenant_id: int, session_id: int) -> MaskingSession:
    return get_owned(session, MaskingSession, session_id, tenant_id, "masking session")


def participants_of(session: Session, session_id: int) -> list[MaskingParticipant]:
    return list(
        session.execute(
            select(MaskingParticipant)
            .where(PARTICIPANT.c.session_id == session_id)
            .order_by(PARTICIPANT.c.id)
        ).scalars()
    )


def delete_session(session: Session, tenant_id: int, session_id: int) -> None:
    masking = get_session(session, tenant_id, session_id)
    session.execute(delete(PARTICIPANT).where(PARTICIPANT.c.session_id == masking.id))
    session.delete(masking)
    session.flush()


def _free_proxy(session: Session, tenant_id: int, tag: str, used: set[str]) -> Any | None:
    """The tenant's first number (by id) tagged ``tag`` and not in ``used``, or None.

    The pool is read a page at a time through the index on ``tenant_id``, so a pool of a
    million numbers costs one page, not a read of every number."""
    after = 0
    while True:
        rows = session.execute(
            select(NUMBER.c.id, NUMBER.c.number, NUMBER.c.tags)
            .where(NUMBER.c.tenant_id == tenant_id, NUMBER.c.id > after)
            .order_by(NUMBER.c.id)
            .limit(PROXY_PAGE)
        ).all()
        for row in rows:
            if tag in (row.tags or []) and row.number not in used:
                return row
        if len(rows) < PROXY_PAGE:
            return None
        after = rows[-1].id


def add_participant(
    session: Session,
    tenant_id: int,
    session_id: int,
    real_number: str,
    *,
    pool_tag: str = PROXY_TAG,
    now: datetime | None = None,
) -> MaskingParticipant:
    """Add a party with a proxy number no other live session of it uses."""
    now = now or utc_now()
    masking = get_session(session, tenant_id, session_id)
    if masking.expires_at <= now:
        raise ValidationError(f"masking session {session_id} has expired")
    if not is_e164(real_number):
        raise ValidationError("number: not an E.164 number like +12025550143")
    present = participants_of(session, session_id)
    if any(p.real_number == real_number for p in present):
        raise ValidationError("number: already a participant of this session")
    if len(present) >= MAX_PARTICIPANTS:
        raise ValidationError(f"participants: a session has at most {MAX_PARTICIPANTS}")
    # Expired pairs of this number free their proxies (the pair is unique).
    session.execute(
        delete(PARTICIPANT).where(
            PARTICIPANT.c.real_number == real_number, PARTICIPANT.c.expires_at <= now
        )
    )
    used = set(
        session.execute(
            select(PARTICIPANT.c.proxy_number).where(PARTICIPANT.c.real_number == real_number)
        ).scalars()
    )
    free = _free_proxy(session, tenant_id, pool_tag, used)
    if free is None:
        raise QuotaExceededError(
            f"participants: no number tagged {pool_tag!r} is free for this participant "
            f"(each live session of a number needs its own proxy; add numbers tagged "
            f"{pool_tag!r})"
        )
    assert masking.id is not None
    participant = MaskingParticipant(
        tenant_id=tenant_id,
        session_id=masking.id,
        real_number=real_number,
        proxy_number_id=free.id,
        proxy_number=free.number,
        expires_at=masking.expires_at,
        created_at=now,
    )
    session.add(participant)
    session.flush()
    logger.debug("masking session %s: participant %s added", masking.id, participant.id)
    return participant


def resolve_masked(
    conn: Connection | Session, from_number: str, to_number: str, *, now: datetime | None = None
) -> MaskedRoute | None:
    """Where a call from ``from_number`` to the proxy ``to_number`` goes, or None when the
    pair is in no live session (then the number's own routing applies)."""
    now = now or utc_now()
    caller = conn.execute(
        select(PARTICIPANT.c.id, PARTICIPANT.c.session_id, PARTICIPANT.c.tenant_id).where(
            PARTICIPANT.c.real_number == from_number,
            PARTICIPANT.c.proxy_number == to_number,
            PARTICIPANT.c.expires_at > now,
        )
    ).first()
    if caller is None:
        return None
    other = conn.execute(
        select(PARTICIPANT.c.real_number, PARTICIPANT.c.proxy_number)
        .where(PARTICIPANT.c.session_id == caller.session_id, PARTICIPANT.c.id != caller.id)
        .order_by(PARTICIPANT.c.id)
    ).first()
    if other is None:
        logger.debug("masking session %s: no other participant yet", caller.session_id)
        return None
    return MaskedRoute(caller.tenant_id, caller.session_id, other.real_number, other.proxy_number)
