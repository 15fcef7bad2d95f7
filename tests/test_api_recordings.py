"""/v1/recordings: list with filters and pages, metadata, the WAV with ranges, delete, tenant
isolation, credentials, and the quota that counts these recordings with the calls'."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from models.call import Call
from models.transactions import session_scope, write_transaction
from robot.audio import AudioChunk
from robot.config import Settings
from robot.control.events import CallEvents
from robot.control.recording_store import RECORDING, insert_recording
from robot.control.runner import Leg
from robot.control.service import CallControl
from robot.errors import QuotaExceededError
from robot.quotas import check_recordings, stored_recordings
from robot.recording_files import new_recording_file
from tests.fakes import FakeCall, FakeTts

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import open_fresh_database


def stored(
    api: ApiHarness,
    tenant: str = "acme",
    *,
    source: str = "dial",
    seconds: float = 0.5,
    channels: int = 2,
    call_id: str | None = "call_aaa",
    conference_id: int | None = None,
) -> tuple[int, Path]:
    """A recording written in the recordings folder and stored as the runner does."""
    root = api.settings.recordings_root()
    tenant_id = api.tenants[tenant][0]
    path = new_recording_file(root, tenant_id, source)
    samples = (np.random.default_rng(7).normal(0, 2000, (int(8000 * seconds), channels))).astype(
        "<i2"
    )
    sf.write(str(path), samples, 8000, subtype="PCM_16")
    with write_transaction(api.engine) as conn:
        recording_id, _ = insert_recording(
            conn,
            tenant_id=tenant_id,
            root=root,
            path=path,
            source=source,
            call_id=call_id,
            conference_id=conference_id,
        )
    return recording_id, path


def test_list_filter_and_page(api: ApiHarness) -> None:
    first, _ = stored(api, call_id="call_aaa")
    second, _ = stored(api, call_id="call_bbb", source="record", channels=1)
    third, _ = stored(api, call_id=None, source="conference", conference_id=7, channels=1)
    theirs, _ = stored(api, "globex", call_id="call_aaa")

    everything = api.request("GET", "/v1/recordings").json()
    assert [r["id"] for r in everything["items"]] == [third, second, first]
    assert everything["next_cursor"] is None
    page = api.request("GET", "/v1/recordings", params={"limit": 2}).json()
    assert [r["id"] for r in page["items"]] == [third, second]
    rest = api.request(
        "GET", "/v1/recordings", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [r["id"] for r in rest["items"]] == [first] and rest["next_cursor"] is None

    by_call = api.request("GET", "/v1/recordings", params={"call_id": "call_aaa"}).json()
    assert [r["id"] for r in by_call["items"]] == [first]  # not globex's recording of that id
    by_room = api.request("GET", "/v1/recordings", params={"conference_id": 7}).json()
    assert [(r["id"], r["source"]) for r in by_room["items"]] == [(third, "conference")]
    by_source = api.request("GET", "/v1/recordings", params={"source": "record"}).json()
    assert [r["id"] for r in by_source["items"]] == [second]
    assert api.request("GET", "/v1/recordings", params={"source": "x"}).status_code == 422
    assert [
        r["id"] for r in api.request("GET", "/v1/recordings", tenant="globex").json()["items"]
    ] == [theirs]


def test_metadata_media_ranges_and_isolation(api: ApiHarness) -> None:
    recording_id, path = stored(api, seconds=0.25)
    content = path.read_bytes()
    meta = api.request("GET", f"/v1/recordings/{recording_id}")
    assert meta.status_code == 200, meta.text
    body = meta.json()
    assert body["channels"] == 2 and body["sample_rate"] == 8000
    assert body["duration_ms"] == 250 and body["size_bytes"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert (body["source"], body["call_id"]) == ("dial", "call_aaa")
    assert body["media_url"] == f"/v1/recordings/{recording_id}/media"
    assert body["created_at"]

    whole = api.request("GET", body["media_url"])
    assert whole.status_code == 200 and whole.content == content
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes"
    part = api.request("GET", body["media_url"], headers={"Range": "bytes=0-43"})
    assert part.status_code == 206 and part.content == content[:44]
    assert part.headers["content-range"] == f"bytes 0-43/{len(content)}"
    tail = api.request("GET", body["media_url"], headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == content[-100:]
    beyond = api.request("GET", body["media_url"], headers={"Range": f"bytes={len(content)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(content)}"

    for method, url in (
        ("GET", f"/v1/recordings/{recording_id}"),
        ("GET", body["media_url"]),
        ("DELETE", f"/v1/recordings/{recording_id}"),
    ):
        assert api.request(method, url, tenant="globex").status_code == 404, url
        assert api.client.request(method, url).status_code == 401, url
    assert path.is_file()  # the other tenant's DELETE removed nothing


def test_a_row_pointing_outside_the_folder_is_not_served(api: ApiHarness, tmp_path: Path) -> None:
    recording_id, _ = stored(api)
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"RIFF-not-yours")
    with write_transaction(api.engine) as conn:
        conn.execute(
            RECORDING.update().where(RECORDING.c.id == recording_id).values(path="../../secret.wav")
        )
    media = api.request("GET", f"/v1/recordings/{recording_id}/media")
    assert media.status_code == 404 and b"RIFF" not in media.content


def test_delete_removes_row_and_file_and_frees_the_quota(api: ApiHarness) -> None:
    acme_id = api.tenants["acme"][0]
    with session_scope(api.engine) as session:
        session.add(Call(tenant_id=acme_id, number="+12025550150", recording_path="c/1.wav"))
    recording_id, path = stored(api)
    limit = 2
    with (
        api.engine.connect() as conn,
        pytest.raises(QuotaExceededError, match=r"quotas\.max_stored_recordings"),
    ):
        check_recordings(conn, acme_id, limit)
    with api.engine.connect() as conn:
        assert stored_recordings(conn, acme_id) == 2  # one call's + one call-control recording
    gone = api.request("DELETE", f"/v1/recordings/{recording_id}")
    assert gone.status_code == 204
    assert not path.exists()
    assert api.request("GET", f"/v1/recordings/{recording_id}").status_code == 404
    with api.engine.connect() as conn:
        assert stored_recordings(conn, acme_id) == 1
        check_recordings(conn, acme_id, limit)  # room again


class NoCarrier:
    async def close(self) -> None:
        pass


@pytest.fixture
def live_api(tmp_path: Path, isolated_settings: Settings) -> Iterator[tuple[ApiHarness, Any]]:
    """The API with this process's call control, whose live legs the test registers."""
    db = next(iter(open_fresh_database("sqlite", tmp_path)))
    control = CallControl(db.engine, NoCarrier(), FakeTts())  # type: ignore[arg-type]
    for api in open_api(db.engine, isolated_settings, call_control=control):
        yield api, control


def test_start_and_stop_a_recording_on_a_live_call(live_api: tuple[ApiHarness, Any]) -> None:
    api, control = live_api
    tenant_id = api.tenants["acme"][0]
    call = FakeCall(FakeTts(), call_id="in-1")
    holder: dict[str, Any] = {}

    async def answer() -> None:
        holder["events"] = events = CallEvents(api.engine, tenant_id, "call:live")
        holder["leg"] = leg = Leg(call, events.leg(direction="inbound"))
        control.recordings.register(leg)

    api.client.portal.call(answer)  # type: ignore[union-attr]
    leg: Leg = holder["leg"]
    assert leg.events is not None
    url = f"/v1/calls/{leg.events.call_id}/recordings"
    assert api.request("POST", url, tenant="globex", json={}).status_code == 404
    assert api.request("POST", "/v1/calls/call_0123/recordings", json={}).status_code == 404
    assert api.request("POST", url, json={"channels": 3}).status_code == 422
    assert api.request("POST", f"{url}/stop").status_code == 404  # nothing runs yet
    started = api.request("POST", url, json={"channels": 2})
    assert started.status_code == 201, started.text
    # Not bridged: the call alone, in one channel.
    assert started.json() == {
        "call_id": leg.events.call_id,
        "status": "in_progress",
        "channels": 1,
    }

    async def speak() -> None:
        await call.send([AudioChunk(np.full(160, 3000, "<i2").tobytes())] * 25)

    api.client.portal.call(speak)  # type: ignore[union-attr]
    assert api.request("POST", f"{url}/stop", tenant="globex").status_code == 404
    stopped = api.request("POST", f"{url}/stop")
    assert stopped.status_code == 200, stopped.text
    body = stopped.json()
    assert (body["source"], body["call_id"], body["channels"]) == (
        "call",
        leg.events.call_id,
        1,
    )
    media = api.request("GET", body["media_url"])
    assert media.status_code == 200
    assert hashlib.sha256(media.content).hexdigest() == body["sha256"]
    samples = np.frombuffer(media.content[44:], "<i2")
    assert (samples == 3000).sum() >= 25 * 160  # what the caller sent is in it

    async def hang_up() -> None:
        await control.recordings.forget(leg)
        await leg.close()
        await holder["events"].close()

    api.client.portal.call(hang_up)  # type: ignore[union-attr]
    listed = api.request("GET", "/v1/recordings", params={"call_id": leg.events.call_id})
    assert [r["id"] for r in listed.json()["items"]] == [body["id"]]
