"""Per-tenant caps: queued calls (lead imports and single calls) and stored recordings.

Another tenant keeps working while one is at its cap. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.call import Call
from models.transactions import session_scope
from robot.config import Settings

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import BACKENDS, VALID_SCRIPT, open_fresh_database


@pytest.fixture(params=BACKENDS)
def api(
    request: pytest.FixtureRequest, tmp_path: Path, isolated_settings: Settings
) -> Iterator[ApiHarness]:
    quotas = isolated_settings.quotas.model_copy(
        update={"max_queued_calls": 3, "max_stored_recordings": 2}
    )
    for db in open_fresh_database(request.param, tmp_path):
        yield from open_api(db.engine, isolated_settings.model_copy(update={"quotas": quotas}))


def campaign_of(api: ApiHarness, tenant: str = "acme") -> tuple[int, int]:
    script = api.request(
        "POST",
        "/v1/scripts",
        tenant=tenant,
        content=VALID_SCRIPT,
        headers={"Content-Type": "text/yaml"},
    ).json()
    campaign = api.request(
        "POST", "/v1/campaigns", tenant=tenant, json={"name": "c", "script_id": script["id"]}
    ).json()
    return script["id"], campaign["id"]


def phones(*endings: int) -> list[dict[str, str]]:
    return [{"phone": f"+120255501{n:02d}"} for n in endings]


def test_lead_import_beyond_the_queued_calls_cap_rejects_the_rest(api: ApiHarness) -> None:
    script_id, campaign_id = campaign_of(api)
    url = f"/v1/campaigns/{campaign_id}/leads"
    first = api.request("POST", url, json=phones(41, 42)).json()
    assert first["imported"] == 2
    csv_text = "phone\n+12025550143\n+12025550144\n+12025550145\n"
    second = api.request("POST", url, content=csv_text, headers={"Content-Type": "text/csv"})
    report = second.json()
    assert second.status_code == 200
    assert (report["rows"], report["imported"], report["rejected_count"]) == (3, 1, 2)
    assert [r["row"] for r in report["rejected"]] == [2, 3]
    assert [r["line"] for r in report["rejected"]] == [3, 4]
    assert "quotas.max_queued_calls" in report["rejected"][0]["reason"]

    full = api.request("POST", url, json=phones(46))
    assert full.status_code == 409
    assert full.headers["content-type"] == "application/problem+json"
    assert "quotas.max_queued_calls" in full.json()["detail"]
    call = api.request("POST", "/v1/calls", json={"number": "+12025550147", "script_id": script_id})
    assert call.status_code == 409

    # Another tenant has its own count.
    _, globex_campaign = campaign_of(api, "globex")
    other = api.request(
        "POST", f"/v1/campaigns/{globex_campaign}/leads", tenant="globex", json=phones(48)
    )
    assert other.json()["imported"] == 1


def test_stored_recordings_cap_refuses_new_calls_and_campaign_starts(api: ApiHarness) -> None:
    script_id, campaign_id = campaign_of(api)
    acme_id = api.tenants["acme"][0]
    with session_scope(api.engine) as session:
        for n in range(2):
            session.add(
                Call(tenant_id=acme_id, number="+12025550150", recording_path=f"/r/{n}.wav")
            )
    refused = api.request(
        "POST", "/v1/calls", json={"number": "+12025550151", "script_id": script_id}
    )
    assert refused.status_code == 409
    assert "quotas.max_stored_recordings" in refused.json()["detail"]
    start = api.request("POST", f"/v1/campaigns/{campaign_id}/start")
    assert start.status_code == 409
    assert api.request("GET", f"/v1/campaigns/{campaign_id}").json()["status"] == "draft"

    globex_script, _ = campaign_of(api, "globex")
    placed = api.request(
        "POST",
        "/v1/calls",
        tenant="globex",
        json={"number": "+12025550152", "script_id": globex_script},
    )
    assert placed.status_code == 202
