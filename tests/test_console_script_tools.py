"""Console script tools: a stored script's test conversations with a pytest-like report, and
a text chat with it (the dialogue manager over text, as ``callrobot chat``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.console.scripts import NEW_SCRIPT
from robot.config import Settings

from fixtures.api_harness import ApiHarness
from fixtures.console import console_client, open_console_api, session_token, sign_in

TESTS = """tests:
  - name: yes means qualified
    turns:
      - user: yes of course
        intent: affirm
    expect: {disposition: qualified}
  - name: no is taken for yes
    turns:
      - user: no not really
    expect: {disposition: qualified}
"""


@pytest.fixture
def api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    yield from open_console_api(tmp_path, isolated_settings)


def store(api: ApiHarness, text: str) -> int:
    answer = api.request("POST", "/v1/scripts", content=text, headers={"Content-Type": "text/yaml"})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def signed_in(api: ApiHarness, tenant: str = "acme") -> TestClient:
    browser = console_client(api)
    assert sign_in(browser, api.tenants[tenant][1]).status_code == 200
    return browser


def test_the_scripts_tests_run_with_a_pytest_like_report(api: ApiHarness) -> None:
    script_id = store(api, NEW_SCRIPT + TESTS)
    browser = signed_in(api)
    token = session_token(browser)
    assert browser.post(f"/scripts/{script_id}/tests").status_code == 403
    report = browser.post(f"/scripts/{script_id}/tests", data={"csrf_token": token}).text
    assert "yes means qualified PASSED" in report
    assert "no is taken for yes FAILED" in report
    assert re.search(r"    E .*qualified", report)  # the failure names what was expected
    assert "robot: Hello! Do you have a minute?" in report  # the failing dialogue, shown
    assert "1 passed, 1 failed" in report
    no_tests = store(api, NEW_SCRIPT.replace("my_script", "other"))
    empty = browser.post(f"/scripts/{no_tests}/tests", data={"csrf_token": token}).text
    assert "has no test conversations" in empty
    other = signed_in(api, "globex")
    refused = other.post(f"/scripts/{script_id}/tests", data={"csrf_token": session_token(other)})
    assert refused.status_code == 404


def test_a_chat_replays_what_was_typed_and_ends_with_the_disposition(api: ApiHarness) -> None:
    script_id = store(api, NEW_SCRIPT)
    browser = signed_in(api)
    token = session_token(browser)
    url = f"/scripts/{script_id}/chat"
    first = browser.post(url, data={"csrf_token": token, "restart": "1"}).text
    assert "Hello! Do you have a minute?" in first and 'id="chat-message"' in first
    started = re.search(r'name="started" value="([^"]+)"', first)
    assert started is not None
    answer = browser.post(
        url, data={"csrf_token": token, "started": started.group(1), "message": "yes sure"}
    ).text
    assert "intent affirm" in answer and "Thank you. Goodbye!" in answer
    assert 'id="chat-ended"' in answer and "disposition <b>qualified</b>" in answer
    assert 'name="said" value="yes sure"' in answer
    assert 'id="chat-message"' not in answer  # the call is over: nothing more to say
    # "/bye" hangs up at once, as in `callrobot chat`.
    bye = browser.post(url, data={"csrf_token": token, "message": "/bye"}).text
    assert 'id="chat-ended"' in bye and "Thank you" not in bye
