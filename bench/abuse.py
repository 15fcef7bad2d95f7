"""Attacks against ``callrobot serve``: how fast they are refused, how others are served.

Starts ``callrobot serve --no-workers`` as a separate process on a fresh SQLite database with
two tenants, then runs two attacks in turn while a bystander tenant and ``/health`` are polled
(from 127.0.0.2, the attacker being 127.0.0.1):

- flood: ``--requests`` requests from one key, ``--concurrency`` at a time (429 once its burst
  is spent);
- bad keys: ``--bad-keys`` requests with wrong keys from one address (slowed 401s, then 429).

Prints one JSON line per attack: attack rate, answer latencies by status, bystander and health
latencies during the attack.

    python bench/abuse.py [--requests 3000] [--concurrency 32] [--bad-keys 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/abuse.py must not shadow the ``api`` package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

import httpx  # noqa: E402

from models.db import make_engine, upgrade  # noqa: E402

from fixtures.api_harness import make_tenant, start_serve_process  # noqa: E402

BYSTANDER_ADDRESS = "127.0.0.2"


def summary(latencies_ms: list[float]) -> dict[str, float]:
    if not latencies_ms:
        return {}
    ordered = sorted(latencies_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(ordered[len(ordered) // 2], 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "max_ms": round(ordered[-1], 1),
    }


async def timed(client: httpx.AsyncClient, path: str, key: str | None) -> tuple[int, float]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    started = time.perf_counter()
    response = await client.get(path, headers=headers)
    return response.status_code, (time.perf_counter() - started) * 1000


async def bystander(base: str, key: str, stop: asyncio.Event) -> dict[str, Any]:
    health: list[float] = []
    other: list[float] = []
    statuses: dict[int, int] = {}
    # From another loopback address: the attacker's address is the one slowed down.
    transport = httpx.AsyncHTTPTransport(local_address=BYSTANDER_ADDRESS)
    async with httpx.AsyncClient(base_url=base, timeout=30.0, transport=transport) as client:
        while not stop.is_set():
            _, ms = await timed(client, "/health", None)
            health.append(ms)
            status, ms = await timed(client, "/v1/scripts", key)
            other.append(ms)
            statuses[status] = statuses.get(status, 0) + 1
            await asyncio.sleep(0.05)
    return {"health": summary(health), "other_tenant": summary(other), "other_statuses": statuses}


async def attack(
    base: str, keys: list[str], bystander_key: str, concurrency: int
) -> dict[str, Any]:
    by_status: dict[int, list[float]] = {}
    pending = iter(keys)
    stop = asyncio.Event()
    watcher = asyncio.create_task(bystander(base, bystander_key, stop))

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
            for key in pending:
                status, ms = await timed(client, "/v1/campaigns", key)
                by_status.setdefault(status, []).append(ms)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    stop.set()
    return {
        "requests": len(keys),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(keys) / elapsed, 1),
        "answers": {str(status): summary(ms) for status, ms in sorted(by_status.items())},
        **await watcher,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--bad-keys", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callrobot-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        _, attacker = make_tenant(engine, "attacker")
        _, victim = make_tenant(engine, "bystander")
        engine.dispose()
        server, base = start_serve_process(url, folder)
        try:
            flood = asyncio.run(attack(base, [attacker] * args.requests, victim, args.concurrency))
            bad = [f"cr_bad{i:05d}" + "x" * 36 for i in range(args.bad_keys)]
            bad_keys = asyncio.run(attack(base, bad, victim, args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(json.dumps({"bench": "api_abuse", "attack": "flood_one_key", **flood}))
    print(json.dumps({"bench": "api_abuse", "attack": "bad_keys_one_address", **bad_keys}))


if __name__ == "__main__":
    main()
