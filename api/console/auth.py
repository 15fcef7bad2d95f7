"""Sign-in with an API key (a session cookie) and sign-out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.console.render import render
from api.console.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_MAX_AGE_S,
    CheckedUserDep,
    CsrfRefused,
    set_cookie,
    signer_of,
)
from api.deps import authenticate, cached_tenant, tenant_id_of
from api.errors import AuthenticationError
from api.ratelimit import ApiGuard
from models.apikey import ApiKey, hash_token

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path on this site only (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc or "\\" in target else target


def _signin_page(request: Request, next_url: str, error: str | None, status: int) -> Response:
    value, cookie = signer_of(request).signin_token()
    response = render(
        request,
        "signin.html",
        {"csrf_token": value, "next_url": next_url, "error": error},
        status_code=status,
    )
    set_cookie(request, response, SIGNIN_COOKIE, cookie, SIGNIN_MAX_AGE_S)
    return response


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(request: Request, next: str | None = None) -> Response:
    return _signin_page(request, safe_next(next), None, 200)


def _key_id(engine: Engine, token: str) -> int | None:
    keys = ApiKey.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as conn:
        found = conn.execute(
            select(keys.id).where(keys.key_hash == hash_token(token))
        ).scalar_one_or_none()
    return None if found is None else int(found)


@router.post("/signin", response_class=HTMLResponse)
async def signin(
    request: Request,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the key like the API does (bad keys slowed and blocked per address)."""
    signer = signer_of(request)
    if not signer.check_signin_token(request.cookies.get(SIGNIN_COOKIE), csrf_token):
        raise CsrfRefused
    token = api_key.strip()
    guard: ApiGuard = request.app.state.api_guard
    address = request.client.host if request.client else "unknown"
    engine = request.app.state.engine
    tenant = cached_tenant(hash_token(token)) if token else None
    if tenant is None:
        guard.refuse_blocked_address(address)
        try:
            if not token:
                raise AuthenticationError("the API key is unknown or revoked")
            with Session(engine) as session:
                tenant = await run_in_threadpool(authenticate, session, token)
        except AuthenticationError:
            await guard.bad_keys.failed(address)
            return _signin_page(
                request, safe_next(next), "That API key is unknown or revoked.", 401
            )
    key_id = await run_in_threadpool(_key_id, engine, token)
    if key_id is None:
        return _signin_page(request, safe_next(next), "That API key is unknown or revoked.", 401)
    response = RedirectResponse(safe_next(next), status_code=303)
    cookie = signer.session_cookie(tenant_id_of(tenant), key_id)
    set_cookie(request, response, SESSION_COOKIE, cookie, signer.max_age_s)
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


@router.post("/signout")
async def signout(request: Request, user: CheckedUserDep) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
