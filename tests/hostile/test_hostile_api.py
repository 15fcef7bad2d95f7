"""Attacks through the API of a real ``callrobot serve`` process, with two tenants.

While one tenant's hostile uploads are being handled, ``GET /health`` and the other tenant's
requests must still be answered, and the hostile request itself must end in a clear refusal.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from payloads import HANG_BOUND_S, alias_bomb

from fixtures.database import VALID_SCRIPT

CALLROBOT = str(Path(sys.executable).parent / "callrobot")
YAML = {"Content-Type": "application/x-yaml"}


@dataclass
class Served:
    base: str
    keys: dict[str, str]

    def headers(self, tenant: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[tenant]}", **(extra or {})}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("served")
    env = {
        **os.environ,
        "CALLROBOT_DATABASE_URL": f"sqlite:///{folder / 'serve.db'}",
        "CALLROBOT_DATA_DIR": str(folder / "var"),
    }
    keys = {}
    for tenant in ("acme", "globex"):
        created = subprocess.run(
            [CALLROBOT, "keys", "create", "--tenant", tenant, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        keys[tenant] = json.loads(created.stdout)["key"]
    port = _free_port()
    server = subprocess.Popen(
        [CALLROBOT, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Served(base, keys)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _post(url: str, **options: object) -> httpx.Response | str:
    try:
        return httpx.post(url, timeout=HANG_BOUND_S, **options)  # type: ignore[arg-type]
    except httpx.TimeoutException:
        return "no answer"


def test_alias_bomb_upload_is_refused_while_the_service_keeps_serving(served: Served) -> None:
    bomb = alias_bomb().encode()
    with ThreadPoolExecutor(max_workers=6) as pool:
        bombs = [
            pool.submit(
                _post,
                f"{served.base}/v1/scripts",
                headers=served.headers("acme", YAML),
                content=bomb,
            )
            for _ in range(3)
        ]
        health = pool.submit(httpx.get, f"{served.base}/health", timeout=HANG_BOUND_S)
        other = pool.submit(
            _post,
            f"{served.base}/v1/scripts",
            headers=served.headers("globex", YAML),
            content=VALID_SCRIPT.encode(),
        )
        assert health.result().status_code == 200
        answer = other.result()
        assert not isinstance(answer, str), "another tenant's upload got no answer"
        assert answer.status_code == 201, answer.text
        for future in bombs:
            refused = future.result()
            assert not isinstance(refused, str), "the alias bomb upload never got an answer"
            assert refused.status_code == 422, refused.text
            (error,) = refused.json()["errors"]
            assert error["line"] == 8  # the alias that took the document past the cap
            assert "SCRIPT_MAX_NODES" in error["message"]
    # And the service is still there afterwards, for everyone.
    assert httpx.get(f"{served.base}/health", timeout=HANG_BOUND_S).status_code == 200
    listed = httpx.get(
        f"{served.base}/v1/scripts", headers=served.headers("globex"), timeout=HANG_BOUND_S
    )
    assert [item["name"] for item in listed.json()["items"]] == ["hello"]  # from VALID_SCRIPT


def test_script_over_the_byte_cap_is_refused_as_too_large(served: Served) -> None:
    body = b"script: big\nstart: a\nx: " + b"a" * 2_000_000 + b"\n"
    refused = _post(f"{served.base}/v1/scripts", headers=served.headers("acme", YAML), content=body)
    assert not isinstance(refused, str)
    assert refused.status_code == 413, refused.text


def test_nul_byte_in_an_uploaded_script_is_refused_at_its_line(served: Served) -> None:
    refused = _post(
        f"{served.base}/v1/scripts",
        headers=served.headers("acme", YAML),
        content=b"script: x\nstart: a\nx: a\x00b\n",
    )
    assert not isinstance(refused, str)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"line": 3, "column": 5, "message": "YAML: character U+0000 is not allowed in YAML"}
    ]


def test_deeply_nested_upload_is_refused_at_its_line(served: Served) -> None:
    body = ("script: deep\nstart: a\nx: " + "[" * 100_000 + "]" * 100_000 + "\n").encode()
    refused = _post(f"{served.base}/v1/scripts", headers=served.headers("acme", YAML), content=body)
    assert not isinstance(refused, str)
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["errors"]
    assert (error["line"], error["column"]) == (3, 53)
    assert "SCRIPT_MAX_DEPTH" in error["message"]
