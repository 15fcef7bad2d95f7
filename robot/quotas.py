"""Per-tenant caps (``quotas.*`` settings): what they count and the checks that refuse work.

- running campaigns: campaigns in status ``running`` (checked when one starts);
- queued calls: leads still to call (``pending``, leased or not) plus calls placed through the
  API that have not ended (checked by ``POST /v1/calls`` and lead imports);
- stored recordings: calls with a recording file plus call-control recordings (``recording``
  rows: bridges, conference mixes, messages); checked when calls are placed, a campaign
  starts or a call-control recording begins: new work is refused, nothing is deleted behind
  the tenant's back;
- stored media: files uploaded to ``/v1/media``; checked by each upload.

Each check raises :class:`~robot.errors.QuotaExceededError` naming the setting.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from models.call import Call
from models.campaign import Campaign, CampaignStatus
from models.lead import Lead, LeadStatus
from models.media import Media
from models.recording import Recording
from models.tenant import Tenant
from robot.errors import QuotaExceededError

CALL = Call.__table__  # type: ignore[attr-defined]
CAMPAIGN = Campaign.__table__  # type: ignore[attr-defined]
LEAD = Lead.__table__  # type: ignore[attr-defined]
TENANT = Tenant.__table__  # type: ignore[attr-defined]
RECORDING = Recording.__table__  # type: ignore[attr-defined]
MEDIA = Media.__table__  # type: ignore[attr-defined]


def _count(conn: Connection, table: Any, *where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def running_campaigns(conn: Connection, tenant_id: int) -> int:
    return _count(
        conn,
        CAMPAIGN,
        CAMPAIGN.c.tenant_id == tenant_id,
        CAMPAIGN.c.status == CampaignStatus.RUNNING.value,
    )


def queued_calls(conn: Connection, tenant_id: int) -> int:
    leads = _count(
        conn, LEAD, LEAD.c.tenant_id == tenant_id, LEAD.c.status == LeadStatus.PENDING.value
    )
    single = _count(
        conn,
        CALL,
        CALL.c.tenant_id == tenant_id,
        CALL.c.lead_id.is_(None),
        CALL.c.ended_at.is_(None),
    )
    return leads + single


def stored_recordings(conn: Connection, tenant_id: int) -> int:
    calls = _count(conn, CALL, CALL.c.tenant_id == tenant_id, CALL.c.recording_path.is_not(None))
    return calls + _count(conn, RECORDING, RECORDING.c.tenant_id == tenant_id)


def check_running_campaigns(conn: Connection, tenant_id: int, limit: int) -> None:
    """Refuse one more running campaign; the tenant row is locked so starts take turns."""
    conn.execute(select(TENANT.c.id).where(TENANT.c.id == tenant_id).with_for_update())
    running = running_campaigns(conn, tenant_id)
    if running >= limit:
        raise QuotaExceededError(
            f"the tenant has {running} running campaigns (quotas.max_running_campaigns = "
            f"{limit}); pause or stop one first"
        )


def room_for_calls(conn: Connection, tenant_id: int, limit: int) -> int:
    """How many more calls the tenant may queue (at least 1), else QuotaExceededError."""
    queued = queued_calls(conn, tenant_id)
    if queued >= limit:
        raise QuotaExceededError(
            f"the tenant has {queued} calls queued (quotas.max_queued_calls = {limit}); "
            "wait for calls to end or stop a campaign"
        )
    return limit - queued


def check_recordings(conn: Connection, tenant_id: int, limit: int) -> None:
    """Refuse new calls while the tenant stores ``limit`` recordings or more."""
    stored = stored_recordings(conn, tenant_id)
    if stored >= limit:
        raise QuotaExceededError(
            f"the tenant stores {stored} recordings (quotas.max_stored_recordings = "
            f"{limit}); no new calls until some are removed"
        )


def stored_media(conn: Connection, tenant_id: int) -> int:
    return _count(conn, MEDIA, MEDIA.c.tenant_id == tenant_id)


def check_media(conn: Connection, tenant_id: int, limit: int) -> None:
    """Refuse one more upload while the tenant stores ``limit`` media files or more; the
    tenant row is locked so that uploads of one tenant take turns."""
    conn.execute(select(TENANT.c.id).where(TENANT.c.id == tenant_id).with_for_update())
    stored = stored_media(conn, tenant_id)
    if stored >= limit:
        raise QuotaExceededError(
            f"the tenant stores {stored} media files (quotas.max_stored_media = {limit}); "
            "delete some first"
        )
