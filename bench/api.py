"""Benchmark the API's call listing: requests per second against ``callrobot serve``.

Fills a fresh SQLite database with calls for one tenant, starts ``callrobot serve
--no-workers`` as a separate process on 127.0.0.1, and sends ``GET /v1/calls`` pages (newest
first, filtered by outcome, following cursors) from several concurrent clients. Prints one
JSON line.

    python bench/api.py [--calls 20000] [--requests 2000] [--concurrency 8] [--limit 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

# bench/api.py must not shadow the ``api`` package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
# The test fixtures (tests/fixtures/) fill the database the benchmark reads.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from models.call import Call  # noqa: E402
from models.db import make_engine, upgrade  # noqa: E402
from models.types import utc_now  # noqa: E402

from fixtures.api_harness import make_tenant, start_serve_process  # noqa: E402

OUTCOMES = ("human", "machine", "busy", "no_answer", "human", "human")


def fill(url: str, calls: int) -> str:
    engine = make_engine(url)
    upgrade(engine)
    tenant_id, key = make_tenant(engine, "bench")
    start = utc_now() - timedelta(days=30)
    rows = [
        {
            "tenant_id": tenant_id,
            "number": f"+1202555{i % 10000:04d}",
            "attempt": 1,
            "started_at": start + timedelta(seconds=i * 60),
            "ended_at": start + timedelta(seconds=i * 60 + 45),
            "outcome": OUTCOMES[i % len(OUTCOMES)],
            "disposition": "qualified" if i % 7 == 0 else None,
            "duration_ms": 45000.0,
            "slots": {},
            "transcript": [],
            "signalling": {},
        }
        for i in range(calls)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Call.__table__), rows)  # type: ignore[attr-defined]
    engine.dispose()
    return key


async def hammer(base: str, key: str, requests: int, concurrency: int, limit: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(requests))
    headers = {"Authorization": f"Bearer {key}"}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers) as http:
            cursor = None
            for i in counter:
                params: dict[str, object] = {"limit": limit}
                if i % 2:
                    params["outcome"] = "human"
                if cursor is not None and i % 4 == 3:
                    params["cursor"] = cursor
                started = time.perf_counter()
                response = await http.get("/v1/calls", params=params)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                cursor = response.json().get("next_cursor")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "seconds": round(elapsed, 3),
        "requests_per_s": round(requests / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--limit", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callrobot-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        key = fill(url, args.calls)
        # Throughput is measured with one key: lift its request rate limit.
        unlimited = {
            "CALLROBOT_QUOTAS__RATE_PER_S": "1000000",
            "CALLROBOT_QUOTAS__BURST": "1000000",
        }
        server, base = start_serve_process(url, folder, unlimited)
        try:
            figures = asyncio.run(hammer(base, key, args.requests, args.concurrency, args.limit))
        finally:
            server.terminate()
            server.wait(timeout=10)
    result = {
        "bench": "api_call_listing",
        "database": "sqlite",
        "calls": args.calls,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "page_size": args.limit,
        **figures,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
