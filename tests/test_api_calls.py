"""Calls through the API: place one, follow it to its end, list, detail and recording ranges."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import soundfile

from fixtures.api_harness import ApiHarness
from fixtures.database import VALID_SCRIPT


def script_id(api: ApiHarness, tenant: str = "acme") -> int:
    response = api.request(
        "POST", "/v1/scripts", tenant, content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    )
    return int(response.json()["id"])


def place_and_wait(api: ApiHarness, number: str = "+12025550143", **extra: Any) -> dict:
    body = {"number": number, "script_id": script_id(api), **extra}
    accepted = api.request("POST", "/v1/calls", json=body)
    assert accepted.status_code == 202, accepted.text
    call_id = accepted.json()["id"]
    assert accepted.json()["url"] == f"/v1/calls/{call_id}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        detail = api.request("GET", f"/v1/calls/{call_id}").json()
        if detail["ended_at"] is not None:
            return detail
        time.sleep(0.05)
    raise AssertionError(f"call {call_id} did not end")


def test_placed_call_ends_with_transcript_events_and_webhook_outbox(api: ApiHarness) -> None:
    detail = place_and_wait(api, "(202) 555-0143", variables={"first_name": "Ann"})
    assert api.placer.placed[0].number == "+12025550143"
    assert api.placer.placed[0].variables == {"first_name": "Ann"}
    assert (detail["outcome"], detail["disposition"]) == ("human", "qualified")
    assert [t["who"] for t in detail["transcript"]] == ["robot", "callee"]
    assert detail["transcript"][1]["intent"] == "affirm"
    assert detail["voicemail"] == {
        "verdict": "human",
        "reason": "speech cadence",
        "decision_ms": 850.0,
    }
    assert detail["signalling"]["final_status"] == 200
    assert detail["recording_url"].endswith(f"/v1/calls/{detail['id']}/recording")
    types = [e["type"] for e in detail["events"]]
    assert types[:2] == ["call.started", "call.answered"]
    assert "call.ended" in types
    webhook_types = [e["type"] for e in detail["events"] if e["event_id"]]
    assert webhook_types == ["call.completed", "recording.ready", "lead.qualified"]


def test_call_input_errors_name_the_field(api: ApiHarness) -> None:
    sid = script_id(api)
    bad_number = api.request("POST", "/v1/calls", json={"number": "123", "script_id": sid})
    assert bad_number.status_code == 422
    assert bad_number.json()["detail"].startswith("number:")
    unknown_script = api.request(
        "POST", "/v1/calls", json={"number": "+12025550143", "script_id": sid + 100}
    )
    assert unknown_script.status_code == 404
    bad_variables = api.request(
        "POST",
        "/v1/calls",
        json={"number": "+12025550143", "script_id": sid, "variables": {"a": [1]}},
    )
    assert bad_variables.status_code == 422
    assert "variables" in bad_variables.json()["detail"]
    assert api.placer.placed == []


def test_call_list_filters_and_pages_with_a_cursor(api: ApiHarness) -> None:
    numbers = ["+12025550101", "+12025550102", "+12025550103", "+12025550104"]
    ids = [place_and_wait(api, n)["id"] for n in numbers]
    first = api.request("GET", "/v1/calls", params={"limit": 3}).json()
    assert [c["id"] for c in first["items"]] == ids[::-1][:3]
    second = api.request(
        "GET", "/v1/calls", params={"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [c["id"] for c in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None
    assert len(api.request("GET", "/v1/calls", params={"outcome": "human"}).json()["items"]) == 4
    assert api.request("GET", "/v1/calls", params={"outcome": "busy"}).json()["items"] == []
    assert api.request("GET", "/v1/calls", params={"disposition": "qualified"}).json()["items"]
    future = api.request("GET", "/v1/calls", params={"started_after": "2100-01-01T00:00:00Z"})
    assert future.json()["items"] == []
    past = api.request("GET", "/v1/calls", params={"started_before": "2100-01-01T00:00:00Z"})
    assert len(past.json()["items"]) == 4
    naive = api.request("GET", "/v1/calls", params={"started_after": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    assert naive.json()["detail"].startswith("started_after:")
    assert api.request("GET", "/v1/calls", params={"limit": 0}).status_code == 422


def test_recording_streams_whole_file_and_byte_ranges(api: ApiHarness) -> None:
    call_id = place_and_wait(api)["id"]
    url = f"/v1/calls/{call_id}/recording"
    whole = api.request("GET", url)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes"
    data = whole.content
    size = len(data)
    wav_path = Path(api.placer.recording_dir) / f"call-{call_id}.wav"
    assert data == wav_path.read_bytes()
    info = soundfile.info(wav_path)
    assert (info.channels, info.samplerate) == (2, 8000)
    part = api.request("GET", url, headers={"Range": "bytes=0-43"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 0-43/{size}"
    assert part.content == data[:44]
    assert part.content[:4] == b"RIFF"
    tail = api.request("GET", url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206
    assert tail.content == data[-100:]
    open_end = api.request("GET", url, headers={"Range": f"bytes={size - 10}-"})
    assert open_end.content == data[-10:]
    clipped = api.request("GET", url, headers={"Range": f"bytes=100-{size + 500}"})
    assert clipped.headers["content-range"] == f"bytes 100-{size - 1}/{size}"
    beyond = api.request("GET", url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    garbage = api.request("GET", url, headers={"Range": "bytes=abc"})
    assert garbage.status_code == 200
    assert garbage.content == data


def test_call_without_recording_is_404(api: ApiHarness) -> None:
    from models.call import Call
    from models.transactions import session_scope

    tenant_id = api.tenants["acme"][0]
    with session_scope(api.engine) as session:
        call = Call(tenant_id=tenant_id, number="+12025550143")
        session.add(call)
        session.flush()
        call_id = call.id
    response = api.request("GET", f"/v1/calls/{call_id}/recording")
    assert response.status_code == 404
    assert "no recording" in response.json()["detail"]
