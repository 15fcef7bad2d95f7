"""Console dashboard, calls list and call detail: the tenant's own data, numbers masked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.console.render import mask_number
from robot.config import Settings

from fixtures.api_harness import ApiHarness
from fixtures.console import console_client, open_console_api, sign_in
from fixtures.database import BACKENDS, VALID_SCRIPT

NUMBER = "+12025550143"


@pytest.fixture(params=BACKENDS)
def api(
    request: pytest.FixtureRequest, tmp_path: Path, isolated_settings: Settings
) -> Iterator[ApiHarness]:
    """The pages' own queries run on SQLite and on PostgreSQL."""
    yield from open_console_api(tmp_path, isolated_settings, request.param)


def acme_call(api: ApiHarness) -> dict[str, int]:
    """A running campaign with two leads and one finished call with a webhook delivery."""
    api.request("POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/"})
    script = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    campaign = api.request(
        "POST", "/v1/campaigns", json={"name": "Solar November", "script_id": script["id"]}
    ).json()
    leads = [{"phone": "+12025550100"}, {"phone": "+12025550101"}]
    api.request("POST", f"/v1/campaigns/{campaign['id']}/leads", json=leads)
    assert api.request("POST", f"/v1/campaigns/{campaign['id']}/start").status_code == 200
    call = api.request("POST", "/v1/calls", json={"number": NUMBER, "script_id": script["id"]})
    call_id = call.json()["id"]
    for _ in range(1200):
        if api.request("GET", f"/v1/calls/{call_id}").json()["ended_at"]:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"call {call_id} did not end")
    return {"script": script["id"], "campaign": campaign["id"], "call": call_id}


def signed_in(api: ApiHarness, tenant: str) -> TestClient:
    browser = console_client(api)
    assert sign_in(browser, api.tenants[tenant][1]).status_code == 200
    return browser


def test_numbers_are_masked_but_their_last_digits(api: ApiHarness) -> None:
    assert mask_number(NUMBER) == "\u2022" * 9 + "143"
    assert mask_number("12") == "12"
    assert mask_number(None) == ""


def test_dashboard_shows_running_campaigns_recent_calls_outcomes_and_engine_load(
    api: ApiHarness,
) -> None:
    acme_call(api)
    page = signed_in(api, "acme").get("/")
    assert page.status_code == 200
    html = page.text
    assert "Solar November" in html
    # Two leads, none called yet by the dialler (no workers here): called 0, remaining 2.
    assert "<td>Solar November</td><td>0</td><td>2</td><td>0</td>" in html
    assert mask_number(NUMBER) in html
    assert NUMBER not in html
    assert "<span>human</span> <b>1</b>" in html
    assert 'id="engine"' in html  # the call engine's load, as /health reports it


def test_calls_list_filters_by_outcome_disposition_and_campaign(api: ApiHarness) -> None:
    ids = acme_call(api)
    browser = signed_in(api, "acme")
    link = f'href="/calls/{ids["call"]}"'
    assert link in browser.get("/calls").text
    assert link in browser.get("/calls?outcome=human&disposition=qualified").text
    assert link not in browser.get("/calls?outcome=busy").text
    assert link not in browser.get("/calls?disposition=not_interested").text
    assert link not in browser.get(f"/calls?campaign_id={ids['campaign']}").text
    fragment = browser.get("/calls?outcome=human", headers={"HX-Request": "true"})
    assert link in fragment.text
    assert "<html" not in fragment.text  # htmx gets the table only


def test_call_detail_shows_transcript_voicemail_verdict_and_webhook_deliveries(
    api: ApiHarness,
) -> None:
    ids = acme_call(api)
    page = signed_in(api, "acme").get(f"/calls/{ids['call']}")
    assert page.status_code == 200
    html = page.text
    assert "yes go ahead" in html and "affirm" in html and "0.93" in html
    assert "human — speech cadence (after 850 ms)" in html
    assert 'id="deliveries"' in html and "call.completed" in html
    assert mask_number(NUMBER) in html and NUMBER not in html


def test_another_tenant_sees_none_of_it(api: ApiHarness) -> None:
    ids = acme_call(api)
    browser = signed_in(api, "globex")
    assert "Solar November" not in browser.get("/").text
    assert f'href="/calls/{ids["call"]}"' not in browser.get("/calls").text
    foreign_call = browser.get(f"/calls/{ids['call']}")
    assert foreign_call.status_code == 404
    assert f"call {ids['call']} not found" in foreign_call.text
    assert browser.get(f"/scripts/{ids['script']}").status_code == 404
    assert browser.get(f"/scripts/{ids['script']}/graph").status_code == 404
    assert "hello" not in browser.get("/scripts").text


def test_the_live_feed_sends_the_panels_then_ends_for_the_browser_to_reopen_it(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.console import pages

    monkeypatch.setattr(pages, "LIVE_INTERVAL_S", 0.0)
    acme_call(api)
    browser = signed_in(api, "acme")
    with browser.stream("GET", "/dashboard/live") as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        text = "".join(answer.iter_text())
    assert text.startswith(f"retry: {pages.LIVE_RETRY_MS}\n\n")
    events = [block for block in text.split("\n\n") if block.startswith("event: panels")]
    assert events, "the first look sends the panels"
    assert mask_number(NUMBER) in events[0] and NUMBER not in events[0]
    # Each later look sends the panels again only if they changed (the engine's CPU share
    # may), else a comment that keeps the connection open.
    assert len(events) + text.count(": still here") == pages.LIVE_LOOKS
    assert console_client(api).get("/dashboard/live", follow_redirects=False).status_code == 303
