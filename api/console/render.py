"""Rendering console pages: the Jinja2 environment, its filters and the pages' headers."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

#: Pages run only the console's own files: no inline scripts, nothing from elsewhere.
#: CodeMirror and htmx add <style> elements, hence 'unsafe-inline' for styles only; the
#: call page plays its recording from a blob: URL (wavesurfer.js), hence media-src blob:.
CONSOLE_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; form-action 'self'; "
        "base-uri 'none'; "
        "object-src 'none'; frame-ancestors 'none'"
    ),
    "cache-control": "no-store",
}

#: Digits of a phone number shown in lists; the rest are masked.
SHOWN_DIGITS = 3


def mask_number(number: str | None) -> str:
    """``+12025550143`` -> ``•••••••••143``: only the last digits stay readable."""
    if not number:
        return ""
    keep = number[-SHOWN_DIGITS:]
    return "\u2022" * max(len(number) - SHOWN_DIGITS, 0) + keep


def short_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mask"] = mask_number
    env.filters["when"] = short_time
    return env


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A page (or an htmx fragment) with the console's security headers."""
    html = environment().get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code, headers=CONSOLE_HEADERS)


def not_found(request: Request, user: Any, message: str) -> HTMLResponse:
    """The console's 404 page (another tenant's things are not found, as in the API)."""
    return render(request, "not_found.html", {"user": user, "message": message}, 404)
