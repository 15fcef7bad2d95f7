"""Several hosts, faults injected, nothing lost.

Its own PostgreSQL; three ``callrobot dialler`` workers on 127.0.0.2-4 (SIP and RTP bound
there); one API process (``serve --no-workers``) through which the campaign is set up; a CRM
that verifies signatures and drops duplicate event ids; SIPp callees that are busy, do not
answer, or answer and hang up after 2-8 s, logging each INVITE's ``X-Attempt-Id``. Every
process shares one recordings folder (``CALLROBOT_RECORDINGS_DIR``) and nothing else on disk.

While a campaign of 300 leads runs, one fault after another: a worker killed with SIGKILL
with calls up (a new one takes its place); PostgreSQL stopped for 30 s; the CRM down for 60 s;
at the campaign's tail a worker frozen with SIGSTOP for longer than its lease (another worker
takes its leads over, its late results must be refused). Then everything must add up
(:mod:`.checks`), and the answered calls' recordings, written by the workers, must
download through the API process with the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sipp.peers import free_media_port

from models.apikey import create_api_key
from models.db import make_engine, upgrade
from models.transactions import session_scope
from models.types import utc_now
from robot.dialler.campaigns import get_or_create_tenant
from robot.dialler.claims import LOST_WORKER_ERROR

from . import checks
from .callees import SIPP, read_calls, run_callees
from .cluster import LEASE_S, Service, common_env, free_port, wait_until_serving, worker_env
from .crm import Crm
from .postgres import OwnPostgres, server_bin

#: Leads in the campaign (``CALLROBOT_MULTIHOST_LEADS`` for a quicker look at the harness).
LEADS = int(os.environ.get("CALLROBOT_MULTIHOST_LEADS", "300"))
ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
#: Everything, set-up and tear-down included, ends within this (the test stops by itself).
BUDGET_S = 540.0
PG_DOWN_S = 30.0
FREEZE_S = LEASE_S + 15.0
CRM_DOWN_S = 60.0
SECRET = "whsec_multihost_0123456789abcdef"
METRICS_TOKEN = "metrics-multihost-token"
SCRIPT = Path(__file__).with_name("notice.yaml")
ALL_DAY = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")
#: Answered calls end the lead; busy and unanswered ones are tried once more 15 s later.
RETRY_POLICY = {
    "max_attempts": 2,
    "delays_s": {k: 15 for k in ("busy", "no_answer", "failed", "network_error", "cancelled")},
    "final_outcomes": ["invalid_number", "human"],
}


def _missing_tools() -> str | None:
    if SIPP is None:
        return "SIPp (Debian sip-tester) is not installed"
    if server_bin() is None:
        return "the PostgreSQL server (Debian postgresql) is not installed"
    return None


pytestmark = pytest.mark.multihost


class Budget:
    """The test's time: each wait takes at most what is left once ``keep`` seconds are kept
    back for the phases after it, so the whole test ends within ``BUDGET_S``."""

    def __init__(self, total_s: float) -> None:
        self.deadline = time.monotonic() + total_s

    def left(self, keep: float = 0.0) -> float:
        return self.deadline - time.monotonic() - keep

    def wait(self, predicate: Callable[[], bool], at_most: float, what: str, keep: float) -> bool:
        """Poll ``predicate`` every half second; whether it came true in time."""
        until = time.monotonic() + max(0.0, min(at_most, self.left(keep)))
        while True:
            with contextlib.suppress(Exception):  # the database may be restarting
                if predicate():
                    return True
            if time.monotonic() >= until:
                print(f"gave up waiting for {what}")
                return False
            time.sleep(0.5)


def set_up_campaign(client: httpx.Client, crm_url: str) -> int:
    """Script, CRM endpoint, campaign and leads through the API; returns the campaign id."""
    script = client.post(
        "/v1/scripts", content=SCRIPT.read_bytes(), headers={"Content-Type": "application/yaml"}
    )
    assert script.status_code == 201, script.text
    endpoint = client.post("/v1/webhooks", json={"url": crm_url, "secret": SECRET})
    assert endpoint.status_code == 201, endpoint.text
    campaign = client.post(
        "/v1/campaigns",
        json={
            "name": "several hosts",
            "script_id": script.json()["id"],
            "default_timezone": "America/New_York",
            "max_concurrent_calls": 12,
            "calling_window": {"hours": ALL_DAY},
            "retry_policy": RETRY_POLICY,
        },
    )
    assert campaign.status_code == 201, campaign.text
    campaign_id = int(campaign.json()["id"])
    leads = [{"phone": f"+1212555{i:04d}", "first_name": f"lead{i}"} for i in range(LEADS)]
    imported = client.post(f"/v1/campaigns/{campaign_id}/leads", json=leads)
    assert imported.status_code == 200, imported.text
    assert imported.json()["imported"] == LEADS, imported.text
    started = client.post(f"/v1/campaigns/{campaign_id}/start")
    assert started.status_code == 200, started.text
    return campaign_id


def busiest(engine: Any, workers: list[Service]) -> Service | None:
    """The worker with the most calls up right now (None when no call is up)."""
    counts = checks.open_calls_by_worker(engine)
    ranked = sorted(
        (
            (sum(n for o, n in counts.items() if o.startswith(w.owner_prefix)), i)
            for i, w in enumerate(workers)
        ),
        reverse=True,
    )
    count, index = ranked[0]
    return workers[index] if count else None


def log_lines(service: Service, needle: str) -> int:
    return service.log.read_text(errors="replace").count(needle)


def test_several_hosts_with_faults_lose_nothing(tmp_path: Path) -> None:
    missing = _missing_tools()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}: CI must run the several-hosts test")
        pytest.skip(missing)
    budget = Budget(BUDGET_S)
    #: Seconds the phases after the first kill need at least (sleeps, settling, tear-down).
    after_kill = 3 + 10 + PG_DOWN_S + CRM_DOWN_S + FREEZE_S + 90
    report: dict[str, Any] = {"leads": LEADS}
    with contextlib.ExitStack() as stack:
        pg = OwnPostgres(free_port())
        stack.callback(pg.destroy)
        pg.init()
        engine = make_engine(pg.url)
        stack.callback(engine.dispose)
        upgrade(engine)
        tenant_id = get_or_create_tenant(engine, "acme")
        with session_scope(engine) as session:
            key = create_api_key(session, tenant_id, "multihost", actor="test")
        crm = Crm(free_port(), SECRET)
        crm.up()
        stack.callback(crm.down)
        callees = stack.enter_context(
            run_callees(tmp_path / "callees", free_port(socket.SOCK_DGRAM), free_media_port())
        )
        api_port = free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        base_env = common_env(pg.url, api_url, METRICS_TOKEN, tmp_path / "shared-recordings")
        serve = ["serve", "--no-workers", "--host", "127.0.0.1", "--port", str(api_port)]
        api = Service("api", serve, base_env, tmp_path / "api.log")
        api.start()
        stack.callback(api.stop)
        workers = [
            Service(
                f"worker-{address}",
                ["dialler"],
                worker_env(base_env, address, callees.port, tmp_path / address),
                tmp_path / f"worker-{address}.log",
            )
            for address in ADDRESSES
        ]
        for worker in workers:
            worker.start()
            stack.callback(worker.stop)
        wait_until_serving(f"{api_url}/health", api, 120)
        client = stack.enter_context(
            httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        )
        campaign_id = set_up_campaign(client, crm.url)
        t0 = time.monotonic()

        # 1. SIGKILL a worker with calls up (once the workers are warm: calls have ended on
        #    each, so its calls are ringing or talking, not still loading engines); a new
        #    worker takes its place on its address.
        warm = budget.wait(lambda: checks.ended_calls(engine) >= 20, 180, "calls", after_kill)
        assert warm, "calls did not run: " + workers[0].log.read_text(errors="replace")[-3000:]
        two = lambda: max(checks.open_calls_by_worker(engine).values(), default=0) >= 2  # noqa: E731
        budget.wait(two, 20, "2 calls up on a worker", after_kill)
        victim = busiest(engine, workers)
        assert victim is not None
        killed_owner = victim.owner_prefix
        killed_calls = checks.open_calls_of(engine, killed_owner)
        victim.kill()
        assert killed_calls, "the killed worker had no call up"
        report["kill"] = {"at_s": round(time.monotonic() - t0), "calls_up": len(killed_calls)}
        time.sleep(3)
        victim.start()

        # 2. PostgreSQL away for 30 s.
        time.sleep(10)
        report["postgres_down"] = {"calls_up": sum(checks.open_calls_by_worker(engine).values())}
        pg.stop()
        time.sleep(PG_DOWN_S)
        pg.start()

        # 3. The CRM away for 60 s.
        crm_down_at = utc_now()
        crm.down()
        time.sleep(CRM_DOWN_S)
        crm.up()
        crm_up_at = utc_now()

        # 4. A worker frozen for longer than its lease at the campaign's tail, when every lead
        #    left is on a call (so the others are free to take its leads over at once).
        after_freeze = FREEZE_S + 90

        def tail() -> bool:
            left = checks.unleased_pending(engine, campaign_id, utc_now())
            return left <= 2 and busiest(engine, workers) is not None

        budget.wait(tail, 300, "the campaign's tail", after_freeze)
        frozen = busiest(engine, workers) or workers[0]
        frozen_owner = frozen.owner_prefix
        frozen_calls = checks.open_calls_of(engine, frozen_owner)
        frozen.signal(signal.SIGSTOP)
        time.sleep(FREEZE_S)
        frozen.signal(signal.SIGCONT)
        report["freeze"] = {"at_s": round(time.monotonic() - t0), "calls_up": len(frozen_calls)}

        # The campaign runs out; every event reaches the CRM.
        def settled() -> bool:
            status = client.get(f"/v1/campaigns/{campaign_id}").json()["status"]
            open_calls = sum(checks.open_calls_by_worker(engine).values())
            waiting = checks.undelivered(engine)
            return status == "finished" and open_calls == 0 and not waiting

        report["settled"] = budget.wait(settled, 600, "the campaign to settle", 60)
        report["campaign_s"] = round(time.monotonic() - t0)
        report["stats"] = client.get(f"/v1/campaigns/{campaign_id}/stats").json()
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert metrics.status_code == 200 and "callrobot_" in metrics.text
        for worker in workers:
            assert worker.stop() is not None, f"{worker.name} did not stop on SIGTERM"
        callees.stop()

        # Everything adds up.
        report["leads_by_status"] = dict(checks.check_leads(engine, campaign_id))
        callee_calls = read_calls(callees.log_text())
        assert callee_calls, f"the callees logged nothing: {callees.errors()}"
        report["calls"] = checks.check_calls(engine, callee_calls, [killed_owner])
        invited = {c.attempt_id for c in callee_calls}
        report["kill"]["calls_rung"] = len(killed_calls & invited)
        assert killed_calls & invited, "the killed worker's calls had not reached the callees"
        report["events"] = checks.check_events(engine, crm)
        # Recordings the workers wrote are served by the API process, byte for byte.
        report["recordings"] = checks.check_recordings(
            engine, client, tmp_path / "shared-recordings"
        )
        # The killed worker's calls in flight ended as lost, each with its event (above).
        for call in checks.calls_of(engine, killed_calls):
            assert (call.outcome, call.error) == ("failed", LOST_WORKER_ERROR), call
        # The frozen worker's leads were taken over and its late results refused.
        taken = checks.taken_over(engine, frozen_calls, frozen_owner)
        report["freeze"]["taken_over"] = len(taken)
        assert taken, "no lead of the frozen worker was taken over: the freeze proved nothing"
        for call in checks.calls_of(engine, set(taken)):
            assert call.error == LOST_WORKER_ERROR, f"a late result overwrote call {call.id}"
        assert log_lines(frozen, "lease lost") >= 1
        report["postgres_down"]["results_retried"] = sum(
            log_lines(w, "storing its end failed") for w in workers
        )
        failed = checks.failed_attempts_between(engine, crm_down_at, crm_up_at)
        assert failed, "no delivery was tried while the CRM was down"
        report["crm_down"] = {"failed_attempts": failed}
        report["settled"] = report["settled"] and report["leads_by_status"].get("pending") is None
        print(json.dumps(report, default=str))
        (tmp_path / "report.json").write_text(json.dumps(report, default=str, indent=2))
