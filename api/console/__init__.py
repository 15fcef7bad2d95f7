"""The web console served at ``/``: sign-in, dashboard, calls (with their recordings),
campaigns, scripts (editor, tests, chat) and webhooks (README "Console").

Pages are rendered on the server (Jinja2) and made live with htmx, Alpine.js and
Server-Sent Events; the JavaScript they use is vendored in ``static/vendor`` (rebuilt by
``build.sh`` from the pinned npm packages): nothing is fetched from elsewhere at run time.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console import (
    auth,
    call_detail,
    campaigns,
    pages,
    script_tools,
    scripts,
    webhooks,
)
from api.console.render import STATIC_DIR, render
from api.console.session import CsrfRefused, SessionSigner, SignInRequired
from robot.config import Settings

#: Where the console's own and vendored files are served.
STATIC_PATH = "/static"


def install_console(app: FastAPI, settings: Settings) -> None:
    """Mount the console's pages and files on ``app``."""
    app.state.console_signer = SessionSigner.from_settings(
        settings.console.secret_key, settings.console.session_max_age_s
    )

    async def on_signin_required(request: Request, _exc: Exception) -> Response:
        target = "/signin?next=" + quote(request.url.path, safe="/")
        if request.headers.get("hx-request") or request.method != "GET":
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def on_csrf_refused(request: Request, _exc: Exception) -> Response:
        return render(request, "refused.html", {"user": None}, status_code=403)

    app.add_exception_handler(SignInRequired, on_signin_required)
    app.add_exception_handler(CsrfRefused, on_csrf_refused)
    for module in (auth, pages, call_detail, campaigns, scripts, script_tools, webhooks):
        app.include_router(module.router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="console-static")
