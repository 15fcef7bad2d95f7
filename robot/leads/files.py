"""Reading lead files: CSV (a header row, then one lead per line) and JSON (an array of objects).

Each row keeps its 1-based data row number and, for CSV, its physical line, so every report
can point at the exact place in the file. Reading is bounded by ``Settings.input_limits``:
a CSV is read line by line with no line held longer than the fields and field length allow;
a row over a cap (fields, field length, a NUL or a non-UTF-8 byte) comes back with its
``problem`` set, for the import report, and after ``leads_max_rows`` rows reading stops.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from robot.errors import ValidationError
from robot.input_limits import InputLimits, setting_name
from robot.json_limits import loads_bounded


@dataclass(frozen=True, slots=True)
class RawRow:
    row: int
    line: int | None
    data: dict[str, Any]
    #: Why the row was refused while reading (a limit, a bad byte); the importer reports it.
    problem: str | None = None
    problem_field: str | None = None


class _LineRefused(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


class _BoundedLines:
    """Physical lines of a binary file, decoded one by one, none longer than ``max_bytes``.

    A longer line is skipped in pieces (never held whole) and, like a line that is not UTF-8,
    raises :class:`_LineRefused`; the iterator then carries on with the next line.
    """

    def __init__(self, handle: BinaryIO, max_bytes: int, too_long: str) -> None:
        self.handle = handle
        self.max_bytes = max_bytes
        self.too_long = too_long
        self.line = 0

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        data = self.handle.readline(self.max_bytes + 1)
        if not data:
            raise StopIteration
        self.line += 1
        if self.line == 1 and data.startswith(BOM):
            data = data[len(BOM) :]
        if len(data) > self.max_bytes and not data.endswith(b"\n"):
            while data and not data.endswith(b"\n"):
                data = self.handle.readline(1 << 20)
            raise _LineRefused(self.line, self.too_long)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            column = len(data[: e.start].decode("utf-8", "replace")) + 1
            reason = f"not UTF-8 text: byte 0x{data[e.start]:02x} at column {column}"
            raise _LineRefused(self.line, reason) from e


BOM = b"\xef\xbb\xbf"


def _max_line_bytes(limits: InputLimits) -> int:
    """The longest physical line a row within the limits can need (4 bytes a character)."""
    return limits.leads_max_fields * (4 * limits.leads_max_field_chars + 3)


def _csv_field_limit(limits: InputLimits) -> None:
    # The csv module's cap is process-wide: only ever raise it, so that a multi-line quoted
    # field is still cut by csv itself and reported as too long.
    if csv.field_size_limit() < limits.leads_max_field_chars + 1:
        csv.field_size_limit(limits.leads_max_field_chars + 1)


def _row_problem(
    values: list[str], names: list[str], limits: InputLimits
) -> tuple[str, str | None] | None:
    if len(values) > limits.leads_max_fields:
        return (
            f"{len(values)} fields, more than {limits.leads_max_fields} "
            f"(limit {setting_name('leads_max_fields')})",
            None,
        )
    for index, value in enumerate(values):
        name = names[index] if index < len(names) and names[index] else f"column {index + 1}"
        if len(value) > limits.leads_max_field_chars:
            return (
                f"field '{name}' is {len(value)} characters, more than "
                f"{limits.leads_max_field_chars} (limit {setting_name('leads_max_field_chars')})",
                name,
            )
        if "\x00" in value:
            return f"field '{name}' holds a NUL character", name
    return None


def _iter_csv(handle: BinaryIO, source: str, limits: InputLimits) -> Iterator[RawRow]:
    _csv_field_limit(limits)
    max_bytes = _max_line_bytes(limits)
    too_long = (
        f"the line is longer than {max_bytes} bytes: a field over "
        f"{limits.leads_max_field_chars} characters (limit {setting_name('leads_max_field_chars')})"
        f" or over {limits.leads_max_fields} fields (limit {setting_name('leads_max_fields')})"
    )
    lines = _BoundedLines(handle, max_bytes, too_long)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        return
    except _LineRefused as e:
        raise ValidationError(f"{source}:1: unreadable CSV header: {e.reason}") from e
    except csv.Error as e:
        raise ValidationError(f"{source}:1: unreadable CSV header: {e}") from e
    if len(header) > limits.leads_max_fields:
        raise ValidationError(
            f"{source}:1: the header has {len(header)} columns, more than "
            f"{limits.leads_max_fields} (limit {setting_name('leads_max_fields')})"
        )
    names = [h.strip() for h in header]
    row = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except _LineRefused as e:
            reader = csv.reader(lines)  # start clean on the next line
            row += 1
            if (past := _past_row_cap(row, e.line, limits)) is not None:
                yield past
                return
            yield RawRow(row, e.line, {}, e.reason)
            continue
        except csv.Error as e:
            row += 1
            if (past := _past_row_cap(row, lines.line, limits)) is not None:
                yield past
                return
            if "field larger than field limit" in str(e):
                reason = (
                    f"a field is longer than {limits.leads_max_field_chars} characters "
                    f"(limit {setting_name('leads_max_field_chars')})"
                )
            else:
                reason = f"unreadable CSV: {e}"
            yield RawRow(row, lines.line, {}, reason)
            continue
        if not any(v.strip() for v in values):
            continue
        row += 1
        if (past := _past_row_cap(row, lines.line, limits)) is not None:
            yield past
            return
        problem = _row_problem(values, names, limits)
        if problem is not None:
            yield RawRow(row, lines.line, {}, *problem)
            continue
        data: dict[str, Any] = {
            name: value for name, value in zip(names, values, strict=False) if name
        }
        if len(values) > len(names):
            data["__extra__"] = values[len(names) :]
        yield RawRow(row, lines.line, data)


def _past_row_cap(row: int, line: int | None, limits: InputLimits) -> RawRow | None:
    """The refused row that ends reading when ``row`` is past the row cap, else None."""
    if row <= limits.leads_max_rows:
        return None
    reason = (
        f"more than {limits.leads_max_rows} rows (limit {setting_name('leads_max_rows')}): "
        "this row and the rest of the file were not read"
    )
    return RawRow(row, line, {}, reason)


def rows_from_json(text: str, source: str, limits: InputLimits | None = None) -> Iterator[RawRow]:
    """Rows of a JSON lead document (an array of objects, or ``{"leads": [...]}``).

    The document is parsed now (so a malformed or too deeply nested one raises here, naming
    ``source``, line and column); its rows are checked against the caps as they are read.
    """
    limits = limits or _current_limits()
    payload = loads_bounded(
        text,
        max_depth=limits.leads_max_json_depth,
        source=source,
        setting=setting_name("leads_max_json_depth"),
    )
    if isinstance(payload, dict) and isinstance(payload.get("leads"), list):
        payload = payload["leads"]
    if not isinstance(payload, list):
        raise ValidationError(f"{source}: expected a JSON array of lead objects (or 'leads')")
    return rows_from_records(payload, limits)


def read_rows(
    source: Path | str, fmt: str | None = None, limits: InputLimits | None = None
) -> Iterator[RawRow]:
    """Rows of a CSV or JSON lead file (format from ``fmt`` or the file suffix)."""
    path = Path(source)
    fmt = (fmt or path.suffix.lstrip(".") or "csv").lower()
    limits = limits or _current_limits()
    try:
        if fmt == "json":
            yield from rows_from_json(path.read_text(encoding="utf-8-sig"), str(path), limits)
        elif fmt == "csv":
            with path.open("rb") as handle:
                yield from _iter_csv(handle, str(path), limits)
        else:
            raise ValidationError(f"{path}: unknown lead file format {fmt!r} (csv or json)")
    except OSError as e:
        raise ValidationError(f"{path}: cannot read: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ValidationError(f"{path}: not UTF-8 text: {e}") from e


def _current_limits() -> InputLimits:
    from robot.config import get_settings

    return get_settings().input_limits


def rows_from_records(
    records: Iterable[dict[str, Any]], limits: InputLimits | None = None
) -> Iterator[RawRow]:
    """Wrap in-memory records (e.g. an API request body) as import rows, within the caps."""
    limits = limits or _current_limits()
    for i, record in enumerate(records, start=1):
        if (past := _past_row_cap(i, None, limits)) is not None:
            yield past
            return
        if not isinstance(record, dict):
            yield RawRow(i, None, {"__not_object__": record})
            continue
        values = [v if isinstance(v, str) else json.dumps(v) for v in record.values()]
        problem = _row_problem(values, [str(k) for k in record], limits)
        yield RawRow(i, None, {}, *problem) if problem else RawRow(i, None, record)
