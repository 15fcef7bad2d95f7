"""Security headers on every answer (pure ASGI middleware, no body buffering).

API answers are data, never pages: ``nosniff`` stops a browser from reading JSON or a
recording as HTML, and the content security policy forbids running or framing anything.
The interactive docs (``/docs``, ``/redoc``) load their own scripts and keep a looser policy.
"""

from __future__ import annotations

from typing import Any

COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
API_ONLY = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]
DOC_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = COMMON if scope["path"].startswith(DOC_PATHS) else COMMON + API_ONLY

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                added = [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
