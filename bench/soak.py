"""Soak: a campaign at the sustained capacity for a long time; does anything creep?

The real dialler, call engine (Piper, Whisper, pocketsphinx, Silero VAD, the dialogue
manager) and webhook delivery run in this process against a database (a SQLite file, or
``--database``), calling the simulated network's eight human personas ``--calls`` at a time
for ``--minutes``, as ``bench/capacity.py`` does: the personas' lines are synthesized before
measuring and they know what the robot said without transcribing it (``robot.carriers.sim_ears``).
Leads are topped up as they are called (a campaign of the eight personas whenever fewer than
two rounds are due), and every event is delivered to a signature-checking receiver on
127.0.0.1.

Every minute it prints one JSON line:

* ``rss_mb``: resident memory of each process of the worker (this one, ``main``, and the
  worker processes it started, by pid), and ``rss_growth_mb`` of each since minute 1;
* ``py_objects``: objects the garbage collector tracks in this process (dicts, lists, class
  instances..., cyclic garbage not yet collected included): level while RSS grows means no
  Python object is kept per call (the growth is the C allocator's), rising means a leak;
* ``loop_lag_p99_ms``: how late the event loop, which moves every call's 20 ms frames, woke
  for a probe asking every 20 ms (99th percentile over the minute);
* ``outbox_pending`` / ``outbox_dead``: webhook deliveries waiting / given up;
* ``calls_finished`` (this minute and in all), ``wrong_dispositions`` (the persona's scripted
  disposition was not reached), ``cut_short``, ``turn_latency_p95_ms``, ``calls_up``.

When the time is up no lead is claimed any more, the calls up finish, the outbox is given up
to a minute to empty, a last line (``"minute": "end"``) and a summary line follow
(``"summary": true``): totals, memory at minute 1 and at the end, growth per hour over the
second half of the run (past the warm-up), the worst minute's loop lag, the deepest outbox.
The machine's other work shows in every figure: soak on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# bench/voicemail.py is named like the voicemail package: keep this folder off the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from robot.config import Settings, override_settings  # noqa: E402
from robot.load import percentile  # noqa: E402
from robot.session import CallReport  # noqa: E402


def _capacity() -> Any:
    """bench/capacity.py: its engine with prompt-aware callees, personas and probes."""
    spec = importlib.util.spec_from_file_location("bench_capacity", HERE / "capacity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


capacity = _capacity()
EXPECTED: dict[str, str] = capacity.EXPECTED
SECRET = "whsec_c29ha2JlbmNoLXNlY3JldC0wMTIzNDU2Nzg5YWJj"
ALL_DAY = {"hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")}


def rss_mb(pid: int | None = None) -> float | None:
    """Resident memory of a process (``VmRSS``), MB; None when it is gone."""
    try:
        with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        return None
    return None


def worker_processes() -> dict[str, float]:
    """RSS of this process and of each worker process it started."""
    out: dict[str, float] = {}
    main = rss_mb()
    if main is not None:
        out["main"] = main
    try:
        children = multiprocessing.active_children()
    except RuntimeError:
        children = []
    for child in children:
        mb = rss_mb(child.pid)
        if mb is not None:
            out[f"pid{child.pid}"] = mb
    return out


class Tally:
    """Calls reported by the runner since the last minute, and in all."""

    def __init__(self) -> None:
        self.minute: list[tuple[str, CallReport]] = []
        self.total = 0
        self.wrong = 0
        self.cut_short = 0
        self.wrong_examples: list[dict[str, Any]] = []

    def add(self, number: str, report: CallReport) -> None:
        self.minute.append((number, report))

    def take(self) -> dict[str, Any]:
        reports, self.minute = self.minute, []
        wrong = [(n, r) for n, r in reports if r.disposition != EXPECTED.get(n)]
        short = [
            r for _, r in reports if r.outcome != "human" or r.disposition in (None, "incomplete")
        ]
        latencies = [x for _, r in reports for x in r.turn_latencies_ms]
        self.total += len(reports)
        self.wrong += len(wrong)
        self.cut_short += len(short)
        for number, report in wrong[: max(0, 5 - len(self.wrong_examples))]:
            self.wrong_examples.append(
                {"number": number, "expected": EXPECTED.get(number), "got": report.disposition}
            )
        p95 = percentile(latencies, 95)
        return {
            "calls_finished": len(reports),
            "calls_finished_total": self.total,
            "wrong_dispositions": len(wrong),
            "cut_short": len(short),
            "turn_latency_p95_ms": round(p95) if p95 is not None else None,
        }


class Soak:
    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.args = args
        self.data_dir = data_dir
        self.tally = Tally()
        self.lateness: list[float] = []
        self.lines: list[dict[str, Any]] = []
        self.received = 0
        self._received_lock = threading.Lock()

    def _on_event(self, _event: dict[str, Any]) -> None:
        with self._received_lock:
            self.received += 1

    def set_up(self) -> None:
        from models.db import make_engine, upgrade
        from models.script import Script
        from models.transactions import session_scope
        from models.webhook import WebhookEndpoint
        from robot.crm.sink import EventSink, SinkServer
        from robot.dialler import get_or_create_tenant

        url = self.args.database or f"sqlite:///{self.data_dir / 'soak.db'}"
        self.db = make_engine(url)
        upgrade(self.db)
        self.sink = SinkServer(("127.0.0.1", 0), EventSink(SECRET, on_event=self._on_event))
        threading.Thread(target=self.sink.serve_forever, daemon=True).start()
        self.tenant_id = get_or_create_tenant(self.db, f"soak-{os.getpid()}-{time.time():.0f}")
        with session_scope(self.db) as session:
            script = Script(
                tenant_id=self.tenant_id,
                name="lead_qualification",
                version=1,
                yaml_text=capacity.SCRIPT.read_text(),
            )
            session.add(script)
            session.add(WebhookEndpoint(tenant_id=self.tenant_id, url=self.sink.url, secret=SECRET))
            session.flush()
            assert script.id is not None
            self.script_id = script.id
        self.campaigns: list[int] = []

    def pending_leads(self) -> int:
        """Leads waiting to be called now."""
        from sqlalchemy import func, select

        from models.lead import Lead
        from models.types import utc_now

        # Due now: a callback the call_me_later persona asked for tomorrow is pending too, and
        # counting those would stop the top-ups after a few dozen rounds (nothing left to call).
        due = (Lead.next_attempt_at == None) | (Lead.next_attempt_at <= utc_now())  # type: ignore[operator]  # noqa: E711
        with self.db.connect() as conn:
            query = (
                select(func.count())
                .select_from(Lead)
                .where(Lead.tenant_id == self.tenant_id, Lead.status == "pending", due)  # type: ignore[arg-type]
            )
            return int(conn.execute(query).scalar_one())

    def add_round(self) -> None:
        """A campaign calling each persona once (a number is in a campaign once)."""
        from models.campaign import CampaignCreate
        from robot.dialler import change_status, create_campaign
        from robot.leads import import_rows, rows_from_records

        campaign = create_campaign(
            self.db,
            self.tenant_id,
            CampaignCreate(
                name=f"soak {len(self.campaigns) + 1}",
                script_id=self.script_id,
                script_version=1,
                default_timezone=capacity.TIMEZONE,
                calling_window=ALL_DAY,
                retry_policy={"max_attempts": 1},
                max_concurrent_calls=self.args.calls,
            ),
        )
        assert campaign.id is not None
        records = [{"phone": n, **capacity.LEAD, "timezone": capacity.TIMEZONE} for n in EXPECTED]
        import_rows(self.db, campaign.id, rows_from_records(records))
        change_status(self.db, campaign.id, "start")
        self.campaigns.append(campaign.id)

    async def feed(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if await asyncio.to_thread(self.pending_leads) < 2 * self.args.calls:
                await asyncio.to_thread(self.add_round)
                continue
            await asyncio.sleep(2.0)

    async def sample(self, stop: asyncio.Event, started: float) -> None:
        from robot.crm.outbox import delivery_depth

        minute = 0
        first: dict[str, float] | None = None
        while not stop.is_set():
            minute += 1
            until = started + minute * self.args.interval_s
            while not stop.is_set() and time.monotonic() < until:
                await asyncio.sleep(min(1.0, max(0.0, until - time.monotonic())))
            if stop.is_set():
                break
            self.emit(minute, await asyncio.to_thread(delivery_depth, self.db), first)
            first = first or self.lines[-1]["rss_mb"]

    def emit(
        self, minute: int | str, depth: dict[str, int], first: dict[str, float] | None
    ) -> dict[str, Any]:
        lateness, self.lateness[:] = list(self.lateness), []
        rss = worker_processes()
        base = first or rss
        line = {
            "minute": minute,
            "rss_mb": rss,
            "rss_growth_mb": {k: round(v - base[k], 1) for k, v in rss.items() if k in base},
            "py_objects": len(gc.get_objects()),
            "loop_lag_p99_ms": round(1000 * (percentile(lateness, 99) or 0.0), 1),
            "outbox_pending": depth.get("pending", 0),
            "outbox_dead": depth.get("dead", 0),
            "calls_up": self.dialler.active_calls,
            **self.tally.take(),
            "webhooks_received": self.received,
        }
        self.lines.append(line)
        print(json.dumps(line), flush=True)
        return line

    async def run(self) -> dict[str, Any]:
        from robot.crm.delivery import DeliveryWorker
        from robot.crm.outbox import delivery_depth
        from robot.dialler import Dialler, DiallerLimits
        from robot.runner import EngineCallRunner

        await asyncio.to_thread(self.set_up)
        engine = capacity.BenchEngine(settings=Settings(data_dir=self.data_dir))
        await asyncio.to_thread(capacity.prerender_personas)
        carrier = engine.carrier()
        runner = EngineCallRunner(
            self.db, carrier, engine, recording_dir=self.data_dir / "recordings"
        )
        await asyncio.to_thread(engine.warm, runner.script(self.script_id, 1), self.args.calls)
        runner.on_report = self.tally.add
        limits = DiallerLimits(
            max_concurrent_calls=self.args.calls, calls_per_second=5, poll_interval_s=0.5
        )
        self.dialler = Dialler(self.db, runner, limits=limits)
        delivery = DeliveryWorker(self.db, allow_private=True)
        stop_dialling, stop_all = asyncio.Event(), asyncio.Event()
        probe = asyncio.create_task(capacity.loop_probe(stop_all, self.lateness))
        started = time.monotonic()
        tasks = [
            asyncio.create_task(self.feed(stop_dialling)),
            asyncio.create_task(self.sample(stop_dialling, started)),
            asyncio.create_task(self.dialler.run(stop_dialling)),
        ]
        delivering = asyncio.create_task(delivery.run(stop_all))
        await asyncio.sleep(self.args.minutes * self.args.interval_s)
        stop_dialling.set()
        await asyncio.gather(*tasks)  # the calls up finish
        drain_until = time.monotonic() + 60
        depth: dict[str, int] = {}
        while time.monotonic() < drain_until:
            depth = await asyncio.to_thread(delivery_depth, self.db)
            if not depth.get("pending"):
                break
            await asyncio.sleep(1.0)
        first_rss = self.lines[0]["rss_mb"] if self.lines else None
        last = self.emit("end", depth, first_rss)
        stop_all.set()
        await asyncio.gather(delivering, probe)
        await carrier.close()
        self.sink.shutdown()
        self.db.dispose()
        return self.summary(last, time.monotonic() - started)

    def summary(self, last: dict[str, Any], wall_s: float) -> dict[str, Any]:
        minutes = self.lines[:-1] or self.lines
        first_rss = minutes[0]["rss_mb"]
        growth = last["rss_growth_mb"]
        # The second half leaves out the first minutes' warm-up (caches, arenas filling).
        middle, final = minutes[len(minutes) // 2], minutes[-1]
        span_h = (final["minute"] - middle["minute"]) * self.args.interval_s / 3600.0
        second_half = {
            k: round((v - middle["rss_mb"][k]) / span_h, 1)
            for k, v in final["rss_mb"].items()
            if k in middle["rss_mb"] and span_h > 0
        }
        return {
            "bench": "soak",
            "summary": True,
            **capacity.cpu_info(),
            "minutes": self.args.minutes,
            "interval_s": self.args.interval_s,
            "calls_at_once": self.args.calls,
            "campaigns": len(self.campaigns),
            "calls_finished": self.tally.total,
            "calls_per_minute": round(self.tally.total / max(1e-9, wall_s / 60.0), 1),
            "wrong_dispositions": self.tally.wrong,
            "wrong_examples": self.tally.wrong_examples,
            "cut_short": self.tally.cut_short,
            "rss_mb_minute1": first_rss,
            "rss_mb_end": last["rss_mb"],
            "rss_growth_mb": growth,
            "rss_growth_mb_per_hour_second_half": second_half or None,
            "loop_lag_p99_ms_worst_minute": max(m["loop_lag_p99_ms"] for m in minutes),
            "outbox_pending_max": max(m["outbox_pending"] for m in self.lines),
            "outbox_pending_end": last["outbox_pending"],
            "outbox_dead_end": last["outbox_dead"],
            "webhooks_received": self.received,
            "wall_s": round(wall_s, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to call")
    parser.add_argument("--calls", type=int, default=12, help="calls at once (the capacity)")
    parser.add_argument("--database", help="database URL (default: a SQLite file in a temp dir)")
    parser.add_argument(
        "--interval-s", type=float, default=60.0, help=argparse.SUPPRESS
    )  # a "minute" (shorter only to try the bench itself)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callrobot-soak-") as tmp:
        override_settings(Settings(data_dir=Path(tmp), webhooks_allow_private=True))
        summary = asyncio.run(Soak(args, Path(tmp)).run())
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
