"""/v1/media: WAV uploads (raw and multipart) checked like every audio file from outside,
converted to 8 kHz mono and stored in the recordings folder; list, metadata, delete, tenant
isolation, credentials, the size cap and the ``quotas.max_stored_media`` quota."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from robot.audio import read_wav
from robot.control.media_store import MEDIA
from robot.recording_files import resolve_stored

from fixtures.api_harness import ApiHarness

WAV = {"Content-Type": "audio/wav"}


def wav_bytes(seconds: float = 0.5, rate: int = 16000, channels: int = 2, hz: float = 440) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    tone = (0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2")
    samples = np.repeat(tone[:, None], channels, axis=1)
    out = io.BytesIO()
    sf.write(out, samples, rate, subtype="PCM_16", format="WAV")
    return out.getvalue()


def stored_file(api: ApiHarness, media_id: str) -> Path:
    with api.engine.connect() as conn:
        path = conn.execute(MEDIA.select().where(MEDIA.c.media_id == media_id)).one().path
    return resolve_stored(api.settings.recordings_root(), path)


def test_upload_raw_and_multipart_list_get_and_delete(api: ApiHarness) -> None:
    raw = api.request("POST", "/v1/media", content=wav_bytes(), headers=WAV)
    assert raw.status_code == 201, raw.text
    body = raw.json()
    assert body["id"].startswith("med_") and body["name"] == "media.wav"
    assert (body["sample_rate"], body["channels"]) == (8000, 1)  # as calls play it
    assert (body["uploaded_sample_rate"], body["uploaded_channels"]) == (16000, 2)
    assert body["duration_ms"] == 500
    path = stored_file(api, body["id"])
    assert path.is_relative_to(api.settings.recordings_root() / "media")
    assert body["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert body["size_bytes"] == path.stat().st_size
    played = read_wav(path)
    assert played.rate == 8000 and abs(played.duration_ms - 500) < 1

    files = {"file": ("welcome.wav", wav_bytes(rate=8000, channels=1), "audio/wav")}
    form = api.request("POST", "/v1/media", files=files)
    assert form.status_code == 201, form.text
    second = form.json()
    assert second["name"] == "welcome.wav" and second["uploaded_channels"] == 1

    theirs = api.request("POST", "/v1/media", tenant="globex", content=wav_bytes(), headers=WAV)
    listed = api.request("GET", "/v1/media").json()
    assert [m["id"] for m in listed["items"]] == [second["id"], body["id"]]
    page = api.request("GET", "/v1/media", params={"limit": 1}).json()
    assert [m["id"] for m in page["items"]] == [second["id"]] and page["next_cursor"]
    rest = api.request("GET", "/v1/media", params={"limit": 1, "cursor": page["next_cursor"]})
    assert [m["id"] for m in rest.json()["items"]] == [body["id"]]
    assert api.request("GET", f"/v1/media/{body['id']}").json() == body

    other = theirs.json()["id"]
    for method, url in (("GET", f"/v1/media/{other}"), ("DELETE", f"/v1/media/{other}")):
        assert api.request(method, url).status_code == 404, url
    for method, url in (
        ("GET", "/v1/media"),
        ("POST", "/v1/media"),
        ("GET", f"/v1/media/{body['id']}"),
        ("DELETE", f"/v1/media/{body['id']}"),
    ):
        assert api.client.request(method, url).status_code == 401, url
    assert stored_file(api, other).is_file()  # acme's DELETE removed nothing of globex's

    assert api.request("DELETE", f"/v1/media/{body['id']}").status_code == 204
    assert not path.exists()
    assert api.request("GET", f"/v1/media/{body['id']}").status_code == 404
    assert api.request("DELETE", f"/v1/media/{body['id']}").status_code == 404


def _problem(api: ApiHarness, content: bytes, status: int = 422) -> str:
    answer = api.request("POST", "/v1/media", content=content, headers=WAV)
    assert answer.status_code == status, answer.text
    detail: str = answer.json()["detail"]
    assert str(api.settings.recordings_root()) not in detail  # no server path leaks
    return detail


def test_hostile_and_out_of_range_uploads_are_refused_with_a_clear_error(api: ApiHarness) -> None:
    assert "not a WAV file" in _problem(api, b"ID3\x03not audio at all")
    good = wav_bytes()
    data_at = good.index(b"data")
    lying = good[: data_at + 4] + struct.pack("<I", 2**31) + good[data_at + 8 :]
    assert "lying WAV header" in _problem(api, lying)
    assert "truncated" in _problem(api, good[:60])
    assert "sample rate 4000 Hz" in _problem(api, wav_bytes(rate=4000))
    assert "3 channels" in _problem(api, wav_bytes(channels=3))
    assert "holds no audio" in _problem(api, wav_bytes(seconds=0))
    api.settings.input_limits.audio_max_seconds = 1.0
    assert "CALLROBOT_INPUT_LIMITS__AUDIO_MAX_SECONDS" in _problem(api, wav_bytes(seconds=2))
    api.settings.input_limits.media_max_bytes = 1000
    too_big = _problem(api, wav_bytes(seconds=0.5), status=413)
    assert "CALLROBOT_INPUT_LIMITS__MEDIA_MAX_BYTES" in too_big
    wrong_type = api.request(
        "POST", "/v1/media", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    assert api.request("GET", "/v1/media").json()["items"] == []
    leftovers = list((api.settings.recordings_root() / "media").rglob("*"))
    assert [p for p in leftovers if p.is_file()] == []  # refused uploads leave no file


def test_the_media_quota_refuses_uploads_until_one_is_deleted(api: ApiHarness) -> None:
    api.settings.quotas.max_stored_media = 2
    ids = [
        api.request("POST", "/v1/media", content=wav_bytes(), headers=WAV).json()["id"]
        for _ in range(2)
    ]
    full = api.request("POST", "/v1/media", content=wav_bytes(), headers=WAV)
    assert full.status_code == 409 and "quotas.max_stored_media" in full.json()["detail"]
    # Another tenant's count is its own.
    assert (
        api.request("POST", "/v1/media", tenant="globex", content=wav_bytes(), headers=WAV)
    ).status_code == 201
    assert api.request("DELETE", f"/v1/media/{ids[0]}").status_code == 204
    assert api.request("POST", "/v1/media", content=wav_bytes(), headers=WAV).status_code == 201
