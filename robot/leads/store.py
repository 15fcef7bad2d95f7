"""Bulk insert of imported leads: COPY on PostgreSQL, one executemany on SQLite."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from models.transactions import write_transaction
from robot.dialler.claims import LEAD
from robot.leads.report import ImportReport, RejectedRow

logger = logging.getLogger(__name__)

#: Lead columns written by an import, in the order of ``LeadRow.values``.
INSERT_COLUMNS = (
    "tenant_id",
    "campaign_id",
    "number",
    "timezone",
    "variables",
    "calling_window",
    "time_zones",
    "tz_source",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)
_DATETIME_COLUMNS = (10, 11, 12)


@dataclass(frozen=True, slots=True)
class LeadRow:
    row: int
    line: int | None
    values: tuple[Any, ...]


class _Conflict(Exception):
    """A unique constraint refused part of a batch (numbers imported meanwhile)."""


def _sqlite_time(value: datetime) -> str:
    # The storage format SQLAlchemy uses for SQLite DATETIME columns (naive UTC).
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _write_rows(conn: Connection, rows: list[LeadRow]) -> None:
    """Bulk insert: COPY on PostgreSQL, one executemany on SQLite."""
    names = ", ".join(INSERT_COLUMNS)
    if conn.dialect.name == "postgresql":
        import psycopg

        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        try:
            with raw.cursor() as cursor, cursor.copy(f"COPY lead ({names}) FROM STDIN") as copy:
                for item in rows:
                    copy.write_row(item.values)
        except psycopg.errors.UniqueViolation as e:
            raise _Conflict(str(e)) from e
        return
    if conn.dialect.name == "sqlite":
        times: dict[datetime, str] = {}
        prepared = []
        for item in rows:
            values = list(item.values)
            for i in _DATETIME_COLUMNS:
                stamp = values[i]
                values[i] = times.get(stamp) or times.setdefault(stamp, _sqlite_time(stamp))
            prepared.append(tuple(values))
        marks = ", ".join("?" * len(INSERT_COLUMNS))
        try:
            conn.exec_driver_sql(f"INSERT INTO lead ({names}) VALUES ({marks})", prepared)
        except IntegrityError as e:
            raise _Conflict(str(e)) from e
        return
    records = [dict(zip(INSERT_COLUMNS, item.values, strict=True)) for item in rows]
    for record in records:
        for key in ("variables", "calling_window"):
            record[key] = None if record[key] is None else json.loads(record[key])
    try:
        conn.execute(insert(LEAD), records)
    except IntegrityError as e:
        raise _Conflict(str(e)) from e


def insert_batch(engine: Engine, batch: list[LeadRow], report: ImportReport) -> None:
    try:
        with write_transaction(engine) as conn:
            _write_rows(conn, batch)
        report.imported += len(batch)
        return
    except _Conflict:
        logger.info("a batch met numbers imported meanwhile; inserting it row by row")
    # Someone else imported some of these numbers meanwhile: keep every row that still fits.
    for item in batch:
        try:
            with write_transaction(engine) as conn:
                _write_rows(conn, [item])
            report.imported += 1
        except _Conflict:
            report.rejected.append(
                RejectedRow(item.row, "duplicate: already in the campaign", item.line)
            )
