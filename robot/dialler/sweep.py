"""Set-based rescheduling of due leads whose calling window is closed right now.

After a pause, or when the day's window closes with leads still due, many leads can be due
while their window is shut. Instead of claiming and releasing them one by one, a sweep moves
them to their next opening with one UPDATE per distinct zone set (a campaign has a handful:
one per zone, or per multi-zone number range). Leads with their own window are left to the
per-lead check at claim time.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine

from models.lead import LeadStatus
from models.transactions import write_transaction
from robot.dialler.claims import LEAD
from robot.windows import CallingWindow, check_window

logger = logging.getLogger(__name__)


def reschedule_closed_leads(
    engine: Engine, campaign_id: int, window: CallingWindow, now: datetime
) -> int:
    """Move due, unleased leads whose window is closed at ``now``; return how many moved."""
    due = (
        LEAD.c.campaign_id == campaign_id,
        LEAD.c.status == LeadStatus.PENDING.value,
        LEAD.c.next_attempt_at <= now,
        LEAD.c.calling_window.is_(None),
        or_(LEAD.c.lease_until.is_(None), LEAD.c.lease_until < now),
    )
    with engine.connect() as conn:
        zone_sets = conn.execute(select(LEAD.c.time_zones).where(*due).distinct()).scalars().all()
    moved = 0
    for zones in zone_sets:
        check = check_window(window, now, zones.split(","))
        if check.open:
            continue
        values: dict[str, object] = {"next_attempt_at": check.next_opening}
        values["status_reason"] = check.reason
        if check.next_opening is None:
            values["status"] = LeadStatus.EXHAUSTED.value
        with write_transaction(engine) as conn:
            result = conn.execute(
                update(LEAD).where(*due, LEAD.c.time_zones == zones).values(**values)
            )
        moved += result.rowcount
    if moved:
        logger.info("campaign %d: %d due lead(s) moved to their window opening", campaign_id, moved)
    return moved
