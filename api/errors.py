"""One place that turns errors into JSON problems: ``{"detail": ..., "errors": [...]}``.

Domain errors map by class (NotFoundError 404, ValidationError/ScriptError 422,
AuthenticationError 401); FastAPI's request validation errors become 422 naming each field;
database errors caused by a value (``DataError``) are the client's fault (422), never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from models.transactions import DatabaseError
from robot.errors import CallrobotError, NotFoundError, ScriptError, ValidationError

logger = logging.getLogger(__name__)


class AuthenticationError(CallrobotError):
    """No API key, or a key that is unknown or revoked."""


class PayloadTooLargeError(CallrobotError):
    """A request body is larger than the route accepts."""


class UnsupportedMediaTypeError(CallrobotError):
    """A request body has a content type the route does not read."""


class ConflictError(CallrobotError):
    """The request conflicts with the current state (e.g. a duplicate)."""


STATUS_BY_ERROR: list[tuple[type[CallrobotError], int]] = [
    (AuthenticationError, 401),
    (NotFoundError, 404),
    (ConflictError, 409),
    (PayloadTooLargeError, 413),
    (UnsupportedMediaTypeError, 415),
    (ScriptError, 422),
    (ValidationError, 422),
]

#: Shown in OpenAPI for every route that can fail this way.
PROBLEM_EXAMPLE = {"detail": "name: Field required", "errors": [{"field": "body.name"}]}


def problem(status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if errors is not None:
        body["errors"] = errors
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors():
        field = _field_name(err.get("loc", ()))
        errors.append({"field": field, "message": str(err.get("msg", "invalid value"))})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return problem(422, detail, errors)


def error_problem(exc: CallrobotError) -> JSONResponse:
    if isinstance(exc, ScriptError):
        errors = [{"line": p.line, "column": p.column, "message": p.message} for p in exc.problems]
        return problem(422, f"the script has {len(errors)} problem(s)", errors)
    if isinstance(exc, DatabaseError) and isinstance(exc.__cause__, DataError):
        return problem(422, "a value is not acceptable to the database (too long or malformed)")
    if isinstance(exc, DatabaseError) and isinstance(exc.__cause__, IntegrityError):
        return problem(409, "the change conflicts with existing data")
    if isinstance(exc, DatabaseError):
        # The message may quote SQL parameters (numbers): keep it out of logs and responses.
        logger.warning("request failed: database error %s", type(exc.__cause__).__name__)
        return problem(503, "the database refused the operation or is unavailable; try again")
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return problem(status, str(exc))
    return problem(400, str(exc))


def install_error_handlers(app: FastAPI) -> None:
    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_problem(exc)

    async def on_domain(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CallrobotError)
        return error_problem(exc)

    async def on_data_error(_request: Request, exc: Exception) -> JSONResponse:
        logger.info("database refused a value: %s", exc.__class__.__name__)
        return problem(422, "a value is not acceptable to the database (too long or malformed)")

    async def on_integrity(_request: Request, _exc: Exception) -> JSONResponse:
        return problem(409, "the change conflicts with existing data")

    async def on_operational(_request: Request, exc: Exception) -> JSONResponse:
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return problem(503, "the database is unavailable; try again")

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(CallrobotError, on_domain)
    app.add_exception_handler(DataError, on_data_error)
    app.add_exception_handler(IntegrityError, on_integrity)
    app.add_exception_handler(OperationalError, on_operational)
