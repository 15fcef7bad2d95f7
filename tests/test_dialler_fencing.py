"""Fencing: a worker whose lease ran out (frozen, or cut off from the database) has its late
result refused whole; a short database outage loses no call's result; the attempt id goes
out with each INVITE; the dialler's settings reach the worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from api.placement import ATTEMPT_ID_VARIABLE, PlaceCall, ScriptCallRunner
from models.campaign import CampaignCreate
from models.transactions import DatabaseError
from robot.config import Settings
from robot.crm.outbox import OUTBOX
from robot.dialler import (
    CallResult,
    DialJob,
    DiallerLimits,
    LeaseLostError,
    RetryPolicy,
    change_status,
    claim_due_leads,
    create_campaign,
    finish_attempt,
    get_or_create_tenant,
)
from robot.dialler import worker as worker_module
from robot.dialler.campaigns import load_running_campaigns
from robot.dialler.claims import CALL, LEAD, LOST_WORKER_ERROR, begin_attempt
from robot.dialler.worker import Dialler
from robot.leads import import_rows, rows_from_records
from robot.windows import CallingWindow

from fixtures.database import BACKENDS, FreshDatabase, add_script, open_fresh_database

T0 = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
ALWAYS_OPEN = {
    "hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")
}


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database(request.param, tmp_path)


def one_lead_campaign(engine: Any) -> int:
    tenant_id = get_or_create_tenant(engine, "acme")
    fields = {"script_id": add_script(engine, tenant_id), "calling_window": ALWAYS_OPEN}
    campaign = create_campaign(engine, tenant_id, CampaignCreate(name="c", **fields))
    assert campaign.id is not None
    rows = rows_from_records([{"phone": "+12125550001", "first_name": "Ann"}])
    assert import_rows(engine, campaign.id, rows, now=T0).imported == 1
    change_status(engine, campaign.id, "start")
    return campaign.id


def job_for(lead: Any, campaign_id: int, started: tuple[int, int]) -> DialJob:
    call_id, attempt = started
    return DialJob(
        call_id=call_id,
        lead_id=lead.id,
        tenant_id=lead.tenant_id,
        campaign_id=campaign_id,
        number=lead.number,
        attempt=attempt,
        variables=lead.variables,
        script_id=None,
        script_version=None,
        caller_id=None,
        time_zones=lead.time_zones,
    )


def test_a_late_result_after_another_worker_took_the_lead_is_refused_whole(
    fresh_db: FreshDatabase,
) -> None:
    engine = fresh_db.engine
    campaign_id = one_lead_campaign(engine)
    window = CallingWindow.from_dict(ALWAYS_OPEN)
    [lead] = claim_due_leads(engine, campaign_id, "worker-a", 1, 10.0, T0)
    started_a = begin_attempt(engine, lead, "worker-a", campaign_id, T0)
    assert started_a is not None
    # worker-a freezes past its lease; worker-b takes the lead and dials it again
    later = T0 + timedelta(seconds=11)
    [again] = claim_due_leads(engine, campaign_id, "worker-b", 1, 10.0, later)
    started_b = begin_attempt(engine, again, "worker-b", campaign_id, later)
    assert started_b is not None
    # worker-a wakes up with its call's result: nothing of it may be written
    late = CallResult(outcome="human", disposition="qualified")
    job_a = job_for(lead, campaign_id, started_a)
    with pytest.raises(LeaseLostError):
        finish_attempt(engine, job_a, late, RetryPolicy(), window, "worker-a", later)
    with engine.connect() as conn:
        call_a = conn.execute(select(CALL).where(CALL.c.id == started_a[0])).one()
        row = conn.execute(select(LEAD).where(LEAD.c.id == lead.id)).one()
        events = conn.execute(select(OUTBOX.c.call_id)).scalars().all()
    assert (call_a.outcome, call_a.error) == ("failed", LOST_WORKER_ERROR)
    assert (row.lease_owner, row.status, row.last_outcome) == ("worker-b", "pending", None)
    assert events == []
    # worker-b's own result is stored with its events
    job_b = job_for(again, campaign_id, started_b)
    finish_attempt(engine, job_b, late, RetryPolicy(), window, "worker-b", later)
    with engine.connect() as conn:
        row = conn.execute(select(LEAD).where(LEAD.c.id == lead.id)).one()
        events = conn.execute(select(OUTBOX.c.call_id)).scalars().all()
    assert (row.lease_owner, row.status) == (None, "done")
    assert set(events) == {started_b[0]}


def test_a_result_for_an_attempt_closed_meanwhile_is_refused(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    campaign_id = one_lead_campaign(engine)
    window = CallingWindow.from_dict(ALWAYS_OPEN)
    [lead] = claim_due_leads(engine, campaign_id, "worker-a", 1, 10.0, T0)
    started = begin_attempt(engine, lead, "worker-a", campaign_id, T0)
    assert started is not None
    job = job_for(lead, campaign_id, started)
    result = CallResult(outcome="busy")
    finish_attempt(engine, job, result, RetryPolicy(), window, "worker-a", T0)
    # the same worker claims the lead again and repeats the first attempt's result
    [again] = claim_due_leads(engine, campaign_id, "worker-a", 1, 10.0, T0 + timedelta(days=1))
    assert again.id == lead.id
    with pytest.raises(LeaseLostError):
        finish_attempt(engine, job, result, RetryPolicy(), window, "worker-a", T0)
    with engine.connect() as conn:
        assert len(conn.execute(select(OUTBOX.c.id)).all()) == 1


class FlakyStore:
    """Stands in for finish_attempt: fails with ``errors`` first, then returns a decision."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.tries = 0

    def __call__(self, *_args: Any) -> str:
        self.tries += 1
        if self.errors:
            raise self.errors.pop(0)
        return "stored"


def unreachable() -> DatabaseError:
    error = DatabaseError("database write failed")
    error.__cause__ = OperationalError("INSERT", {}, Exception("connection refused"))
    return error


async def store_with(
    fresh_db: FreshDatabase, monkeypatch: pytest.MonkeyPatch, store: FlakyStore
) -> Any:
    engine = fresh_db.engine
    campaign_id = one_lead_campaign(engine)
    [plan] = load_running_campaigns(engine)
    [lead] = claim_due_leads(engine, campaign_id, "worker-a", 1, 10.0, T0)
    monkeypatch.setattr(worker_module, "finish_attempt", store)
    monkeypatch.setattr(worker_module, "STORE_RETRY_INTERVAL_S", 0.0)
    dialler = Dialler(engine, runner=None, limits=DiallerLimits(store_retry_s=60.0))  # type: ignore[arg-type]
    job = job_for(lead, campaign_id, (1, 1))
    return await dialler._store(job, CallResult(outcome="busy"), plan, plan.window)


@pytest.mark.parametrize("fresh_db", ["sqlite"], indirect=True)
async def test_a_result_is_stored_once_the_database_is_back(
    fresh_db: FreshDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FlakyStore([unreachable(), unreachable()])
    assert await store_with(fresh_db, monkeypatch, store) == "stored"
    assert store.tries == 3


@pytest.mark.parametrize("fresh_db", ["sqlite"], indirect=True)
async def test_a_refused_write_is_not_retried(
    fresh_db: FreshDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = DatabaseError("database write failed")
    refused.__cause__ = IntegrityError("INSERT", {}, Exception("duplicate key"))
    store = FlakyStore([refused])
    with pytest.raises(DatabaseError):
        await store_with(fresh_db, monkeypatch, store)
    assert store.tries == 1


class RecordingPlacer:
    def __init__(self) -> None:
        self.requests: list[PlaceCall] = []

    async def place(self, request: PlaceCall) -> CallResult:
        self.requests.append(request)
        return CallResult(outcome="busy")


@pytest.mark.parametrize("fresh_db", ["sqlite"], indirect=True)
def test_each_attempt_sends_its_id_and_the_script_is_read_once(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    script_id = add_script(engine, get_or_create_tenant(engine, "acme"))
    placer = RecordingPlacer()
    runner = ScriptCallRunner(engine, placer)
    jobs = [
        DialJob(
            call_id=call_id,
            lead_id=1,
            tenant_id=1,
            campaign_id=1,
            number="+12125550001",
            attempt=attempt,
            variables={"first_name": "Ann"},
            script_id=script_id,
            script_version=1,
            caller_id=None,
            time_zones=("UTC",),
        )
        for call_id, attempt in ((41, 1), (42, 2))
    ]
    results = asyncio.run(_run_all(runner, jobs))
    assert [r.outcome for r in results] == ["busy", "busy"]
    assert [r.variables[ATTEMPT_ID_VARIABLE] for r in placer.requests] == ["41", "42"]
    assert placer.requests[0].variables["first_name"] == "Ann"
    assert list(runner._yaml) == [script_id]


async def _run_all(runner: ScriptCallRunner, jobs: list[DialJob]) -> list[CallResult]:
    return [await runner.run(job) for job in jobs]


def test_dialler_settings_reach_the_worker_limits() -> None:
    settings = Settings(dialler={"lease_s": 12.0, "heartbeat_s": 3.0, "max_concurrent_calls": 4})
    limits = DiallerLimits.from_settings(settings.dialler)
    assert (limits.lease_s, limits.heartbeat_s, limits.max_concurrent_calls) == (12.0, 3.0, 4)
    assert limits.store_retry_s == settings.dialler.store_retry_s
