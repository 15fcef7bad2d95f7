"""``GET /metrics``: who may read it, and the counters the dialler and admission control move
(on a real SQLite database). A whole campaign scraped over HTTP is in
tests/test_metrics_scrape.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import update
from test_dialler import FAST, NY, Clock, ScriptedRunner, make_campaign

from api.main import create_app
from robot import metrics
from robot.config import AdmissionSettings, Settings
from robot.dialler import CallResult, DialJob, Dialler
from robot.dialler.claims import LEAD
from robot.load import EngineLoad

from fixtures.api_harness import RecordedCallPlacer, make_tenant
from fixtures.database import FreshDatabase, open_fresh_database

TOKEN = "metrics-token-for-tests-0123456789"


def sample(name: str, **labels: str) -> float:
    """A sample's value for this process's worker (0 when the series does not exist yet)."""
    value = metrics.REGISTRY.get_sample_value(name, {"worker": metrics.worker_name(), **labels})
    return value or 0.0


@pytest.fixture
def db(tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database("sqlite", tmp_path)


def client_for(db: FreshDatabase, settings: Settings) -> TestClient:
    placer = RecordedCallPlacer(settings.data_dir / "recordings")
    return TestClient(create_app(settings, engine=db.engine, call_placer=placer))


def test_metrics_need_the_operator_token_not_a_tenant_key(
    db: FreshDatabase, isolated_settings: Settings
) -> None:
    _tenant_id, tenant_key = make_tenant(db.engine, "acme")
    off = client_for(db, isolated_settings)
    assert off.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404

    client = client_for(
        db, isolated_settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    )
    for headers in ({}, {"Authorization": f"Bearer {tenant_key}"}, {"Authorization": TOKEN}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    assert {
        "callrobot_calls",
        "callrobot_active_calls",
        "callrobot_turn_latency_seconds",
        "callrobot_decode_seconds",
        "callrobot_webhook_delivery_latency_seconds",
        "callrobot_outbox_depth",
    } <= set(families)
    depth = {s.labels["status"]: s.value for s in families["callrobot_outbox_depth"].samples}
    assert depth == {"pending": 0.0, "dead": 0.0}
    assert all(
        s.labels["worker"] == metrics.worker_name()
        for s in families["callrobot_outbox_depth"].samples
    )


def test_held_back_calls_are_counted() -> None:
    before = sample("callrobot_admission_holds_total")
    load = EngineLoad(AdmissionSettings(start_calls=1))
    load.admit()
    assert load.room() == 0
    load.hold_back(3)
    assert sample("callrobot_admission_holds_total") - before == 3


def test_claims_and_a_lease_taken_over_during_a_call_are_counted(db: FreshDatabase) -> None:
    engine = db.engine
    make_campaign(engine, NY[:3])

    def steal_one(job: DialJob) -> CallResult:
        if job.number == NY[0]["phone"]:  # another worker took this lead over meanwhile
            with engine.begin() as conn:
                conn.execute(
                    update(LEAD).where(LEAD.c.id == job.lead_id).values(lease_owner="thief")
                )
        return CallResult(outcome="human", disposition="qualified")

    claims = sample("callrobot_dialler_claims_total")
    losses = sample("callrobot_dialler_lease_losses_total")
    dialler = Dialler(engine, ScriptedRunner(steal_one), limits=FAST, clock=Clock())
    asyncio.run(asyncio.wait_for(dialler.run(until_idle=True), timeout=60))
    assert sample("callrobot_dialler_claims_total") - claims == 3
    assert sample("callrobot_dialler_lease_losses_total") - losses == 1
