"""A worker killed with SIGKILL mid-call: its leads come back after the lease, nothing is
lost, nothing is dialled twice, and the crashed attempts are visible and counted.

Run as a script, this module is the worker process: ``python test_dialler_crash.py URL
CAMPAIGN_ID DIAL_LOG`` dials with a runner that finishes the first two calls and then hangs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models.call import Call
from models.campaign import CampaignCreate
from models.lead import Lead
from robot.dialler import (
    CallResult,
    DialJob,
    Dialler,
    DiallerLimits,
    campaign_stats,
    change_status,
    claim_due_leads,
    create_campaign,
    get_or_create_tenant,
)
from robot.dialler.claims import LOST_WORKER_ERROR
from robot.leads import import_rows, rows_from_records

from fixtures.database import BACKENDS, FreshDatabase, add_script, open_fresh_database

LEASE_S = 1.5
CHILD_LIMITS = DiallerLimits(
    max_concurrent_calls=3,
    calls_per_second=1000,
    lease_s=LEASE_S,
    heartbeat_s=0.3,
    poll_interval_s=0.05,
)
ALWAYS_OPEN = {
    "hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")
}
NUMBERS = [f"+1212555{i:04d}" for i in range(5)]


class HangingRunner:
    """Completes the first ``finished`` calls, then never returns (the process gets killed)."""

    def __init__(self, dial_log: Path, finished: int = 2) -> None:
        self.dial_log = dial_log
        self.finished = finished
        self.started = 0

    async def run(self, job: DialJob) -> CallResult:
        self.started += 1
        with self.dial_log.open("a") as log:
            log.write(f"{job.lead_id} {job.attempt}\n")
            log.flush()
            os.fsync(log.fileno())
        if self.started <= self.finished:
            return CallResult(outcome="human", disposition="qualified")
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def worker_main(url: str, campaign_id: int, dial_log: Path) -> None:
    from models.db import make_engine

    engine = make_engine(url)
    dialler = Dialler(
        engine,
        HangingRunner(dial_log),
        limits=CHILD_LIMITS,
        owner="doomed",
        campaign_ids=frozenset({campaign_id}),
    )
    asyncio.run(dialler.run())


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database(request.param, tmp_path)


def wait_for(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class RecordingRunner:
    def __init__(self) -> None:
        self.jobs: list[DialJob] = []

    async def run(self, job: DialJob) -> CallResult:
        self.jobs.append(job)
        return CallResult(outcome="human", disposition="qualified")


def test_killed_worker_leads_are_recovered_after_the_lease(
    fresh_db: FreshDatabase, tmp_path: Path
) -> None:
    engine = fresh_db.engine
    tenant_id = get_or_create_tenant(engine, "acme")
    campaign = create_campaign(
        engine,
        tenant_id,
        CampaignCreate(
            name="crash", calling_window=ALWAYS_OPEN, script_id=add_script(engine, tenant_id)
        ),
    )
    assert campaign.id is not None
    records = [{"phone": number} for number in NUMBERS]
    assert import_rows(engine, campaign.id, rows_from_records(records)).imported == 5
    change_status(engine, campaign.id, "start")

    dial_log = tmp_path / "dials.log"
    dial_log.touch()
    child = subprocess.Popen(
        [sys.executable, __file__, fresh_db.url, str(campaign.id), str(dial_log)],
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        wait_for(lambda: len(dial_log.read_text().splitlines()) >= 5, 60, "five dials")
        # Two calls finished, three hang: wait until the finished ones are stored.
        wait_for(
            lambda: (
                campaign_stats(engine, campaign.id).in_flight == 3
                and campaign_stats(engine, campaign.id).attempts == 5
            ),
            30,
            "stored attempts",
        )
        with Session(engine) as session:
            held = session.exec(select(Lead).where(Lead.lease_owner == "doomed")).all()
        first_lease_end = max(lead.lease_until for lead in held if lead.lease_until)
        # The heartbeat keeps the leases alive well past their first end while the calls hang.
        wait_for(lambda: datetime.now(UTC) > first_lease_end, 5, "the first lease period")
        assert claim_due_leads(engine, campaign.id, "other", 10, LEASE_S, datetime.now(UTC)) == []
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    with Session(engine) as session:
        orphaned = session.exec(select(Lead).where(Lead.lease_owner == "doomed")).all()
        open_calls = session.exec(select(Call).where(Call.ended_at.is_(None))).all()  # type: ignore[union-attr]
    assert len(orphaned) == 3 and all(lead.attempts == 1 for lead in orphaned)
    assert sorted(c.lead_id for c in open_calls) == sorted(lead.id for lead in orphaned)
    # A live worker does not take them while the dead worker's lease is still running...
    assert claim_due_leads(engine, campaign.id, "other", 10, LEASE_S, datetime.now(UTC)) == []
    lease_end = max(lead.lease_until for lead in orphaned if lead.lease_until)
    wait_for(lambda: datetime.now(UTC) > lease_end, 2 * LEASE_S + 1, "the lease to expire")

    # ...and recovers them once it has expired.
    runner = RecordingRunner()
    limits = DiallerLimits(calls_per_second=1000, lease_s=LEASE_S, poll_interval_s=0.05)
    asyncio.run(asyncio.wait_for(Dialler(engine, runner, limits=limits).run(until_idle=True), 60))

    assert sorted(job.lead_id for job in runner.jobs) == sorted(lead.id for lead in orphaned)
    assert all(job.attempt == 2 for job in runner.jobs)
    first_dials = [tuple(map(int, line.split())) for line in dial_log.read_text().splitlines()]
    assert len(first_dials) == 5 and len({lead_id for lead_id, _ in first_dials}) == 5
    with Session(engine) as session:
        calls = session.exec(select(Call)).all()
        leads = session.exec(select(Lead)).all()
    assert len(calls) == 8  # 5 first attempts + 3 recovered ones, nothing lost or doubled
    crashed = [c for c in calls if c.error == LOST_WORKER_ERROR]
    assert sorted(c.lead_id for c in crashed) == sorted(lead.id for lead in orphaned)
    assert all(c.outcome == "failed" and c.ended_at is not None for c in crashed)
    assert all(lead.status == "done" and lead.lease_owner is None for lead in leads)
    assert sorted(lead.attempts for lead in leads) == [1, 1, 2, 2, 2]
    assert campaign_stats(engine, campaign.id).status == "finished"


if __name__ == "__main__":
    worker_main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
