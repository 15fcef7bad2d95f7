"""Calls and campaigns finished by writers that queued no events are reported exactly once."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from models.call import Call
from models.campaign import Campaign
from models.transactions import write_transaction
from models.types import utc_now
from models.webhook import OutboxEvent
from robot.crm.delivery import DeliveryWorker
from robot.crm.outbox import sweep_unreported
from robot.crm.sink import SinkServer

from fixtures.database import BACKENDS, FreshDatabase, open_fresh_database
from fixtures.webhook_receiver import FAST, FlakyReceiver, add_endpoint

CALL = Call.__table__  # type: ignore[attr-defined]
CAMPAIGN = Campaign.__table__  # type: ignore[attr-defined]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database(request.param, tmp_path)


def insert_call(db: FreshDatabase, tenant_id: int, *, ended: bool, disposition: str | None) -> int:
    now = utc_now()
    with write_transaction(db.engine) as conn:
        return int(
            conn.execute(
                insert(CALL)
                .values(
                    tenant_id=tenant_id,
                    number="+12025550143",
                    attempt=1,
                    started_at=now - timedelta(seconds=30),
                    ended_at=now if ended else None,
                    outcome="human" if ended else None,
                    disposition=disposition,
                    qualified=disposition == "qualified",
                    slots={"consent": True},
                    transcript=[],
                    signalling={},
                )
                .returning(CALL.c.id)
            ).scalar_one()
        )


async def test_unreported_calls_and_campaigns_are_swept_once(db: FreshDatabase) -> None:
    flaky = FlakyReceiver()
    server = SinkServer(("127.0.0.1", 0), flaky.sink, flaky.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tenant_id, _ = add_endpoint(db.engine, server.url)
        qualified = insert_call(db, tenant_id, ended=True, disposition="qualified")
        running = insert_call(db, tenant_id, ended=False, disposition=None)
        with write_transaction(db.engine) as conn:
            campaign_id = conn.execute(
                insert(CAMPAIGN)
                .values(
                    tenant_id=tenant_id,
                    name="done",
                    default_region="US",
                    default_timezone="UTC",
                    priority=1,
                    max_concurrent_calls=1,
                    status="finished",
                    created_at=utc_now(),
                    finished_at=utc_now(),
                )
                .returning(CAMPAIGN.c.id)
            ).scalar_one()
        worker = DeliveryWorker(db.engine, FAST, allow_private=True)
        await asyncio.wait_for(worker.run(until_idle=True), 60)
        types = sorted(flaky.events[e]["type"] for e in flaky.accepted)
        assert types == ["call.completed", "campaign.finished", "lead.qualified"]
        # The running call ends later (by a writer that reports nothing): the next sweep of
        # the same worker reports it, and only it.
        with write_transaction(db.engine) as conn:
            conn.execute(
                update(CALL)
                .where(CALL.c.id == running)
                .values(ended_at=utc_now(), outcome="busy", q850=17)
            )
        assert worker.sweep() == 1
        assert worker.sweep() == 0
        # A fresh sweep from the start (another worker) finds nothing left to report.
        assert sweep_unreported(db.engine, 0)[0] == 0
        await asyncio.wait_for(worker.run(until_idle=True), 60)
        by_call: dict[int, list[str]] = {}
        for event_id in flaky.accepted:
            event = flaky.events[event_id]
            if "call_id" in event["data"]:
                by_call.setdefault(event["data"]["call_id"], []).append(event["type"])
        assert by_call == {
            qualified: ["call.completed", "lead.qualified"],
            running: ["call.completed"],
        }
        with db.engine.connect() as conn:
            bodies = (
                conn.execute(
                    select(OutboxEvent.body).where(OutboxEvent.campaign_id == campaign_id)  # type: ignore[call-overload]
                )
                .scalars()
                .all()
            )
        assert [json.loads(b)["data"]["status"] for b in bodies] == ["finished"]
        assert len(flaky.accepted) == len(set(flaky.accepted)) == 4
    finally:
        server.shutdown()
        server.server_close()
