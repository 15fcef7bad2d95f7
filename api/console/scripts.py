"""Console scripts: the list, the editor, its lint and graph endpoints, "save as new version".

Lint runs the project's own validator (the one ``POST /v1/scripts`` runs) and answers
``{"diagnostics": [{"line", "column", "message"}]}`` with 1-based positions; the graph is
:func:`dialogues.graph.script_graph`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session

from api.console.render import CONSOLE_HEADERS, not_found, render
from api.console.session import CheckedUserDep, ConsoleUser, UserDep
from api.deps import IdPath
from api.placement import load_stored_script
from api.routes.scripts import get_owned_script, save_script_version
from dialogues.graph import script_graph
from models.script import Script
from models.transactions import for_writes
from robot.errors import NotFoundError, ScriptError, ValidationError

router = APIRouter(include_in_schema=False)

#: The name problems are reported under; problems in other files (shared NLU data) say theirs.
EDITOR_FILE = "script.yaml"

NEW_SCRIPT = """script: my_script
description: A short call that greets and asks one question.
start: greet
intents:
  affirm:
    examples: [yes, sure, of course]
  deny:
    examples: [no, not really]
states:
  greet:
    ask: Hello! Do you have a minute?
    on:
      affirm: thanks
      deny: goodbye
  thanks:
    say: Thank you. Goodbye!
    disposition: qualified
    end: true
  goodbye:
    say: Sorry to bother you. Goodbye!
    disposition: not_interested
    end: true
"""


class ScriptText(BaseModel):
    text: str = Field(max_length=2_000_000)


def _max_bytes(request: Request) -> int:
    return int(request.app.state.settings.input_limits.script_max_bytes)


def diagnostics(text: str, max_bytes: int) -> list[dict[str, Any]]:
    """The validator's problems with ``text`` as editor diagnostics (empty when valid)."""
    if len(text.encode()) > max_bytes:
        return [{"line": 1, "column": 1, "message": f"the script is over {max_bytes} bytes"}]
    try:
        load_stored_script(text, EDITOR_FILE)
    except ScriptError as e:
        out = []
        for p in e.problems:
            here = p.file == EDITOR_FILE
            out.append(
                {
                    "line": p.line if here else 1,
                    "column": p.column if here else 1,
                    "message": p.message if here else str(p),
                }
            )
        return out
    return []


def _script_rows(session: Session, tenant_id: int) -> list[Any]:
    return list(
        session.execute(
            select(Script.id, Script.name, Script.version, Script.created_at)  # type: ignore[call-overload]
            .where(Script.tenant_id == tenant_id)
            .order_by(Script.name, Script.version.desc())  # type: ignore[attr-defined]
        ).all()
    )


@router.get("/scripts", response_class=HTMLResponse)
async def scripts_page(request: Request, user: UserDep) -> Response:
    def load() -> list[Any]:
        with Session(request.app.state.engine) as session:
            return _script_rows(session, user.tenant_id)

    rows = await run_in_threadpool(load)
    return render(request, "scripts.html", {"user": user, "page": "scripts", "scripts": rows})


def _editor(
    request: Request,
    user: ConsoleUser,
    text: str,
    script: Script | None,
    problems: list[dict[str, Any]] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "user": user,
        "page": "scripts",
        "script": script,
        "text": text,
        "problems": problems or [],
    }
    return render(request, "editor.html", context, status_code=status_code)


@router.get("/scripts/new", response_class=HTMLResponse)
async def new_script(request: Request, user: UserDep) -> Response:
    return _editor(request, user, NEW_SCRIPT, None)


@router.get("/scripts/{script_id}", response_class=HTMLResponse)
async def edit_script(request: Request, user: UserDep, script_id: IdPath) -> Response:
    def load() -> Script:
        with Session(request.app.state.engine) as session:
            return get_owned_script(session, user.tenant_id, script_id)

    try:
        script = await run_in_threadpool(load)
    except NotFoundError as e:
        return not_found(request, user, str(e))
    return _editor(request, user, script.yaml_text, script)


@router.post("/scripts/lint")
async def lint(request: Request, user: CheckedUserDep, body: ScriptText) -> JSONResponse:
    found = await run_in_threadpool(diagnostics, body.text, _max_bytes(request))
    return JSONResponse({"diagnostics": found}, headers=CONSOLE_HEADERS)


@router.post("/scripts/graph")
async def graph_of_text(user: CheckedUserDep, body: ScriptText) -> JSONResponse:
    graph = await run_in_threadpool(script_graph, body.text)
    return JSONResponse(graph.to_json(), headers=CONSOLE_HEADERS)


@router.get("/scripts/{script_id}/graph")
async def graph_of_script(request: Request, user: UserDep, script_id: IdPath) -> JSONResponse:
    def load() -> dict[str, Any]:
        with Session(request.app.state.engine) as session:
            script = get_owned_script(session, user.tenant_id, script_id)
        return script_graph(script.yaml_text).to_json()

    return JSONResponse(await run_in_threadpool(load), headers=CONSOLE_HEADERS)


@router.post("/scripts/save", response_class=HTMLResponse)
async def save_script(
    request: Request,
    user: CheckedUserDep,
    yaml_text: Annotated[str, Form(max_length=2_000_000)],
) -> Response:
    """Validate and store the editor's text as the next version of its script's name."""
    if len(yaml_text.encode()) > _max_bytes(request):
        problems = diagnostics(yaml_text, _max_bytes(request))
        return _editor(request, user, yaml_text, None, problems, 422)

    def store() -> int:
        with Session(for_writes(request.app.state.engine), expire_on_commit=False) as session:
            script, _ = save_script_version(session, user.tenant_id, yaml_text, EDITOR_FILE)
            assert script.id is not None
            return script.id

    try:
        script_id = await run_in_threadpool(store)
    except ScriptError:
        problems = await run_in_threadpool(diagnostics, yaml_text, _max_bytes(request))
        return _editor(request, user, yaml_text, None, problems, 422)
    except ValidationError as e:
        problem = [{"line": 1, "column": 1, "message": str(e)}]
        return _editor(request, user, yaml_text, None, problem, 422)
    return RedirectResponse(f"/scripts/{script_id}?saved=1", status_code=303)
