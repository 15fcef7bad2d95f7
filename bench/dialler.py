"""Dialler benchmark: lead import, picking the next due leads, and claim throughput.

Leads are spread over 20 countries with one time zone each (zones derived from the numbers,
as in a real import). Figures:

- ``import_s``: CSV import of ``--leads`` rows (normalisation, zones, window, bulk insert);
- ``pick_next_100_ms``: median time of the pick-next query for 100 due leads (all due);
- ``claim_100_ms``: median time of one claim of 100 leads with a lease (UPDATE ... RETURNING);
- ``import_main_cpu_s``: CPU time of the importing process (number parsing runs in worker
  processes on the other cores); ``load_avg_1m_before_import`` shows how busy the host was;
- ``claims_per_s``: leads claimed per second by ``--workers`` processes claiming batches of
  ``--batch`` at once for ``--claim-seconds`` each.

Prints one JSON line. Defaults are small; ``--leads 1000000`` for the full figures.
``--database URL`` runs on PostgreSQL (the bench uses its own schema and drops it).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

# The test fixtures (tests/fixtures/) store the script a campaign needs before it starts.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

import phonenumbers
from sqlalchemy import text
from sqlalchemy.engine import make_url

from models.campaign import CampaignCreate
from models.db import make_engine, upgrade
from robot.dialler.campaigns import change_status, create_campaign, get_or_create_tenant
from robot.dialler.claims import claim_due_leads, due_leads_query
from robot.leads import import_leads

from fixtures.database import add_script

REGIONS = (
    "GB", "DE", "FR", "ES", "PL", "GR", "FI", "TR", "AE", "IN",
    "TH", "SG", "JP", "KR", "ZA", "AR", "CO", "PE", "CZ", "PK",
)  # fmt: skip


def write_leads(path: Path, count: int) -> None:
    """``count`` distinct numbers, varied in the last digits of each region's example number."""
    per_region = -(-count // len(REGIONS))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "first_name", "segment"])
        written = 0
        for region in REGIONS:
            example = phonenumbers.example_number_for_type(
                region, phonenumbers.PhoneNumberType.FIXED_LINE
            )
            national = str(example.national_number)
            width = min(6, len(national) - 2)
            stem = national[: len(national) - width]
            for i in range(min(per_region, 10**width, count - written)):
                writer.writerow([f"+{example.country_code}{stem}{i:0{width}d}", f"n{i}", region])
                written += 1


def claim_worker(url: str, campaign_id: int, owner: str, batch: int, seconds: float,
                 now_iso: str, start_at: float) -> tuple[int, float]:  # fmt: skip
    engine = make_engine(url)
    now = datetime.fromisoformat(now_iso)
    while time.time() < start_at:
        time.sleep(0.001)
    claimed = 0
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        got = claim_due_leads(engine, campaign_id, owner, batch, 3600, now)
        if not got:
            break
        claimed += len(got)
    elapsed_s = time.monotonic() - began
    engine.dispose()
    return claimed, elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--claim-seconds", type=float, default=5.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dialler-bench-") as tmp:
        workdir = Path(tmp)
        schema = None
        if args.database:
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            admin = make_engine(args.database)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = (
                make_url(args.database)
                .update_query_dict({"options": f"-csearch_path={schema}"})
                .render_as_string(hide_password=False)
            )
        else:
            url = f"sqlite:///{workdir / 'bench.db'}"
        try:
            result = run(url, workdir, args)
        finally:
            if schema:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        print(json.dumps(result))


def run(url: str, workdir: Path, args: argparse.Namespace) -> dict[str, object]:
    engine = make_engine(url)
    upgrade(engine)
    tenant_id = get_or_create_tenant(engine, "bench")
    script_id = add_script(engine, tenant_id)
    campaign = create_campaign(engine, tenant_id, CampaignCreate(name="bench", script_id=script_id))
    assert campaign.id is not None
    csv_path = workdir / "leads.csv"
    write_leads(csv_path, args.leads)

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    cpu_started = time.process_time()
    report = import_leads(engine, campaign.id, csv_path)
    import_s = time.perf_counter() - started
    import_main_cpu_s = time.process_time() - cpu_started
    change_status(engine, campaign.id, "start")
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE lead"))
        else:
            conn.execute(text("ANALYZE"))
        zones = conn.execute(text("SELECT count(DISTINCT time_zones) FROM lead")).scalar_one()

    # Two days on, every lead is due: the query must still read only 100 index entries.
    later = datetime.now(UTC) + timedelta(days=2)
    pick_ms = []
    with engine.connect() as conn:
        for _ in range(30):
            t0 = time.perf_counter()
            rows = conn.execute(due_leads_query(campaign.id, later, 100)).all()
            pick_ms.append((time.perf_counter() - t0) * 1000)
            assert len(rows) == 100
    claim_ms = []
    for i in range(20):
        t0 = time.perf_counter()
        got = claim_due_leads(engine, campaign.id, f"bench-{i}", 100, 3600, later)
        claim_ms.append((time.perf_counter() - t0) * 1000)
        assert len(got) == 100
    engine.dispose()

    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0
    with context.Pool(args.workers) as pool:
        jobs = [
            pool.apply_async(
                claim_worker,
                (
                    url,
                    campaign.id,
                    f"w{i}",
                    args.batch,
                    args.claim_seconds,
                    later.isoformat(),
                    start_at,
                ),
            )
            for i in range(args.workers)
        ]
        outcomes = [job.get() for job in jobs]
    claimed = sum(count for count, _ in outcomes)
    claim_wall_s = max(elapsed for _, elapsed in outcomes)
    return {
        "backend": make_url(url).get_backend_name(),
        "leads": args.leads,
        "imported": report.imported,
        "rejected": len(report.rejected),
        "zones": zones,
        "import_s": round(import_s, 2),
        "import_rows_per_s": round(report.rows / import_s),
        "import_main_cpu_s": round(import_main_cpu_s, 2),
        "load_avg_1m_before_import": round(load_before, 2),
        "cpus": os.cpu_count(),
        "pick_next_100_ms": round(statistics.median(pick_ms), 2),
        "claim_100_ms": round(statistics.median(claim_ms), 2),
        "claim_workers": args.workers,
        "claim_batch": args.batch,
        "claims_per_s": round(claimed / claim_wall_s),
    }


if __name__ == "__main__":
    main()
