"""Console webhooks: the tenant's endpoints, recent deliveries with their status and attempts,
one delivery's body and attempt log, and the redeliver button (the API's own redeliver)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session

from api.console.pages import tenant_of
from api.console.render import not_found, render
from api.console.session import CheckedUserDep, UserDep
from api.deps import IdPath
from api.routes.webhooks import get_delivery, list_endpoints, redeliver
from models.webhook import OutboxEvent, WebhookDelivery
from robot.errors import NotFoundError

router = APIRouter(include_in_schema=False)

RECENT_DELIVERIES = 100


def recent_deliveries(
    session: Session, tenant_id: int, limit: int, call_id: int | None = None
) -> list[dict[str, Any]]:
    """The tenant's newest deliveries (of one call's events when ``call_id`` is given), each
    with its event's type and call."""
    deliveries = WebhookDelivery.__table__.c  # type: ignore[attr-defined]
    events = OutboxEvent.__table__.c  # type: ignore[attr-defined]
    query = (
        select(WebhookDelivery, OutboxEvent)
        .join(OutboxEvent, events.id == deliveries.event_pk)
        .where(deliveries.tenant_id == tenant_id)
    )
    if call_id is not None:
        query = query.where(events.call_id == call_id)
    rows = session.execute(query.order_by(deliveries.id.desc()).limit(limit)).all()
    return [
        {
            "id": delivery.id,
            "endpoint_id": delivery.endpoint_id,
            "event_type": event.type,
            "call_id": event.call_id,
            "status": str(delivery.status),
            "attempts": delivery.attempts,
            "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
            "next_attempt_at": delivery.next_attempt_at,
            "delivered_at": delivery.delivered_at,
        }
        for delivery, event in rows
    ]


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks_page(request: Request, user: UserDep) -> Response:
    def load() -> tuple[Any, list[dict[str, Any]]]:
        with Session(request.app.state.engine) as session:
            endpoints = list_endpoints(session, tenant_of(user)).items
            return endpoints, recent_deliveries(session, user.tenant_id, RECENT_DELIVERIES)

    endpoints, deliveries = await run_in_threadpool(load)
    context = {"user": user, "page": "webhooks", "endpoints": endpoints, "deliveries": deliveries}
    return render(request, "webhooks.html", context)


@router.get("/webhooks/deliveries/{delivery_id}", response_class=HTMLResponse)
async def delivery_page(request: Request, user: UserDep, delivery_id: IdPath) -> Response:
    def load() -> Any:
        with Session(request.app.state.engine) as session:
            return get_delivery(delivery_id, session, tenant_of(user))

    try:
        detail = await run_in_threadpool(load)
    except NotFoundError as e:
        return not_found(request, user, str(e))
    body = detail.body if isinstance(detail.body, str) else json.dumps(detail.body, indent=2)
    context = {"user": user, "page": "webhooks", "delivery": detail, "body": body}
    return render(request, "delivery.html", context)


@router.post("/webhooks/deliveries/{delivery_id}/redeliver", response_class=HTMLResponse)
async def redeliver_delivery(
    request: Request, user: CheckedUserDep, delivery_id: IdPath
) -> Response:
    """Send the delivery again now (``POST /v1/webhooks/deliveries/{id}/redeliver``)."""
    engine = request.app.state.engine
    try:
        with Session(engine) as session:
            await redeliver(delivery_id, session, engine, tenant_of(user))
    except NotFoundError as e:
        return not_found(request, user, str(e))
    return RedirectResponse(f"/webhooks/deliveries/{delivery_id}?redelivered=1", status_code=303)
