"""Accessibility basics: every form field of every console page has a label (a ``<label
for>``, a wrapping ``<label>``, ``aria-label`` or ``aria-labelledby``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from api.console.scripts import NEW_SCRIPT
from robot.config import Settings

from fixtures.api_harness import ApiHarness
from fixtures.console import console_client, open_console_api, session_token, sign_in
from fixtures.database import VALID_SCRIPT

FIELDS = {"input", "select", "textarea"}


class FieldLabels(HTMLParser):
    """Collects form fields and what labels them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.open_labels = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if data.get("for"):
                self.label_for.add(str(data["for"]))
        if tag in FIELDS and data.get("type") != "hidden":
            self.fields.append({**data, "_tag": tag, "_wrapped": str(self.open_labels > 0)})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels -= 1

    def unlabelled(self) -> list[str]:
        return [
            f"<{f['_tag']} name={f.get('name')!r} id={f.get('id')!r}>"
            for f in self.fields
            if f["_wrapped"] != "True"
            and not f.get("aria-label")
            and not f.get("aria-labelledby")
            and f.get("id") not in self.label_for
        ]


def unlabelled(html: str) -> tuple[int, list[str]]:
    parser = FieldLabels()
    parser.feed(html)
    return len(parser.fields), parser.unlabelled()


@pytest.fixture
def api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    yield from open_console_api(tmp_path, isolated_settings)


def test_every_field_of_every_page_has_a_label(api: ApiHarness) -> None:
    anonymous = console_client(api)
    assert unlabelled(anonymous.get("/signin").text) == (1, [])
    script = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    chat_script = api.request(
        "POST", "/v1/scripts", content=NEW_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    campaign = api.request(
        "POST", "/v1/campaigns", json={"name": "c", "script_id": script["id"]}
    ).json()
    api.request("POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/"})
    call_id = api.request(
        "POST", "/v1/calls", json={"number": "+12025550143", "script_id": script["id"]}
    ).json()["id"]
    for _ in range(1200):
        if api.request("GET", f"/v1/calls/{call_id}").json()["ended_at"]:
            break
        time.sleep(0.05)
    api.request("POST", f"/v1/campaigns/{campaign['id']}/stop")
    browser = console_client(api)
    sign_in(browser, api.tenants["acme"][1])
    token = session_token(browser)
    delivery = api.request("GET", "/v1/webhooks/1/deliveries").json()["items"][0]["id"]
    pages = [
        "/",
        "/calls",
        f"/calls/{call_id}",
        "/campaigns",
        "/campaigns/new",
        f"/campaigns/{campaign['id']}",
        "/scripts",
        "/scripts/new",
        f"/scripts/{script['id']}",
        "/webhooks",
        f"/webhooks/deliveries/{delivery}",
    ]
    counted = 0
    for path in pages:
        answer = browser.get(path)
        assert answer.status_code == 200, path
        fields, missing = unlabelled(answer.text)
        counted += fields
        assert missing == [], path
    chat = browser.post(
        f"/scripts/{chat_script['id']}/chat", data={"csrf_token": token, "restart": "1"}
    )
    assert unlabelled(chat.text) == (1, [])
    assert counted > 30  # the campaign form alone has more: the check saw the fields
