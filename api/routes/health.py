"""``GET /health``: the only route without authentication."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import EngineDep
from api.errors import problem

router = APIRouter(tags=["health"])


@router.get("/health", responses={503: {"description": "The database is unreachable."}})
def health(engine: EngineDep, request: Request) -> object:
    """Liveness, database reachability and the call engine's load: calls running, calls held
    back by admission control, recent p95 turn latency and decode wait (ms), CPU share, and
    whether it takes more calls now."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return problem(503, "database: unreachable")
    body: dict[str, object] = {"status": "ok", "database": "ok"}
    load = getattr(request.app.state, "engine_load", None)
    if load is not None:
        body["engine"] = load.snapshot()
    return body
