"""``ActorDep``: who is asking, as the audit log names it (``key:<visible prefix>``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from models.apikey import token_prefix


async def get_actor(request: Request) -> str:
    """The request's key by its visible prefix; routes using this also depend on the tenant."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return f"key:{token_prefix(token.strip())}" if scheme.lower() == "bearer" else "unknown"


ActorDep = Annotated[str, Depends(get_actor)]
