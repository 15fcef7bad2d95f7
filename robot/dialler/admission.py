"""Admission control in the dialler: a lead is claimed only when the engine can serve it.

Before claiming leads the dialler asks the engine's load (:class:`robot.load.EngineLoad`) how
many calls may start now. Leads it may not start are not claimed: they stay queued in the
database (another worker may take them), so nothing is lost, and calls wait their turn instead
of all turning slow. ``max_concurrent_calls`` stays an upper bound, not a promise.

Each admitted call gets a :class:`robot.load.CallLoad`, set as :data:`robot.load.admitted_call`
in the task that runs the call, so the call engine reports that call's turns to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Engine

from robot.dialler.claims import due_lead_ids
from robot.load import CallLoad, EngineLoad

#: Lead ids remembered as held back (counted once each); forgotten beyond this many.
MAX_REMEMBERED = 10_000


class DiallerAdmission:
    """The dialler's side of admission control (no limit without an engine load)."""

    def __init__(self, load: EngineLoad | None) -> None:
        self.load = load
        self._held: set[int] = set()

    def allow(self, wanted: int) -> int:
        """How many of ``wanted`` call starts may happen now."""
        if self.load is None:
            return wanted
        return min(wanted, self.load.room())

    async def hold(self, db: Engine, campaign_ids: Sequence[int], free: int, now: datetime) -> None:
        """Count the due leads that wait because the engine is full (each lead once while
        it waits)."""
        if self.load is None:
            return
        due = await asyncio.to_thread(due_lead_ids, db, campaign_ids, now, free)
        fresh = [lead_id for lead_id in due if lead_id not in self._held]
        if len(self._held) + len(fresh) > MAX_REMEMBERED:
            self._held.clear()
        self._held.update(fresh)
        if fresh:
            self.load.hold_back(len(fresh))

    def admit(self, lead_id: int) -> CallLoad | None:
        """Count the claimed lead's call as running (until its ``close()``)."""
        self._held.discard(lead_id)
        return self.load.admit() if self.load is not None else None
