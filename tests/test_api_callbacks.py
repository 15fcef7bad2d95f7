"""/v1/callbacks: a callback placed over the simulated network, read back, tenant isolated;
invalid requests name their field."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.config import Settings
from robot.control.service import CallControl
from tests.fakes import ToneTts

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import open_fresh_database

A, B = "+12025550170", "+12025550171"
#: Longest wait for a callback to end (a guard against a hang; nothing is timed).
GUARD_S = 60.0


def persona(number: str, **fields: Any) -> Persona:
    base = {"name": f"p{number[-2:]}", "numbers": [number], "kind": "human", "hello": None}
    return Persona.model_validate(base | {"ring_ms": 100, "answer_delay_ms": 0} | fields)


@pytest.fixture
def api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    carrier = SimCarrier([persona(A), persona(B, kind="busy")], prompt_end_silence_ms=300)
    for db in open_fresh_database("sqlite", tmp_path):
        control = CallControl(db.engine, carrier, ToneTts())
        yield from open_api(db.engine, isolated_settings, call_control=control)


def wait_ended(api: ApiHarness, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        body: dict[str, Any] = api.request("GET", url).json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"callback still {body['status']} after {GUARD_S} s")


def test_a_callback_runs_and_only_its_tenant_sees_it(api: ApiHarness) -> None:
    request = {
        "a": A,
        "b": B,
        "caller_id_a": "+12025550100",
        "caller_id_b": "+12025550101",
        "announce_a": "Connecting you",
        "whisper_b": "Customer on the line",
        "ring_timeout": 20,
    }
    created = api.request("POST", "/v1/callbacks", json=request)
    assert created.status_code == 202, created.text
    body = created.json()
    assert body["status"] == "queued" and body["ring_timeout_s"] == 20
    url = f"/v1/callbacks/{body['id']}"
    ended = wait_ended(api, url)
    # B was busy: A heard the announcement and ringback, then was hung up with the outcome.
    assert (ended["status"], ended["outcome_a"], ended["outcome_b"]) == (
        "failed",
        "completed",
        "busy",
    )
    assert ended["call_id_a"].startswith("call_") and ended["call_id_b"].startswith("call_")
    assert ended["answered_a_at"] is not None and ended["bridged_at"] is None
    assert api.request("GET", url, tenant="globex").status_code == 404
    assert [c["id"] for c in api.request("GET", "/v1/callbacks").json()["items"]] == [body["id"]]
    assert api.request("GET", "/v1/callbacks", tenant="globex").json()["items"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"a": "12"}, "a"),
        ({"b": "not a number"}, "b"),
        ({"caller_id_b": "12345"}, "caller_id_b"),
        ({"confirm_digit": "x"}, "confirm_digit"),
        ({"ring_timeout_s": 0}, "ring_timeout_s"),
    ],
)
def test_invalid_requests_name_the_field(
    api: ApiHarness, change: dict[str, Any], field: str
) -> None:
    answer = api.request("POST", "/v1/callbacks", json={"a": A, "b": B} | change)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["detail"]
    assert api.request("GET", "/v1/callbacks").json()["items"] == []
