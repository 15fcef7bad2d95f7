"""CRM webhooks: signed events from a durable outbox, delivered at least once, in order per lead.

- :mod:`robot.crm.outbox` — :func:`record_call_events` and friends write events in the
  caller's transaction.
- :mod:`robot.crm.delivery` — :class:`DeliveryWorker` sends them with retries and backoff.
- :mod:`robot.crm.signing` — ``Callrobot-Signature`` and Standard Webhooks signing, verification.
- :mod:`robot.crm.urls` — which webhook URLs may be called.
- :mod:`robot.crm.status_callback` — a call's ``status_callback``: an endpoint for one call tree.
"""

from __future__ import annotations

from robot.crm.outbox import (
    enqueue_event,
    event_body,
    record_call_events,
    record_campaign_finished,
    recording_url,
)
from robot.crm.signing import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    sign,
    verify_signature,
)
from robot.crm.urls import check_webhook_url

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "SignatureError",
    "check_webhook_url",
    "enqueue_event",
    "event_body",
    "record_call_events",
    "record_campaign_finished",
    "recording_url",
    "sign",
    "verify_signature",
]
