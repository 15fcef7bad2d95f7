"""A call's console page: the recording (two waveforms, one region per turn), the transcript
beside it, voicemail verdict, signalling, webhook deliveries, and "Replay against the current
script" (the QA replay of ``callrobot replay``, run in the background).

The recording is served with the API's own tenant check and byte ranges
(:func:`api.routes.calls.get_recording`). Turn times on the recording come from the turn log
beside it (:func:`robot.replay.read_turn_log`): the turns' ``start_ms`` minus ``answered_ms``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.console.pages import tenant_of
from api.console.render import not_found, render
from api.console.session import CheckedUserDep, ConsoleUser, UserDep
from api.console.webhooks import recent_deliveries
from api.deps import IdPath
from api.placement import load_stored_script
from api.routes.calls import CallDetail, get_call, get_owned_call, get_recording
from models.script import Script
from robot.config import Settings
from robot.errors import CallrobotError, NotFoundError, ValidationError
from robot.recording_files import resolve_stored

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

#: A turn with no end in the log lasts until the next one starts, or this long (s).
LAST_TURN_S = 1.5


@dataclass(frozen=True, slots=True)
class TurnSpan:
    """Where a transcript turn is on the recording (seconds from its start)."""

    start_s: float
    end_s: float


def turn_spans(turns: list[dict[str, Any]], answered_ms: float) -> list[TurnSpan]:
    """Each turn's place on the recording, which starts at answer."""
    spans = []
    for index, turn in enumerate(turns):
        start = max(0.0, (float(turn.get("start_ms") or 0.0) - answered_ms) / 1000)
        end_ms = turn.get("end_ms")
        if end_ms is not None:
            end = (float(end_ms) - answered_ms) / 1000
        elif index + 1 < len(turns):
            end = (float(turns[index + 1].get("start_ms") or 0.0) - answered_ms) / 1000
        else:
            end = start + LAST_TURN_S
        spans.append(TurnSpan(round(start, 3), round(max(end, start + 0.05), 3)))
    return spans


def _answered_ms(root: Path, recording_path: str | None) -> tuple[float, bool]:
    """The turn log's ``answered_ms`` and True, or 0 and False without a readable log."""
    if not recording_path:
        return 0.0, False
    from robot.replay import read_turn_log

    try:
        path = resolve_stored(root, recording_path)
        return float(read_turn_log(str(path))["answered_ms"]), True
    except CallrobotError:
        return 0.0, False


@dataclass
class ReplayState:
    """A replay started from the console: running, then its result or its error."""

    running: bool = True
    result: dict[str, Any] | None = None
    error: str | None = None
    script: str | None = None
    differences: list[dict[str, Any]] = field(default_factory=list)


def _replays(request: Request) -> dict[tuple[int, int], ReplayState]:
    state = request.app.state
    if not hasattr(state, "console_replays"):
        state.console_replays = {}
    replays: dict[tuple[int, int], ReplayState] = state.console_replays
    return replays


def _page_context(request: Request, user: ConsoleUser, call_id: int) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    with Session(request.app.state.engine) as session:
        detail: CallDetail = get_call(call_id, session, settings, tenant_of(user))
        call = get_owned_call(session, user.tenant_id, call_id)
        deliveries = recent_deliveries(session, user.tenant_id, limit=100, call_id=call_id)
    answered_ms, timed = _answered_ms(settings.recordings_root(), call.recording_path)
    turns = [t.model_dump() for t in detail.transcript]
    spans = turn_spans(turns, answered_ms)
    return {
        "user": user,
        "page": "calls",
        "call": detail,
        "turns": list(zip(detail.transcript, spans, strict=True)),
        "timed": timed,
        "has_recording": bool(call.recording_path),
        "deliveries": deliveries,
        "replay": _replays(request).get((user.tenant_id, call_id)),
        "call_id": call_id,
    }


@router.get("/calls/{call_id}", response_class=HTMLResponse)
async def call_page(request: Request, user: UserDep, call_id: IdPath) -> Response:
    try:
        context = await run_in_threadpool(_page_context, request, user, call_id)
    except NotFoundError as e:
        return not_found(request, user, str(e))
    return render(request, "call.html", context)


@router.get("/calls/{call_id}/recording")
async def call_recording(request: Request, user: UserDep, call_id: IdPath) -> Response:
    """The WAV with the API's tenant check and ``Range`` support (206, 416)."""

    def load() -> Response:
        with Session(request.app.state.engine) as session:
            settings = request.app.state.settings
            return get_recording(call_id, request, session, settings, tenant_of(user))

    try:
        return await run_in_threadpool(load)
    except NotFoundError as e:
        return not_found(request, user, str(e))


def _replay_inputs(db: Engine, root: Path, tenant_id: int, call_id: int) -> tuple[Any, Any, str]:
    """The recorded call and the newest stored version of its script (blocking)."""
    from robot.replay import load_recorded_call

    with Session(db) as session:
        call = get_owned_call(session, tenant_id, call_id)
        if not call.recording_path:
            raise ValidationError(f"call {call_id} has no recording to replay")
        recorded = load_recorded_call(str(resolve_stored(root, call.recording_path)))
        script = session.exec(
            select(Script)
            .where(Script.tenant_id == tenant_id, Script.name == recorded.script_name)
            .order_by(Script.version.desc())  # type: ignore[attr-defined]
        ).first()
    if script is None:
        raise ValidationError(f"script {recorded.script_name!r} is not stored for this tenant")
    label = f"{script.name} v{script.version}"
    return recorded, load_stored_script(script.yaml_text, f"{script.name}@v{script.version}"), label


def _replay_engine(app: FastAPI) -> Any:
    """One call engine for the console's replays, made at the first one."""
    state = app.state
    if getattr(state, "console_replay_engine", None) is None:
        from robot.engine import CallEngine

        state.console_replay_engine = CallEngine(settings=state.settings)
    return state.console_replay_engine


async def _run_replay(app: FastAPI, tenant_id: int, call_id: int, state: ReplayState) -> None:
    from robot.replay import replay_call

    try:
        db = app.state.engine
        root = app.state.settings.recordings_root()
        recorded, loaded, label = await asyncio.to_thread(
            _replay_inputs, db, root, tenant_id, call_id
        )
        state.script = label
        engine = await asyncio.to_thread(_replay_engine, app)
        await asyncio.to_thread(engine.warm, loaded)
        result = await replay_call(recorded, loaded, engine)
        state.result = result.to_json()
        state.differences = result.differences
    except CallrobotError as e:
        state.error = str(e)
    except asyncio.CancelledError:
        state.error = "the replay was stopped: the server is shutting down"
        raise
    except Exception as e:  # the replay's one catch boundary: the page shows what went wrong
        logger.exception("replay of call %d failed", call_id)
        state.error = f"{e.__class__.__name__}: {e}"
    finally:
        state.running = False


@router.post("/calls/{call_id}/replay", response_class=HTMLResponse)
async def start_replay(request: Request, user: CheckedUserDep, call_id: IdPath) -> Response:
    """Replay the call's callee audio against the newest version of its script."""

    def owned() -> None:
        with Session(request.app.state.engine) as session:
            get_owned_call(session, user.tenant_id, call_id)

    try:
        await run_in_threadpool(owned)
    except NotFoundError as e:
        return not_found(request, user, str(e))
    replays = _replays(request)
    key = (user.tenant_id, call_id)
    if key not in replays or not replays[key].running:
        state = replays[key] = ReplayState()
        background: set[asyncio.Task[Any]] = request.app.state.background
        task = asyncio.create_task(_run_replay(request.app, user.tenant_id, call_id, state))
        background.add(task)
        task.add_done_callback(background.discard)
    if request.headers.get("hx-request"):
        return render(request, "_replay.html", {"replay": replays[key], "call_id": call_id})
    return RedirectResponse(f"/calls/{call_id}#replay", status_code=303)


@router.get("/calls/{call_id}/replay", response_class=HTMLResponse)
async def replay_status(request: Request, user: UserDep, call_id: IdPath) -> Response:
    """The replay's state (the page polls it while it runs)."""
    replay = _replays(request).get((user.tenant_id, call_id))
    return render(request, "_replay.html", {"replay": replay, "call_id": call_id, "user": user})
