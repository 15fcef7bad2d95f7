"""Placing one call for ``POST /v1/calls``: run it in the background, store how it ended.

The call row exists before dialling (:func:`open_call_row`, also for calls that run
actions); when the call ends, its final state and its webhook events are written in one
transaction. :class:`CallPlacer` is the seam: the default :class:`EngineCallPlacer` uses the
call engine and the configured carrier.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.call import Call
from models.dnc import DncEntry
from models.transactions import write_transaction
from models.types import utc_now
from robot.carriers.base import CallOutcome
from robot.config import Settings
from robot.crm.outbox import CALL, record_call_events
from robot.dialler.worker import CallResult, DialJob, call_end_values
from robot.errors import ValidationError
from robot.logs import bind_call
from robot.phone import normalise_number
from robot.quotas import check_recordings, room_for_calls

logger = logging.getLogger(__name__)


def shared_nlu_dir() -> Path:
    """Where ``nlu:`` files of uploaded scripts are found: the bundled ones (common intents)."""
    import dialogues

    return Path(dialogues.__file__).resolve().parent / "scripts"


def load_stored_script(yaml_text: str, filename: str) -> Any:
    """Load an uploaded script (raises ScriptError with every problem)."""
    from dialogues.loader import load_script_text

    return load_script_text(yaml_text, filename=filename, base_dir=shared_nlu_dir())


#: The simulated network has its own numbering plan (e.g. ``+12025550101``).
SIM_NUMBER = re.compile(r"\+\d{6,15}")


def call_number(value: str, region: str, carrier_url: str) -> str:
    """E.164 form of the number to call; on ``sim://`` any ``+digits`` number is accepted."""
    try:
        return normalise_number(value, region)
    except ValidationError:
        if carrier_url.lower().startswith("sim:") and SIM_NUMBER.fullmatch(value.strip()):
            return value.strip()
        raise


def open_call_row(session: Session, tenant_id: int, number: str, settings: Settings) -> int:
    """Check the tenant's caps and the do-not-call list, then write the call's row (no
    outcome yet: it counts as queued until it ends); return its id."""
    room_for_calls(session.connection(), tenant_id, settings.quotas.max_queued_calls)
    check_recordings(session.connection(), tenant_id, settings.quotas.max_stored_recordings)
    on_dnc = session.exec(
        select(DncEntry.id).where(DncEntry.tenant_id == tenant_id, DncEntry.number == number)
    ).first()
    if on_dnc is not None:
        raise ValidationError("number: the number is on the do-not-call list")
    call = Call(tenant_id=tenant_id, number=number, worker="api")
    session.add(call)
    session.commit()
    session.refresh(call)
    assert call.id is not None
    return call.id


@dataclass(frozen=True, slots=True)
class PlaceCall:
    call_id: int
    tenant_id: int
    number: str
    script_id: int
    script_yaml: str
    variables: dict[str, Any] = field(default_factory=dict)
    timezone: str | None = None
    caller_id: str | None = None


class CallPlacer(Protocol):
    async def place(self, request: PlaceCall) -> CallResult:
        """Dial, run the conversation to its end, and report how it went."""
        ...


class EngineCallPlacer:
    """Places calls with :class:`robot.engine.CallEngine` through ``settings.carrier_url``."""

    def __init__(self, settings: Settings) -> None:
        from robot.load import EngineLoad

        self.settings = settings
        #: The call engine's load (created with the engine's settings before the engine).
        self.load = EngineLoad(settings.admission)
        self._engine: Any = None
        #: Loaded scripts by id (a stored version never changes), so NLU trains once.
        self._scripts: dict[int, Any] = {}
        self._lock = threading.Lock()

    def _prepare(self, request: PlaceCall) -> Any:
        """Load the script, train its NLU and load its engines (blocking: run in a thread)."""
        from robot.engine import CallEngine

        with self._lock:
            if self._engine is None:
                self._engine = CallEngine(
                    settings=self.settings,
                    detect_voicemail=self.settings.voicemail_detection,
                    _load=self.load,
                )
            loaded = self._scripts.get(request.script_id)
            if loaded is None:
                loaded = load_stored_script(request.script_yaml, f"script-{request.script_id}")
                self._scripts[request.script_id] = loaded
            self._engine.prepare(loaded)
            self._engine.registry.recognizer(loaded.script.language)
        return loaded

    async def place(self, request: PlaceCall) -> CallResult:
        from robot.carriers.factory import create_carrier

        loaded = await asyncio.to_thread(self._prepare, request)
        carrier = create_carrier(self.settings.carrier_url)
        started = utc_now()
        try:
            report = await self._engine.call(
                carrier,
                request.number,
                loaded,
                lead=request.variables,
                timezone=request.timezone,
                recording_dir=self.settings.recordings_root(),
                caller_id=request.caller_id,
            )
        finally:
            await carrier.close()
        from robot.recording_files import stored_or_absolute
        from robot.runner import report_to_result

        result = report_to_result(report, started, loaded.script.settings.qualified_dispositions)
        root = self.settings.recordings_root()
        result.recording_path = stored_or_absolute(root, result.recording_path)
        return result


def store_call_result(engine: Engine, call_id: int, result: CallResult, base_url: str) -> None:
    """Write the call's final state and queue its webhook events in one transaction."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(CALL).where(CALL.c.id == call_id).values(**call_end_values(result, utc_now()))
        )
        record_call_events(conn, call_id, public_base_url=base_url)


async def run_placed_call(
    engine: Engine, placer: CallPlacer, request: PlaceCall, base_url: str
) -> None:
    """The one catch boundary of an API call: whatever happens, the call gets an outcome."""
    bind_call(call_id=request.call_id)  # this call's own task: on each of its log lines
    try:
        result = await placer.place(request)
    except asyncio.CancelledError:
        result = CallResult(outcome=CallOutcome.CANCELLED, error="service shut down")
        await asyncio.to_thread(store_call_result, engine, request.call_id, result, base_url)
        raise
    except Exception as e:
        logger.exception("call %d failed", request.call_id)
        result = CallResult(outcome=CallOutcome.FAILED, error=f"{e.__class__.__name__}: {e}")
    await asyncio.to_thread(store_call_result, engine, request.call_id, result, base_url)
    logger.info("call %d ended: %s", request.call_id, result.outcome)


#: The call variable whose value goes out as the INVITE's ``X-Attempt-Id`` header (the
#: attempt's call id), so the far end and its logs can tell each attempt of a lead apart.
ATTEMPT_ID_VARIABLE = "sip_header_X-Attempt-Id"


class ScriptCallRunner:
    """The dialler's :class:`~robot.dialler.worker.CallRunner` on top of a :class:`CallPlacer`.

    Loads the campaign's pinned script version from the database (once per version: a stored
    version never changes) and sends the attempt's id with the INVITE (``X-Attempt-Id``).
    """

    def __init__(self, engine: Engine, placer: CallPlacer) -> None:
        self.engine = engine
        self.placer = placer
        self._yaml: dict[int, str] = {}

    def _script_yaml(self, script_id: int | None) -> str:
        from sqlmodel import Session

        from models.script import Script

        if script_id is None:
            raise ValueError("the campaign has no script")
        if script_id in self._yaml:
            return self._yaml[script_id]
        with Session(self.engine) as session:
            script = session.get(Script, script_id)
        if script is None:
            raise ValueError(f"script {script_id} not found")
        self._yaml[script_id] = script.yaml_text
        return script.yaml_text

    async def run(self, job: DialJob) -> CallResult:
        try:
            yaml_text = await asyncio.to_thread(self._script_yaml, job.script_id)
            request = PlaceCall(
                call_id=job.call_id,
                tenant_id=job.tenant_id,
                number=job.number,
                script_id=job.script_id or 0,
                script_yaml=yaml_text,
                variables={**job.variables, ATTEMPT_ID_VARIABLE: str(job.call_id)},
                timezone=job.time_zones[0] if job.time_zones else None,
                caller_id=job.caller_id,
            )
            return await self.placer.place(request)
        except Exception as e:
            logger.exception("campaign call %d failed", job.call_id)
            return CallResult(outcome=CallOutcome.FAILED, error=f"{e.__class__.__name__}: {e}")
