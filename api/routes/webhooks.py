"""Webhook endpoints (CRUD), their deliveries, and redelivery of failed or dead ones."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import delete
from sqlmodel import Session, select

from api.deps import (
    EngineDep,
    IdPath,
    LimitQuery,
    OffsetQuery,
    SessionDep,
    SettingsDep,
    TenantDep,
    WriteSessionDep,
    tenant_id_of,
)
from models.tenancy import get_owned
from models.transactions import write_transaction
from models.webhook import (
    DeliveryStatus,
    EventType,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from robot.crm.delivery import schedule_redelivery
from robot.crm.signing import new_secret, standard_key
from robot.crm.urls import check_webhook_url
from robot.errors import NotFoundError

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class EndpointCreate(BaseModel):
    url: str = Field(min_length=1, max_length=2000, examples=["https://crm.example.com/hooks"])
    event_types: list[EventType] = Field(
        default_factory=list,
        description="Types to send; empty for all.",
        examples=[["lead.qualified", "call.completed"]],
    )
    description: str | None = Field(default=None, max_length=500)
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="Signing secret; generated (whsec_ + base64 of 32 bytes) when not given.",
    )
    standard_webhooks: bool = Field(
        default=False,
        description="Also send the Standard Webhooks headers (webhook-id, webhook-timestamp, "
        "webhook-signature); a given secret must then be whsec_ + base64.",
    )


class EndpointUpdate(BaseModel):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    event_types: list[EventType] | None = None
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None
    standard_webhooks: bool | None = None


class EndpointOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    standard_webhooks: bool
    created_at: datetime


class EndpointCreated(EndpointOut):
    #: Shown only in this response: keep it to verify Callrobot-Signature (and webhook-signature).
    secret: str


class EndpointList(BaseModel):
    items: list[EndpointOut]


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class DeliveryOut(BaseModel):
    id: int
    endpoint_id: int
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryDetail(DeliveryOut):
    body: dict[str, Any] | str
    attempt_log: list[AttemptOut]


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


def _owned_endpoint(session: Session, tenant_id: int, endpoint_id: int) -> WebhookEndpoint:
    """The tenant's endpoint; a call's ``status_callback`` (``scope``) is none of them."""
    endpoint = get_owned(session, WebhookEndpoint, endpoint_id, tenant_id, "webhook endpoint")
    if endpoint.scope is not None:
        raise NotFoundError(f"webhook endpoint {endpoint_id} not found")
    return endpoint


def _endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut.model_validate(endpoint, from_attributes=True)


def _delivery_out(delivery: WebhookDelivery, event: OutboxEvent) -> dict[str, Any]:
    fields = {
        name: getattr(delivery, name)
        for name in DeliveryOut.model_fields
        if hasattr(delivery, name)
    }
    data = DeliveryOut.model_validate(
        {**fields, "event_id": event.event_id, "event_type": event.type}
    )
    return data.model_dump()


@router.post("", status_code=201, response_model=EndpointCreated)
def create_endpoint(
    data: EndpointCreate, session: WriteSessionDep, settings: SettingsDep, tenant: TenantDep
) -> EndpointCreated:
    """Register a URL for events; private and loopback addresses are refused by default."""
    check_webhook_url(data.url, allow_private=settings.webhooks_allow_private)
    if data.standard_webhooks and data.secret is not None:
        standard_key(data.secret)
    endpoint = WebhookEndpoint(
        tenant_id=tenant_id_of(tenant),
        url=data.url,
        event_types=[str(t) for t in data.event_types],
        description=data.description,
        secret=data.secret or new_secret(),
        standard_webhooks=data.standard_webhooks,
    )
    session.add(endpoint)
    session.commit()
    session.refresh(endpoint)
    return EndpointCreated(**_endpoint_out(endpoint).model_dump(), secret=endpoint.secret)


@router.get("", response_model=EndpointList)
def list_endpoints(session: SessionDep, tenant: TenantDep) -> EndpointList:
    rows = session.exec(
        select(WebhookEndpoint)
        .where(
            WebhookEndpoint.tenant_id == tenant_id_of(tenant),
            WebhookEndpoint.scope.is_(None),  # type: ignore[union-attr]
        )
        .order_by(WebhookEndpoint.id)  # type: ignore[arg-type]
    ).all()
    return EndpointList(items=[_endpoint_out(e) for e in rows])


@router.get("/{endpoint_id}", response_model=EndpointOut)
def get_endpoint(endpoint_id: IdPath, session: SessionDep, tenant: TenantDep) -> EndpointOut:
    return _endpoint_out(_owned_endpoint(session, tenant_id_of(tenant), endpoint_id))


@router.patch("/{endpoint_id}", response_model=EndpointOut)
def update_endpoint(
    endpoint_id: IdPath,
    data: EndpointUpdate,
    session: WriteSessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
) -> EndpointOut:
    endpoint = _owned_endpoint(session, tenant_id_of(tenant), endpoint_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("url") is not None:
        check_webhook_url(changes["url"], allow_private=settings.webhooks_allow_private)
        endpoint.url = changes["url"]
    if changes.get("event_types") is not None:
        endpoint.event_types = [str(t) for t in changes["event_types"]]
    if "description" in changes:
        endpoint.description = changes["description"]
    if changes.get("enabled") is not None:
        endpoint.enabled = changes["enabled"]
    if changes.get("standard_webhooks") is not None:
        if changes["standard_webhooks"]:
            standard_key(endpoint.secret, "standard_webhooks: the endpoint's secret")
        endpoint.standard_webhooks = changes["standard_webhooks"]
    session.add(endpoint)
    session.commit()
    session.refresh(endpoint)
    return _endpoint_out(endpoint)


@router.delete("/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: IdPath, session: WriteSessionDep, tenant: TenantDep) -> Response:
    """Remove an endpoint with its delivery history."""
    endpoint = _owned_endpoint(session, tenant_id_of(tenant), endpoint_id)
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    session.exec(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))  # type: ignore[attr-defined]
    session.exec(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))  # type: ignore[arg-type]
    session.delete(endpoint)
    session.commit()
    return Response(status_code=204)


@router.get("/{endpoint_id}/deliveries", response_model=DeliveryList)
def list_deliveries(
    endpoint_id: IdPath,
    session: SessionDep,
    tenant: TenantDep,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> DeliveryList:
    """Deliveries to an endpoint, oldest first; ``status=dead`` lists the dead letters."""
    endpoint = _owned_endpoint(session, tenant_id_of(tenant), endpoint_id)
    query = (
        select(WebhookDelivery, OutboxEvent)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_pk)  # type: ignore[arg-type]
        .where(WebhookDelivery.endpoint_id == endpoint.id)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    rows = session.exec(query.order_by(WebhookDelivery.id).offset(offset).limit(limit)).all()  # type: ignore[arg-type]
    return DeliveryList(items=[DeliveryOut(**_delivery_out(d, e)) for d, e in rows])


def _owned_delivery(
    session: Session, tenant_id: int, delivery_id: int
) -> tuple[WebhookDelivery, OutboxEvent]:
    delivery = get_owned(session, WebhookDelivery, delivery_id, tenant_id, "webhook delivery")
    event = session.get(OutboxEvent, delivery.event_pk)
    assert event is not None
    return delivery, event


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
def get_delivery(delivery_id: IdPath, session: SessionDep, tenant: TenantDep) -> DeliveryDetail:
    """One delivery with the event body and every attempt."""
    import json

    delivery, event = _owned_delivery(session, tenant_id_of(tenant), delivery_id)
    attempts = session.exec(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(WebhookAttempt.id)  # type: ignore[arg-type]
    ).all()
    return DeliveryDetail(
        **_delivery_out(delivery, event),
        body=json.loads(event.body),
        attempt_log=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
    )


@router.post("/deliveries/{delivery_id}/redeliver", status_code=202, response_model=DeliveryOut)
async def redeliver(
    delivery_id: IdPath, session: SessionDep, engine: EngineDep, tenant: TenantDep
) -> DeliveryOut:
    """Send a delivery again now (dead ones get a fresh retry period)."""
    tenant_id = tenant_id_of(tenant)
    await run_in_threadpool(_owned_delivery, session, tenant_id, delivery_id)

    def apply() -> None:
        with write_transaction(engine) as conn:
            schedule_redelivery(conn, delivery_id, tenant_id)

    await run_in_threadpool(apply)
    session.rollback()  # end the read snapshot: see the committed change
    delivery, event = await run_in_threadpool(_owned_delivery, session, tenant_id, delivery_id)
    return DeliveryOut(**_delivery_out(delivery, event))
