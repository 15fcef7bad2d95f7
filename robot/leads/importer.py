"""Lead import from CSV or JSON with a per-row report.

Every good row is imported; every rejected row is reported with its row number (and line, for
CSV) and the reason: missing field, invalid number, duplicate within the file or the campaign,
on the do-not-call list, unknown time zone. Numbers are normalised to E.164 with the
campaign's default region. Columns other than the phone and time zone become lead variables,
usable in scripts as ``{lead.column}``. Rows are inserted in batches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from models.lead import LeadStatus
from models.transactions import DatabaseError
from models.types import utc_now
from robot.dialler.campaigns import get_campaign
from robot.dialler.claims import DNC, LEAD
from robot.errors import ValidationError
from robot.leads.files import RawRow, read_rows
from robot.leads.numbers import PARALLEL_MIN_ROWS, NormalisedNumber, normalised_chunks
from robot.leads.report import ImportReport, RejectedRow
from robot.leads.store import LeadRow, insert_batch
from robot.windows import CallingWindow, zone_info

logger = logging.getLogger(__name__)

PHONE_COLUMNS = ("phone", "number", "phone_number", "msisdn", "tel")
TIMEZONE_COLUMNS = ("timezone", "time_zone", "tz")
WINDOW_FIELD = "calling_window"
DEFAULT_BATCH_ROWS = 5000
#: One encoder for every row (``json.dumps`` with options builds a new one per call).
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class _RowChecker:
    """Turns raw rows into lead rows or rejections for one campaign."""

    def __init__(self, engine: Engine, campaign_id: int, now: datetime) -> None:
        campaign = get_campaign(engine, campaign_id)
        assert campaign.id is not None
        self.campaign_id = campaign.id
        self.tenant_id = campaign.tenant_id
        self.region = campaign.default_region
        self.default_zone = campaign.default_timezone
        self.window = CallingWindow.from_dict(campaign.calling_window)
        self.now = now
        with engine.connect() as conn:
            self.known = set(
                conn.execute(select(LEAD.c.number).where(LEAD.c.campaign_id == campaign.id))
                .scalars()
                .all()
            )
            self.dnc = set(
                conn.execute(select(DNC.c.number).where(DNC.c.tenant_id == self.tenant_id))
                .scalars()
                .all()
            )
        self.seen_in_file: dict[str, int] = {}
        self._openings: dict[str, datetime | None] = {}
        self._joined: dict[tuple[str, ...], str] = {}

    def _opening(self, zones: tuple[str, ...], window: CallingWindow | None) -> datetime | None:
        if window is not None:
            return window.next_opening_in_all(self.now, [zone_info(z) for z in zones])
        key = ",".join(zones)
        if key not in self._openings:
            self._openings[key] = self.window.next_opening_in_all(
                self.now, [zone_info(z) for z in zones]
            )
        return self._openings[key]

    @staticmethod
    def phone_of(raw: RawRow) -> tuple[str | None, str | None]:
        """The phone column's name and its value (``None`` when absent)."""
        data = raw.data
        phone_key = _columns_of(tuple(data)).phone
        value = data.get(phone_key) if phone_key is not None else None
        return phone_key, None if value is None else str(value)

    def _zones(self, number_zones: tuple[str, ...], explicit: str | None) -> tuple[str, str]:
        if explicit:
            zone_info(explicit)
            return explicit, "lead"
        if number_zones:
            joined = self._joined.get(number_zones)
            if joined is None:
                joined = self._joined[number_zones] = ",".join(number_zones)
            return joined, "number"
        return self.default_zone, "campaign"

    def check(self, raw: RawRow, normalised: NormalisedNumber) -> LeadRow | RejectedRow:
        """Check one row whose phone value has been through :func:`normalise_numbers`."""
        data = raw.data
        if raw.problem is not None:
            return RejectedRow(raw.row, raw.problem, raw.line, raw.problem_field)
        if "__not_object__" in data:
            return RejectedRow(raw.row, "expected an object with a phone field", raw.line)
        if "__extra__" in data:
            return RejectedRow(raw.row, "more values than header columns", raw.line)
        columns = _columns_of(tuple(data))
        raw_number = data.get(columns.phone) if columns.phone is not None else None
        if raw_number is None or not str(raw_number).strip():
            return RejectedRow(raw.row, "missing field 'phone'", raw.line, "phone")
        number, number_zones = normalised
        if number is None:
            return RejectedRow(raw.row, "invalid number", raw.line, str(columns.phone))
        first = self.seen_in_file.get(number)
        if first is not None:
            return RejectedRow(raw.row, f"duplicate of row {first}", raw.line, str(columns.phone))
        if number in self.known:
            return RejectedRow(raw.row, "duplicate: already in the campaign", raw.line)
        if number in self.dnc:
            return RejectedRow(raw.row, "number is on the do-not-call list", raw.line)
        tz_value = data[columns.timezone] if columns.timezone is not None else None
        explicit = str(tz_value).strip() if tz_value else None
        window: CallingWindow | None = None
        window_json = data.get(WINDOW_FIELD) or None
        if isinstance(window_json, str):  # a CSV cell holding the window as JSON
            try:
                window_json = json.loads(window_json)
            except json.JSONDecodeError as e:
                reason = f"{WINDOW_FIELD}: invalid JSON at column {e.colno}: {e.msg}"
                return RejectedRow(raw.row, reason, raw.line, WINDOW_FIELD)
        try:
            time_zones, tz_source = self._zones(number_zones, explicit)
            if window_json is not None:
                window = CallingWindow.from_dict(window_json, WINDOW_FIELD)
        except ValidationError as e:
            field_name = str(columns.timezone if explicit else WINDOW_FIELD)
            return RejectedRow(raw.row, str(e), raw.line, field_name)
        opening = self._opening(tuple(time_zones.split(",")), window)
        if opening is None:
            return RejectedRow(raw.row, "calling window never opens in the lead's zones", raw.line)
        variables = {name: data[key] for key, name in columns.variables}
        self.seen_in_file[number] = raw.row
        values = (
            self.tenant_id,
            self.campaign_id,
            number,
            explicit,
            _JSON.encode(variables),
            _JSON.encode(window_json) if window is not None else None,
            time_zones,
            tz_source,
            LeadStatus.PENDING.value,
            0,
            opening,
            self.now,
            self.now,
        )
        return LeadRow(raw.row, raw.line, values)


@dataclass(frozen=True, slots=True)
class _Columns:
    phone: str | None
    timezone: str | None
    #: (key in the row, variable name) for every other column.
    variables: tuple[tuple[str, str], ...]


@lru_cache(maxsize=64)
def _columns_of(keys: tuple[str, ...]) -> _Columns:
    """What each column of a row is for (rows of one CSV file all share their keys)."""
    by_lower = {str(k).strip().lower(): k for k in keys}
    phone = next((by_lower[c] for c in PHONE_COLUMNS if c in by_lower), None)
    timezone = next((by_lower[c] for c in TIMEZONE_COLUMNS if c in by_lower), None)
    skip = {phone, timezone, WINDOW_FIELD}
    variables = tuple((k, str(k).strip()) for k in keys if k not in skip and str(k).strip())
    return _Columns(phone, timezone, variables)


def import_leads(
    engine: Engine,
    campaign_id: int,
    source: Path | str,
    *,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    parallel_after_rows: int = PARALLEL_MIN_ROWS,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Import a CSV or JSON lead file into a campaign; ``progress`` gets rows read so far."""
    return import_rows(
        engine,
        campaign_id,
        read_rows(source, fmt),
        source=str(source),
        batch_rows=batch_rows,
        parallel_after_rows=parallel_after_rows,
        progress=progress,
        now=now,
    )


def import_rows(
    engine: Engine,
    campaign_id: int,
    rows: Iterable[RawRow],
    *,
    source: str = "<rows>",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    parallel_after_rows: int = PARALLEL_MIN_ROWS,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> ImportReport:
    checker = _RowChecker(engine, campaign_id, now or utc_now())
    report = ImportReport(campaign_id=campaign_id, source=source)
    try:
        for chunk, normalised in normalised_chunks(
            rows,
            lambda raw: checker.phone_of(raw)[1],
            checker.region,
            batch_rows,
            parallel_after_rows,
        ):
            batch: list[LeadRow] = []
            for raw, number in zip(chunk, normalised, strict=True):
                report.rows += 1
                checked = checker.check(raw, number)
                if isinstance(checked, RejectedRow):
                    report.rejected.append(checked)
                else:
                    batch.append(checked)
            if batch:
                insert_batch(engine, batch, report)
            if progress:
                progress(report.rows)
    except SQLAlchemyError as e:
        raise DatabaseError(f"{source}: import failed: {e}") from e
    if progress:
        progress(report.rows)
    report.rejected.sort(key=lambda r: r.row)
    logger.info(
        "campaign %d: imported %d of %d lead rows from %s (%d rejected)",
        campaign_id,
        report.imported,
        report.rows,
        source,
        len(report.rejected),
    )
    return report
