"""One place that turns errors into RFC 9457 problems (``application/problem+json``).

Every error answer is ``{"type", "title", "status", "detail", "errors"?}``: ``detail`` says what
went wrong in words, ``errors`` (when present) lists each field, line or row at fault.
Domain errors map by class (NotFoundError 404, ValidationError/ScriptError 422,
AuthenticationError 401, QuotaExceededError 409, RateLimitedError 429 with ``Retry-After``);
FastAPI's request validation errors become 422 naming each field; database errors caused by a value
(``DataError``) are the client's fault (422), never a 500. :class:`Problem` is the model the
OpenAPI document shows for every error status (see ``api.openapi``).
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.transactions import DatabaseError
from robot.errors import (
    CallrobotError,
    NotFoundError,
    QuotaExceededError,
    ScriptError,
    ValidationError,
)

logger = logging.getLogger(__name__)


class AuthenticationError(CallrobotError):
    """No API key, or a key that is unknown or revoked."""


class PayloadTooLargeError(CallrobotError):
    """A request body is larger than the route accepts."""


class UnsupportedMediaTypeError(CallrobotError):
    """A request body has a content type the route does not read."""


class ConflictError(CallrobotError):
    """The request conflicts with the current state (e.g. a duplicate)."""


class RateLimitedError(CallrobotError):
    """Too many requests: try again after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


STATUS_BY_ERROR: list[tuple[type[CallrobotError], int]] = [
    (AuthenticationError, 401),
    (NotFoundError, 404),
    (ConflictError, 409),
    (QuotaExceededError, 409),
    (PayloadTooLargeError, 413),
    (UnsupportedMediaTypeError, 415),
    (RateLimitedError, 429),
    (ScriptError, 422),
    (ValidationError, 422),
]

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemItem(BaseModel):
    """One thing at fault: a request field, a script line and column, or a file row."""

    model_config = ConfigDict(extra="allow")

    message: str
    field: str | None = None
    line: int | None = None
    column: int | None = None
    row: int | None = None


class Problem(BaseModel):
    """An error answer (RFC 9457); more members may be added, clients ignore the unknown."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="Always `about:blank`: see `status`.")
    title: str = Field(description="The HTTP status phrase, e.g. `Unprocessable Content`.")
    status: int = Field(ge=400, le=599, description="The HTTP status code of this answer.")
    detail: str = Field(description="What went wrong, naming the field, line or row.")
    errors: list[ProblemItem] | None = Field(
        default=None, description="Each field, line or row at fault (422)."
    )


#: Shown in OpenAPI for every route that can fail this way.
PROBLEM_EXAMPLE = {
    "type": "about:blank",
    "title": "Unprocessable Content",
    "status": 422,
    "detail": "body.name: Field required",
    "errors": [{"field": "body.name", "message": "Field required"}],
}


def status_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The one way an error answer is built (``application/problem+json``)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": status_title(status),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    all_headers = dict(headers or {})
    if status == 401:
        all_headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        body, status_code=status, headers=all_headers or None, media_type=PROBLEM_MEDIA_TYPE
    )


def retry_after(seconds: float) -> dict[str, str]:
    """A ``Retry-After`` header: whole seconds, at least 1."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


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
    if isinstance(exc, RateLimitedError):
        return problem(429, str(exc), headers=retry_after(exc.retry_after_s))
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

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))

    async def on_operational(_request: Request, exc: Exception) -> JSONResponse:
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return problem(503, "the database is unavailable; try again")

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(CallrobotError, on_domain)
    app.add_exception_handler(DataError, on_data_error)
    app.add_exception_handler(IntegrityError, on_integrity)
    app.add_exception_handler(OperationalError, on_operational)
