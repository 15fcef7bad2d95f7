"""Lead import from CSV or JSON with a per-row report.

Every good row is imported; every rejected row is reported with its row number (and line, for
CSV) and the reason: missing field, invalid number, duplicate within the file or the campaign,
on the do-not-call list, unknown time zone. Numbers are normalised to E.164 with the
campaign's default region. Columns other than the phone and time zone become lead variables,
usable in scripts as ``{lead.column}``. Rows are inserted in batches (executemany).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from models.db import DatabaseError, utc_now
from models.lead import LeadStatus
from robot.dialler.campaigns import get_campaign
from robot.dialler.claims import DNC, LEAD, write_transaction
from robot.errors import ValidationError
from robot.windows import CallingWindow, resolve_time_zones, zone_info, zones_for_parsed

logger = logging.getLogger(__name__)

PHONE_COLUMNS = ("phone", "number", "phone_number", "msisdn", "tel")
TIMEZONE_COLUMNS = ("timezone", "time_zone", "tz")
WINDOW_FIELD = "calling_window"
DEFAULT_BATCH_ROWS = 5000


#: A phone value as E.164 with the zones of its number, or ``(None, ())`` when invalid.
NormalisedNumber = tuple[str | None, tuple[str, ...]]
#: Above this many rows, numbers are normalised in worker processes (phonenumbers is slow).
PARALLEL_MIN_ROWS = 20_000


def normalise_numbers(values: list[str | None], region: str) -> list[NormalisedNumber]:
    """E.164 form and candidate zones of each phone value, read with ``region`` as default."""
    import phonenumbers

    unknown = phonenumbers.PhoneNumberType.UNKNOWN
    e164 = phonenumbers.PhoneNumberFormat.E164
    out: list[NormalisedNumber] = []
    for value in values:
        if not value or not value.strip():
            out.append((None, ()))
            continue
        try:
            parsed = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            out.append((None, ()))
            continue
        # number_type() is what is_valid_number() computes; keep it for the zone lookup.
        number_type = phonenumbers.number_type(parsed)
        if number_type == unknown:
            out.append((None, ()))
            continue
        zones = zones_for_parsed(parsed, number_type)
        out.append((phonenumbers.format_number(parsed, e164), zones))
    return out


def _normalise_job(job: tuple[list[str | None], str]) -> list[NormalisedNumber]:
    return normalise_numbers(*job)


@dataclass(frozen=True, slots=True)
class RejectedRow:
    #: 1-based data row (the CSV header is not a row).
    row: int
    reason: str
    #: Physical line in a CSV file (None for JSON).
    line: int | None = None
    field: str | None = None


@dataclass(slots=True)
class ImportReport:
    campaign_id: int
    source: str
    rows: int = 0
    imported: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rejected_count"] = len(self.rejected)
        return out


@dataclass(frozen=True, slots=True)
class _RawRow:
    row: int
    line: int | None
    data: dict[str, Any]


def _iter_csv(text_stream: io.TextIOBase, source: str) -> Iterator[_RawRow]:
    reader = csv.reader(text_stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as e:
        raise ValidationError(f"{source}:1: unreadable CSV header: {e}") from e
    names = [h.strip() for h in header]
    row = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise ValidationError(f"{source}:{reader.line_num}: unreadable CSV: {e}") from e
        if not any(v.strip() for v in values):
            continue
        row += 1
        data = {name: value for name, value in zip(names, values, strict=False) if name}
        if len(values) > len(names):
            data["__extra__"] = values[len(names) :]
        yield _RawRow(row, reader.line_num, data)


def _iter_json(text: str, source: str) -> Iterator[_RawRow]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(f"{source}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
    if isinstance(payload, dict) and isinstance(payload.get("leads"), list):
        payload = payload["leads"]
    if not isinstance(payload, list):
        raise ValidationError(f"{source}: expected a JSON array of lead objects")
    for i, item in enumerate(payload, start=1):
        yield _RawRow(i, None, item if isinstance(item, dict) else {"__not_object__": item})


def read_rows(source: Path | str, fmt: str | None = None) -> Iterator[_RawRow]:
    """Rows of a CSV or JSON lead file (format from ``fmt`` or the file suffix)."""
    path = Path(source)
    fmt = (fmt or path.suffix.lstrip(".") or "csv").lower()
    try:
        if fmt == "json":
            yield from _iter_json(path.read_text(encoding="utf-8-sig"), str(path))
        elif fmt == "csv":
            with path.open(encoding="utf-8-sig", newline="") as handle:
                yield from _iter_csv(handle, str(path))  # type: ignore[arg-type]
        else:
            raise ValidationError(f"{path}: unknown lead file format {fmt!r} (csv or json)")
    except OSError as e:
        raise ValidationError(f"{path}: cannot read: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ValidationError(f"{path}: not UTF-8 text: {e}") from e


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
    def phone_of(raw: _RawRow) -> tuple[str | None, str | None]:
        """The phone column's name and its value (``None`` when absent)."""
        data = raw.data
        phone_key = next((k for k in data if str(k).strip().lower() in PHONE_COLUMNS), None)
        value = data.get(phone_key) if phone_key is not None else None
        return phone_key, None if value is None else str(value)

    def check(self, raw: _RawRow, normalised: NormalisedNumber) -> dict[str, Any] | RejectedRow:
        """Check one row whose phone value has been through :func:`normalise_numbers`."""
        data = raw.data
        if "__not_object__" in data:
            return RejectedRow(raw.row, "expected an object with a phone field", raw.line)
        if "__extra__" in data:
            return RejectedRow(raw.row, "more values than header columns", raw.line)
        lowered = {str(k).strip().lower(): k for k in data}
        phone_key, raw_number = self.phone_of(raw)
        if raw_number is None or not raw_number.strip():
            return RejectedRow(raw.row, "missing field 'phone'", raw.line, "phone")
        number, number_zones = normalised
        if number is None:
            return RejectedRow(raw.row, "invalid number", raw.line, str(phone_key))
        first = self.seen_in_file.get(number)
        if first is not None:
            return RejectedRow(raw.row, f"duplicate of row {first}", raw.line, str(phone_key))
        if number in self.known:
            return RejectedRow(raw.row, "duplicate: already in the campaign", raw.line)
        if number in self.dnc:
            return RejectedRow(raw.row, "number is on the do-not-call list", raw.line)
        tz_key = next((lowered[c] for c in TIMEZONE_COLUMNS if c in lowered), None)
        explicit = str(data[tz_key]).strip() if tz_key is not None and data[tz_key] else None
        window: CallingWindow | None = None
        window_json = data.get(WINDOW_FIELD)
        try:
            resolution = resolve_time_zones(number, explicit, self.default_zone, number_zones)
            if window_json is not None:
                window = CallingWindow.from_dict(window_json, WINDOW_FIELD)
        except ValidationError as e:
            return RejectedRow(raw.row, str(e), raw.line, str(tz_key or WINDOW_FIELD))
        opening = self._opening(resolution.zones, window)
        if opening is None:
            return RejectedRow(raw.row, "calling window never opens in the lead's zones", raw.line)
        skip = {phone_key, tz_key, WINDOW_FIELD}
        variables = {str(k).strip(): v for k, v in data.items() if k not in skip and k}
        self.seen_in_file[number] = raw.row
        return {
            "tenant_id": self.tenant_id,
            "campaign_id": self.campaign_id,
            "number": number,
            "timezone": explicit,
            "variables": variables,
            "calling_window": window_json if window is not None else None,
            "time_zones": resolution.joined,
            "tz_source": resolution.source,
            "status": LeadStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": opening,
            "created_at": self.now,
            "updated_at": self.now,
            "_row": raw.row,
            "_line": raw.line,
        }


def _insert_batch(engine: Engine, batch: list[dict[str, Any]], report: ImportReport) -> None:
    rows = [{k: v for k, v in item.items() if not k.startswith("_")} for item in batch]
    try:
        with write_transaction(engine) as conn:
            conn.execute(insert(LEAD), rows)
        report.imported += len(rows)
        return
    except DatabaseError as e:
        if not isinstance(e.__cause__, IntegrityError):
            raise
    # Someone else imported some of these numbers meanwhile: keep every row that still fits.
    for item, row in zip(batch, rows, strict=True):
        try:
            with write_transaction(engine) as conn:
                conn.execute(insert(LEAD), [row])
            report.imported += 1
        except DatabaseError as e:
            if not isinstance(e.__cause__, IntegrityError):
                raise
            report.rejected.append(
                RejectedRow(item["_row"], "duplicate: already in the campaign", item["_line"])
            )


def import_leads(
    engine: Engine,
    campaign_id: int,
    source: Path | str,
    *,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
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
        progress=progress,
        now=now,
    )


def import_rows(
    engine: Engine,
    campaign_id: int,
    rows: Iterable[_RawRow],
    *,
    source: str = "<rows>",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> ImportReport:
    checker = _RowChecker(engine, campaign_id, now or utc_now())
    report = ImportReport(campaign_id=campaign_id, source=source)
    try:
        for chunk, normalised in _normalised_chunks(rows, checker, batch_rows):
            batch: list[dict[str, Any]] = []
            for raw, number in zip(chunk, normalised, strict=True):
                report.rows += 1
                checked = checker.check(raw, number)
                if isinstance(checked, RejectedRow):
                    report.rejected.append(checked)
                else:
                    batch.append(checked)
            if batch:
                _insert_batch(engine, batch, report)
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


def _chunks(rows: Iterable[_RawRow], size: int) -> Iterator[list[_RawRow]]:
    chunk: list[_RawRow] = []
    for raw in rows:
        chunk.append(raw)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _normalised_chunks(
    rows: Iterable[_RawRow], checker: _RowChecker, size: int
) -> Iterator[tuple[list[_RawRow], list[NormalisedNumber]]]:
    """Chunks of rows with their phone values normalised; large imports use all CPU cores.

    The first chunks are normalised here; once the file proves large, later chunks go to a
    process pool a few chunks ahead, so parsing overlaps with the database inserts.
    """
    chunks = _chunks(rows, size)
    seen_rows = 0
    for chunk in chunks:
        values = [checker.phone_of(raw)[1] for raw in chunk]
        yield chunk, normalise_numbers(values, checker.region)
        seen_rows += len(chunk)
        if seen_rows >= PARALLEL_MIN_ROWS and (os.cpu_count() or 1) > 1:
            break
    else:
        return
    from concurrent.futures import ProcessPoolExecutor

    workers = max(1, min(4, (os.cpu_count() or 1)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque[tuple[list[_RawRow], Future[list[NormalisedNumber]]]] = deque()
        for chunk in chunks:
            values = [checker.phone_of(raw)[1] for raw in chunk]
            pending.append((chunk, pool.submit(_normalise_job, (values, checker.region))))
            if len(pending) > 2 * workers:
                done_chunk, future = pending.popleft()
                yield done_chunk, future.result()
        while pending:
            done_chunk, future = pending.popleft()
            yield done_chunk, future.result()


def rows_from_records(records: Iterable[dict[str, Any]]) -> Iterator[_RawRow]:
    """Wrap in-memory records (e.g. an API request body) as import rows."""
    for i, record in enumerate(records, start=1):
        yield _RawRow(i, None, record if isinstance(record, dict) else {"__not_object__": record})
