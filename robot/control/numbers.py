"""A tenant's phone numbers: the checks every write applies, and the lookup of inbound calls.

:func:`checked_number_fields` is the one place a number's fields are validated (API, CLI
and tests call it); :func:`number_for_inbound` finds the number an inbound call was made to
through the unique index on ``phone_number.number``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from models.number import PhoneNumber
from robot.control.actions import dump_actions, parse_actions
from robot.crm.urls import check_webhook_url
from robot.errors import ValidationError
from robot.phone import is_e164, normalise_number
from robot.windows import zone_info

__all__ = ["NUMBER", "TAG_PATTERN", "checked_number_fields", "number_for_inbound"]

NUMBER = PhoneNumber.__table__  # type: ignore[attr-defined]
#: A tag names a pool (``proxy``, ``sales``): lower-case letters, digits, ``_`` and ``-``.
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,31}$")
MAX_TAGS = 20


def _checked_url(field: str, url: str | None, allow_private: bool) -> str | None:
    if url is None:
        return None
    try:
        return check_webhook_url(url, allow_private=allow_private)
    except ValidationError as e:
        raise ValidationError(f"{field}: {str(e).removeprefix('url: ')}") from e


def checked_number_fields(changes: dict[str, Any], *, allow_private: bool) -> dict[str, Any]:
    """Validated (and normalised) values of the given fields of a number.

    ``number`` must be E.164; ``time_zone`` an IANA zone; ``routing_url`` and
    ``fallback_url`` URLs that may be called (see :mod:`robot.crm.urls`);
    ``default_actions`` a valid action list (stored in its JSON form); ``tags`` pool names.
    Raises ValidationError naming the field.
    """
    out = dict(changes)
    if "number" in changes:
        number = changes["number"]
        if not isinstance(number, str) or not is_e164(number):
            raise ValidationError("number: not an E.164 number like +12025550143")
        out["number"] = normalise_number(number, "US")
    if changes.get("time_zone") is not None:
        try:
            zone_info(changes["time_zone"])
        except ValidationError as e:
            raise ValidationError(f"time_zone: {e}") from e
    for field in ("routing_url", "fallback_url"):
        if field in changes:
            out[field] = _checked_url(field, changes[field], allow_private)
    if changes.get("default_actions") is not None:
        actions = parse_actions(changes["default_actions"], field="default_actions")
        out["default_actions"] = dump_actions(actions)
    if changes.get("tags") is not None:
        tags = changes["tags"]
        if len(tags) > MAX_TAGS:
            raise ValidationError(f"tags: at most {MAX_TAGS} tags")
        for index, tag in enumerate(tags):
            if not TAG_PATTERN.match(tag):
                raise ValidationError(
                    f"tags[{index}]: {tag!r} is not a tag (lower-case letters, digits, _ and -)"
                )
        out["tags"] = sorted(set(tags))
    return out


def number_for_inbound(conn: Connection | Session, number: str) -> Any | None:
    """The ``phone_number`` row an inbound call to ``number`` (E.164) reaches, or None."""
    return conn.execute(select(NUMBER).where(NUMBER.c.number == number)).first()
