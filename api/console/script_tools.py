"""Console script tools: run a stored script's test conversations (``callrobot script test``)
and chat with it by text (``callrobot chat``).

The chat keeps no state on the server: each message posts what was typed before it, and a
fresh dialogue manager hears the whole conversation again (the manager is deterministic for
the same words, lead and clock; the clock is the chat's first message time, sent back too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from api.console.render import not_found, render
from api.console.session import CheckedUserDep
from api.deps import IdPath
from api.placement import load_stored_script
from api.routes.scripts import get_owned_script
from robot.errors import CallrobotError, NotFoundError

router = APIRouter(include_in_schema=False)

#: Lead variables a chat starts with (as ``callrobot chat``).
CHAT_LEAD = {"first_name": "Alex"}
#: Messages kept in one chat (older ones make the form too large to be useful).
MAX_CHAT_MESSAGES = 100
MAX_MESSAGE_CHARS = 500


def _loaded_script(request: Request, tenant_id: int, script_id: int) -> Any:
    with Session(request.app.state.engine) as session:
        script = get_owned_script(session, tenant_id, script_id)
    return load_stored_script(script.yaml_text, f"{script.name}@v{script.version}")


@dataclass
class ScriptTestRun:
    reports: list[Any] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> int:
        return sum(1 for r in self.reports if r.passed)

    @property
    def failed(self) -> int:
        return len(self.reports) - self.passed


@router.post("/scripts/{script_id}/tests", response_class=HTMLResponse)
async def run_script_tests(request: Request, user: CheckedUserDep, script_id: IdPath) -> Response:
    """Run the stored version's ``tests:`` conversations; a pytest-like report."""
    from dialogues.script_tests import run_tests

    def run() -> ScriptTestRun:
        try:
            return ScriptTestRun(run_tests(_loaded_script(request, user.tenant_id, script_id)))
        except NotFoundError:
            raise
        except CallrobotError as e:
            return ScriptTestRun(error=str(e))

    try:
        result = await run_in_threadpool(run)
    except NotFoundError as e:
        return not_found(request, user, str(e))
    return render(request, "_script_tests.html", {"run": result, "script_id": script_id})


@dataclass(frozen=True, slots=True)
class ChatLine:
    who: str
    text: str
    state: str | None = None
    intent: str | None = None
    confidence: float | None = None
    slots: dict[str, Any] = field(default_factory=dict)


def chat_lines(
    loaded: Any, said: list[str], now: datetime
) -> tuple[list[ChatLine], dict[str, Any] | None]:
    """The conversation after the callee typed ``said``; the result once the call ended."""
    from dialogues.manager import DialogueManager
    from dialogues.turns import typed_event

    manager = DialogueManager(loaded, lead=dict(CHAT_LEAD), clock=lambda: now)
    turn = manager.start()
    lines = [ChatLine("robot", turn.text, turn.state)]
    for text in said:
        if manager.ended:
            break
        lines.append(ChatLine("callee", text or "(silence)"))
        turn = manager.handle(typed_event(text))
        nlu = turn.nlu
        lines.append(
            ChatLine(
                "robot",
                turn.text,
                turn.state,
                nlu.intent if nlu else None,
                round(nlu.confidence, 2) if nlu else None,
                {k: str(v) for k, v in turn.slots_filled.items()},
            )
        )
    if not manager.ended:
        return lines, None
    result = manager.result()
    return lines, {"disposition": result.disposition, "slots": result.slots}


@router.post("/scripts/{script_id}/chat", response_class=HTMLResponse)
async def chat(request: Request, user: CheckedUserDep, script_id: IdPath) -> Response:
    """One more message in the chat (``said`` = the earlier ones, ``message`` = the new one)."""
    form = await request.form()
    said = [v[:MAX_MESSAGE_CHARS] for v in form.getlist("said") if isinstance(v, str)]
    message = form.get("message")
    if isinstance(message, str) and form.get("restart") is None:
        said.append(message[:MAX_MESSAGE_CHARS])
    if form.get("restart") is not None:
        said = []
    said = said[-MAX_CHAT_MESSAGES:]
    started = form.get("started")
    try:
        now = datetime.fromisoformat(started) if isinstance(started, str) else datetime.now(UTC)
    except ValueError:
        now = datetime.now(UTC)

    def run() -> tuple[list[ChatLine], dict[str, Any] | None]:
        return chat_lines(_loaded_script(request, user.tenant_id, script_id), said, now)

    try:
        lines, ended = await run_in_threadpool(run)
    except NotFoundError as e:
        return not_found(request, user, str(e))
    except CallrobotError as e:
        lines, ended = [ChatLine("error", str(e))], None
    context = {
        "user": user,
        "script_id": script_id,
        "lines": lines,
        "said": said,
        "ended": ended,
        "started": now.isoformat(),
    }
    return render(request, "_chat.html", context)
