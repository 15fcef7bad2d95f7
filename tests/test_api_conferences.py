"""/v1/conferences: rooms, participants by call id or dialled, mute, kick, end, recording,
their events in the webhook outbox, and tenant isolation."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models.webhook import OutboxEvent
from robot.carriers.base import CallState
from robot.config import Settings
from robot.control.conference_rooms import ConferenceRooms
from tests.fakes import FakeCall, FakeTts

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import BACKENDS, open_fresh_database


class FakeCarrier:
    """Every number answers at once with a :class:`FakeCall`."""

    def __init__(self) -> None:
        self.dialled: list[tuple[str, FakeCall]] = []

    async def dial(self, number: str, **_: Any) -> FakeCall:
        call = FakeCall(FakeTts(), call_id=f"out-{len(self.dialled) + 1}")
        self.dialled.append((number, call))
        return call

    async def close(self) -> None:
        pass


@pytest.fixture(params=BACKENDS)
def api(
    request: pytest.FixtureRequest, tmp_path: Path, isolated_settings: Settings
) -> Iterator[ApiHarness]:
    for db in open_fresh_database(request.param, tmp_path):
        yield from open_api(db.engine, isolated_settings)


def use_rooms(api: ApiHarness, tmp_path: Path) -> tuple[ConferenceRooms, FakeCarrier]:
    carrier = FakeCarrier()
    root = api.settings.recordings_root()
    rooms = ConferenceRooms(api.engine, carrier=carrier, recording_dir=root)
    api.client.app.state.conferences = rooms  # type: ignore[attr-defined]
    return rooms, carrier


def run(api: ApiHarness, work: Any) -> Any:
    """Run a coroutine function on the app's event loop."""
    return api.client.portal.call(work)  # type: ignore[union-attr]


def outbox(api: ApiHarness, tenant: str) -> list[tuple[str, dict[str, Any]]]:
    tenant_id = api.tenants[tenant][0]
    with api.engine.connect() as conn:
        rows = conn.execute(
            select(OutboxEvent.type, OutboxEvent.body)  # type: ignore[call-overload]
            .where(OutboxEvent.tenant_id == tenant_id)
            .order_by(OutboxEvent.id)
        ).all()
    return [(row.type, json.loads(row.body)["data"]) for row in rows]


def test_room_with_a_live_call_and_a_dialled_number(api: ApiHarness, tmp_path: Path) -> None:
    rooms, carrier = use_rooms(api, tmp_path)
    hook = api.request(
        "POST",
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["participant.left"]},
    )
    assert hook.status_code == 201, hook.text
    created = api.request("POST", "/v1/conferences", json={"name": "standup", "record": True})
    assert created.status_code == 201, created.text
    room = created.json()
    assert room["status"] == "waiting" and room["participants"] == []
    assert room["recording_url"] == f"/v1/conferences/{room['id']}/recording"
    again = api.request("POST", "/v1/conferences", json={"name": "standup"})
    assert again.status_code == 409
    base = f"/v1/conferences/{room['id']}"

    caller = FakeCall(FakeTts(), call_id="inbound-1")
    rooms.register_call(api.tenants["acme"][0], caller)
    joined = api.request("POST", f"{base}/participants", json={"call_id": "inbound-1"})
    assert joined.status_code == 201, joined.text
    assert joined.json()["status"] == "joined" and joined.json()["id"] == 1
    twice = api.request("POST", f"{base}/participants", json={"call_id": "inbound-1"})
    assert twice.status_code == 409

    dialled = api.request(
        "POST", f"{base}/participants", json={"number": "+12025550143", "muted": True}
    )
    assert dialled.status_code == 201, dialled.text
    assert dialled.json()["status"] == "dialling" and dialled.json()["call_id"] == "out-1"
    assert carrier.dialled[0][0] == "+12025550143"

    async def both_joined() -> None:
        async with asyncio.timeout(10):
            while len(rooms.get(api.tenants["acme"][0], room["id"]).conference.members) < 2:
                await asyncio.sleep(0.01)

    run(api, both_joined)
    people = api.request("GET", f"{base}/participants").json()
    assert [(p["id"], p["status"], p["muted"]) for p in people] == [
        (1, "joined", False),
        (2, "joined", True),
    ]
    unmuted = api.request("PATCH", f"{base}/participants/2", json={"muted": False})
    assert unmuted.status_code == 200 and unmuted.json()["muted"] is False
    assert api.request("GET", base).json()["status"] == "in_progress"

    kicked = api.request("DELETE", f"{base}/participants/2")
    assert kicked.status_code == 204
    assert carrier.dialled[0][1].state is CallState.ENDED  # BYE to the dialled leg
    assert api.request("DELETE", f"{base}/participants/2").status_code == 404

    assert api.request("DELETE", base).status_code == 204
    ended = api.request("GET", base).json()
    assert ended["status"] == "ended" and ended["end_reason"] == "ended_by_api"
    assert caller.state is CallState.ANSWERED  # a call the room did not dial goes on
    wav = api.request("GET", f"{base}/recording")
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"

    run(api, rooms.flush)
    events = outbox(api, "acme")
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["participant.joined", "conference.started"]
    assert kinds.count("participant.joined") == 2
    assert {"participant.unmuted", "recording.completed"} <= set(kinds)
    assert kinds[-1] == "conference.ended"
    left = [data for kind, data in events if kind == "participant.left"]
    assert [(d["participant_id"], d["reason"]) for d in left] == [
        (2, "kicked"),
        (1, "conference_ended"),
    ]
    recorded = next(data for kind, data in events if kind == "recording.completed")
    # The mix is a recording like any other: listed, described, served from the shared folder.
    recording_id = recorded["recording_id"]
    assert recorded["recording_url"] == f"/v1/recordings/{recording_id}/media"
    assert recorded["sha256"] == hashlib.sha256(wav.content).hexdigest()
    listed = api.request("GET", "/v1/recordings", params={"conference_id": room["id"]}).json()
    (item,) = listed["items"]
    assert (item["id"], item["source"], item["conference_name"]) == (
        recording_id,
        "conference",
        "standup",
    )
    assert (item["channels"], item["sample_rate"], item["size_bytes"]) == (
        1,
        8000,
        len(wav.content),
    )
    media = api.request("GET", item["media_url"])
    assert media.status_code == 200 and media.content == wav.content
    assert api.request("GET", item["media_url"], tenant="globex").status_code == 404
    assert outbox(api, "globex") == []


def test_another_tenant_sees_nothing_and_bad_bodies_are_refused(
    api: ApiHarness, tmp_path: Path
) -> None:
    rooms, _ = use_rooms(api, tmp_path)
    room = api.request("POST", "/v1/conferences", json={"name": "sales"}).json()
    base = f"/v1/conferences/{room['id']}"
    for method, url in [
        ("GET", base),
        ("GET", f"{base}/participants"),
        ("DELETE", base),
        ("DELETE", f"{base}/participants/1"),
    ]:
        assert api.request(method, url, tenant="globex").status_code == 404, (method, url)
    assert api.request("GET", "/v1/conferences", tenant="globex").json()["items"] == []
    other = FakeCall(FakeTts(), call_id="theirs")
    rooms.register_call(api.tenants["globex"][0], other)
    stolen = api.request("POST", f"{base}/participants", json={"call_id": "theirs"})
    assert stolen.status_code == 404
    # The same name is free for another tenant.
    assert (
        api.request("POST", "/v1/conferences", json={"name": "sales"}, tenant="globex").status_code
        == 201
    )

    both = api.request(
        "POST", f"{base}/participants", json={"call_id": "x", "number": "+12025550143"}
    )
    assert both.status_code == 422
    bad = api.request("POST", f"{base}/participants", json={"number": "call me"})
    assert bad.status_code == 422 and "number" in bad.text
    name = api.request("POST", "/v1/conferences", json={"name": "has space"})
    assert name.status_code == 422
