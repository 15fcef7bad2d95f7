"""Audit log and key management: key creation and revocation, campaign actions, by API and CLI.

Runs on SQLite and on PostgreSQL (the migration creates the audit table on both).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from models.audit import AuditEntry
from robot.cli import app as cli_app
from robot.config import Settings

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import BACKENDS, VALID_SCRIPT, FreshDatabase, open_fresh_database


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database(request.param, tmp_path)


@pytest.fixture
def api(db: FreshDatabase, isolated_settings: Settings) -> Iterator[ApiHarness]:
    yield from open_api(db.engine, isolated_settings)


def audit(api: ApiHarness, tenant: str = "acme", **params: object) -> list[dict[str, object]]:
    answer = api.request("GET", "/v1/audit", tenant=tenant, params=params)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()["items"]
    return items


def test_keys_created_and_revoked_over_the_api_are_audited(api: ApiHarness) -> None:
    acme_prefix = api.tenants["acme"][1][:11]
    made = api.request("POST", "/v1/keys", json={"name": "CRM sync"})
    assert made.status_code == 201
    new_key = made.json()["key"]
    assert new_key.startswith(made.json()["prefix"])
    works = api.client.get("/v1/keys", headers={"Authorization": f"Bearer {new_key}"})
    assert works.status_code == 200
    assert {k["name"] for k in works.json()["items"]} == {"tests", "CRM sync"}
    assert "key" not in works.json()["items"][0]  # never listed again

    own = api.request("DELETE", f"/v1/keys/{made.json()['id']}", headers={})
    assert own.status_code == 204
    revoked = api.client.get("/v1/keys", headers={"Authorization": f"Bearer {new_key}"})
    assert revoked.status_code == 401  # at once in this process

    entries, setup = audit(api)[:2], audit(api)[2:]
    assert [(e["action"], e["actor"]) for e in setup] == [("key.created", "cli")]  # the harness
    assert [e["action"] for e in entries] == ["key.revoked", "key.created"]
    assert {e["actor"] for e in entries} == {f"key:{acme_prefix}"}
    assert {e["target_id"] for e in entries} == {made.json()["id"]}
    assert entries[0]["details"] == {"prefix": made.json()["prefix"], "name": "CRM sync"}
    assert len(audit(api, "globex")) == 1  # another tenant sees only its own key's creation


def test_a_key_cannot_revoke_itself_nor_another_tenants_key(api: ApiHarness) -> None:
    keys = api.request("GET", "/v1/keys").json()["items"]
    refused = api.request("DELETE", f"/v1/keys/{keys[0]['id']}")
    assert refused.status_code == 409 and "own key" in refused.json()["detail"]
    other = api.request("DELETE", f"/v1/keys/{keys[0]['id']}", tenant="globex")
    assert other.status_code == 404
    assert api.request("GET", "/v1/keys").status_code == 200


def test_key_cap_refuses_more_active_keys(db: FreshDatabase, isolated_settings: Settings) -> None:
    quotas = isolated_settings.quotas.model_copy(update={"max_api_keys": 2})
    for api in open_api(db.engine, isolated_settings.model_copy(update={"quotas": quotas})):
        assert api.request("POST", "/v1/keys").status_code == 201
        refused = api.request("POST", "/v1/keys", json={"name": "third"})
        assert refused.status_code == 409
        assert "quotas.max_api_keys" in refused.json()["detail"]


def test_campaign_start_pause_stop_are_audited(api: ApiHarness) -> None:
    script = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    campaign = api.request(
        "POST", "/v1/campaigns", json={"name": "audited", "script_id": script["id"]}
    ).json()
    for action in ("start", "pause", "stop"):
        answer = api.request("POST", f"/v1/campaigns/{campaign['id']}/{action}")
        assert answer.status_code == 200, answer.text
    entries = audit(api)[:3]
    assert [e["action"] for e in entries] == [
        "campaign.stopped",
        "campaign.paused",
        "campaign.started",
    ]
    assert entries[0]["details"] == {"from": "paused", "to": "stopped"}
    assert [e["action"] for e in audit(api, action="campaign.started")] == ["campaign.started"]
    assert audit(api, limit=1)[0]["action"] == "campaign.stopped"


def test_running_campaigns_cap_refuses_a_further_start(
    db: FreshDatabase, isolated_settings: Settings
) -> None:
    quotas = isolated_settings.quotas.model_copy(update={"max_running_campaigns": 1})
    for api in open_api(db.engine, isolated_settings.model_copy(update={"quotas": quotas})):
        script = api.request(
            "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
        ).json()
        ids = [
            api.request(
                "POST", "/v1/campaigns", json={"name": n, "script_id": script["id"]}
            ).json()["id"]
            for n in ("one", "two")
        ]
        assert api.request("POST", f"/v1/campaigns/{ids[0]}/start").status_code == 200
        refused = api.request("POST", f"/v1/campaigns/{ids[1]}/start")
        assert refused.status_code == 409
        assert "quotas.max_running_campaigns" in refused.json()["detail"]
        assert api.request("GET", f"/v1/campaigns/{ids[1]}").json()["status"] == "draft"
        # Another tenant has its own count; pausing the first frees the slot.
        globex_script = api.request(
            "POST",
            "/v1/scripts",
            tenant="globex",
            content=VALID_SCRIPT,
            headers={"Content-Type": "text/yaml"},
        ).json()
        globex = api.request(
            "POST",
            "/v1/campaigns",
            tenant="globex",
            json={"name": "g", "script_id": globex_script["id"]},
        ).json()
        started = api.request("POST", f"/v1/campaigns/{globex['id']}/start", tenant="globex")
        assert started.status_code == 200
        assert api.request("POST", f"/v1/campaigns/{ids[0]}/pause").status_code == 200
        assert api.request("POST", f"/v1/campaigns/{ids[1]}/start").status_code == 200
        actions = [e["action"] for e in audit(api)]
        assert actions.count("campaign.started") == 2  # the refused start left no entry


def test_cli_creates_lists_and_revokes_keys_with_audit_entries(db: FreshDatabase) -> None:
    runner = CliRunner()
    base = ["--database", db.url, "--json"]
    made = runner.invoke(cli_app, ["keys", "create", "--tenant", "initech", *base])
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    listed = runner.invoke(cli_app, ["keys", "list", "--tenant", "initech", *base])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["prefix"] for r in rows] == [created["key"][:11]]
    revoked = runner.invoke(
        cli_app, ["keys", "revoke", created["key"][:11], "--tenant", "initech", *base]
    )
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.stdout) == {
        "id": rows[0]["id"],
        "prefix": rows[0]["prefix"],
        "revoked": True,
    }
    missing = runner.invoke(cli_app, ["keys", "revoke", "cr_nothere", "--tenant", "initech"])
    assert missing.exit_code != 0 and "not found" in missing.output

    audit_table = AuditEntry.__table__  # type: ignore[attr-defined]
    with db.engine.connect() as conn:
        entries = conn.execute(
            select(audit_table.c.action, audit_table.c.actor).order_by(audit_table.c.id)
        ).all()
    assert [tuple(e) for e in entries] == [("key.created", "cli"), ("key.revoked", "cli")]
