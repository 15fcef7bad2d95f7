"""The import report: how many rows came in, and every rejected row with its reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
