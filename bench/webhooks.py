"""Benchmark webhook delivery throughput to a local receiver.

Queues events for many leads in the outbox, then times one :class:`DeliveryWorker` sending
them all (signed, in order per lead) to ``callrobot crm-sink`` running as a separate process
on 127.0.0.1, which verifies every signature. Prints one JSON line.

    python bench/webhooks.py [--events 3000] [--leads 300] [--in-flight 16] [--workers 1]
        [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This file is named like no package, but keep bench/ off the import path all the same.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
# The test fixtures (tests/fixtures/) fill the database the benchmark reads.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

from sqlalchemy import func, select  # noqa: E402

from models.db import make_engine, upgrade  # noqa: E402
from models.transactions import write_transaction  # noqa: E402
from models.webhook import WebhookDelivery  # noqa: E402
from robot.config import WebhookSettings  # noqa: E402
from robot.crm.delivery import DeliveryWorker  # noqa: E402
from robot.crm.outbox import enqueue_event  # noqa: E402

from fixtures.webhook_receiver import SECRET, add_endpoint  # noqa: E402


def start_receiver() -> tuple[subprocess.Popen[str], str]:
    executable = Path(sys.executable).parent / "callrobot"
    process = subprocess.Popen(
        [str(executable), "crm-sink", "--secret", SECRET, "--port", "0", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    if not line.startswith("listening on "):
        process.kill()
        raise SystemExit(f"crm-sink did not start: {line}")
    return process, line.split()[-1]


def queue(engine: object, tenant_id: int, events: int, leads: int) -> None:
    per_transaction = 200
    n = 0
    while n < events:
        with write_transaction(engine) as conn:  # type: ignore[arg-type]
            for _ in range(min(per_transaction, events - n)):
                lead = n % leads + 1
                enqueue_event(
                    conn,
                    tenant_id=tenant_id,
                    event_type="call.completed",
                    data={"lead_id": lead, "n": n, "outcome": "human", "answers": {"a": "b"}},
                    ordering_key=f"lead:{lead}",
                )
                n += 1


def remove_tenant(engine: object, tenant_id: int) -> None:
    """Leave a shared database as it was: delete the benchmark tenant's rows."""
    from sqlalchemy import delete

    from models.tenant import Tenant
    from models.webhook import OutboxEvent, WebhookAttempt, WebhookEndpoint

    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.tenant_id == tenant_id)  # type: ignore[arg-type]
    with write_transaction(engine) as conn:  # type: ignore[arg-type]
        conn.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))  # type: ignore[attr-defined]
        for table in (WebhookDelivery, OutboxEvent, WebhookEndpoint):
            conn.execute(delete(table).where(table.tenant_id == tenant_id))  # type: ignore[attr-defined]
        conn.execute(delete(Tenant).where(Tenant.id == tenant_id))  # type: ignore[arg-type]


def run_worker(url: str, in_flight: int) -> int:
    """One delivery worker process on the shared database; returns the attempts it made."""
    engine = make_engine(url)
    settings = WebhookSettings(
        timeout_s=10, max_in_flight=in_flight, poll_interval_s=0.05, backoff_base_s=0.1
    )
    # No sweep: a shared database may hold other people's calls.
    worker = DeliveryWorker(engine, settings, allow_private=True, sweep=False)
    asyncio.run(worker.run(until_idle=True))
    engine.dispose()
    return worker.sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="Worker processes.")
    parser.add_argument("--database", help="Database URL (default: a temporary SQLite file).")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory(prefix="callrobot-bench-")
    url = args.database or f"sqlite:///{Path(folder.name) / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    process, receiver_url = start_receiver()
    try:
        tenant_id, _ = add_endpoint(engine, receiver_url, tenant=f"bench-{time.time_ns()}")
        queue(engine, tenant_id, args.events, args.leads)
        started = time.perf_counter()
        if args.workers == 1:
            attempts = run_worker(url, args.in_flight)
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(args.workers) as pool:
                futures = [
                    pool.submit(run_worker, url, args.in_flight) for _ in range(args.workers)
                ]
                attempts = sum(f.result() for f in futures)
        elapsed = time.perf_counter() - started
        with engine.connect() as conn:
            delivered = conn.execute(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(
                    WebhookDelivery.tenant_id == tenant_id,  # type: ignore[arg-type]
                    WebhookDelivery.status == "delivered",  # type: ignore[arg-type]
                )
            ).scalar_one()
        if args.database:
            remove_tenant(engine, tenant_id)
    finally:
        process.terminate()
        process.wait(timeout=10)
        engine.dispose()
        folder.cleanup()
    result = {
        "bench": "webhooks",
        "database": engine.dialect.name,
        "events": args.events,
        "leads": args.leads,
        "workers": args.workers,
        "in_flight": args.in_flight,
        "delivered": delivered,
        "attempts": attempts,
        "seconds": round(elapsed, 3),
        "events_per_s": round(delivered / elapsed, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
