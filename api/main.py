"""The FastAPI application: ``create_app(settings=None)``.

Nothing is built at import time. ``create_app`` makes the database engine (unless one is
given), mounts one router per resource under ``/v1`` and installs the single error handler.
With ``run_workers=True`` (``callrobot serve``) the webhook delivery worker and the dialler
run inside the same process, started and stopped with the application, and call control
(:mod:`api.control`) starts at once, so a ``listen=`` SIP carrier takes inbound calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api.console import install_console
from api.control import call_control as start_call_control
from api.control import close_call_control
from api.errors import install_error_handlers, problem
from api.headers import SecurityHeaders
from api.openapi import install_openapi
from api.placement import CallPlacer, EngineCallPlacer, ScriptCallRunner
from api.ratelimit import ApiGuard
from api.routes import (
    audit,
    callbacks,
    calls,
    campaigns,
    conferences,
    dnc,
    health,
    keys,
    leads,
    masking,
    media,
    metrics,
    numbers,
    recordings,
    scripts,
    webhooks,
)
from api.shedding import ShedOverLimit
from robot.config import Settings, get_settings
from robot.control.conference_rooms import ConferenceRooms
from robot.load import EngineLoad

if TYPE_CHECKING:
    from robot.control.service import CallControl

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Drive callrobot over HTTP: upload dialogue scripts, run calling campaigns over lead lists,
place single calls, read outcomes, transcripts and recordings, and receive signed CRM
webhooks.

Every route but `/health` needs `Authorization: Bearer KEY` (create a key with
`callrobot keys create --tenant NAME`). Another tenant's resources answer 404. `/metrics`
(Prometheus text) takes the operator's `CALLROBOT_METRICS_TOKEN` instead of a tenant key.
Errors are RFC 9457 problems (`application/problem+json`):
`{"type", "title", "status", "detail", "errors"?}`; `detail` names the field, line or row and
`errors` lists each one. 429 answers carry `Retry-After` (seconds).
"""


#: Largest request body accepted (lead files included); larger ones get 413 before reading.
MAX_BODY_BYTES = 60_000_000


class BodySizeLimit:
    """Pure ASGI middleware: a declared ``Content-Length`` above the limit gets 413 at once."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                    response = problem(413, f"body: larger than {self.max_bytes} bytes")
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _run_workers(app: FastAPI, stop: asyncio.Event) -> None:
    from robot.crm.delivery import DeliveryWorker
    from robot.dialler.worker import Dialler, DiallerLimits

    settings: Settings = app.state.settings
    engine: Engine = app.state.engine
    delivery = DeliveryWorker(engine, settings.webhooks)
    runner = ScriptCallRunner(engine, app.state.call_placer)
    limits = DiallerLimits.from_settings(settings.dialler)
    dialler = Dialler(engine, runner, limits=limits, admission=app.state.engine_load)
    results = await asyncio.gather(delivery.run(stop), dialler.run(stop), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            logger.error("background worker stopped: %s", result)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    call_placer: CallPlacer | None = None,
    run_workers: bool = False,
    conference_rooms: ConferenceRooms | None = None,
    call_control: CallControl | None = None,
) -> FastAPI:
    """Build the API application (tests pass their own engine and call placer)."""
    settings = settings or get_settings()
    if engine is None:
        from models.db import make_engine

        engine = make_engine(settings.resolved_database_url())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        workers = asyncio.create_task(_run_workers(app, stop)) if run_workers else None
        if run_workers:
            await start_call_control(app)
        try:
            yield
        finally:
            stop.set()
            if workers is not None:
                await workers
            pending: list[asyncio.Task[Any]] = list(app.state.background)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            await app.state.conferences.close()
            await close_call_control(app)

    app = FastAPI(
        title="callrobot",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.call_placer = call_placer or EngineCallPlacer(settings)
    #: The call engine's load: the dialler asks it before starting a call; /health shows it.
    app.state.engine_load = getattr(app.state.call_placer, "load", None) or EngineLoad(
        settings.admission
    )
    app.state.background = set()
    #: Conference rooms live in this process (their media clock runs on its event loop).
    app.state.conferences = conference_rooms or ConferenceRooms(
        engine,
        carrier_url=settings.carrier_url,
        recording_dir=settings.recordings_root(),
    )
    app.state.call_control = call_control
    app.state.api_guard = guard = ApiGuard.from_settings(settings.quotas)
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(BodySizeLimit)
    app.add_middleware(ShedOverLimit, guard=guard)
    app.add_middleware(SecurityHeaders)
    routers = (
        health,
        metrics,
        scripts,
        campaigns,
        leads,
        dnc,
        calls,
        webhooks,
        keys,
        audit,
        numbers,
        masking,
        conferences,
        callbacks,
        recordings,
        media,
    )
    for module in routers:
        app.include_router(module.router)
    app.include_router(recordings.calls_router)
    install_console(app, settings)
    return app
