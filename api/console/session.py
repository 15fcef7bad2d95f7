"""Console sessions: a signed cookie made at sign-in with an API key, and CSRF tokens.

The cookie holds the tenant id, the id of the key used to sign in and a random CSRF token,
signed with ``console.secret_key`` (itsdangerous, with its issue time: it ends after
``console.session_max_age_s``). Every page checks that the key is still active, so revoking a
key ends the sessions opened with it. Every POST carries the session's CSRF token, in the form
field ``csrf_token`` or the ``X-CSRF-Token`` header (htmx and fetch send the header).

The sign-in form itself has no session yet: it uses a double-submit token (a random value in
a short-lived cookie and in the form, which must match).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.responses import Response

from models.apikey import ApiKey
from models.tenant import Tenant

logger = logging.getLogger(__name__)

SESSION_COOKIE = "callrobot_session"
SIGNIN_COOKIE = "callrobot_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SIGNIN_MAX_AGE_S = 3600


class SignInRequired(Exception):
    """The request has no valid console session: the handler sends the browser to sign in."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token (answered 403)."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """Who is signed in: the tenant and the API key used, plus the session's CSRF token."""

    tenant_id: int
    tenant_name: str
    key_id: int
    csrf_token: str


class SessionSigner:
    """Signs and reads session cookies with the server's secret key."""

    def __init__(self, secret_key: str, max_age_s: int) -> None:
        self.max_age_s = max_age_s
        self._session = URLSafeTimedSerializer(secret_key, salt="callrobot.console.session")
        self._signin = URLSafeTimedSerializer(secret_key, salt="callrobot.console.signin")

    @classmethod
    def from_settings(cls, secret: Any, max_age_s: int) -> SessionSigner:
        if secret is None:
            logger.warning(
                "console.secret_key is not set: console sessions use a random key and end "
                "when this process restarts (set CALLROBOT_CONSOLE__SECRET_KEY)"
            )
            key = secrets.token_urlsafe(32)
        else:
            key = secret.get_secret_value()
        return cls(key, max_age_s)

    def session_cookie(self, tenant_id: int, key_id: int) -> str:
        data = {"t": tenant_id, "k": key_id, "c": secrets.token_urlsafe(24)}
        return self._session.dumps(data)

    def read_session(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie:
            return None
        try:
            data = self._session.loads(cookie, max_age=self.max_age_s)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not {"t", "k", "c"} <= data.keys():
            return None
        return data

    def signin_token(self) -> tuple[str, str]:
        """A sign-in form token: (value for the form, signed value for the cookie)."""
        value = secrets.token_urlsafe(24)
        return value, self._signin.dumps(value)

    def check_signin_token(self, cookie: str | None, form_value: str | None) -> bool:
        if not cookie or not form_value:
            return False
        try:
            value = self._signin.loads(cookie, max_age=SIGNIN_MAX_AGE_S)
        except BadSignature:
            return False
        return isinstance(value, str) and hmac.compare_digest(value, form_value)


def signer_of(request: Request) -> SessionSigner:
    signer: SessionSigner = request.app.state.console_signer
    return signer


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """HttpOnly, SameSite=Lax; Secure when the page was served over TLS."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def _active_key_tenant(engine: Engine, tenant_id: int, key_id: int) -> str | None:
    keys = ApiKey.__table__.c  # type: ignore[attr-defined]
    tenants = Tenant.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return conn.execute(
            select(tenants.name)
            .join_from(ApiKey.__table__, Tenant.__table__, tenants.id == keys.tenant_id)  # type: ignore[attr-defined]
            .where(keys.id == key_id, keys.tenant_id == tenant_id, keys.revoked_at.is_(None))
        ).scalar_one_or_none()


async def current_user(request: Request) -> ConsoleUser:
    """The signed-in user; raises SignInRequired without a valid session of an active key."""
    data = signer_of(request).read_session(request.cookies.get(SESSION_COOKIE))
    if data is None:
        raise SignInRequired
    tenant_id, key_id, csrf = data["t"], data["k"], data["c"]
    if not (isinstance(tenant_id, int) and isinstance(key_id, int) and isinstance(csrf, str)):
        raise SignInRequired
    name = await run_in_threadpool(_active_key_tenant, request.app.state.engine, tenant_id, key_id)
    if name is None:
        raise SignInRequired
    return ConsoleUser(tenant_id=tenant_id, tenant_name=name, key_id=key_id, csrf_token=csrf)


UserDep = Annotated[ConsoleUser, Depends(current_user)]


async def checked_user(request: Request, user: UserDep) -> ConsoleUser:
    """The signed-in user of a POST that carries the session's CSRF token."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, user.csrf_token):
        raise CsrfRefused
    return user


#: For every POST route of the console.
CheckedUserDep = Annotated[ConsoleUser, Depends(checked_user)]
