"""Calls placed through the API with the real call engine on the simulated network."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from models.webhook import OutboxEvent
from robot.config import Settings

from fixtures.api_harness import make_tenant
from fixtures.database import open_fresh_database

BUNDLED_SCRIPT = Path(__file__).resolve().parents[1] / "dialogues/scripts/lead_qualification.yaml"


@pytest.fixture
def client(
    tmp_path: Path, isolated_settings: Settings
) -> Iterator[tuple[TestClient, dict, object]]:
    settings = isolated_settings.model_copy(update={"carrier_url": "sim://?speed=2"})
    for db in open_fresh_database("sqlite", tmp_path):
        _, key = make_tenant(db.engine, "acme")
        with TestClient(create_app(settings, engine=db.engine)) as http:
            yield http, {"Authorization": f"Bearer {key}"}, db.engine


def wait_for_end(http: TestClient, headers: dict, call_id: int, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        detail = http.get(f"/v1/calls/{call_id}", headers=headers).json()
        if detail["ended_at"] is not None:
            return detail
        time.sleep(0.2)
    raise AssertionError(f"call {call_id} did not end in {timeout_s} s")


def test_busy_number_through_the_sim_network(client: tuple[TestClient, dict, object]) -> None:
    http, headers, engine = client
    script = http.post(
        "/v1/scripts",
        headers={**headers, "Content-Type": "application/x-yaml"},
        content=BUNDLED_SCRIPT.read_text(encoding="utf-8"),
    )
    assert script.status_code == 201, script.text
    accepted = http.post(
        "/v1/calls",
        headers=headers,
        json={
            "number": "+12025550111",
            "script_id": script.json()["id"],
            "variables": {"first_name": "Ann"},
        },
    )
    assert accepted.status_code == 202, accepted.text
    detail = wait_for_end(http, headers, accepted.json()["id"], 120)
    assert (detail["outcome"], detail["q850"]) == ("busy", 17)
    assert detail["disposition"] is None
    assert detail["transcript"] == []
    with engine.connect() as conn:  # type: ignore[attr-defined]
        bodies = conn.execute(select(OutboxEvent.body)).scalars().all()  # type: ignore[call-overload]
    events = [json.loads(b) for b in bodies]
    assert [e["type"] for e in events] == ["call.completed"]
    assert events[0]["data"]["outcome"] == "busy"
    assert events[0]["data"]["q850"] == 17


@pytest.mark.slow
def test_human_conversation_through_the_api_with_real_speech(
    client: tuple[TestClient, dict, object],
) -> None:
    http, headers, engine = client
    script = http.post(
        "/v1/scripts",
        headers={**headers, "Content-Type": "text/yaml"},
        content=BUNDLED_SCRIPT.read_text(encoding="utf-8"),
    ).json()
    accepted = http.post(
        "/v1/calls",
        headers=headers,
        json={
            "number": "+12025550101",
            "script_id": script["id"],
            "variables": {"first_name": "Ann"},
        },
    )
    detail = wait_for_end(http, headers, accepted.json()["id"], 240)
    assert detail["outcome"] == "human", detail
    assert detail["voicemail"]["verdict"] == "human"
    turns = detail["transcript"]
    assert {"robot", "callee"} <= {t["who"] for t in turns}
    assert all(t["text"] and t["start_ms"] is not None for t in turns)
    robot_turns = [t for t in turns if t["who"] == "robot"]
    assert "Ann" in robot_turns[0]["text"]  # the greeting (the callee's "hello?" may come first)
    recording = http.get(f"/v1/calls/{detail['id']}/recording", headers=headers)
    assert recording.status_code == 200
    assert recording.content[:4] == b"RIFF"
    first = http.get(
        f"/v1/calls/{detail['id']}/recording", headers={**headers, "Range": "bytes=0-11"}
    )
    assert first.status_code == 206
    assert first.content == recording.content[:12]
    with engine.connect() as conn:  # type: ignore[attr-defined]
        types = conn.execute(select(OutboxEvent.type)).scalars().all()  # type: ignore[call-overload]
    assert types[:2] == ["call.completed", "recording.ready"]
