"""Lead import: E.164 normalisation, per-row rejections, variables, zones, window alignment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from models.campaign import CampaignCreate
from models.lead import Lead
from robot.cli import app
from robot.dialler.campaigns import add_to_dnc, create_campaign, get_or_create_tenant
from robot.errors import ValidationError
from robot.leads import import_leads, import_rows, rows_from_records

from fixtures.database import BACKENDS, FreshDatabase, open_fresh_database


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database(request.param, tmp_path)


# 2026-06-01 12:00Z: 08:00 in New York (window closed), 15:00 in Moscow (open).
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

CSV_TEXT = """phone,first_name,company,timezone
(212) 555-0101,Ann,Acme,
+44 20 7946 0958,Ben,Blue,
not a number,Carl,Cyan,
,Dora,Dusk,
212-555-0101,Eve,Echo,
+1 212 555 0199,Finn,Fog,Mars/Olympus
+49 30 901820,Gus,Gold,Asia/Tokyo
+1 415 555 0123,Hal,Hue,

+7 916 123-45-67,Ivy,Ink,
"""


def campaign_for(engine, **fields) -> int:  # type: ignore[no-untyped-def]
    tenant_id = get_or_create_tenant(engine, "acme")
    campaign = create_campaign(engine, tenant_id, CampaignCreate(name="spring", **fields))
    assert campaign.id is not None
    return campaign.id


def leads_by_number(engine) -> dict[str, Lead]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return {lead.number: lead for lead in session.exec(select(Lead)).all()}


def test_csv_import_keeps_good_rows_and_reports_each_bad_one(
    fresh_db: FreshDatabase,
    tmp_path: Path,
) -> None:
    engine = fresh_db.engine
    campaign_id = campaign_for(engine, default_region="US", default_timezone="Europe/Paris")
    add_to_dnc(engine, get_or_create_tenant(engine, "acme"), "+14155550123")
    path = tmp_path / "leads.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    report = import_leads(engine, campaign_id, path, now=NOW)

    assert (report.rows, report.imported) == (9, 4)
    rejected = {(r.row, r.line): r.reason for r in report.rejected}
    assert rejected == {
        (3, 4): "invalid number",
        (4, 5): "missing field 'phone'",
        (5, 6): "duplicate of row 1",
        (6, 7): "unknown time zone 'Mars/Olympus'",
        (8, 9): "number is on the do-not-call list",
    }
    leads = leads_by_number(engine)
    assert set(leads) == {"+12125550101", "+442079460958", "+4930901820", "+79161234567"}
    ann = leads["+12125550101"]
    assert ann.variables == {"first_name": "Ann", "company": "Acme"}
    assert (ann.time_zones, ann.tz_source) == ("America/New_York", "number")
    # Outside the window at import: scheduled at the next local 09:00 (13:00Z in June).
    assert ann.next_attempt_at == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    gus = leads["+4930901820"]
    assert (gus.time_zones, gus.tz_source, gus.timezone) == ("Asia/Tokyo", "lead", "Asia/Tokyo")
    ivy = leads["+79161234567"]
    assert "Europe/Moscow" in ivy.time_zones.split(",") and ivy.tz_source == "number"
    assert all(lead.status == "pending" and lead.attempts == 0 for lead in leads.values())

    again = import_leads(engine, campaign_id, path, now=NOW)
    assert again.imported == 0
    assert {r.row: r.reason for r in again.rejected}[1] == "duplicate: already in the campaign"


def test_json_import_with_per_lead_window_and_errors(fresh_db: FreshDatabase) -> None:
    engine = fresh_db.engine
    campaign_id = campaign_for(engine, default_region="GB")
    records = [
        {
            "phone": "020 7946 0000",
            "plan": {"tier": "gold"},
            "calling_window": {"hours": {"mon": "16:00-18:00"}},
        },
        "just a string",
        {"number": "07911 123456", "calling_window": {"hours": {"mon": "9-5"}}},
        {"name": "no phone at all"},
    ]
    report = import_rows(engine, campaign_id, rows_from_records(records), now=NOW)
    assert report.imported == 1
    reasons = {r.row: r.reason for r in report.rejected}
    assert reasons[2] == "expected an object with a phone field"
    assert reasons[3].startswith("calling_window.hours.mon: expected HH:MM")
    assert reasons[4] == "missing field 'phone'"
    lead = leads_by_number(engine)["+442079460000"]
    assert lead.variables == {"plan": {"tier": "gold"}}
    # Monday 16:00 in London (BST) is 15:00Z.
    assert lead.next_attempt_at == datetime(2026, 6, 1, 15, 0, tzinfo=UTC)


def test_unreadable_files_name_the_file_and_line(tmp_path: Path, fresh_db: FreshDatabase) -> None:
    campaign_id = campaign_for(fresh_db.engine)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"phone": "+12125550101"},\n {"phone": }]')
    with pytest.raises(ValidationError, match=r"broken.json:2:\d+: invalid JSON"):
        import_leads(fresh_db.engine, campaign_id, broken)
    with pytest.raises(ValidationError, match=r"missing.csv: cannot read"):
        import_leads(fresh_db.engine, campaign_id, tmp_path / "missing.csv")


def test_large_import_uses_batches_and_keeps_every_row(
    fresh_db: FreshDatabase, tmp_path: Path
) -> None:
    campaign_id = campaign_for(fresh_db.engine)
    path = tmp_path / "many.csv"
    lines = ["phone,n"] + [f"+1212555{i:04d},{i}" for i in range(2500)] + ["+12125550007,dup"]
    path.write_text("\n".join(lines) + "\n")
    seen: list[int] = []
    report = import_leads(
        fresh_db.engine,
        campaign_id,
        path,
        batch_rows=500,
        parallel_after_rows=1000,  # the rest is normalised in worker processes
        progress=seen.append,
    )
    assert report.imported == 2500 and report.rows == 2501
    assert [(r.row, r.reason) for r in report.rejected] == [(2501, "duplicate of row 8")]
    assert seen[-1] == 2501 and len(seen) >= 5
    assert leads_by_number(fresh_db.engine)["+12125552499"].variables == {"n": "2499"}


def test_cli_imports_with_json_report(fresh_db: FreshDatabase, tmp_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app, ["campaign", "create", "--name", "cli", "--database", fresh_db.url, "--json"]
    )
    assert created.exit_code == 0, created.output
    campaign_id = json.loads(created.stdout)["id"]
    path = tmp_path / "leads.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "leads",
            "import",
            str(path),
            "--campaign",
            str(campaign_id),
            "--database",
            fresh_db.url,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["imported"] == 5 and report["rejected_count"] == 4
    assert {"row": 3, "reason": "invalid number", "line": 4, "field": "phone"} in report["rejected"]
    human = runner.invoke(
        app,
        ["leads", "import", str(path), "--campaign", str(campaign_id), "--database", fresh_db.url],
    )
    assert human.exit_code == 0
    assert f"{path}:line 2: duplicate: already in the campaign" in human.output
    missing = runner.invoke(
        app, ["leads", "import", str(path), "--campaign", "999", "--database", fresh_db.url]
    )
    assert missing.exit_code == 1 and "campaign 999 not found" in missing.output


def test_csv_cells_can_carry_a_per_lead_window(fresh_db: FreshDatabase, tmp_path: Path) -> None:
    campaign_id = campaign_for(fresh_db.engine)
    path = tmp_path / "windows.csv"
    path.write_text(
        "phone,calling_window\n"
        '+12125550101,"{""hours"": {""mon"": ""15:00-16:00""}}"\n'
        "+12125550102,{not json\n"
        "+12125550103,\n"
    )
    report = import_leads(fresh_db.engine, campaign_id, path, now=NOW)
    assert report.imported == 2
    [bad] = report.rejected
    assert (bad.row, bad.field) == (2, "calling_window")
    assert bad.reason.startswith("calling_window: invalid JSON")
    leads = leads_by_number(fresh_db.engine)
    # Monday 15:00 in New York (EDT) is 19:00Z; the default window opens at 13:00Z.
    assert leads["+12125550101"].next_attempt_at == datetime(2026, 6, 1, 19, 0, tzinfo=UTC)
    assert leads["+12125550101"].calling_window == {"hours": {"mon": "15:00-16:00"}}
    assert leads["+12125550103"].next_attempt_at == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    assert leads["+12125550103"].calling_window is None
