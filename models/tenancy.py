"""One rule for every tenant's rows: another tenant's row is as absent as a missing one.

Every route and domain function that reads one row by id for a tenant goes through
:func:`get_owned`, so a row of another tenant answers exactly like an id that does not exist
(404 "campaign 7 not found"), never "forbidden", which would tell that it exists.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import Session

from robot.errors import NotFoundError

Row = TypeVar("Row")


def get_owned(
    session: Session, model: type[Row], item_id: int, tenant_id: int | None, noun: str
) -> Row:
    """Row ``item_id`` of ``model`` if it belongs to ``tenant_id`` (None: any tenant, for the
    operator's own tools); :class:`NotFoundError` naming the ``noun`` and id otherwise."""
    row: Any = session.get(model, item_id)
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise NotFoundError(f"{noun} {item_id} not found")
    return row
