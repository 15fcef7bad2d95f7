"""A call's console page: the recording served with the tenant check and byte ranges, one
region per turn placed by the turn log, and the QA replay started in the background."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.console.call_detail import TurnSpan, turn_spans
from models.call import Call
from robot.config import Settings

from fixtures.api_harness import ApiHarness
from fixtures.console import console_client, open_console_api, session_token, sign_in
from fixtures.database import VALID_SCRIPT


@pytest.fixture
def api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    yield from open_console_api(tmp_path, isolated_settings)


def finished_call(api: ApiHarness) -> tuple[int, Path]:
    """A finished call with a real stereo recording (and no turn log yet)."""
    script = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    call_id = api.request(
        "POST", "/v1/calls", json={"number": "+12025550143", "script_id": script["id"]}
    ).json()["id"]
    for _ in range(1200):
        if api.request("GET", f"/v1/calls/{call_id}").json()["ended_at"]:
            break
        time.sleep(0.05)
    with Session(api.engine) as session:
        call = session.get(Call, call_id)
        assert call is not None and call.recording_path
        return call_id, Path(call.recording_path)


def signed_in(api: ApiHarness, tenant: str = "acme") -> TestClient:
    browser = console_client(api)
    assert sign_in(browser, api.tenants[tenant][1]).status_code == 200
    return browser


def write_turn_log(wav: Path, answered_ms: float, script: str = "hello") -> None:
    turns = [
        {"who": "robot", "text": "Hello, this is a test call.", "start_ms": 0.0, "end_ms": 900.0},
        {"who": "callee", "text": "yes go ahead", "start_ms": 1000.0, "end_ms": 1500.0},
    ]
    log = {"call_id": wav.stem, "script": {"name": script, "version": 1}, "turns": turns}
    wav.with_suffix(".json").write_text(json.dumps({**log, "answered_ms": answered_ms}))


def test_turns_are_placed_on_the_recording_from_answer() -> None:
    turns = [
        {"who": "robot", "start_ms": 3000.0},
        {"who": "callee", "start_ms": 4200.0, "end_ms": 5000.0},
        {"who": "robot", "start_ms": 5200.0},
    ]
    assert turn_spans(turns, answered_ms=3000.0) == [
        TurnSpan(0.0, 1.2),  # no end: until the next turn starts
        TurnSpan(1.2, 2.0),
        TurnSpan(2.2, 3.7),  # the last turn without an end lasts LAST_TURN_S
    ]


def test_the_page_places_one_region_per_turn_from_the_turn_log(api: ApiHarness) -> None:
    call_id, wav = finished_call(api)
    browser = signed_in(api)
    untimed = browser.get(f"/calls/{call_id}").text
    assert "turn times are approximate" in untimed
    write_turn_log(wav, answered_ms=500.0)
    html = browser.get(f"/calls/{call_id}").text
    assert "turn times are approximate" not in html
    spans = re.findall(r'data-start="([\d.]+)" data-end="([\d.]+)" data-who="(\w+)"', html)
    assert spans == [("0.0", "0.4", "robot"), ("0.5", "1.0", "callee")]
    assert f'data-url="/calls/{call_id}/recording"' in html
    assert '<script src="/static/vendor/wavesurfer.js" defer>' in html
    assert 'intent <b class="intent">affirm</b>' in html and "confidence 0.93" in html


def test_the_recording_is_served_with_byte_ranges_and_the_tenant_check(api: ApiHarness) -> None:
    call_id, wav = finished_call(api)
    size = wav.stat().st_size
    browser = signed_in(api)
    whole = browser.get(f"/calls/{call_id}/recording")
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.content == wav.read_bytes()
    part = browser.get(f"/calls/{call_id}/recording", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 0-99/{size}"
    assert part.content == wav.read_bytes()[:100]
    past = browser.get(f"/calls/{call_id}/recording", headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416
    assert signed_in(api, "globex").get(f"/calls/{call_id}/recording").status_code == 404
    anonymous = console_client(api).get(f"/calls/{call_id}/recording", follow_redirects=False)
    assert anonymous.status_code == 303


def test_a_replay_runs_in_the_background_and_reports_what_stopped_it(api: ApiHarness) -> None:
    call_id, wav = finished_call(api)
    write_turn_log(wav, answered_ms=0.0, script="not_stored")
    # The harness's own client: its event loop stays up between requests, as a server's does
    # (a replay runs as a task of the server's loop, after the request that started it).
    browser = api.client
    assert sign_in(browser, api.tenants["acme"][1]).status_code == 200
    url = f"/calls/{call_id}/replay"
    assert browser.post(url).status_code == 403
    started = browser.post(url, data={"csrf_token": session_token(browser)})
    assert started.status_code == 200
    for _ in range(600):
        status = browser.get(url).text
        if "replay-running" not in status:
            break
        time.sleep(0.05)
    assert "Replay failed: script &#39;not_stored&#39; is not stored for this tenant" in status
    assert "Replay failed" in browser.get(f"/calls/{call_id}").text
    # Another tenant sees no replay and cannot start one.
    other = signed_in(api, "globex")
    assert "Replay" not in other.get(url).text
    refused = other.post(url, data={"csrf_token": session_token(other)})
    assert refused.status_code == 404
