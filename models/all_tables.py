"""Every table of the schema, imported so ``SQLModel.metadata`` knows them all.

This is the one list of table modules: a new table family adds its import here (the
migration test fails while a table is missing from it).
"""

from __future__ import annotations

from models.apikey import ApiKey
from models.audit import AuditEntry
from models.call import Call
from models.callback import Callback
from models.campaign import Campaign
from models.dnc import DncEntry
from models.lead import Lead
from models.masking import MaskingParticipant, MaskingSession
from models.media import Media
from models.number import PhoneNumber
from models.recording import Recording
from models.script import Script
from models.tenant import Tenant
from models.webhook import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Call",
    "Callback",
    "Campaign",
    "DncEntry",
    "Lead",
    "MaskingParticipant",
    "MaskingSession",
    "Media",
    "OutboxEvent",
    "PhoneNumber",
    "Recording",
    "Script",
    "Tenant",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
