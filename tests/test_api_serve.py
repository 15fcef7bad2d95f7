"""``callrobot keys create`` and ``callrobot serve`` as real processes, end to end.

The served process runs the API, the dialler and the webhook delivery worker together: a
call placed over HTTP ends on the simulated network and its signed ``call.completed`` event
reaches a receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from robot.crm.sink import SinkServer

from fixtures.webhook_receiver import SECRET, FlakyReceiver

BUNDLED_SCRIPT = Path(__file__).resolve().parents[1] / "dialogues/scripts/lead_qualification.yaml"
CALLROBOT = str(Path(sys.executable).parent / "callrobot")


def post_retrying(url: str, **options: Any) -> httpx.Response:
    """POST as a client should: a 503 ("try again": SQLite busy with the dialler) is retried."""
    for _ in range(10):
        response = httpx.post(url, **options)
        if response.status_code != 503:
            return response
        time.sleep(0.2)
    return response


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_served_api_places_a_call_and_delivers_its_webhook(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CALLROBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "CALLROBOT_DATA_DIR": str(tmp_path / "var"),
        "CALLROBOT_WEBHOOKS_ALLOW_PRIVATE": "true",
        "CALLROBOT_WEBHOOKS__POLL_INTERVAL_S": "0.1",
    }
    created = subprocess.run(
        [CALLROBOT, "keys", "create", "--tenant", "acme", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = json.loads(created.stdout)["key"]
    assert key.startswith("cr_")
    assert key not in (tmp_path / "serve.db").read_bytes().decode("latin-1")  # stored hashed
    flaky = FlakyReceiver()
    receiver = SinkServer(("127.0.0.1", 0), flaky.sink, flaky.handler())
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    port = free_port()
    server = subprocess.Popen(
        [CALLROBOT, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"{base}/v1/scripts").status_code == 401
        hook = post_retrying(
            f"{base}/v1/webhooks", headers=headers, json={"url": receiver.url, "secret": SECRET}
        )
        assert hook.status_code == 201, hook.text
        script = post_retrying(
            f"{base}/v1/scripts",
            headers={**headers, "Content-Type": "application/x-yaml"},
            content=BUNDLED_SCRIPT.read_bytes(),
        ).json()
        call = post_retrying(
            f"{base}/v1/calls",
            headers=headers,
            json={"number": "+12025550111", "script_id": script["id"]},
        ).json()
        deadline = time.monotonic() + 120
        while not flaky.accepted and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(flaky.accepted) == 1, "the call.completed webhook did not arrive"
        event = flaky.events[flaky.accepted[0]]
        assert event["type"] == "call.completed"
        assert (event["data"]["call_id"], event["data"]["outcome"]) == (call["id"], "busy")
        deliveries = httpx.get(
            f"{base}/v1/webhooks/{hook.json()['id']}/deliveries", headers=headers
        ).json()["items"]
        for _ in range(50):
            if deliveries and deliveries[0]["status"] == "delivered":
                break
            time.sleep(0.1)
            deliveries = httpx.get(
                f"{base}/v1/webhooks/{hook.json()['id']}/deliveries", headers=headers
            ).json()["items"]
        assert [d["status"] for d in deliveries] == ["delivered"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        receiver.shutdown()
        receiver.server_close()


def test_dialler_process_starts_and_stops_cleanly(tmp_path: Path) -> None:
    import signal

    env = {**os.environ, "CALLROBOT_DATA_DIR": str(tmp_path), "CALLROBOT_LOG_FORMAT": "json"}
    env.pop("CALLROBOT_DATABASE_URL", None)
    process = subprocess.Popen(
        [CALLROBOT, "dialler"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        logged = []  # log lines (JSON, one object each) come before the banner
        while "dialler and webhook delivery running" not in (line := process.stderr.readline()):
            assert line, "the dialler stopped before it was running"
            logged.append(json.loads(line))
        assert all(entry["level"] and entry["logger"] for entry in logged)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    assert (tmp_path / "callrobot.db").is_file()
