"""CRM webhooks: endpoints per tenant, the durable outbox of events, and their deliveries.

An :class:`OutboxEvent` is written in the same transaction as the state change that caused
it, with its exact JSON body, so a redelivery sends the same bytes. Each event gets one
:class:`WebhookDelivery` per subscribed endpoint; every try is kept as a
:class:`WebhookAttempt`. ``ordering_key`` (``lead:ID``, or ``call:ID``/``campaign:ID`` when
there is no lead) keeps one lead's events in order for each endpoint.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import JsonColumn, UTCDateTime, utc_now


class EventType(StrEnum):
    CALL_COMPLETED = "call.completed"
    LEAD_QUALIFIED = "lead.qualified"
    RECORDING_READY = "recording.ready"
    CAMPAIGN_FINISHED = "campaign.finished"
    #: An inbound call's routing URL failed and its fallback (URL or default actions) ran.
    ROUTING_FALLBACK_USED = "routing.fallback_used"
    #: Conference rooms (``robot.control.conference``): the room and its participants.
    CONFERENCE_STARTED = "conference.started"
    CONFERENCE_ENDED = "conference.ended"
    PARTICIPANT_JOINED = "participant.joined"
    PARTICIPANT_LEFT = "participant.left"
    PARTICIPANT_MUTED = "participant.muted"
    PARTICIPANT_UNMUTED = "participant.unmuted"
    PARTICIPANT_SPEAKING_STARTED = "participant.speaking_started"
    PARTICIPANT_SPEAKING_STOPPED = "participant.speaking_stopped"
    #: A conference's recording (the whole mix) is written.
    RECORDING_COMPLETED = "recording.completed"
    #: Call control (inbound calls, callbacks): one leg's progress, ordered by its ``seq``.
    #: ``call.completed`` is shared with campaign calls; a leg's carries ``seq``.
    CALL_INITIATED = "call.initiated"
    CALL_RINGING = "call.ringing"
    CALL_ANSWERED = "call.answered"
    CALL_BRIDGED = "call.bridged"
    DIAL_COMPLETED = "dial.completed"
    DTMF_RECEIVED = "dtmf.received"
    #: A ``redirect`` (or a gather's ``action_url``) gave no usable actions; the call hangs up.
    REDIRECT_FAILED = "redirect.failed"
    #: A ``play`` of a ``url`` could not be fetched or decoded; the next action runs.
    PLAY_FAILED = "play.failed"
    #: A ``robot`` action's dialogue script ended on a call leg (outcome, disposition, answers).
    ROBOT_COMPLETED = "robot.completed"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class WebhookEndpointBase(SQLModel):
    url: str = Field(max_length=2000)
    #: Event types sent to this endpoint; empty means every type.
    event_types: list[str] = Field(default_factory=list, sa_type=JsonColumn)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = True
    #: Also sign with the Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
    #: ``webhook-signature``); needs a ``whsec_`` base64 secret.
    standard_webhooks: bool = False


class WebhookEndpoint(WebhookEndpointBase, table=True):
    __tablename__ = "webhook_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    #: HMAC key for Callrobot-Signature (kept readable: signing needs it); for Standard
    #: Webhooks the base64 after ``whsec_`` is the key.
    secret: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    #: Set on a call's ``status_callback``: the ordering key (``call:ID``) of the one call
    #: tree whose events it receives. Such an endpoint is stored disabled (so code that does
    #: not know ``scope`` never sends it other events) and is not listed by the API.
    scope: str | None = Field(default=None, max_length=64)


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_event"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_outbox_event_dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    #: The public event id (``evt_...``), sent as ``Callrobot-Event-Id``.
    event_id: str = Field(max_length=40, unique=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    type: str = Field(max_length=40)
    ordering_key: str = Field(max_length=64)
    call_id: int | None = Field(default=None, index=True)
    lead_id: int | None = Field(default=None)
    campaign_id: int | None = Field(default=None)
    #: One event per fact (``call:7:call.completed``): a second writer of it fails.
    dedupe_key: str | None = Field(default=None, max_length=120)
    #: The exact JSON body POSTed to endpoints.
    body: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("event_pk", "endpoint_id", name="uq_delivery_event_endpoint"),
        Index("ix_delivery_due", "status", "next_attempt_at"),
        Index("ix_delivery_order", "endpoint_id", "ordering_key", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    event_pk: int = Field(foreign_key="outbox_event.id")
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id", index=True)
    ordering_key: str = Field(max_length=64)
    status: DeliveryStatus = Field(default=DeliveryStatus.PENDING, sa_type=String(16))
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    #: Start of the current retry period (creation, or the last redeliver request).
    retry_started_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id", index=True)
    at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: float = 0.0
