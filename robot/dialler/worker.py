"""The dialler worker: claims due leads, paces calls, runs them, and records what happened.

The dialler never talks to a carrier itself: it hands a :class:`DialJob` to a
:class:`CallRunner` (the call session, or a fake in tests) and stores the
:class:`CallResult`. One failing call never stops the dialler.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from models.lead import LeadStatus
from models.transactions import DatabaseError
from models.types import utc_now
from robot import metrics
from robot.carriers.base import CallOutcome
from robot.dialler.admission import DiallerAdmission
from robot.dialler.campaigns import CampaignPlan, finish_if_done, load_running_campaigns
from robot.dialler.claims import (
    ClaimedLead,
    LeaseLostError,
    begin_attempt,
    claim_due_leads,
    dnc_numbers,
    extend_leases,
    release_lead,
)
from robot.dialler.jobs import CallResult, CallRunner, DialJob
from robot.dialler.outcomes import call_end_values, finish_attempt
from robot.dialler.pacing import CampaignLoad, TokenBucket, share_slots
from robot.dialler.retry import LeadDecision
from robot.dialler.sweep import reschedule_closed_leads
from robot.errors import CallrobotError
from robot.load import CallLoad, EngineLoad, admitted_call
from robot.logs import bind_call
from robot.windows import CallingWindow, check_window

if TYPE_CHECKING:
    from robot.config import DiallerSettings

__all__ = [
    "CallResult",
    "CallRunner",
    "DialJob",
    "Dialler",
    "DiallerLimits",
    "call_end_values",
    "finish_attempt",
]

logger = logging.getLogger(__name__)

#: Pause between two tries to store a call's end while the database is unreachable.
STORE_RETRY_INTERVAL_S = 1.0


def is_unreachable(error: DatabaseError) -> bool:
    """Whether the database could not be reached (worth trying again), not a refused write."""
    return isinstance(error.__cause__, (OperationalError, InterfaceError))


@dataclass(frozen=True, slots=True)
class DiallerLimits:
    #: Calls at once from this worker, all campaigns together.
    max_concurrent_calls: int = 20
    #: Call starts per second (trunks enforce CPS).
    calls_per_second: float = 5.0
    lease_s: float = 60.0
    #: How often leases of running calls are extended (default: a third of the lease).
    heartbeat_s: float | None = None
    #: How long to wait before looking for due leads again when nothing is due.
    poll_interval_s: float = 1.0
    #: How often each campaign's due leads in closed windows are moved in bulk.
    sweep_interval_s: float = 60.0
    #: How long a finished call's result is retried while the database is unreachable.
    store_retry_s: float = 300.0

    @classmethod
    def from_settings(cls, settings: DiallerSettings) -> DiallerLimits:
        return cls(
            max_concurrent_calls=settings.max_concurrent_calls,
            calls_per_second=settings.calls_per_second,
            lease_s=settings.lease_s,
            heartbeat_s=settings.heartbeat_s,
            poll_interval_s=settings.poll_interval_s,
            store_retry_s=settings.store_retry_s,
        )


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Dialler:
    """One worker. Several can run side by side (threads, processes, hosts).

    With ``admission`` (the call engine's load) a lead is claimed only when the engine can
    serve one more call within its latency target (:mod:`robot.dialler.admission`).
    """

    def __init__(
        self,
        engine: Engine,
        runner: CallRunner,
        *,
        limits: DiallerLimits | None = None,
        owner: str | None = None,
        campaign_ids: frozenset[int] | None = None,
        clock: Callable[[], datetime] = utc_now,
        admission: EngineLoad | None = None,
    ) -> None:
        self.engine = engine
        self.admission = DiallerAdmission(admission)
        self.runner = runner
        self.limits = limits or DiallerLimits()
        self.owner = owner or default_worker_name()
        self.campaign_ids = campaign_ids
        self.clock = clock
        self.bucket = TokenBucket(self.limits.calls_per_second)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._by_campaign: Counter[int] = Counter()
        self._changed = asyncio.Event()
        self._swept_at: dict[int, float] = {}

    @property
    def active_calls(self) -> int:
        return len(self._tasks)

    def active_by_campaign(self) -> dict[int, int]:
        return {cid: n for cid, n in self._by_campaign.items() if n}

    async def fill_slots(self) -> int:
        """One scheduling round: claim due leads into free slots; return how many were taken."""
        plans = {
            p.id: p
            for p in await asyncio.to_thread(load_running_campaigns, self.engine, self.campaign_ids)
        }
        self._forget_stopped(plans)
        for plan in plans.values():
            await self._sweep(plan)
        dry: set[int] = set()
        taken = 0
        while (free := self.limits.max_concurrent_calls - len(self._tasks)) > 0:
            loads = [
                CampaignLoad(p.id, p.priority, self._by_campaign[p.id], p.max_concurrent_calls)
                for p in plans.values()
                if p.id not in dry
            ]
            shares = share_slots(free, loads)
            if not shares:
                break
            allowed = self.admission.allow(free)
            if allowed == 0:  # the engine is full: due leads stay queued, unclaimed
                await self.admission.hold(self.engine, list(shares), free, self.clock())
                break
            if allowed < free:
                shares = share_slots(allowed, loads)
            for campaign_id, wanted in shares.items():
                claimed = await asyncio.to_thread(
                    claim_due_leads,
                    self.engine,
                    campaign_id,
                    self.owner,
                    wanted,
                    self.limits.lease_s,
                    self.clock(),
                    campaign_cap=plans[campaign_id].max_concurrent_calls,
                )
                metrics.leads_claimed(len(claimed))
                if len(claimed) < wanted:
                    dry.add(campaign_id)
                await self._start(plans[campaign_id], claimed)
                taken += len(claimed)
        for campaign_id in dry:
            if not self._by_campaign[campaign_id]:
                await asyncio.to_thread(finish_if_done, self.engine, campaign_id, self.clock())
        return taken

    def _forget_stopped(self, running: dict[int, CampaignPlan]) -> None:
        """Drop what this worker noted about campaigns no longer running and with none of its
        calls up: a long-lived worker goes through campaign after campaign."""
        for campaign_id in [c for c in self._swept_at if c not in running]:
            del self._swept_at[campaign_id]
        for campaign_id in [c for c, n in self._by_campaign.items() if not n]:
            if campaign_id not in running:
                del self._by_campaign[campaign_id]

    async def _sweep(self, plan: CampaignPlan) -> None:
        last = self._swept_at.get(plan.id)
        if last is not None and time.monotonic() - last < self.limits.sweep_interval_s:
            return
        self._swept_at[plan.id] = time.monotonic()
        await asyncio.to_thread(
            reschedule_closed_leads, self.engine, plan.id, plan.window, self.clock()
        )

    async def _start(self, plan: CampaignPlan, leads: list[ClaimedLead]) -> None:
        if not leads:
            return
        blocked = await asyncio.to_thread(
            dnc_numbers, self.engine, plan.tenant_id, [lead.number for lead in leads]
        )
        for lead in leads:
            self._by_campaign[plan.id] += 1
            admitted = self.admission.admit(lead.id)
            task = asyncio.create_task(self._handle(plan, lead, lead.number in blocked, admitted))
            self._tasks[lead.id] = task

    async def _handle(
        self, plan: CampaignPlan, lead: ClaimedLead, on_dnc: bool, admitted: CallLoad | None
    ) -> None:
        admitted_call.set(admitted)  # this task's context: the engine reports to this call
        bind_call(lead_id=lead.id, campaign_id=plan.id)  # on every log line of this call
        try:
            await self._dial(plan, lead, on_dnc)
        except LeaseLostError as e:
            metrics.lease_lost()
            logger.warning("%s", e)
        except (CallrobotError, SQLAlchemyError):
            logger.exception("lead %d: dialling failed", lead.id)
        finally:
            if admitted is not None:
                admitted.close()
            self._tasks.pop(lead.id, None)
            self._by_campaign[plan.id] -= 1
            self._changed.set()

    async def _dial(self, plan: CampaignPlan, lead: ClaimedLead, on_dnc: bool) -> None:
        if on_dnc:
            logger.info("lead %d: number is on the do-not-call list", lead.id)
            await asyncio.to_thread(
                release_lead,
                self.engine,
                lead.id,
                self.owner,
                self.clock(),
                status=LeadStatus.DNC,
                reason="number is on the do-not-call list",
            )
            return
        window = plan.window
        if lead.calling_window is not None:
            window = CallingWindow.from_dict(lead.calling_window, f"lead {lead.id} calling_window")
        check = check_window(window, self.clock(), lead.time_zones)
        if not check.open:
            logger.debug("lead %d: %s", lead.id, check.reason)
            status = LeadStatus.PENDING if check.next_opening else LeadStatus.EXHAUSTED
            await asyncio.to_thread(
                release_lead,
                self.engine,
                lead.id,
                self.owner,
                self.clock(),
                status=status,
                next_attempt_at=check.next_opening,
                reason=check.reason,
            )
            return
        await self.bucket.take()
        started = await asyncio.to_thread(
            begin_attempt, self.engine, lead, self.owner, plan.id, self.clock()
        )
        if started is None:
            logger.info("lead %d: number went on the do-not-call list; not dialled", lead.id)
            return
        call_id, attempt = started
        bind_call(call_id=call_id)
        job = DialJob(
            call_id=call_id,
            lead_id=lead.id,
            tenant_id=lead.tenant_id,
            campaign_id=plan.id,
            number=lead.number,
            attempt=attempt,
            variables=lead.variables,
            script_id=plan.script_id,
            script_version=plan.script_version,
            caller_id=plan.caller_id,
            time_zones=lead.time_zones,
        )
        logger.debug("lead %d: dialling %s (attempt %d)", lead.id, lead.number, attempt)
        try:
            result = await self.runner.run(job)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # one failing call never stops the dialler
            logger.exception("call %d: the call runner failed", call_id)
            result = CallResult(outcome=CallOutcome.FAILED, error=f"{type(e).__name__}: {e}")
        decision = await self._store(job, result, plan, window)
        logger.info(
            "call %d (lead %d) ended %s/%s -> %s",
            call_id,
            lead.id,
            result.outcome,
            result.disposition,
            decision.status.value,
        )

    async def _store(
        self, job: DialJob, result: CallResult, plan: CampaignPlan, window: CallingWindow
    ) -> LeadDecision:
        """Store the attempt's end; while the database is unreachable, try again every second
        for up to ``store_retry_s`` (the lease is heartbeated meanwhile, this task being
        still running), so an outage shorter than that loses no call's result."""
        deadline = time.monotonic() + self.limits.store_retry_s
        while True:
            try:
                return await asyncio.to_thread(
                    finish_attempt,
                    self.engine,
                    job,
                    result,
                    plan.retry_policy,
                    window,
                    self.owner,
                    self.clock(),
                )
            except DatabaseError as e:
                if not is_unreachable(e) or time.monotonic() >= deadline:
                    raise
                logger.warning("call %d: storing its end failed; retrying: %s", job.call_id, e)
            await asyncio.sleep(STORE_RETRY_INTERVAL_S)

    async def _heartbeat(self) -> None:
        interval_s = self.limits.heartbeat_s or self.limits.lease_s / 3
        while True:
            await asyncio.sleep(interval_s)
            if not self._tasks:
                continue
            try:
                await asyncio.to_thread(
                    extend_leases,
                    self.engine,
                    list(self._tasks),
                    self.owner,
                    self.limits.lease_s,
                    self.clock(),
                )
            except (CallrobotError, SQLAlchemyError):
                logger.exception("lease heartbeat failed; retrying in %.1f s", interval_s)

    async def run(self, stop: asyncio.Event | None = None, *, until_idle: bool = False) -> None:
        """Dial until ``stop`` is set (then let running calls finish).

        With ``until_idle`` the worker also returns once nothing is running and no running
        campaign has a lead due now.
        """
        stop = stop or asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while not stop.is_set():
                self._changed.clear()
                try:
                    taken = await self.fill_slots()
                except (CallrobotError, SQLAlchemyError):
                    logger.exception("claiming leads failed; retrying")
                    taken = 0
                    if until_idle and not self._tasks:
                        raise
                if until_idle and not taken and not self._tasks:
                    break
                if taken and len(self._tasks) < self.limits.max_concurrent_calls:
                    continue
                waiters = [asyncio.create_task(self._changed.wait())]
                waiters.append(asyncio.create_task(stop.wait()))
                await asyncio.wait(
                    waiters, timeout=self.limits.poll_interval_s, return_when="FIRST_COMPLETED"
                )
                for waiter in waiters:
                    waiter.cancel()
            await self.drain()
        finally:
            heartbeat.cancel()

    async def drain(self) -> None:
        """Wait until every running call has been recorded."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
