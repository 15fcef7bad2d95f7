"""A Prometheus scrape over HTTP before and after a campaign: the dialler phones two leads over
the simulated network with the real speech engines, the webhook worker delivers their events
to a real receiver, and every counter and histogram the README lists moves as it should."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from api.main import create_app
from robot import metrics
from robot.carriers.sim import SimCarrier
from robot.config import Settings
from robot.crm.delivery import DeliveryWorker
from robot.dialler import Dialler, DiallerLimits
from robot.engine import CallEngine
from robot.runner import EngineCallRunner

from fixtures.api_harness import RecordedCallPlacer, serve_in_thread
from fixtures.campaigns import T0, start_campaign
from fixtures.database import open_fresh_database
from fixtures.webhook_receiver import FAST, FlakyReceiver, add_endpoint, serve_receiver

pytestmark = pytest.mark.slow

TOKEN = "scrape-token-0123456789abcdef"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base: str) -> Samples:
    """This process's samples (``worker`` label dropped) from ``GET /metrics``."""
    answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    samples: Samples = defaultdict(float)
    for family in text_string_to_metric_families(answer.text):
        for s in family.samples:
            if s.labels.get("worker") != metrics.worker_name():
                continue
            labels = frozenset((k, v) for k, v in s.labels.items() if k != "worker")
            samples[(s.name, labels)] = s.value
    return samples


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_a_campaign_moves_the_counters_a_scrape_shows(
    tmp_path: Path, isolated_settings: Settings
) -> None:
    [fresh] = list(open_fresh_database("sqlite", tmp_path))
    db = fresh.engine
    receiver = FlakyReceiver()
    with serve_receiver(receiver) as hook_url:
        tenant_id, _ = add_endpoint(db, hook_url)
        # A talking callee (not interested) and a busy line (no disposition).
        start_campaign(db, tenant_id, [{"phone": "+12025550103"}, {"phone": "+12025550111"}])

        settings = isolated_settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
        app = create_app(settings, engine=db, call_placer=RecordedCallPlacer(tmp_path / "rec"))
        with serve_in_thread(app) as base:
            before = scrape(base)
            engine = CallEngine(settings=settings)
            carrier = SimCarrier(speed=1.5)
            runner = EngineCallRunner(db, carrier, engine, recording_dir=tmp_path / "recordings")
            turns: list[float] = []
            runner.on_report = lambda _number, report: turns.extend(report.turn_latencies_ms)
            limits = DiallerLimits(max_concurrent_calls=2, calls_per_second=100)
            dialler = Dialler(db, runner, limits=limits, clock=lambda: T0, admission=engine.load)
            # Events stamped at the dialler's fixed clock (T0, months ago) must not count as
            # retried for too long after one failed try.
            patient = FAST.model_copy(update={"retry_for_s": 10 * 365 * 86400})
            worker = DeliveryWorker(db, patient, allow_private=True)

            async def go() -> None:
                try:
                    await asyncio.wait_for(dialler.run(until_idle=True), timeout=240)
                finally:
                    await carrier.close()
                await asyncio.wait_for(worker.run(until_idle=True), timeout=60)

            asyncio.run(go())
            after = scrape(base)

    calls = "callrobot_calls_total"
    assert moved(before, after, calls, outcome="human", disposition="not_interested") == 1
    assert moved(before, after, calls, outcome="busy", disposition="none") == 1
    assert after[("callrobot_active_calls", frozenset())] == 0
    assert moved(before, after, "callrobot_voicemail_verdicts_total", verdict="human") == 1
    assert moved(before, after, "callrobot_dialler_claims_total") == 2
    assert moved(before, after, "callrobot_dialler_lease_losses_total") == 0
    assert turns
    assert moved(before, after, "callrobot_turn_latency_seconds_count") == len(turns)
    turn_sum = moved(before, after, "callrobot_turn_latency_seconds_sum")
    assert turn_sum == pytest.approx(sum(turns) / 1000)
    decodes = moved(before, after, "callrobot_decode_seconds_count", stage="run")
    assert decodes > 0
    assert moved(before, after, "callrobot_decode_seconds_count", stage="queue") == decodes
    delivered = len(receiver.accepted)
    assert delivered >= 2  # call.completed of both calls, recording.ready of the talking one
    assert moved(before, after, "callrobot_webhook_attempts_total", result="delivered") == delivered
    latency = "callrobot_webhook_delivery_latency_seconds_count"
    assert moved(before, after, latency) == delivered
    assert after[("callrobot_outbox_depth", frozenset({("status", "pending")}))] == 0
