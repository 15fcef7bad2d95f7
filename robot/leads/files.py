"""Reading lead files: CSV (a header row, then one lead per line) and JSON (an array of objects).

Each row keeps its 1-based data row number and, for CSV, its physical line, so every report
can point at the exact place in the file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot.errors import ValidationError


@dataclass(frozen=True, slots=True)
class RawRow:
    row: int
    line: int | None
    data: dict[str, Any]


def _iter_csv(text_stream: Iterable[str], source: str) -> Iterator[RawRow]:
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
        data: dict[str, Any] = {
            name: value for name, value in zip(names, values, strict=False) if name
        }
        if len(values) > len(names):
            data["__extra__"] = values[len(names) :]
        yield RawRow(row, reader.line_num, data)


def _iter_json(text: str, source: str) -> Iterator[RawRow]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(f"{source}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
    if isinstance(payload, dict) and isinstance(payload.get("leads"), list):
        payload = payload["leads"]
    if not isinstance(payload, list):
        raise ValidationError(f"{source}: expected a JSON array of lead objects")
    for i, item in enumerate(payload, start=1):
        yield RawRow(i, None, item if isinstance(item, dict) else {"__not_object__": item})


def read_rows(source: Path | str, fmt: str | None = None) -> Iterator[RawRow]:
    """Rows of a CSV or JSON lead file (format from ``fmt`` or the file suffix)."""
    path = Path(source)
    fmt = (fmt or path.suffix.lstrip(".") or "csv").lower()
    try:
        if fmt == "json":
            yield from _iter_json(path.read_text(encoding="utf-8-sig"), str(path))
        elif fmt == "csv":
            with path.open(encoding="utf-8-sig", newline="") as handle:
                yield from _iter_csv(handle, str(path))
        else:
            raise ValidationError(f"{path}: unknown lead file format {fmt!r} (csv or json)")
    except OSError as e:
        raise ValidationError(f"{path}: cannot read: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ValidationError(f"{path}: not UTF-8 text: {e}") from e


def rows_from_records(records: Iterable[dict[str, Any]]) -> Iterator[RawRow]:
    """Wrap in-memory records (e.g. an API request body) as import rows."""
    for i, record in enumerate(records, start=1):
        yield RawRow(i, None, record if isinstance(record, dict) else {"__not_object__": record})
