"""The dialler on a real database (SQLite and PostgreSQL): calls, retries, callbacks, DNC,
windows, pacing caps, fair share, leases, and several processes claiming the same rows."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from models.call import Call
from models.campaign import Campaign, CampaignCreate
from models.dnc import DncEntry
from models.lead import Lead
from robot.dialler import (
    CallResult,
    DialJob,
    Dialler,
    DiallerLimits,
    add_to_dnc,
    campaign_stats,
    change_status,
    claim_due_leads,
    create_campaign,
    get_or_create_tenant,
)
from robot.dialler.campaigns import remove_from_dnc
from robot.dialler.claims import LEAD, begin_attempt, extend_leases
from robot.dialler.pacing import TokenBucket
from robot.dialler.sweep import reschedule_closed_leads
from robot.leads import import_rows, rows_from_records
from robot.windows import CallingWindow

from fixtures.database import BACKENDS, FreshDatabase, add_script, open_fresh_database

# Monday 2026-06-01 14:00Z: 10:00 in New York, 15:00 in London, 17:00 in Moscow.
T0 = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
FAST = DiallerLimits(max_concurrent_calls=10, calls_per_second=1000, poll_interval_s=0.05)


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database(request.param, tmp_path)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class ScriptedRunner:
    """Answers each call with ``decide(job)`` and remembers every job it was given."""

    def __init__(self, decide: Callable[[DialJob], CallResult]) -> None:
        self.decide = decide
        self.jobs: list[DialJob] = []

    async def run(self, job: DialJob) -> CallResult:
        self.jobs.append(job)
        await asyncio.sleep(0)
        return self.decide(job)


def qualified(_job: DialJob) -> CallResult:
    return CallResult(outcome="human", disposition="qualified", duration_ms=1234.0)


def make_campaign(engine: Any, leads: list[dict[str, Any]], **fields: Any) -> int:
    tenant_id = get_or_create_tenant(engine, "acme")
    fields.setdefault("default_region", "US")
    fields.setdefault("script_id", add_script(engine, tenant_id))
    campaign = create_campaign(engine, tenant_id, CampaignCreate(name="c", **fields))
    assert campaign.id is not None
    report = import_rows(engine, campaign.id, rows_from_records(leads), now=T0)
    assert report.imported == len(leads), report.rejected
    change_status(engine, campaign.id, "start")
    return campaign.id


def lead_rows(engine: Any) -> dict[str, Lead]:
    with Session(engine) as session:
        return {lead.number: lead for lead in session.exec(select(Lead)).all()}


def call_rows(engine: Any) -> list[Call]:
    with Session(engine) as session:
        return list(session.exec(select(Call).order_by(Call.id)).all())  # type: ignore[arg-type]


def run(dialler: Dialler) -> None:
    asyncio.run(asyncio.wait_for(dialler.run(until_idle=True), timeout=60))


NY = [{"phone": f"+1212555{i:04d}", "first_name": f"n{i}"} for i in range(5)]


def test_worker_calls_every_due_lead_once_and_finishes(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    campaign_id = make_campaign(engine, NY)
    runner = ScriptedRunner(qualified)
    run(Dialler(engine, runner, limits=FAST, clock=Clock()))

    assert sorted(job.number for job in runner.jobs) == [lead["phone"] for lead in NY]
    assert {job.variables["first_name"] for job in runner.jobs} == {f"n{i}" for i in range(5)}
    assert all(job.attempt == 1 and job.campaign_id == campaign_id for job in runner.jobs)
    calls = call_rows(engine)
    assert len(calls) == 5 and all(c.ended_at == T0 and c.outcome == "human" for c in calls)
    assert all(
        lead.status == "done" and lead.lease_owner is None for lead in lead_rows(engine).values()
    )
    stats = campaign_stats(engine, campaign_id)
    assert (stats.status, stats.attempts, stats.remaining) == ("finished", 5, 0)
    assert stats.calls_by_disposition == {"qualified": 5}


def test_worker_forgets_finished_campaigns(fresh_db: FreshDatabase) -> None:
    """A long-lived worker goes through campaign after campaign: what it notes per campaign
    (last sweep, calls up) is dropped once the campaign stops running, or it grows forever."""
    engine = fresh_db.engine
    dialler = Dialler(engine, ScriptedRunner(qualified), limits=FAST, clock=Clock())

    async def campaigns_one_after_another() -> list[int]:
        seen = []
        for _ in range(3):
            campaign_id = make_campaign(engine, NY[:2])
            await dialler.run(until_idle=True)
            assert campaign_stats(engine, campaign_id).status == "finished"
            seen.append(campaign_id)
        await dialler.fill_slots()  # a round after the last campaign finished
        return seen

    finished = asyncio.run(asyncio.wait_for(campaigns_one_after_another(), timeout=60))
    assert len(set(finished)) == 3
    assert dialler.active_calls == 0 and dialler.active_by_campaign() == {}
    assert not set(finished) & (set(dialler._swept_at) | set(dialler._by_campaign))


def test_retries_wait_per_outcome_until_max_attempts(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    policy = {"max_attempts": 3, "delays_s": {"busy": 600, "no_answer": 1800}}
    campaign_id = make_campaign(engine, NY[:2], retry_policy=policy)
    outcomes = {NY[0]["phone"]: "busy", NY[1]["phone"]: "no_answer"}
    runner = ScriptedRunner(lambda job: CallResult(outcome=outcomes[job.number]))
    clock = Clock()
    dialler = Dialler(engine, runner, limits=FAST, clock=clock)
    run(dialler)
    leads = lead_rows(engine)
    assert leads[NY[0]["phone"]].next_attempt_at == T0 + timedelta(seconds=600)
    assert leads[NY[1]["phone"]].next_attempt_at == T0 + timedelta(seconds=1800)
    assert leads[NY[0]["phone"]].status_reason == "retry after busy"
    assert campaign_stats(engine, campaign_id).status == "running"  # leads wait for retries

    clock.now = T0 + timedelta(seconds=599)
    run(dialler)
    assert len(runner.jobs) == 2  # nothing due yet
    for minutes in (10, 30, 60, 90):
        clock.now = T0 + timedelta(minutes=minutes)
        run(dialler)
    by_number: dict[str, list[int]] = {}
    for job in runner.jobs:
        by_number.setdefault(job.number, []).append(job.attempt)
    assert by_number == {NY[0]["phone"]: [1, 2, 3], NY[1]["phone"]: [1, 2, 3]}
    leads = lead_rows(engine)
    assert {lead.status for lead in leads.values()} == {"exhausted"}
    assert leads[NY[0]["phone"]].attempts == 3 and leads[NY[0]["phone"]].next_attempt_at is None
    assert campaign_stats(engine, campaign_id).status == "finished"


def test_callback_time_is_kept_exactly_or_moved_into_the_window(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    make_campaign(engine, NY[:2])
    inside = T0 + timedelta(hours=2, minutes=13, seconds=7)  # 12:13:07 in New York
    late = datetime(2026, 6, 2, 2, 30, tzinfo=UTC)  # 22:30 in New York: window closed
    wanted = {NY[0]["phone"]: inside, NY[1]["phone"]: late}
    runner = ScriptedRunner(
        lambda job: CallResult(
            outcome="human", disposition="callback", callback_at=wanted[job.number]
        )
    )
    run(Dialler(engine, runner, limits=FAST, clock=Clock()))
    leads = lead_rows(engine)
    assert leads[NY[0]["phone"]].next_attempt_at == inside
    assert leads[NY[1]["phone"]].next_attempt_at == datetime(2026, 6, 2, 13, 0, tzinfo=UTC)
    assert "moved to the next window opening" in (leads[NY[1]["phone"]].status_reason or "")
    assert leads[NY[0]["phone"]].callback_at == inside


def test_numbers_taken_off_the_dnc_list_are_only_the_tenants_own(
    fresh_db: FreshDatabase,
) -> None:
    engine = fresh_db.engine
    acme, other = get_or_create_tenant(engine, "acme"), get_or_create_tenant(engine, "other")
    for tenant_id in (acme, other):
        add_to_dnc(engine, tenant_id, NY[0]["phone"])
    add_to_dnc(engine, acme, NY[1]["phone"])
    lifted = remove_from_dnc(engine, acme, [NY[0]["phone"], NY[2]["phone"]])
    assert lifted == [NY[0]["phone"]]  # the one that was listed
    with Session(engine) as session:
        left = {(e.tenant_id, e.number) for e in session.exec(select(DncEntry)).all()}
    assert left == {(acme, NY[1]["phone"]), (other, NY[0]["phone"])}


def test_dnc_numbers_are_never_dialled_even_if_added_after_import(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    first = make_campaign(engine, NY[:3])
    second = make_campaign(engine, NY[:3])
    tenant_id = get_or_create_tenant(engine, "acme")
    add_to_dnc(engine, tenant_id, NY[0]["phone"])
    change_status(engine, second, "pause")

    def result(job: DialJob) -> CallResult:
        if job.number == NY[1]["phone"]:
            return CallResult(outcome="human", disposition="do_not_call")
        return CallResult(outcome="human", disposition="not_interested")

    runner = ScriptedRunner(result)
    run(Dialler(engine, runner, limits=FAST, clock=Clock()))
    assert sorted(job.number for job in runner.jobs) == [NY[1]["phone"], NY[2]["phone"]]
    with Session(engine) as session:
        dnc = {entry.number for entry in session.exec(select(DncEntry)).all()}
    assert dnc == {NY[0]["phone"], NY[1]["phone"]}  # the do_not_call answer was added at once

    change_status(engine, second, "start")
    runner.jobs.clear()
    run(Dialler(engine, runner, limits=FAST, clock=Clock()))
    assert [job.number for job in runner.jobs] == [NY[2]["phone"]]
    with Session(engine) as session:
        statuses = session.exec(select(Lead.status).where(Lead.campaign_id == second)).all()
    assert sorted(statuses) == ["dnc", "dnc", "done"]
    assert campaign_stats(engine, first).leads_by_status == {"dnc": 2, "done": 1}


def test_a_due_lead_outside_its_window_is_moved_to_the_opening(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    leads = [
        {"phone": "+12125550100", "timezone": "Asia/Tokyo"},  # 23:00 in Tokyo
        {"phone": "+79161234567"},  # Moscow 17:00 but Anadyr/Kamchatka 02:00
        {"phone": "+442079460958"},  # London 15:00: open
    ]
    make_campaign(engine, leads)
    with Session(engine) as session:  # everything due now regardless of import scheduling
        session.exec(update(LEAD).values(next_attempt_at=T0))  # type: ignore[call-overload]
        session.commit()
    runner = ScriptedRunner(qualified)
    run(Dialler(engine, runner, limits=FAST, clock=Clock()))
    assert [job.number for job in runner.jobs] == ["+442079460958"]
    rows = lead_rows(engine)
    tokyo = rows["+12125550100"]
    assert tokyo.next_attempt_at == datetime(2026, 6, 2, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
    assert tokyo.status_reason == "window closed in Asia/Tokyo" and tokyo.attempts == 0
    russian = rows["+79161234567"]
    assert "all must be open" in (russian.status_reason or "")
    assert russian.next_attempt_at is not None and russian.next_attempt_at > T0
    assert russian.status == "pending" and russian.lease_owner is None


class HeldRunner:
    """Keeps every call open until released; records the most calls open at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.open_by_campaign: dict[int, int] = {}
        self.peak_by_campaign: dict[int, int] = {}
        self.peak_total = 0

    async def run(self, job: DialJob) -> CallResult:
        cid = job.campaign_id
        self.open_by_campaign[cid] = self.open_by_campaign.get(cid, 0) + 1
        self.peak_by_campaign[cid] = max(
            self.peak_by_campaign.get(cid, 0), self.open_by_campaign[cid]
        )
        self.peak_total = max(self.peak_total, sum(self.open_by_campaign.values()))
        try:
            await self.release.wait()
        finally:
            self.open_by_campaign[cid] -= 1
        return CallResult(outcome="human", disposition="qualified")


def test_concurrency_caps_and_priority_share(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    many = [{"phone": f"+1212555{i:04d}"} for i in range(12)]
    high = make_campaign(engine, many, priority=3)
    low = make_campaign(engine, many, priority=1)
    capped = make_campaign(engine, many, max_concurrent_calls=1)
    runner = HeldRunner()
    limits = DiallerLimits(max_concurrent_calls=5, calls_per_second=1000, poll_interval_s=0.05)

    async def scenario() -> dict[int, int]:
        dialler = Dialler(engine, runner, limits=limits, clock=Clock())
        await dialler.fill_slots()
        for _ in range(50):
            await asyncio.sleep(0)
        snapshot = dialler.active_by_campaign()
        stop = asyncio.Event()
        task = asyncio.create_task(dialler.run(stop))
        await asyncio.sleep(0.2)
        runner.release.set()
        while campaign_stats(engine, high).remaining or campaign_stats(engine, capped).remaining:
            await asyncio.sleep(0.05)
        stop.set()
        await task
        return snapshot

    snapshot = asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    # Five slots: the capped campaign takes its one, the rest split 3:1 by priority.
    assert snapshot == {high: 3, low: 1, capped: 1}
    assert runner.peak_total <= 5 and runner.peak_by_campaign[capped] == 1
    assert len(call_rows(engine)) == 36


def test_expired_lease_returns_the_lead_and_a_live_one_blocks_others(
    fresh_db: FreshDatabase,
) -> None:
    engine = fresh_db.engine
    campaign_id = make_campaign(engine, NY[:3])
    first = claim_due_leads(engine, campaign_id, "worker-a", 10, lease_s=1.0, now=T0)
    assert len(first) == 3
    assert (
        claim_due_leads(engine, campaign_id, "worker-b", 10, 1.0, T0 + timedelta(seconds=0.9)) == []
    )
    held = extend_leases(
        engine, [lead.id for lead in first], "worker-a", 1.0, T0 + timedelta(seconds=0.9)
    )
    assert held == {lead.id for lead in first}
    later = T0 + timedelta(seconds=1.5)  # the original lease is over, the heartbeat kept it
    assert claim_due_leads(engine, campaign_id, "worker-b", 10, 1.0, later) == []
    expired = T0 + timedelta(seconds=2.0)
    taken = claim_due_leads(engine, campaign_id, "worker-b", 10, 1.0, expired)
    assert sorted(lead.id for lead in taken) == sorted(lead.id for lead in first)
    assert extend_leases(engine, [first[0].id], "worker-a", 1.0, expired) == set()
    rows = lead_rows(engine)
    assert {lead.lease_owner for lead in rows.values()} == {"worker-b"}


def claim_until_empty(url: str, campaign_id: int, owner: str, start: Any) -> list[int]:
    """Run in a separate process: claim small batches until no lead is left."""
    from models.db import make_engine

    engine = make_engine(url)
    start.wait(timeout=60)  # every process starts claiming at the same moment
    got: list[int] = []
    while batch := claim_due_leads(engine, campaign_id, owner, 5, lease_s=3600, now=T0):
        got.extend(lead.id for lead in batch)
        time.sleep(0.002)  # as between real calls: lets the other workers in
    engine.dispose()
    return got


def test_four_processes_never_claim_the_same_lead(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    count = 300
    tenant_id = get_or_create_tenant(engine, "acme")
    campaign = create_campaign(engine, tenant_id, CampaignCreate(name="race"))
    assert campaign.id is not None
    leads = [{"phone": f"+1212555{i:04d}"} for i in range(count)]
    import_rows(engine, campaign.id, rows_from_records(leads), now=T0 - timedelta(days=1))
    with Session(engine) as session:
        session.exec(update(LEAD).values(next_attempt_at=T0))  # type: ignore[call-overload]
        session.commit()
    engine.dispose()
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager, ProcessPoolExecutor(4, mp_context=context) as pool:
        start = manager.Barrier(4)
        futures = [
            pool.submit(claim_until_empty, fresh_db.url, campaign.id, f"w{i}", start)
            for i in range(4)
        ]
        results = [future.result(timeout=120) for future in futures]
    claimed = [lead_id for result in results for lead_id in result]
    assert len(claimed) == count == len(set(claimed))
    assert sum(1 for result in results if result) >= 2  # they really competed
    owners = {lead.lease_owner for lead in lead_rows(engine).values()}
    assert owners <= {"w0", "w1", "w2", "w3"}


def test_paused_and_stopped_campaigns_are_not_dialled(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    paused = make_campaign(engine, NY[:2])
    stopped = make_campaign(engine, NY[2:4])
    change_status(engine, paused, "pause")
    change_status(engine, stopped, "stop")
    runner = ScriptedRunner(qualified)
    run(Dialler(engine, runner, limits=FAST, clock=Clock()))
    assert runner.jobs == []
    with Session(engine) as session:
        statuses = {c.id: c.status for c in session.exec(select(Campaign)).all()}
    assert statuses == {paused: "paused", stopped: "stopped"}


def test_a_number_put_on_dnc_after_the_claim_is_not_dialled(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    campaign_id = make_campaign(engine, NY[:1])
    [lead] = claim_due_leads(engine, campaign_id, "worker-a", 10, 60, T0)
    add_to_dnc(engine, lead.tenant_id, lead.number)
    assert begin_attempt(engine, lead, "worker-a", campaign_id, T0) is None
    stored = lead_rows(engine)[lead.number]
    assert (stored.status, stored.attempts, stored.lease_owner) == ("dnc", 0, None)
    assert call_rows(engine) == []


def test_a_failing_runner_is_recorded_and_does_not_stop_the_dialler(
    fresh_db: FreshDatabase,
) -> None:
    engine = fresh_db.engine
    make_campaign(engine, NY[:3])

    def flaky(job: DialJob) -> CallResult:
        if job.number == NY[1]["phone"]:
            raise RuntimeError("carrier exploded")
        return qualified(job)

    runner = ScriptedRunner(flaky)
    run(Dialler(engine, runner, limits=FAST, clock=Clock()))
    assert len(runner.jobs) == 3
    failed = [c for c in call_rows(engine) if c.outcome == "failed"]
    assert len(failed) == 1 and failed[0].error == "RuntimeError: carrier exploded"
    leads = lead_rows(engine)
    assert leads[NY[1]["phone"]].status == "pending"  # retried later
    assert leads[NY[1]["phone"]].next_attempt_at == T0 + timedelta(minutes=10)
    assert leads[NY[0]["phone"]].status == leads[NY[2]["phone"]].status == "done"


def test_calls_per_second_bucket_gates_call_starts(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    make_campaign(engine, [{"phone": f"+1212555{i:04d}"} for i in range(6)])
    runner = HeldRunner()
    ticks = [0.0]  # a frozen monotonic clock: no token comes back until it moves
    dialler = Dialler(engine, runner, limits=FAST, clock=Clock())
    dialler.bucket = TokenBucket(rate_per_s=2.0, burst=2.0, clock=lambda: ticks[0])

    async def started_after(advance_s: float, expected: int) -> int:
        """Move the clock, wait for ``expected`` starts, then check no more follow."""
        ticks[0] += advance_s
        for _ in range(1000):
            if len(call_rows(engine)) >= expected:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # a frozen clock lets no further call start meanwhile
        return len(call_rows(engine))

    async def scenario() -> list[int]:
        await dialler.fill_slots()
        seen = [
            await started_after(0.0, 2),  # the burst
            await started_after(0.5, 3),  # one token back after half a second at 2/s
            await started_after(1.0, 5),  # two more after a further second
        ]
        runner.release.set()
        ticks[0] += 10.0
        await dialler.drain()
        return seen

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=60)) == [2, 3, 5]
    assert all(lead.status == "done" for lead in lead_rows(engine).values())


def test_a_retry_that_falls_after_closing_moves_to_the_opening_across_dst(
    fresh_db: FreshDatabase,
) -> None:
    engine = fresh_db.engine
    saturday_evening = datetime(2026, 3, 8, 0, 55, tzinfo=UTC)  # Sat 19:55 EST in New York
    tenant_id = get_or_create_tenant(engine, "acme")
    campaign = create_campaign(
        engine, tenant_id, CampaignCreate(name="dst", script_id=add_script(engine, tenant_id))
    )
    assert campaign.id is not None
    leads = [{"phone": "+12125550100"}, {"phone": "+442079460958"}]
    import_rows(engine, campaign.id, rows_from_records(leads), now=saturday_evening)
    change_status(engine, campaign.id, "start")
    with Session(engine) as session:
        session.exec(update(LEAD).values(next_attempt_at=saturday_evening))  # type: ignore[call-overload]
        session.commit()
    runner = ScriptedRunner(lambda job: CallResult(outcome="busy"))
    run(Dialler(engine, runner, limits=FAST, clock=Clock(saturday_evening)))
    rows = lead_rows(engine)
    assert [job.number for job in runner.jobs] == ["+12125550100"]  # London is asleep
    # Busy + 10 min = 20:05 EST, closed; clocks spring forward overnight, so Sunday 09:00 is
    # EDT: 13:00Z, not 14:00Z.
    assert rows["+12125550100"].next_attempt_at == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)
    # London has not changed its clocks yet: Sunday 09:00 GMT is 09:00Z.
    assert rows["+442079460958"].next_attempt_at == datetime(2026, 3, 8, 9, 0, tzinfo=UTC)


def test_campaign_cap_holds_across_workers(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    campaign_id = make_campaign(
        engine, [{"phone": f"+1212555{i:04d}"} for i in range(8)], max_concurrent_calls=3
    )
    first = claim_due_leads(engine, campaign_id, "worker-a", 2, 60, T0, campaign_cap=3)
    second = claim_due_leads(engine, campaign_id, "worker-b", 5, 60, T0, campaign_cap=3)
    assert (len(first), len(second)) == (2, 1)
    assert claim_due_leads(engine, campaign_id, "worker-c", 5, 60, T0, campaign_cap=3) == []
    # An expired lease no longer counts against the cap.
    later = T0 + timedelta(seconds=61)
    assert len(claim_due_leads(engine, campaign_id, "worker-c", 5, 60, later, campaign_cap=3)) == 3

    runner = HeldRunner()

    async def two_workers() -> int:
        workers = [
            Dialler(engine, runner, limits=FAST, clock=Clock(later + timedelta(seconds=61)))
            for _ in range(2)
        ]
        for dialler in workers:
            await dialler.fill_slots()
        for _ in range(1000):  # wait until the calls are really up at the runner
            if sum(runner.open_by_campaign.values()) >= 3:
                break
            await asyncio.sleep(0.01)
        for dialler in workers:  # both try again: the cap is reached, nobody claims more
            await dialler.fill_slots()
        in_flight = sum(dialler.active_calls for dialler in workers)
        runner.release.set()
        for dialler in workers:
            await dialler.drain()
        return in_flight

    assert asyncio.run(asyncio.wait_for(two_workers(), timeout=60)) == 3
    assert runner.peak_by_campaign[campaign_id] == 3


def test_a_sweep_moves_due_leads_of_closed_zones_in_bulk(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    leads = [{"phone": f"+1212555{i:04d}", "timezone": "Asia/Tokyo"} for i in range(4)]
    leads.append({"phone": "+442079460958"})  # London: open at T0
    # Its own window is open at T0 in Tokyo (23:00): the per-lead check decides for it.
    leads.append(
        {"phone": "+12125559999", "timezone": "Asia/Tokyo",
         "calling_window": {"hours": {"mon": "22:00-24:00"}}}
    )  # fmt: skip
    campaign_id = make_campaign(engine, leads)
    with Session(engine) as session:
        session.exec(update(LEAD).values(next_attempt_at=T0))  # type: ignore[call-overload]
        session.commit()
    window = CallingWindow()
    assert reschedule_closed_leads(engine, campaign_id, window, T0) == 4
    assert reschedule_closed_leads(engine, campaign_id, window, T0) == 0
    rows = lead_rows(engine)
    tokyo_opening = datetime(2026, 6, 2, 0, 0, tzinfo=UTC)
    assert {rows[f"+1212555{i:04d}"].next_attempt_at for i in range(4)} == {tokyo_opening}
    assert rows["+442079460958"].next_attempt_at == T0
    assert rows["+12125559999"].next_attempt_at == T0

    runner = ScriptedRunner(qualified)
    run(Dialler(engine, runner, limits=FAST, clock=Clock()))
    assert sorted(job.number for job in runner.jobs) == ["+12125559999", "+442079460958"]
