"""The ``robot`` action: run one of the tenant's dialogue scripts on a call leg.

:class:`RobotScripts` loads the script (``script_id``, or the same script's ``version``),
and runs a :class:`~robot.session.CallSession` on the leg the action list runs on, with the
call engine's speech engines, exactly as for a dialled call but with no answering-machine
detection (the leg is already answered, by a person calling in). :class:`LegCall` hands the
session the leg's audio and control events while the script runs and keeps the session
from hanging up: the leg belongs to the action list.

What the script leaves behind (outcome, disposition, slots, transcript, recording) is stored
in a ``call`` row like a dialler call's (``worker = "robot"``; ``GET /v1/calls/{id}``), given
in :class:`RobotResult`, and reported by a ``robot.completed`` event on the leg. After the
script, the action list goes on, unless the caller hung up, the script transferred the call,
or its last state ran the script action ``hangup``: then the call ends there. An ``end``
state without ``hangup`` hands the call back to the list.

A script that cannot be found or loaded is reported the same way (``outcome: failed`` and the
``error``, naming the action's index and field), and the list goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from models.webhook import EventType
from robot.audio import AudioChunk
from robot.carriers.base import CallEvent, CallState
from robot.control.actions import RobotScript
from robot.errors import CallrobotError

if TYPE_CHECKING:
    from dialogues.loader import LoadedScript
    from robot.control.runner import Leg
    from robot.engine import CallEngine

logger = logging.getLogger(__name__)

__all__ = ["LegCall", "RobotResult", "RobotScripts"]

#: ``worker`` of the call rows a ``robot`` action stores.
ROBOT_WORKER = "robot"


@dataclass
class RobotResult:
    script_id: int
    #: The stored version that ran (None when the script could not be loaded).
    version: int | None
    #: Id of the ``call`` row holding the outcome, transcript and recording (None: not stored).
    record_id: int | None
    outcome: str
    disposition: str | None = None
    qualified: bool = False
    slots: dict[str, Any] = field(default_factory=dict)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    #: The call ended with the script (caller gone, transfer, or the script's hangup).
    hung_up: bool = False
    caller_hung_up: bool = False
    error: str | None = None


class LegCall:
    """A :class:`~robot.carriers.base.Call` over a :class:`Leg` while a script runs on it.

    Audio and control events come from the leg's readers (an ``answered`` event first: the
    leg is answered); playing goes to the call; the session's hang-up is only noted.
    """

    def __init__(self, leg: Leg) -> None:
        self._leg = leg
        self._call = leg.call
        self.call_id = leg.call.call_id
        self.signalling = leg.call.signalling
        self._audio: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
        self._events: asyncio.Queue[CallEvent | None] = asyncio.Queue()
        self._events.put_nowait(CallEvent("answered", 0.0))
        self.hangup_asked = False
        self.transferred = False
        leg.listener = self._audio.put_nowait
        leg.on_event = self._on_event

    def _on_event(self, event: CallEvent) -> None:
        self._events.put_nowait(event)
        if event.kind in ("hangup", "failed"):
            self.detach()

    def detach(self) -> None:
        """Give the leg's audio and events back to the action list; the session's streams end."""
        if self._leg.listener == self._audio.put_nowait:
            self._leg.listener = None
        if self._leg.on_event == self._on_event:
            self._leg.on_event = None
        self._audio.put_nowait(None)
        self._events.put_nowait(None)

    @property
    def state(self) -> CallState:
        return self._call.state

    async def audio(self) -> AsyncIterator[AudioChunk]:
        while (frame := await self._audio.get()) is not None:
            yield frame

    async def events(self) -> AsyncIterator[CallEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    async def play(self, chunk: AudioChunk) -> None:
        await self._call.play(chunk)

    def stop_playback(self) -> float:
        return self._call.stop_playback()

    async def playback_done(self) -> None:
        await self._call.playback_done()

    async def send_dtmf(self, digits: str) -> None:
        await self._call.send_dtmf(digits)

    async def transfer(self, target: str, *, bridged: bool = False) -> None:
        self.transferred = True
        await self._call.transfer(target, bridged=bridged)

    async def hangup(self, reason: str | None = None) -> None:
        self.hangup_asked = True


@dataclass
class RobotScripts:
    """Runs ``robot`` actions for one tenant's calls."""

    db: Engine
    call_engine: CallEngine
    tenant_id: int
    #: Where recordings go (None: not recorded).
    recording_dir: Path | None = None
    #: The caller's number, stored in the call rows.
    number: str = ""
    #: Time zone of the script's date slots (the called number's).
    timezone: str | None = None
    _loaded: dict[int, LoadedScript] = field(default_factory=dict)

    async def run(self, leg: Leg, action: RobotScript, index: int) -> RobotResult:
        """Run the script on ``leg`` to its end; the leg stays up unless it ended."""
        where = f"actions[{index}].robot"
        try:
            script_id, version, loaded = await asyncio.to_thread(self._load, action, where)
        except CallrobotError as e:
            result = RobotResult(action.script_id, None, None, "failed", error=str(e))
            self._report(leg, result)
            return result
        result = await self._converse(leg, action, script_id, version, loaded)
        self._report(leg, result)
        return result

    def _load(self, action: RobotScript, where: str) -> tuple[int, int, LoadedScript]:
        """The script row's id and version, loaded and prepared (blocking)."""
        from dialogues.loader import load_script_text
        from models.script import Script
        from robot.runner import BUNDLED_SCRIPTS

        table = Script.__table__  # type: ignore[attr-defined]
        columns = (table.c.id, table.c.name, table.c.version, table.c.yaml_text)
        with self.db.connect() as conn:
            row = conn.execute(
                select(*columns).where(
                    table.c.id == action.script_id, table.c.tenant_id == self.tenant_id
                )
            ).first()
            if row is None:
                raise CallrobotError(f"{where}.script_id: no script {action.script_id}")
            if action.version is not None and action.version != row.version:
                row = conn.execute(
                    select(*columns).where(
                        table.c.tenant_id == self.tenant_id,
                        table.c.name == row.name,
                        table.c.version == action.version,
                    )
                ).first()
                if row is None:
                    raise CallrobotError(
                        f"{where}.version: script {action.script_id} has no version "
                        f"{action.version}"
                    )
        if row.id not in self._loaded:
            loaded = load_script_text(
                row.yaml_text, filename=f"{row.name}@v{row.version}", base_dir=BUNDLED_SCRIPTS
            )
            self.call_engine.prepare(loaded)
            self.call_engine.registry.recognizer(loaded.script.language)
            self._loaded[row.id] = loaded
        return row.id, row.version, self._loaded[row.id]

    async def _converse(
        self, leg: Leg, action: RobotScript, script_id: int, version: int, loaded: LoadedScript
    ) -> RobotResult:
        from dialogues.manager import DialogueManager
        from robot.runner import report_to_result
        from robot.session import CallSession

        engine = self.call_engine
        runtime = engine.prepare(loaded)
        variables = {k: str(v) for k, v in action.variables.items()}
        manager = DialogueManager(
            loaded, classifier=runtime.classifier, lead=variables, timezone=self.timezone
        )
        engines = dataclasses.replace(
            engine.session_engines(loaded), detector_factory=None, detector_release=None
        )
        config = engine.session_config(self.recording_dir, loaded.script.language)
        call = LegCall(leg)
        started = datetime.now(UTC)
        try:
            report = await CallSession(call, manager, engines, config).run()
        finally:
            call.detach()
        outcome = report_to_result(report, started, loaded.script.settings.qualified_dispositions)
        record_id = await asyncio.to_thread(self._store, outcome, started)
        caller_gone = leg.ended.is_set()
        final = loaded.script.states.get(manager.state)
        script_hangup = final is not None and any(a.kind == "hangup" for a in final.actions)
        return RobotResult(
            script_id=script_id,
            version=version,
            record_id=record_id,
            outcome=str(outcome.outcome),
            disposition=outcome.disposition,
            qualified=bool(outcome.qualified),
            slots=outcome.slots,
            transcript=outcome.transcript,
            hung_up=caller_gone or call.transferred or script_hangup,
            caller_hung_up=caller_gone,
            error=outcome.error,
        )

    def _store(self, outcome: Any, started: datetime) -> int | None:
        """A call row holding the script's result, like a dialler call's (blocking)."""
        from models.call import Call
        from models.transactions import DatabaseError, session_scope
        from models.types import utc_now
        from robot.dialler.outcomes import call_end_values

        values = call_end_values(outcome, utc_now())
        try:
            with session_scope(self.db) as session:
                row = Call(
                    tenant_id=self.tenant_id,
                    number=self.number,
                    worker=ROBOT_WORKER,
                    started_at=started,
                    **values,
                )
                session.add(row)
                session.flush()
                row_id = row.id
        except DatabaseError as e:  # the call goes on; only the stored result is lost
            logger.error("robot result not stored: %s", e)
            return None
        return row_id

    def _report(self, leg: Leg, result: RobotResult) -> None:
        if leg.events is None:
            return
        with contextlib.suppress(CallrobotError):
            leg.events.emit(
                EventType.ROBOT_COMPLETED,
                script_id=result.script_id,
                script_version=result.version,
                robot_call_id=result.record_id,
                outcome=result.outcome,
                disposition=result.disposition,
                qualified=result.qualified,
                answers=result.slots,
                hung_up=result.hung_up,
                error=result.error,
            )
