"""Lead import: CSV and JSON files with a per-row report of rejected rows."""

from __future__ import annotations

from robot.leads.files import RawRow, read_rows, rows_from_json, rows_from_records
from robot.leads.importer import import_leads, import_rows
from robot.leads.numbers import normalise_numbers
from robot.leads.report import ImportReport, RejectedRow

__all__ = [
    "ImportReport",
    "RawRow",
    "RejectedRow",
    "import_leads",
    "import_rows",
    "normalise_numbers",
    "read_rows",
    "rows_from_json",
    "rows_from_records",
]
