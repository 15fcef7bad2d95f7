"""API writes on SQLite while another process commits (the dialler, a second worker).

A route that reads, then writes through the ORM must not read a snapshot that a concurrent
commit makes stale: SQLite would refuse its first write ("database is locked") and the client
would get a 503. Write routes take the write lock before they read, so a writer that comes
in between waits for them instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from robot.config import Settings

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import VALID_SCRIPT, open_fresh_database


@pytest.fixture
def api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield from open_api(db.engine, isolated_settings)


def competing_commits(api: ApiHarness) -> Iterator[list[str]]:
    """Before each ORM flush, another connection tries to commit a write."""
    path = api.engine.url.database
    assert path
    outcomes: list[str] = []

    def before_flush(_session: Session, _context: Any, _instances: Any) -> None:
        other = sqlite3.connect(path, timeout=0.2)
        try:
            other.execute(f"PRAGMA user_version = {len(outcomes) + 1}")
            other.commit()
            outcomes.append("committed")
        except sqlite3.OperationalError as e:
            outcomes.append(str(e))
        finally:
            other.close()

    event.listen(Session, "before_flush", before_flush)
    try:
        yield outcomes
    finally:
        event.remove(Session, "before_flush", before_flush)


def create_endpoint(api: ApiHarness) -> str:
    made = api.request("POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert made.status_code == 201, made.text
    return f"/v1/webhooks/{made.json()['id']}"


def create_campaign(api: ApiHarness) -> str:
    script = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "application/yaml"}
    )
    assert script.status_code == 201, script.text
    made = api.request(
        "POST", "/v1/campaigns", json={"name": "spring", "script_id": script.json()["id"]}
    )
    assert made.status_code == 201, made.text
    return f"/v1/campaigns/{made.json()['id']}"


WRITES: dict[str, tuple[Callable[[ApiHarness], str], str, dict[str, Any]]] = {
    "update webhook endpoint": (create_endpoint, "PATCH", {"json": {"enabled": False}}),
    "update campaign": (create_campaign, "PATCH", {"json": {"priority": 7}}),
    "delete webhook endpoint": (create_endpoint, "DELETE", {}),
}


@pytest.mark.parametrize("name", list(WRITES))
def test_a_commit_from_elsewhere_waits_for_an_api_write(api: ApiHarness, name: str) -> None:
    setup, method, kwargs = WRITES[name]
    url = setup(api)
    for outcomes in competing_commits(api):
        response = api.request(method, url, **kwargs)
        assert response.status_code in (200, 204), response.text
        # The competing writer found the lock taken, so it could not invalidate the read.
        assert outcomes and all("locked" in outcome for outcome in outcomes), outcomes
    if method == "PATCH":
        shown = api.request("GET", url).json()
        assert {key: shown[key] for key in kwargs["json"]} == kwargs["json"]
    else:
        assert api.request("GET", url).status_code == 404


def test_script_upload_and_call_placing_hold_up_against_competing_commits(
    api: ApiHarness,
) -> None:
    for outcomes in competing_commits(api):
        first = api.request(
            "POST",
            "/v1/scripts",
            content=VALID_SCRIPT,
            headers={"Content-Type": "application/yaml"},
        )
        assert first.status_code == 201, first.text
        placed = api.request(
            "POST", "/v1/calls", json={"number": "+12025550103", "script_id": first.json()["id"]}
        )
        assert placed.status_code == 202, placed.text
        assert len(outcomes) >= 2 and all("locked" in o for o in outcomes), outcomes
