"""The dialler's call runner: places a dial job's call with the real call engine.

It loads the campaign's pinned script version from the database (trained once per version),
runs the call session through the configured carrier and turns the session's report into
the dialler's :class:`~robot.dialler.worker.CallResult`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from dialogues.loader import LoadedScript, load_script_text
from robot.carriers.base import Carrier
from robot.dialler.worker import CallResult, DialJob
from robot.engine import CallEngine
from robot.errors import NotFoundError, ScriptError
from robot.recording_files import stored_or_absolute
from robot.session import CallReport

log = logging.getLogger(__name__)

#: Scripts stored in the database resolve their ``nlu:`` files against the bundled folder.
BUNDLED_SCRIPTS = Path(__file__).resolve().parents[1] / "dialogues" / "scripts"


class EngineCallRunner:
    def __init__(
        self,
        db: Engine,
        carrier: Carrier,
        call_engine: CallEngine | None = None,
        *,
        recording_dir: Path | None = None,
    ) -> None:
        self.db = db
        self.carrier = carrier
        self.call_engine = call_engine or CallEngine()
        self.recording_dir = recording_dir or self.call_engine.settings.recordings_root()
        self._scripts: dict[tuple[int, int | None], LoadedScript] = {}
        #: Called with (number, report) when a call ends (progress displays).
        self.on_report: Callable[[str, CallReport], None] | None = None

    def script(self, script_id: int, version: int | None) -> LoadedScript:
        key = (script_id, version)
        if key not in self._scripts:
            from models.script import Script

            table = Script.__table__  # type: ignore[attr-defined]
            with self.db.connect() as conn:
                row = conn.execute(
                    select(table.c.name, table.c.version, table.c.yaml_text).where(
                        table.c.id == script_id
                    )
                ).first()
            if row is None:
                raise NotFoundError(f"script {script_id} does not exist")
            self._scripts[key] = load_script_text(
                row.yaml_text, filename=f"{row.name}@v{row.version}", base_dir=BUNDLED_SCRIPTS
            )
        return self._scripts[key]

    async def run(self, job: DialJob) -> CallResult:
        if job.script_id is None:
            return CallResult(outcome="failed", error="the campaign has no script")
        try:
            loaded = self.script(job.script_id, job.script_version)
        except (ScriptError, NotFoundError) as e:
            return CallResult(outcome="failed", error=str(e))
        started = datetime.now(UTC)
        report = await self.call_engine.call(
            self.carrier,
            job.number,
            loaded,
            lead=job.variables,
            timezone=job.time_zones[0] if job.time_zones else None,
            recording_dir=self.recording_dir,
            caller_id=job.caller_id,
        )
        if self.on_report is not None:
            self.on_report(job.number, report)
        result = report_to_result(report, started, loaded.script.settings.qualified_dispositions)
        root = self.call_engine.settings.recordings_root()
        result.recording_path = stored_or_absolute(root, result.recording_path)
        return result


def report_to_result(
    report: CallReport, started: datetime, qualified_dispositions: Sequence[str] = ("qualified",)
) -> CallResult:
    answered_at = (
        started + timedelta(milliseconds=report.answered_ms)
        if report.answered_ms is not None
        else None
    )
    signalling: dict[str, Any] = {**report.signalling, "q850": report.q850}
    return CallResult(
        outcome=report.outcome,
        disposition=report.disposition,
        qualified=report.disposition is not None and report.disposition in qualified_dispositions,
        q850=report.q850,
        slots=report.slots,
        callback_at=report.callback_at,
        duration_ms=report.duration_ms,
        answered_at=answered_at,
        voicemail_verdict=report.voicemail_verdict,
        voicemail_reason=report.voicemail_reason,
        voicemail_decision_ms=report.voicemail_decision_ms,
        transcript=[turn.to_json() for turn in report.transcript],
        signalling=signalling,
        recording_path=report.recording_path,
        error=report.error,
    )
