"""``GET /health``: the only route without authentication."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import EngineDep
from api.errors import problem

router = APIRouter(tags=["health"])


@router.get("/health", responses={503: {"description": "The database is unreachable."}})
def health(engine: EngineDep) -> object:
    """Liveness and database reachability."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return problem(503, "database: unreachable")
    return {"status": "ok", "database": "ok"}
