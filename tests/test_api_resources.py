"""API resources against the real app and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select

from models.apikey import create_api_key
from models.transactions import session_scope
from models.webhook import OutboxEvent

from fixtures.api_harness import ApiHarness
from fixtures.database import VALID_SCRIPT

INVALID_SCRIPT = """script: broken
start: greet
states:
  greet:
    say: Hello
    goto: nowhere
"""


def upload(api: ApiHarness, text: str = VALID_SCRIPT, tenant: str = "acme") -> dict:
    response = api.request(
        "POST", "/v1/scripts", tenant, content=text, headers={"Content-Type": "application/x-yaml"}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_health_needs_no_key_and_everything_else_does(api: ApiHarness) -> None:
    health = api.client.get("/health").json()
    assert (health["status"], health["database"]) == ("ok", "ok")
    assert health["engine"]["active_calls"] == 0 and health["engine"]["admitting"] is True
    missing = api.client.get("/v1/scripts")
    assert missing.status_code == 401
    assert "Bearer" in missing.json()["detail"]
    wrong = api.client.get("/v1/scripts", headers={"Authorization": "Bearer cr_notakey"})
    assert wrong.status_code == 401
    assert api.request("GET", "/v1/scripts").status_code == 200


def test_health_shows_the_engine_load_and_calls_held_back(api: ApiHarness) -> None:
    load = api.client.app.state.engine_load  # type: ignore[attr-defined]
    calls = [load.admit() for _ in range(load.limit)]
    calls[-1].on_turn_latency(2500.0)
    calls[-1].on_decode_wait(80.0)
    load.hold_back(3)
    engine = api.client.get("/health").json()["engine"]
    assert {k: engine[k] for k in ("active_calls", "held_back", "turn_p95_ms", "admitting")} == {
        "active_calls": len(calls),
        "held_back": 3,
        "turn_p95_ms": 2500,
        "admitting": False,
    }
    assert engine["decode_wait_p95_ms"] == 80 and "cpu" in engine
    for call in calls:
        call.close()
    assert api.client.get("/health").json()["engine"]["active_calls"] == 0


def test_scripts_are_versioned_by_name_and_readable(api: ApiHarness) -> None:
    first = upload(api)
    second = upload(api)
    assert (first["name"], first["version"]) == ("hello", 1)
    assert (second["name"], second["version"]) == ("hello", 2)
    assert second["id"] != first["id"]
    multipart = api.request(
        "POST", "/v1/scripts", files={"file": ("hello.yaml", VALID_SCRIPT, "text/yaml")}
    )
    assert multipart.status_code == 201
    assert multipart.json()["version"] == 3
    detail = api.request("GET", f"/v1/scripts/{first['id']}").json()
    assert detail["yaml_text"] == VALID_SCRIPT
    listed = api.request("GET", "/v1/scripts", params={"name": "hello"}).json()["items"]
    assert [s["version"] for s in listed] == [3, 2, 1]


def test_invalid_script_is_422_with_positions(api: ApiHarness) -> None:
    response = api.request(
        "POST",
        "/v1/scripts",
        content=INVALID_SCRIPT,
        headers={"Content-Type": "text/yaml"},
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors and all({"line", "column", "message"} <= set(e) for e in errors)
    assert any("goto" in e["message"] and (e["line"], e["column"]) == (6, 5) for e in errors)
    broken_yaml = api.request(
        "POST", "/v1/scripts", content="script: [unclosed", headers={"Content-Type": "text/yaml"}
    )
    assert broken_yaml.status_code == 422
    assert broken_yaml.json()["errors"][0]["line"] >= 1
    # Nothing was stored.
    assert api.request("GET", "/v1/scripts").json()["items"] == []


def test_bad_bodies_are_4xx_naming_the_problem(api: ApiHarness) -> None:
    wrong_type = api.request(
        "POST", "/v1/scripts", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert wrong_type.status_code == 415
    assert "Content-Type" in wrong_type.json()["detail"]
    not_utf8 = api.request(
        "POST", "/v1/scripts", content=b"\xff\xfe\xfa", headers={"Content-Type": "text/yaml"}
    )
    assert not_utf8.status_code == 422
    assert "UTF-8" in not_utf8.json()["detail"]
    malformed_json = api.request(
        "POST",
        "/v1/campaigns",
        content=b'{"name": ',
        headers={"Content-Type": "application/json"},
    )
    assert malformed_json.status_code == 422
    missing_field = api.request("POST", "/v1/campaigns", json={"priority": 2})
    assert missing_field.status_code == 422
    assert "body.name" in missing_field.json()["detail"]
    too_large = api.request(
        "POST",
        "/v1/campaigns",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": str(10**9)},
    )
    assert too_large.status_code == 413
    no_file = api.request("POST", "/v1/scripts", files={"other": ("x.yaml", "a: b")})
    assert no_file.status_code == 422
    assert "file" in no_file.json()["detail"]


def test_campaign_pins_script_version_and_moves_through_its_life(api: ApiHarness) -> None:
    script = upload(api)
    upload(api)  # version 2 exists; the campaign keeps version 1
    created = api.request(
        "POST", "/v1/campaigns", json={"name": "November", "script_id": script["id"]}
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert (campaign["script_id"], campaign["script_version"]) == (script["id"], 1)
    assert campaign["status"] == "draft"
    mismatch = api.request(
        "POST",
        "/v1/campaigns",
        json={"name": "x", "script_id": script["id"], "script_version": 7},
    )
    assert mismatch.status_code == 422
    assert "script_version" in mismatch.json()["detail"]
    bad_window = api.request(
        "PATCH", f"/v1/campaigns/{campaign['id']}", json={"calling_window": {"hours": 5}}
    )
    assert bad_window.status_code == 422
    updated = api.request("PATCH", f"/v1/campaigns/{campaign['id']}", json={"priority": 5})
    assert updated.json()["priority"] == 5
    cid = campaign["id"]
    assert api.request("POST", f"/v1/campaigns/{cid}/start").json()["status"] == "running"
    assert api.request("POST", f"/v1/campaigns/{cid}/pause").json()["status"] == "paused"
    again = api.request("POST", f"/v1/campaigns/{cid}/pause")
    assert again.status_code == 422
    assert "paused" in again.json()["detail"]
    assert api.request("POST", f"/v1/campaigns/{cid}/stop").json()["status"] == "stopped"
    with api.engine.connect() as conn:
        types = (
            conn.execute(
                select(OutboxEvent.type).where(OutboxEvent.campaign_id == cid)  # type: ignore[call-overload]
            )
            .scalars()
            .all()
        )
    assert types == ["campaign.finished"]
    stats = api.request("GET", f"/v1/campaigns/{cid}/stats").json()
    assert stats["status"] == "stopped"
    assert stats["leads"] == 0


def test_campaign_without_script_cannot_start(api: ApiHarness) -> None:
    campaign = api.request("POST", "/v1/campaigns", json={"name": "no script"}).json()
    response = api.request("POST", f"/v1/campaigns/{campaign['id']}/start")
    assert response.status_code == 422
    assert "script_id" in response.json()["detail"]


def test_lead_import_reports_every_rejected_row_and_keeps_good_ones(api: ApiHarness) -> None:
    campaign = api.request("POST", "/v1/campaigns", json={"name": "c"}).json()
    csv_text = (
        "phone,first_name\n"
        "+12025550143,Ann\n"
        "not a number,Bob\n"
        "+12025550143,Ann again\n"
        ",Nobody\n"
        "+12025550178,Cid\n"
    )
    url = f"/v1/campaigns/{campaign['id']}/leads"
    response = api.request("POST", url, content=csv_text, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["imported"], report["rejected_count"]) == (5, 2, 3)
    by_row = {r["row"]: r for r in report["rejected"]}
    assert by_row[2]["reason"] == "invalid number" and by_row[2]["line"] == 3
    assert "duplicate of row 1" in by_row[3]["reason"]
    assert by_row[4]["field"] == "phone"
    as_json = api.request(
        "POST", url, json=[{"phone": "+12025550199", "first_name": "Dee"}, {"phone": "12"}]
    ).json()
    assert (as_json["imported"], as_json["rejected_count"]) == (1, 1)
    multipart = api.request(
        "POST", url, files={"file": ("more.csv", "phone\n+12025550111\n", "text/csv")}
    ).json()
    assert (multipart["imported"], multipart["source"]) == (1, "more.csv")
    broken = api.request("POST", url, content=b"[{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422
    assert "invalid JSON" in broken.json()["detail"]
    leads = api.request("GET", url, params={"status": "pending"}).json()["items"]
    assert sorted(lead["number"] for lead in leads) == [
        "+12025550111",
        "+12025550143",
        "+12025550178",
        "+12025550199",
    ]
    assert api.request("GET", url, params={"status": "done"}).json()["items"] == []
    ann = next(lead for lead in leads if lead["number"] == "+12025550143")
    assert api.request("GET", f"/v1/leads/{ann['id']}").json()["variables"] == {"first_name": "Ann"}


def test_dnc_numbers_are_normalised_blocked_and_removable(api: ApiHarness) -> None:
    added = api.request("POST", "/v1/dnc", json={"number": "(202) 555-0143", "reason": "asked"})
    assert added.status_code == 201
    assert added.json()["number"] == "+12025550143"
    assert api.request("POST", "/v1/dnc", json={"number": "+1 202 555 0143"}).status_code == 201
    listed = api.request("GET", "/v1/dnc").json()["items"]
    assert [e["number"] for e in listed] == ["+12025550143"]
    bad = api.request("POST", "/v1/dnc", json={"number": "12"})
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("number:")
    campaign = api.request("POST", "/v1/campaigns", json={"name": "c"}).json()
    report = api.request(
        "POST", f"/v1/campaigns/{campaign['id']}/leads", json=[{"phone": "+12025550143"}]
    ).json()
    assert report["rejected"][0]["reason"] == "number is on the do-not-call list"
    script = upload(api)
    refused = api.request(
        "POST", "/v1/calls", json={"number": "+12025550143", "script_id": script["id"]}
    )
    assert refused.status_code == 422
    assert "do-not-call" in refused.json()["detail"]
    assert api.request("DELETE", "/v1/dnc/+12025550143").status_code == 204
    assert api.request("DELETE", "/v1/dnc/+12025550143").status_code == 404
    assert api.request("GET", "/v1/dnc").json()["items"] == []


def test_webhook_endpoints_crud_and_private_urls(api: ApiHarness) -> None:
    created = api.request(
        "POST",
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["lead.qualified"]},
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    eid = endpoint["id"]
    shown = api.request("GET", f"/v1/webhooks/{eid}").json()
    assert "secret" not in shown
    assert shown["event_types"] == ["lead.qualified"]
    unknown_type = api.request(
        "POST", "/v1/webhooks", json={"url": "http://127.0.0.1/", "event_types": ["nope"]}
    )
    assert unknown_type.status_code == 422
    bad_scheme = api.request("POST", "/v1/webhooks", json={"url": "ftp://example.com/"})
    assert bad_scheme.status_code == 422
    assert bad_scheme.json()["detail"].startswith("url:")
    patched = api.request("PATCH", f"/v1/webhooks/{eid}", json={"enabled": False})
    assert patched.json()["enabled"] is False
    assert api.request("GET", f"/v1/webhooks/{eid}/deliveries").json()["items"] == []
    assert api.request("DELETE", f"/v1/webhooks/{eid}").status_code == 204
    assert api.request("GET", f"/v1/webhooks/{eid}").status_code == 404


def test_private_webhook_urls_are_refused_unless_allowed(api: ApiHarness) -> None:
    api.client.app.state.settings = api.settings.model_copy(  # type: ignore[attr-defined]
        update={"webhooks_allow_private": False}
    )
    for url in (
        "http://127.0.0.1/",
        "http://10.1.2.3/",
        "http://169.254.169.254/",
        "http://localhost:8080/",
    ):
        response = api.request("POST", "/v1/webhooks", json={"url": url})
        assert response.status_code == 422, url
        assert "private or loopback" in response.json()["detail"]


def test_openapi_is_served_with_examples(api: ApiHarness) -> None:
    schema = api.client.get("/openapi.json").json()
    assert "/v1/calls/{call_id}/recording" in schema["paths"]
    upload_body = schema["paths"]["/v1/scripts"]["post"]["requestBody"]["content"]
    assert {"application/x-yaml", "multipart/form-data"} <= set(upload_body)
    assert "example" in upload_body["application/x-yaml"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert api.client.get("/docs").status_code == 200


def test_a_campaign_action_answers_with_the_new_status_after_a_fresh_key_check(
    api: ApiHarness,
) -> None:
    """A key seen for the first time is checked in the request's session; the answer to the
    action must still show the status the action committed, not that read's snapshot."""
    script = upload(api)
    campaign = api.request("POST", "/v1/campaigns", json={"name": "n", "script_id": script["id"]})
    tenant_id = api.tenants["acme"][0]
    for action, status in (("start", "running"), ("pause", "paused"), ("stop", "stopped")):
        with session_scope(api.engine) as session:
            fresh_key = create_api_key(session, tenant_id, action)
        response = api.client.post(
            f"/v1/campaigns/{campaign.json()['id']}/{action}",
            headers={"Authorization": f"Bearer {fresh_key}"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
