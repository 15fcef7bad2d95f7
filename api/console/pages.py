"""Console pages: the dashboard (with its live feed) and the calls list.

Data comes from the API's own query functions (``api.routes.*``), called with the signed-in
tenant, so a page shows exactly what the API would show that tenant's key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.console.render import CONSOLE_HEADERS, environment, render
from api.console.session import ConsoleUser, UserDep
from api.deps import MAX_ID
from api.routes.calls import CallPage, list_calls
from api.routes.health import health
from dialogues.schema import DISPOSITIONS
from models.call import Call
from models.campaign import Campaign, CampaignStatus
from models.tenant import Tenant
from models.types import utc_now
from robot.carriers.base import CallOutcome
from robot.dialler.campaigns import campaign_stats

router = APIRouter(include_in_schema=False)

#: Seconds between two looks at the dashboard's data for the live feed.
LIVE_INTERVAL_S = 3.0
#: A live feed ends after this many looks and the browser opens it again (``retry``, ms):
#: an open page never holds a stopping server for longer than this.
LIVE_LOOKS = 8
LIVE_RETRY_MS = 1000
RECENT_CALLS = 10


def tenant_of(user: ConsoleUser) -> Tenant:
    """The signed-in tenant as the API's query functions take it."""
    return Tenant(id=user.tenant_id, name=user.tenant_name)


@dataclass(frozen=True, slots=True)
class CampaignProgress:
    id: int
    name: str
    called: int
    remaining: int
    qualified: int
    in_flight: int


def _running_campaigns(engine: Engine, tenant_id: int) -> list[CampaignProgress]:
    with Session(engine) as session:
        rows = session.execute(
            select(Campaign.id, Campaign.name)  # type: ignore[call-overload]
            .where(Campaign.tenant_id == tenant_id, Campaign.status == CampaignStatus.RUNNING)
            .order_by(Campaign.id)
        ).all()
    progress = []
    for campaign_id, name in rows:
        stats = campaign_stats(engine, campaign_id, tenant_id)
        progress.append(
            CampaignProgress(
                id=campaign_id,
                name=name,
                called=stats.leads - stats.remaining,
                remaining=stats.remaining,
                qualified=stats.calls_by_disposition.get("qualified", 0),
                in_flight=stats.in_flight,
            )
        )
    return progress


def _outcomes_since(session: Session, tenant_id: int, hours: float) -> dict[str, int]:
    since = utc_now() - timedelta(hours=hours)
    rows = session.execute(
        select(Call.outcome, func.count())  # type: ignore[call-overload]
        .where(Call.tenant_id == tenant_id, Call.started_at >= since)
        .group_by(Call.outcome)
    ).all()
    return {(outcome or "in progress"): count for outcome, count in rows}


def dashboard_data(request: Request, user: ConsoleUser) -> dict[str, Any]:
    engine: Engine = request.app.state.engine
    with Session(engine) as session:
        recent = list_calls(session, tenant_of(user), limit=RECENT_CALLS)
        outcomes = _outcomes_since(session, user.tenant_id, hours=1)
    status = health(engine, request)
    return {
        "campaigns": _running_campaigns(engine, user.tenant_id),
        "recent": recent.items,
        "outcomes": sorted(outcomes.items(), key=lambda item: -item[1]),
        "engine": status.get("engine") if isinstance(status, dict) else None,
        "database_ok": isinstance(status, dict),
    }


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, user: UserDep) -> Response:
    data = await run_in_threadpool(dashboard_data, request, user)
    return render(request, "dashboard.html", {"user": user, "page": "dashboard", **data})


@router.get("/dashboard/live")
async def dashboard_live(request: Request, user: UserDep) -> StreamingResponse:
    """Server-Sent Events: the dashboard's panels again whenever they change (the first look
    is sent at once: the page may have changed since it was rendered)."""

    async def events() -> AsyncIterator[str]:
        last = None
        template = environment().get_template("_dashboard_panels.html")
        yield f"retry: {LIVE_RETRY_MS}\n\n"
        for look in range(LIVE_LOOKS):
            if look:
                await asyncio.sleep(LIVE_INTERVAL_S)
            if await request.is_disconnected():
                return
            data = await run_in_threadpool(dashboard_data, request, user)
            html = template.render(request=request, user=user, **data)
            if html != last:
                last = html
                body = "".join(f"data: {line}\n" for line in html.splitlines())
                yield f"event: panels\n{body}\n"
            else:
                yield ": still here\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={**CONSOLE_HEADERS})


@router.get("/calls", response_class=HTMLResponse)
async def calls_page(
    request: Request,
    user: UserDep,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    disposition: Annotated[str | None, Query(max_length=32)] = None,
    campaign_id: Annotated[str | None, Query(max_length=12)] = None,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Calls newest first, filtered by outcome, disposition and campaign (empty = any)."""
    campaign = int(campaign_id) if campaign_id and campaign_id.isdigit() else None
    if campaign is not None and not 1 <= campaign <= MAX_ID:
        campaign = None

    def load() -> tuple[CallPage, list[tuple[int, str]]]:
        with Session(request.app.state.engine) as session:
            page = list_calls(
                session,
                tenant_of(user),
                campaign_id=campaign,
                outcome=outcome or None,
                disposition=disposition or None,
                cursor=cursor,
                limit=50,
            )
            campaigns = session.execute(
                select(Campaign.id, Campaign.name)  # type: ignore[call-overload]
                .where(Campaign.tenant_id == user.tenant_id)
                .order_by(Campaign.id.desc())  # type: ignore[union-attr]
            ).all()
        return page, [(row[0], row[1]) for row in campaigns]

    page, campaigns = await run_in_threadpool(load)
    context = {
        "user": user,
        "page": "calls",
        "calls": page.items,
        "next_cursor": page.next_cursor,
        "filters": {
            "outcome": outcome or "",
            "disposition": disposition or "",
            "campaign": campaign,
        },
        "outcomes": [o.value for o in CallOutcome],
        "dispositions": sorted(DISPOSITIONS),
        "campaigns": campaigns,
    }
    template = "_calls_table.html" if request.headers.get("hx-request") else "calls.html"
    return render(request, template, context)
