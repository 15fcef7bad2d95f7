"""Masking lookups of inbound calls with a million numbers in the database.

Loads ``--numbers`` proxy numbers (``phone_number`` rows tagged ``proxy``) and ``--sessions``
masking sessions of two participants each (every participant with its own real number and a
proxy from the pool) in bulk, then times the lookups an inbound call does, through the same
functions the call uses, each on its own pooled connection as
:func:`robot.control.inbound.answer_inbound` opens one:

- ``in_session``: a participant calls its proxy number;
  :func:`robot.control.masking.resolve_masked` finds the session and the other participant.
- ``unknown_caller``: someone who is in no session calls a proxy number; ``resolve_masked``
  finds nothing and :func:`robot.control.numbers.number_for_inbound` finds the number, whose
  routing (out-of-session actions) then runs.

Also times adding one participant to a new session through
:func:`robot.control.masking.add_participant` (what ``POST /v1/masking/sessions`` does) with
the whole pool in place. Runs on a temporary SQLite file, and also on PostgreSQL (in a schema
of its own, dropped afterwards) when ``CALLROBOT_TEST_POSTGRES_URL`` is set (or ``--database``
names one database). Prints one JSON line with the CPU model and the load average.

Usage: nice python bench/masking.py [--numbers 1000000] [--sessions 500000] [--lookups 20000]
    [--database URL] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

# This file is named like no package, but keep bench/ off the import path all the same.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from models.db import make_engine, upgrade  # noqa: E402
from models.transactions import session_scope  # noqa: E402
from models.types import utc_now  # noqa: E402
from robot.control.masking import (  # noqa: E402
    NUMBER,
    PARTICIPANT,
    PROXY_TAG,
    SESSION,
    add_participant,
    create_session,
    resolve_masked,
)
from robot.control.numbers import number_for_inbound  # noqa: E402
from robot.dialler.campaigns import get_or_create_tenant  # noqa: E402
from robot.load import cpu_info  # noqa: E402

POSTGRES_URL_ENV = "CALLROBOT_TEST_POSTGRES_URL"
#: Rows per INSERT ... executemany.
CHUNK = 20_000


def proxy_number(i: int) -> str:
    return f"+1800{i:07d}"


def real_number(j: int) -> str:
    return f"+1201{j:07d}"


def pick_proxy(j: int, numbers: int) -> int:
    """The pool index of participant ``j``'s proxy (spread over the pool; the two
    participants of a session get different ones)."""
    return (j * 7919) % numbers


def load(engine: Engine, numbers: int, sessions: int) -> tuple[int, dict[str, float]]:
    """Fill the tables in bulk; returns the tenant id and the seconds each table took."""
    tenant_id = get_or_create_tenant(engine, f"bench-masking-{uuid.uuid4().hex[:8]}")
    now = utc_now()
    expires = now + timedelta(days=1)
    seconds: dict[str, float] = {}

    def bulk(table: Any, rows: Iterator[dict[str, Any]], total: int) -> None:
        started = time.perf_counter()
        batch: list[dict[str, Any]] = []
        with engine.begin() as conn:
            for row in rows:
                batch.append(row)
                if len(batch) == CHUNK:
                    conn.execute(insert(table), batch)
                    batch = []
            if batch:
                conn.execute(insert(table), batch)
        seconds[table.name] = round(time.perf_counter() - started, 1)

    bulk(
        NUMBER,
        (
            {
                "id": i + 1,
                "tenant_id": tenant_id,
                "number": proxy_number(i),
                "time_zone": "UTC",
                "routing_url": None,
                "fallback_url": None,
                "default_actions": [{"hangup": {}}],
                "tags": [PROXY_TAG],
                "routing_secret": "bench-routing-secret",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(numbers)
        ),
        numbers,
    )
    bulk(
        SESSION,
        (
            {
                "id": s + 1,
                "tenant_id": tenant_id,
                "name": f"order-{s}",
                "expires_at": expires,
                "created_at": now,
            }
            for s in range(sessions)
        ),
        sessions,
    )
    bulk(
        PARTICIPANT,
        (
            {
                "id": j + 1,
                "tenant_id": tenant_id,
                "session_id": j // 2 + 1,
                "real_number": real_number(j),
                "proxy_number_id": pick_proxy(j, numbers) + 1,
                "proxy_number": proxy_number(pick_proxy(j, numbers)),
                "expires_at": expires,
                "created_at": now,
            }
            for j in range(2 * sessions)
        ),
        2 * sessions,
    )
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        if engine.dialect.name == "postgresql":  # ids were given: move the sequences on
            for table in (NUMBER, SESSION, PARTICIPANT):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
                )
    return tenant_id, seconds


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)

    def at(q: float) -> float:
        return round(1e6 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    total = sum(ordered)
    return {
        "p50_us": at(0.50),
        "p99_us": at(0.99),
        "max_us": round(1e6 * ordered[-1], 1),
        "lookups_per_s": round(len(ordered) / total, 1),
    }


def time_lookups(engine: Engine, sessions: int, numbers: int, count: int) -> dict[str, Any]:
    rng = random.Random(7)
    in_session: list[float] = []
    unknown: list[float] = []
    for _ in range(count):
        j = rng.randrange(2 * sessions)
        caller, proxy = real_number(j), proxy_number(pick_proxy(j, numbers))
        started = time.perf_counter()
        with engine.connect() as conn:
            route = resolve_masked(conn, caller, proxy)
        in_session.append(time.perf_counter() - started)
        other = j + 1 if j % 2 == 0 else j - 1
        if route is None or route.dial != real_number(other):
            raise SystemExit(f"wrong route for participant {j}: {route}")

        stranger = f"+1202{rng.randrange(10_000_000):07d}"
        proxy = proxy_number(rng.randrange(numbers))
        started = time.perf_counter()
        with engine.connect() as conn:
            route = resolve_masked(conn, stranger, proxy)
        if route is None:
            with engine.connect() as conn:
                number = number_for_inbound(conn, proxy)
        unknown.append(time.perf_counter() - started)
        if route is not None or number is None:
            raise SystemExit(f"an unknown caller to {proxy} was not sent to the number's routing")
    return {"in_session": percentiles(in_session), "unknown_caller": percentiles(unknown)}


def time_add_participant(engine: Engine, tenant_id: int, tries: int = 3) -> float:
    """Milliseconds (median) to open a session and add one participant with the full pool."""
    samples = []
    for n in range(tries):
        started = time.perf_counter()
        with session_scope(engine) as session:
            masking = create_session(session, tenant_id, f"bench-new-{n}", 3600)
            assert masking.id is not None
            add_participant(session, tenant_id, masking.id, f"+1203555{n:04d}")
        samples.append(time.perf_counter() - started)
    return round(1000 * sorted(samples)[len(samples) // 2], 1)


def run(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    upgrade(engine)
    tenant_id, load_s = load(engine, args.numbers, args.sessions)
    with engine.connect() as conn:  # warm the pool and the page cache a little
        for j in range(100):
            resolve_masked(conn, real_number(j), proxy_number(pick_proxy(j, args.numbers)))
    result: dict[str, Any] = {"database": engine.dialect.name, "load_s": load_s}
    result.update(time_lookups(engine, args.sessions, args.numbers, args.lookups))
    result["add_participant_ms"] = time_add_participant(engine, tenant_id)
    with engine.connect() as conn:
        result["participants"] = conn.execute(
            select(func.count()).select_from(PARTICIPANT)
        ).scalar_one()
    return result


@contextmanager
def postgres_schema(base_url: str) -> Iterator[Engine]:
    """An engine on a new schema of ``base_url``'s database, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(base_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=500_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--database", help="Run on this empty, throwaway database only.")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only.")
    args = parser.parse_args()
    if args.sessions * 2 > args.numbers * 1_000:
        parser.error("--sessions: too many for the pool (a real number needs its own proxy)")
    runs = []
    if args.database:
        engine = make_engine(args.database)
        runs.append(run(engine, args))
        engine.dispose()
    else:
        with tempfile.TemporaryDirectory(prefix="callrobot-bench-") as folder:
            engine = make_engine(f"sqlite:///{Path(folder) / 'masking.db'}")
            runs.append(run(engine, args))
            runs[-1]["file_mb"] = round((Path(folder) / "masking.db").stat().st_size / 1e6, 1)
            engine.dispose()
        postgres = os.environ.get(POSTGRES_URL_ENV)
        if postgres and not args.no_postgres:
            with postgres_schema(postgres) as engine:
                runs.append(run(engine, args))
    print(
        json.dumps(
            {
                "bench": "masking",
                **cpu_info(),
                "numbers": args.numbers,
                "sessions": args.sessions,
                "lookups": args.lookups,
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
