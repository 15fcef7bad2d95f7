"""A campaign from end to end: script and leads in the database, the dialler claims due
leads, the call engine phones them over the simulated network with the real speech engines,
and each finished call is stored with its CRM events in the outbox."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from models.call import Call
from models.lead import Lead
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_ears import PromptIndex
from robot.config import Settings
from robot.crm.outbox import OUTBOX
from robot.dialler import (
    Dialler,
    DiallerLimits,
    get_or_create_tenant,
)
from robot.engine import CallEngine
from robot.runner import EngineCallRunner
from robot.session import CallReport

from fixtures.campaigns import T0, start_campaign
from fixtures.database import open_fresh_database

pytestmark = pytest.mark.slow


def test_campaign_calls_leads_and_queues_crm_events(tmp_path: Path) -> None:
    [fresh] = list(open_fresh_database("sqlite", tmp_path))
    db = fresh.engine
    leads = [
        {"phone": "+12025550103", "first_name": "David", "timezone": "America/New_York"},
        {"phone": "+12025550111", "first_name": "Bea", "timezone": "America/New_York"},
    ]
    start_campaign(db, get_or_create_tenant(db, "acme"), leads)

    engine = CallEngine(settings=Settings(data_dir=tmp_path / "data"))
    prompts = PromptIndex().attach(engine)  # the callees know what the robot said
    carrier = SimCarrier(speed=1.5, listen=prompts.listen)
    runner = EngineCallRunner(db, carrier, engine, recording_dir=tmp_path / "recordings")
    reports: list[CallReport] = []
    runner.on_report = lambda _number, report: reports.append(report)
    limits = DiallerLimits(max_concurrent_calls=2, calls_per_second=100, poll_interval_s=0.05)
    dialler = Dialler(db, runner, limits=limits, clock=lambda: T0, admission=engine.load)

    async def go() -> None:
        try:
            await asyncio.wait_for(dialler.run(until_idle=True), timeout=240)
        finally:
            await carrier.close()

    asyncio.run(go())

    with Session(db) as session:
        calls = {c.number: c for c in session.exec(select(Call)).scalars()}
        lead_rows = {lead.number: lead for lead in session.exec(select(Lead)).scalars()}
    talked, busy = calls["+12025550103"], calls["+12025550111"]
    # Both calls went through admission control and the engine reported to the admitted calls
    # (the talking call's turns reached the load), none counted twice, none left running.
    load = engine.load
    assert (load.admitted, load.active_calls) == (2, 0)
    assert load.turns == sum(len(r.turn_latencies_ms) for r in reports) > 0
    assert load.decodes > 0
    assert (talked.outcome, talked.disposition) == ("human", "not_interested")
    assert talked.recording_path and Path(talked.recording_path).is_file()
    assert any(turn["who"] == "callee" for turn in talked.transcript)
    assert (busy.outcome, busy.q850) == ("busy", 17)
    assert busy.signalling["final_status"] == 486
    assert lead_rows["+12025550103"].status == "done"
    assert lead_rows["+12025550111"].status == "pending"  # busy: tried again later
    assert lead_rows["+12025550111"].next_attempt_at is not None

    with db.connect() as conn:
        events = conn.execute(select(OUTBOX.c.type, OUTBOX.c.call_id, OUTBOX.c.body)).all()
    by_call: dict[int, set[str]] = {}
    for event_type, call_id, body in events:
        by_call.setdefault(call_id, set()).add(event_type)
        payload = json.loads(body)
        assert payload["type"] == event_type and payload["id"]
    assert {"call.completed", "recording.ready"} <= by_call[talked.id]
    assert by_call[busy.id] == {"call.completed"}
