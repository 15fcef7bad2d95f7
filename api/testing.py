"""Test support for the API: an app on a fresh database with two tenants and their keys.

The call placer used here (:class:`RecordedCallPlacer`) stands in for the carrier only: it
writes a real stereo WAV with :class:`robot.recording.CallRecorder` and returns a fixed
conversation; every other part (app, database, outbox) is the real one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.main import create_app
from api.placement import PlaceCall
from models.apikey import create_api_key
from models.db import session_scope, utc_now
from robot.config import Settings
from robot.dialler.campaigns import get_or_create_tenant
from robot.dialler.worker import CallResult

VALID_SCRIPT = """script: hello
description: A one-state script for tests
variables:
  first_name:
    description: The lead's first name
start: greet
states:
  greet:
    say: Hello {lead.first_name}, this is a test call. Goodbye!
    disposition: qualified
    end: true
"""


def write_test_recording(path: Path, seconds: float = 1.0) -> Path:
    """A real stereo call recording (robot left, callee right) with a tone on each side."""
    import numpy as np

    from robot.audio import AudioChunk
    from robot.recording import CallRecorder

    rate = 8000
    t = np.arange(int(rate * seconds)) / rate
    robot = AudioChunk.from_array((0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("int16"), rate)
    callee = AudioChunk.from_array(
        (0.3 * np.sin(2 * np.pi * 660 * t) * 32767).astype("int16"), rate
    )
    recorder = CallRecorder(rate)
    recorder.add_robot(robot)
    for frame in callee.frames():
        recorder.add_callee(frame)
    return recorder.write(path)


@dataclass
class RecordedCallPlacer:
    """Ends every call as a qualified human conversation with a real recording."""

    recording_dir: Path
    placed: list[PlaceCall] = field(default_factory=list)
    delay_s: float = 0.0

    async def place(self, request: PlaceCall) -> CallResult:
        self.placed.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        path = self.recording_dir / f"call-{request.call_id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(write_test_recording, path)
        now = utc_now()
        return CallResult(
            outcome="human",
            disposition="qualified",
            slots={"consent": True, "interest": "solar"},
            duration_ms=1000.0,
            answered_at=now - timedelta(seconds=1),
            voicemail_verdict="human",
            voicemail_reason="speech cadence",
            voicemail_decision_ms=850.0,
            transcript=[
                {
                    "who": "robot",
                    "text": "Hello, this is a test call.",
                    "start_ms": 0.0,
                    "end_ms": 900.0,
                    "state": "greet",
                },
                {
                    "who": "callee",
                    "text": "yes go ahead",
                    "start_ms": 1000.0,
                    "end_ms": 1500.0,
                    "intent": "affirm",
                    "confidence": 0.93,
                },
            ],
            signalling={"final_status": 200, "reason": ""},
            recording_path=str(path),
        )


@dataclass
class ApiHarness:
    client: TestClient
    engine: Engine
    settings: Settings
    placer: RecordedCallPlacer
    #: Tenant name -> (tenant id, API key).
    tenants: dict[str, tuple[int, str]]

    def headers(self, tenant: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tenants[tenant][1]}"}

    def request(self, method: str, url: str, tenant: str = "acme", **kwargs: Any) -> Any:
        headers = {**self.headers(tenant), **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)


def make_tenant(engine: Engine, name: str) -> tuple[int, str]:
    tenant_id = get_or_create_tenant(engine, name)
    with session_scope(engine) as session:
        key = create_api_key(session, tenant_id, "tests")
    return tenant_id, key


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve_process(
    database_url: str, data_dir: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``callrobot serve --no-workers`` in its own process; returns it and its base URL."""
    import httpx

    port = free_port()
    executable = Path(sys.executable).parent / "callrobot"
    environment = {
        **os.environ,
        "CALLROBOT_DATABASE_URL": database_url,
        "CALLROBOT_DATA_DIR": data_dir,
        **(env or {}),
    }
    process = subprocess.Popen(
        [str(executable), "serve", "--port", str(port), "--no-workers"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("callrobot serve did not come up")


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="test-api-server", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test API server did not start")
        threading.Event().wait(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def open_api(engine: Engine, settings: Settings) -> Iterator[ApiHarness]:
    """An app on ``engine`` with tenants ``acme`` and ``globex`` (webhooks to loopback allowed)."""
    settings = settings.model_copy(update={"webhooks_allow_private": True})
    placer = RecordedCallPlacer(settings.data_dir / "recordings")
    tenants = {name: make_tenant(engine, name) for name in ("acme", "globex")}
    app = create_app(settings, engine=engine, call_placer=placer)
    with TestClient(app) as client:
        yield ApiHarness(client, engine, settings, placer, tenants)
