"""The dialler: campaigns, lead claiming with leases, pacing, retries and the worker loop."""

from __future__ import annotations

from robot.dialler.campaigns import (
    CampaignPlan,
    CampaignStats,
    add_to_dnc,
    campaign_stats,
    change_status,
    create_campaign,
    get_campaign,
    get_or_create_tenant,
)
from robot.dialler.claims import ClaimedLead, LeaseLostError, claim_due_leads
from robot.dialler.pacing import TokenBucket, share_slots
from robot.dialler.retry import RetryPolicy, decide_next
from robot.dialler.worker import (
    CallResult,
    CallRunner,
    DialJob,
    Dialler,
    DiallerLimits,
    finish_attempt,
)

__all__ = [
    "CallResult",
    "CallRunner",
    "CampaignPlan",
    "CampaignStats",
    "ClaimedLead",
    "DialJob",
    "Dialler",
    "DiallerLimits",
    "LeaseLostError",
    "RetryPolicy",
    "TokenBucket",
    "add_to_dnc",
    "campaign_stats",
    "change_status",
    "claim_due_leads",
    "create_campaign",
    "decide_next",
    "finish_attempt",
    "get_campaign",
    "get_or_create_tenant",
    "share_slots",
]
