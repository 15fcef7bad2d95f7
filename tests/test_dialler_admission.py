"""Admission control in the dialler (real SQLite, a fake call engine that slows down when
crowded): calls wait their turn instead of all turning slow, and no lead is lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.call import Call
from models.campaign import CampaignCreate
from models.lead import Lead
from robot.config import AdmissionSettings
from robot.dialler import (
    CallResult,
    DialJob,
    Dialler,
    DiallerLimits,
    change_status,
    create_campaign,
    get_or_create_tenant,
)
from robot.leads import import_rows, rows_from_records
from robot.load import EngineLoad, admitted_call

from fixtures.database import add_script, open_fresh_database

TARGET_MS = 1200.0
#: The fake engine serves this many calls at once in time; more make every turn slow.
SERVED = 2
LEADS = [{"phone": f"+1212555{i:04d}", "first_name": f"n{i}"} for i in range(12)]
LIMITS = DiallerLimits(max_concurrent_calls=10, calls_per_second=1000, poll_interval_s=0.02)


# Monday 2026-06-01 14:00Z: 10:00 in New York, inside the default calling window.
T0 = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)


def make_campaign(db: Engine) -> None:
    tenant_id = get_or_create_tenant(db, "acme")
    campaign = create_campaign(
        db,
        tenant_id,
        CampaignCreate(name="c", default_region="US", script_id=add_script(db, tenant_id)),
    )
    assert campaign.id is not None
    report = import_rows(db, campaign.id, rows_from_records(LEADS), now=T0)
    assert report.imported == len(LEADS), report.rejected
    change_status(db, campaign.id, "start")


class TurnClock:
    """The load's clock: one second passes per turn any call takes (no wall clock)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CrowdedEngineRunner:
    """Each call takes a few turns; a turn is slow if more than SERVED calls ran during it.
    Reports each turn to the call the dialler admitted, as the real engine does."""

    def __init__(self, clock: TurnClock, turns: int = 4, crowd: int = 0) -> None:
        self.clock = clock
        self.turns = turns
        #: Calls wait until this many have started (shows what happens when all start at once).
        self.crowd = crowd
        self._crowded = asyncio.Event()
        self.running = 0
        self.most_running = 0
        self.jobs: list[DialJob] = []
        self.latencies: list[float] = []
        self._open: list[list[int]] = []

    def _enter(self) -> None:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        if self.running >= self.crowd:
            self._crowded.set()
        for peak in self._open:
            peak[0] = max(peak[0], self.running)

    async def run(self, job: DialJob) -> CallResult:
        self.jobs.append(job)
        observer = admitted_call.get()
        self._enter()
        try:
            await self._crowded.wait()
            for _ in range(self.turns):
                peak = [self.running]  # most calls running during this turn
                self._open.append(peak)
                for _ in range(3):
                    await asyncio.sleep(0.001)
                self._open.remove(peak)
                self.clock.now += 1.0
                latency = 700.0 if peak[0] <= SERVED else 3000.0
                self.latencies.append(latency)
                if observer is not None:
                    observer.on_turn_latency(latency)
        finally:
            self.running -= 1
        return CallResult(outcome="human", disposition="qualified", duration_ms=4000.0)


def run_campaign(tmp_path: Path, runner: CrowdedEngineRunner, load: EngineLoad | None) -> None:
    for fresh in open_fresh_database("sqlite", tmp_path):
        make_campaign(fresh.engine)
        dialler = Dialler(fresh.engine, runner, limits=LIMITS, clock=lambda: T0, admission=load)
        asyncio.run(asyncio.wait_for(dialler.run(until_idle=True), timeout=120))
        with Session(fresh.engine) as session:
            leads = session.exec(select(Lead)).all()
            calls = session.exec(select(Call)).all()
        assert all(lead.status == "done" and lead.lease_owner is None for lead in leads)
        assert len(calls) == len(LEADS) and all(c.outcome == "human" for c in calls)


def test_without_admission_calls_start_beyond_what_is_served(tmp_path: Path) -> None:
    crowd = SERVED + 2
    runner = CrowdedEngineRunner(TurnClock(), crowd=crowd)
    run_campaign(tmp_path, runner, None)  # would never end if fewer calls started at once
    assert runner.most_running >= crowd
    assert sum(ms > TARGET_MS for ms in runner.latencies) >= crowd


def test_admission_holds_calls_back_and_loses_none(tmp_path: Path) -> None:
    clock = TurnClock()
    settings = AdmissionSettings(
        target_turn_ms=TARGET_MS, start_calls=SERVED, window_s=3.0, recovery_turns=4
    )
    load = EngineLoad(settings, clock=clock, cpu_clock=lambda: 0.0, cores=2)
    runner = CrowdedEngineRunner(clock)
    run_campaign(tmp_path, runner, load)

    # Every lead was called exactly once; every admitted call was closed.
    assert sorted(job.number for job in runner.jobs) == sorted(lead["phone"] for lead in LEADS)
    assert load.admitted == len(LEADS) and load.active_calls == 0
    # Never more than one probing call above what the engine serves in time ...
    assert runner.most_running <= SERVED + 1
    # The first round starts SERVED calls and leaves the due leads it had room for waiting.
    assert load.held_back >= LIMITS.max_concurrent_calls - SERVED
    # ... so the admitted calls' turns stay within target (only probes see slow turns).
    slow = sum(ms > TARGET_MS for ms in runner.latencies)
    assert slow <= load.cuts * (SERVED + 1) * runner.turns
    assert slow <= len(runner.latencies) // 4
