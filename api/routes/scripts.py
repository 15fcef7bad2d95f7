"""Scripts: upload YAML (raw body or multipart), versioned per name; read and list them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.bodies import read_upload, upload_openapi
from api.deps import (
    IdPath,
    LimitQuery,
    OffsetQuery,
    SessionDep,
    SettingsDep,
    TenantDep,
    WriteSessionDep,
    tenant_id_of,
)
from api.errors import PROBLEM_EXAMPLE
from api.placement import load_stored_script
from models.script import Script
from models.tenancy import get_owned
from robot.errors import ValidationError

router = APIRouter(prefix="/v1/scripts", tags=["scripts"])

YAML_TYPES = ("application/x-yaml", "application/yaml", "text/yaml", "text/plain")
EXAMPLE_SCRIPT = """script: hello
start: greet
states:
  greet:
    say: Hello, this is a test call. Goodbye!
    disposition: incomplete
    end: true
"""


class ScriptSummary(BaseModel):
    id: int
    name: str
    version: int
    created_at: datetime


class ScriptDetail(ScriptSummary):
    yaml_text: str
    language: str | None = None
    description: str | None = None


class ScriptList(BaseModel):
    items: list[ScriptSummary]


def get_owned_script(session: Session, tenant_id: int, script_id: int) -> Script:
    return get_owned(session, Script, script_id, tenant_id, "script")


def _summary(script: Script) -> ScriptSummary:
    assert script.id is not None
    return ScriptSummary(
        id=script.id, name=script.name, version=script.version, created_at=script.created_at
    )


def _store(session: Session, tenant_id: int, name: str, text: str) -> Script:
    """Store ``text`` as the next version of script ``name``."""
    for _ in range(3):
        latest = session.exec(
            select(func.max(Script.version)).where(
                Script.tenant_id == tenant_id, Script.name == name
            )
        ).one()
        script = Script(tenant_id=tenant_id, name=name, version=(latest or 0) + 1, yaml_text=text)
        session.add(script)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another upload took this version number: take the next
            continue
        session.refresh(script)
        return script
    raise ValidationError(f"script {name!r}: too many concurrent uploads; try again")


def save_script_version(
    session: Session, tenant_id: int, text: str, filename: str
) -> tuple[Script, Any]:
    """Validate a script's YAML (ScriptError lists every problem) and store it as the next
    version of its name; returns the stored row and the loaded script."""
    loaded = load_stored_script(text, filename)
    name = loaded.script.script.strip()
    if not name or len(name) > 200:
        raise ValidationError("script: the name must be 1 to 200 characters")
    return _store(session, tenant_id, name, text), loaded


@router.post(
    "",
    status_code=201,
    response_model=ScriptDetail,
    openapi_extra=upload_openapi(YAML_TYPES, "The script as YAML.", EXAMPLE_SCRIPT),
    responses={
        422: {
            "description": "Invalid script",
            "content": {
                "application/json": {
                    "example": {
                        "detail": "the script has 1 problem(s)",
                        "errors": [{"line": 3, "column": 5, "message": "unknown state 'nowhere'"}],
                    }
                }
            },
        }
    },
)
async def upload_script(
    request: Request, session: WriteSessionDep, tenant: TenantDep, settings: SettingsDep
) -> ScriptDetail:
    """Upload a script; the same name again becomes its next version."""
    upload = await read_upload(
        request,
        accepted=YAML_TYPES,
        default_filename="script.yaml",
        max_bytes=settings.input_limits.script_max_bytes,
    )
    script, loaded = await run_in_threadpool(
        save_script_version, session, tenant_id_of(tenant), upload.text, upload.filename
    )
    return ScriptDetail(
        **_summary(script).model_dump(),
        yaml_text=script.yaml_text,
        language=loaded.script.language,
        description=loaded.script.description,
    )


@router.get("", response_model=ScriptList)
def list_scripts(
    session: SessionDep,
    tenant: TenantDep,
    name: Annotated[str | None, Query(max_length=200)] = None,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> ScriptList:
    """Every version of every script, newest first (optionally one name only)."""
    query = select(Script).where(Script.tenant_id == tenant_id_of(tenant))
    if name is not None:
        query = query.where(Script.name == name)
    rows = session.exec(query.order_by(Script.id.desc()).offset(offset).limit(limit)).all()  # type: ignore[union-attr]
    return ScriptList(items=[_summary(s) for s in rows])


@router.get(
    "/{script_id}",
    response_model=ScriptDetail,
    responses={404: {"content": {"application/json": {"example": PROBLEM_EXAMPLE}}}},
)
def get_script(script_id: IdPath, session: SessionDep, tenant: TenantDep) -> ScriptDetail:
    """One script version with its YAML."""
    script = get_owned_script(session, tenant_id_of(tenant), script_id)
    return ScriptDetail(**_summary(script).model_dump(), yaml_text=script.yaml_text)
