"""Attacks on lead files: each hostile row is refused in the report; the rest still import."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from payloads import in_child
from sqlalchemy.engine import Engine

from models.campaign import CampaignCreate
from robot.config import Settings, override_settings
from robot.dialler.campaigns import create_campaign, get_or_create_tenant
from robot.errors import ValidationError
from robot.input_limits import InputLimits
from robot.leads import import_leads, read_rows

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import VALID_SCRIPT, open_fresh_database

HEADER = b"phone,first_name\n"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


def _campaign(engine: Engine) -> int:
    tenant_id = get_or_create_tenant(engine, "acme")
    campaign = create_campaign(engine, tenant_id, CampaignCreate(name="spring"))
    assert campaign.id is not None
    return campaign.id


def _rejected(report) -> dict[tuple[int, int | None], str]:  # type: ignore[no-untyped-def]
    return {(r.row, r.line): r.reason for r in report.rejected}


def test_csv_with_a_50_megabyte_field_rejects_that_row_only(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    with path.open("wb") as out:
        out.write(HEADER + b"+12025550101,Ann\n+12025550102,")
        out.write(b"x" * 50_000_000)
        out.write(b"\n+12025550103,Cat\n")
    report = import_leads(engine, _campaign(engine), path)
    assert (report.rows, report.imported) == (3, 2)
    ((where, reason),) = _rejected(report).items()
    assert where == (2, 3)
    assert "CALLROBOT_INPUT_LIMITS__LEADS_MAX_FIELD_CHARS" in reason


def test_a_50_megabyte_field_is_never_held_whole(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    with path.open("wb") as out:
        out.write(HEADER + b"+12025550102,")
        out.write(b"x" * 50_000_000)
        out.write(b"\n")

    def peak_bytes_while_reading() -> int:
        tracemalloc.start()
        rows = list(read_rows(path))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert rows[0].problem is not None
        return peak

    result = in_child(peak_bytes_while_reading)
    assert result[0] == "returned", result
    # Bounded by the longest line the caps allow (about 8 MB by default), not by the field.
    assert result[1] < 25_000_000


def test_long_field_is_named_in_the_report(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(HEADER + b"+12025550101,Ann\n+12025550102," + b"y" * 50_000 + b"\n")
    report = import_leads(engine, _campaign(engine), path)
    (rejected,) = report.rejected
    assert (rejected.row, rejected.line, rejected.field) == (2, 3, "first_name")
    assert "field 'first_name' is 50000 characters, more than 10000" in rejected.reason


def test_row_with_too_many_fields_is_rejected(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(HEADER + b"+12025550101,Ann\n+12025550102" + b",z" * 300 + b"\n")
    report = import_leads(engine, _campaign(engine), path)
    assert report.imported == 1
    assert "301 fields, more than 200" in _rejected(report)[(2, 3)]
    assert "LEADS_MAX_FIELDS" in _rejected(report)[(2, 3)]


def test_header_with_too_many_columns_refuses_the_file(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(b"phone" + b",c" * 300 + b"\n+12025550101\n")
    with pytest.raises(ValidationError, match=r"wide.csv:1: the header has 301 columns"):
        import_leads(engine, _campaign(engine), path)


def test_rows_past_the_row_cap_are_reported_and_not_read(engine: Engine, tmp_path: Path) -> None:
    override_settings(Settings(data_dir=tmp_path, input_limits=InputLimits(leads_max_rows=3)))
    path = tmp_path / "leads.csv"
    path.write_bytes(HEADER + b"".join(b"+1202555010%d,N\n" % i for i in range(1, 7)))
    report = import_leads(engine, _campaign(engine), path)
    assert (report.rows, report.imported) == (4, 3)
    assert "more than 3 rows" in _rejected(report)[(4, 5)]
    assert "LEADS_MAX_ROWS" in _rejected(report)[(4, 5)]


def test_nul_byte_in_a_csv_rejects_its_row(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(HEADER + b"+12025550101,A\x00nn\n+12025550102,Bob\n")
    report = import_leads(engine, _campaign(engine), path)
    assert report.imported == 1
    (rejected,) = report.rejected
    assert (rejected.row, rejected.line, rejected.field) == (1, 2, "first_name")
    assert rejected.reason == "field 'first_name' holds a NUL character"


def test_invalid_utf8_in_a_csv_rejects_its_row(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(HEADER + b"+12025550101,Ren\xe9e\n+12025550102,Bob\n")
    report = import_leads(engine, _campaign(engine), path)
    assert report.imported == 1
    assert _rejected(report) == {(1, 2): "not UTF-8 text: byte 0xe9 at column 17"}


def test_json_leads_nested_100000_deep_are_refused(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "leads.json"
    path.write_text('[{"phone": "+12025550101", "x": ' + "[" * 100_000 + "]" * 100_000 + "}]")
    campaign_id = _campaign(engine)
    result = in_child(lambda: import_leads(engine, campaign_id, path).to_dict())
    assert result[:2] == ("raised", "JsonDepthError"), result
    assert f"{path}:1:" in result[2]
    assert "LEADS_MAX_JSON_DEPTH" in result[2]


def _campaign_via_api(api: ApiHarness) -> dict:  # type: ignore[type-arg]
    script = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    return api.request(  # type: ignore[no-any-return]
        "POST", "/v1/campaigns", json={"name": "c", "script_id": script["id"]}
    ).json()


def test_api_csv_upload_with_a_huge_field_reports_the_row(
    engine: Engine, isolated_settings: Settings
) -> None:
    for api in open_api(engine, isolated_settings):
        campaign = _campaign_via_api(api)
        body = HEADER + b"+12025550143,Ann\n+12025550144," + b"q" * 20_000_000 + b"\n"
        answer = api.request(
            "POST",
            f"/v1/campaigns/{campaign['id']}/leads",
            content=body,
            headers={"Content-Type": "text/csv"},
        )
        assert answer.status_code == 200, answer.text[:300]
        report = answer.json()
        assert (report["rows"], report["imported"]) == (2, 1)
        (rejected,) = report["rejected"]
        assert (rejected["row"], rejected["line"]) == (2, 3)
        assert "LEADS_MAX_FIELD_CHARS" in rejected["reason"]


def test_api_json_leads_nested_deep_are_refused(
    engine: Engine, isolated_settings: Settings
) -> None:
    for api in open_api(engine, isolated_settings):
        campaign = _campaign_via_api(api)
        body = '{"leads": [{"phone": "+12025550143", "x": ' + "[" * 100_000 + "]" * 100_000
        answer = api.request(
            "POST",
            f"/v1/campaigns/{campaign['id']}/leads",
            content=body + "}]}",
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 422, answer.text[:300]
        assert "LEADS_MAX_JSON_DEPTH" in answer.json()["detail"]
