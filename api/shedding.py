"""Refuse a flood cheaply: a known key whose tenant has no request left gets 429 at once.

Pure ASGI middleware in front of routing and dependency solving, for ``/v1/`` routes only
(``/health`` is never refused). It only *looks*: a request
whose key is in the key cache and whose tenant's bucket is empty is answered 429 here; every
other request goes on to ``get_tenant``, the one place that spends a request and checks keys.
A refused request costs a header read, a SHA-256 and two dictionary lookups.
"""

from __future__ import annotations

from typing import Any

from api.deps import cached_tenant
from api.errors import error_problem
from api.ratelimit import ApiGuard, rate_limited
from models.apikey import hash_token

#: Routes that need a key (``/health``, ``/docs`` and ``/openapi.json`` are never refused).
KEYED_PREFIX = "/v1/"


def _bearer(scope: Any) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class ShedOverLimit:
    def __init__(self, app: Any, guard: ApiGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(KEYED_PREFIX):
            token = _bearer(scope)
            tenant = cached_tenant(hash_token(token)) if token else None
            if tenant is not None and tenant.id is not None:
                wait = self.guard.requests.wait_for(tenant.id)
                if wait > 0:
                    await error_problem(rate_limited(wait))(scope, receive, send)
                    return
        await self.app(scope, receive, send)
