"""``play`` of a ``url`` on the simulated network: a real HTTP server on 127.0.0.1 serves the
files, a real database (SQLite) holds the number, and what the caller heard is checked.

A file that cannot be fetched or played is skipped and the list goes on; the checks are
about which tones reached the caller and what the log says, never about how long anything took.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from robot.carriers.sim import SimCarrier
from robot.config import Settings, override_settings
from robot.control import media_url
from robot.input_limits import InputLimits
from tests.test_control_media import (
    ALICE,
    add_number,
    frame_tones,
    frames_near,
    persona,
    run_inbound,
    tone_wav,
)
from tests.test_control_redirect import events

from fixtures.database import open_fresh_database
from fixtures.media_server import MediaServer, serve_media

TOKEN = "tok_s3cr3t_query_value"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with an empty cache of fetched files (the process's is shared)."""
    monkeypatch.setattr(media_url, "_SHARED", None)


def use_settings(base: Settings, allow_private: bool = True, **limits: object) -> None:
    """The private-address rule relaxed for 127.0.0.1 (like the webhook tests), and limits."""
    update = {"webhooks_allow_private": allow_private, "input_limits": InputLimits(**limits)}
    override_settings(base.model_copy(update=update))  # isolated_settings resets it


async def test_a_played_url_is_heard_and_fetched_once(
    engine: Engine, tmp_path: Path, isolated_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    use_settings(isolated_settings)
    server = MediaServer({"/hello.wav": tone_wav(1000.0, 0.4)})
    with serve_media(server) as base:
        url = f"{base}/hello.wav?token={TOKEN}"
        play = {"play": {"url": url, "loop": 2}}
        add_number(engine, [play, {"play": {"url": url}}, {"hangup": {}}])
        carrier = SimCarrier([persona(ALICE)])
        outcome, leg = await run_inbound(engine, carrier, tmp_path / "recordings")
        await carrier.close()
    assert outcome.kind == "routed" and outcome.result.ended_by == "hangup"
    tones = frame_tones(leg.heard_robot_audio)
    # Three times 400 ms of the 1 kHz tone (16 kHz mono converted to 8 kHz), nothing else loud.
    assert 57 <= len(frames_near(tones, 1000.0)) <= 61
    assert all(f is None or abs(f - 1000.0) <= 15 for f in tones)
    assert server.requests == [f"/hello.wav?token={TOKEN}"]  # the loop and replay: cached
    assert "skipped" not in caplog.text
    assert events(engine, "play.failed") == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/big.wav", "larger than 20000 bytes (limit CALLROBOT_INPUT_LIMITS__MEDIA_MAX_BYTES)"),
        ("/page.html", "not a WAV file"),
        ("/gone.wav", "HTTP 404"),
        (
            "/slow.wav",
            "no complete file within 3 s (limit CALLROBOT_INPUT_LIMITS__MEDIA_FETCH_TIMEOUT_S)",
        ),
        ("/broken.wav", "skipped: truncated or lying WAV header"),
        ("/private.wav", "refused: 127.0.0.1 resolves to 127.0.0.1, a private or loopback"),
    ],
)
async def test_a_url_that_cannot_be_played_is_skipped_and_the_list_goes_on(
    engine: Engine,
    tmp_path: Path,
    isolated_settings: Settings,
    caplog: pytest.LogCaptureFixture,
    path: str,
    reason: str,
) -> None:
    use_settings(
        isolated_settings,
        allow_private=path != "/private.wav",
        media_max_bytes=20_000,
        media_fetch_timeout_s=3.0,
    )
    files = {
        "/big.wav": tone_wav(1000.0, 1.0),  # 32 kB of 16 kHz audio
        "/page.html": b"<html><body>Not audio</body></html>",
        "/slow.wav": "trickle",
        "/broken.wav": tone_wav(1000.0, 0.4, rate=8000)[:3000],  # cut short: data chunk lies
        "/private.wav": tone_wav(1000.0, 0.2),
    }
    server = MediaServer(files)
    with serve_media(server) as base:
        url = f"{base}{path}?token={TOKEN}"
        add_number(engine, [{"play": {"url": url}}, {"say": {"text": "Goodbye"}}, {"hangup": {}}])
        carrier = SimCarrier([persona(ALICE)])
        with caplog.at_level(logging.WARNING, logger="robot.control.media_url"):
            outcome, leg = await run_inbound(engine, carrier, tmp_path / "recordings")
        await carrier.close()
    assert outcome.kind == "routed" and outcome.result.ended_by == "hangup"
    tones = frame_tones(leg.heard_robot_audio)
    assert frames_near(tones, 1000.0) == []  # nothing of the file was played...
    assert len(frames_near(tones, 440.0)) >= 10  # ...and the next action (say) ran
    (record,) = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert f"play of {base}{path} skipped" in message and reason in message
    assert TOKEN not in caplog.text  # the query (a token) is never logged
    # The customer hears of it too: one play.failed event, the URL without its query.
    (failed,) = events(engine, "play.failed")
    assert failed["url"] == f"{base}{path}" and failed["action_index"] == 0
    assert reason.removeprefix("skipped: ") in failed["error"] and TOKEN not in str(failed)
    if path == "/private.wav":
        assert server.requests == []  # refused before any request


async def test_the_cache_keeps_the_most_recently_played_files_within_its_bound() -> None:
    one_file = 2 * 8000 * 3 // 10  # 300 ms at 8 kHz, 16-bit: what a file takes in the cache
    urls = media_url.UrlMedia(
        allow_private=True, limits=InputLimits(), cache_max_bytes=2 * one_file
    )
    files = {f"/{name}.wav": tone_wav(1000.0, 0.3) for name in "abc"}
    server = MediaServer(files)
    with serve_media(server) as base:
        for name in "abab" + "c" + "ba":  # c pushes out a, the least recently played
            chunk = await urls.load(f"{base}/{name}.wav")
            assert chunk is not None and len(chunk.pcm) == one_file
    assert server.requests == ["/a.wav", "/b.wav", "/c.wav", "/a.wav"]


def test_logged_urls_keep_host_and_path_only() -> None:
    shown = media_url.safe_url("https://user:pw@media.example.com:8443/p/hold.wav?sig=abc#x")
    assert shown == "https://media.example.com:8443/p/hold.wav"
