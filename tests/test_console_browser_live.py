"""The console in a real browser on a served process with its workers (dialler and webhook
delivery): a campaign made through the pages calls one lead over the simulated network with
the real speech engines; the call shows up live, ends, its page plays the recording at the
turn clicked, and its QA replay runs from the page. A webhook delivered to a real receiver
is sent again with Redeliver.

Every wait is for a condition (generous limits for a busy two-core machine), never for a time.
One short call only: whole calls cost real speech CPU.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from api.console.render import mask_number
from api.main import create_app
from robot.config import Settings, override_settings
from robot.crm.sink import EventSink, SinkServer

from fixtures.api_harness import make_tenant, serve_in_thread
from fixtures.browser import (
    WAIT_MS,
    labels_missing,
    launch_chromium,
    open_page,
    screenshot,
    sign_in,
)
from fixtures.database import open_fresh_database

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[1] / "dialogues" / "scripts" / "lead_qualification.yaml"
#: The simulated network's "not interested" callee: a short conversation of a few turns.
NUMBER = "+12025550103"
#: A whole call on a busy machine, with the models loading first.
CALL_WAIT_MS = 400_000
SECRET = "whsec-browser-test-0123456789"


@pytest.fixture
def live(tmp_path: Path, isolated_settings: Settings) -> Iterator[tuple[str, str]]:
    """``callrobot serve`` in a thread (dialler and delivery worker on, carrier ``sim://``)."""
    settings = isolated_settings.model_copy(update={"webhooks_allow_private": True})
    override_settings(settings)  # the delivery worker reads the private-address rule from it
    for db in open_fresh_database("sqlite", tmp_path):
        _, key = make_tenant(db.engine, "acme")
        app = create_app(settings, engine=db.engine, run_workers=True)
        with serve_in_thread(app, lifespan="on") as base:
            yield base, key


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    yield from launch_chromium()


@pytest.fixture
def browser_page(chromium: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from open_page(chromium, tmp_path, request)


def reload_until(page: Any, check: Callable[[], bool], timeout_ms: int = WAIT_MS) -> None:
    """Reload the page until ``check()`` holds (pages without a live feed)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        page.wait_for_timeout(500)
        page.reload()


def test_a_campaign_calls_live_and_its_call_plays_from_the_turn_clicked(
    live: tuple[str, str], browser_page: Any
) -> None:
    base, key = live
    page = browser_page
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "text/yaml"}
    script = httpx.post(f"{base}/v1/scripts", content=SCRIPT.read_text(), headers=auth).json()

    # Create the campaign with the form: open all day (the test runs at any hour), one attempt.
    sign_in(page, base, key, "/campaigns/new")
    assert labels_missing(page) == []
    page.fill("#name", "Browser spring")
    page.select_option("#script_id", str(script["id"]))
    page.fill("#default_timezone", "America/New_York")
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        page.fill(f"#hours_{day}", "00:00-24:00")
    page.fill("#max_attempts", "1")
    screenshot(page, "campaign-new")
    page.click("#create-campaign")
    expect(page.locator("#campaign-status")).to_have_text("draft", timeout=WAIT_MS)
    campaign_url = page.url.split("?")[0]

    # Import one lead from a CSV file: the per-row report.
    csv = f"phone,first_name\n{NUMBER},David\n".encode()
    page.set_input_files(
        "#leads-file", files=[{"name": "leads.csv", "mimeType": "text/csv", "buffer": csv}]
    )
    page.click("#import-leads")
    expect(page.locator("#import-report")).to_contain_text("1 of 1 rows imported", timeout=WAIT_MS)

    # Start it: the call appears while it runs, then ends, without reloading the page.
    page.goto(campaign_url)
    page.click("#campaign-start")
    expect(page.locator("#campaign-status")).to_have_text("running", timeout=WAIT_MS)
    page.evaluate("() => { window.notReloaded = true; }")
    calls = page.locator("#campaign-panels table.calls")
    expect(calls).to_contain_text(mask_number(NUMBER), timeout=CALL_WAIT_MS)
    expect(calls).to_contain_text("in progress", timeout=CALL_WAIT_MS)
    expect(page.locator("#stats-status")).to_have_text("finished", timeout=CALL_WAIT_MS)
    expect(calls).to_contain_text("human", timeout=WAIT_MS)
    assert page.evaluate("() => window.notReloaded") is True
    expect(page.locator("#outcome-chart rect")).to_have_count(1, timeout=WAIT_MS)
    screenshot(page, "campaign")

    # The call's page: two waveforms, a region per turn; a click on turn 3 seeks there.
    calls.locator("a").first.click()
    expect(page.locator("#outcome")).to_have_text("human", timeout=WAIT_MS)
    turns = page.locator("#turns .turn")
    count = turns.count()
    assert count >= 3
    expect(page.locator("#waveform")).to_have_attribute("data-regions", str(count), timeout=WAIT_MS)
    third = page.locator("#turn-3")
    start = float(third.get_attribute("data-start"))
    assert start > 0
    third.locator("button.seek").click()
    page.wait_for_function(
        "(start) => Math.abs(window.callrobotWave.getCurrentTime() - start) < 0.01",
        arg=start,
        timeout=WAIT_MS,
    )
    expect(third).to_have_class(re.compile(r"\bcurrent\b"), timeout=WAIT_MS)
    assert labels_missing(page) == []
    screenshot(page, "call")

    # The QA replay of this call against the newest stored script runs in the background;
    # the page shows its verdict when it is done (same or not depends on the machine's load).
    page.click("#replay-button")
    expect(page.locator("#replay-running")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#replay-done")).to_contain_text(
        "Replayed against lead_qualification v1", timeout=CALL_WAIT_MS
    )
    expect(page.locator("#replay-verdict")).to_have_text(
        re.compile(r"the same conversation|\d+ differences?")
    )
    screenshot(page, "call-replayed")
    assert page.errors == []


def test_a_delivered_webhook_is_sent_again_with_redeliver(
    live: tuple[str, str], browser_page: Any
) -> None:
    base, key = live
    page = browser_page
    received: list[dict[str, Any]] = []
    sink = EventSink(secret=SECRET, on_event=received.append)
    server = SinkServer(("127.0.0.1", 0), sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        auth = {"Authorization": f"Bearer {key}"}
        hook = {"url": server.url, "secret": SECRET, "event_types": ["campaign.finished"]}
        assert httpx.post(f"{base}/v1/webhooks", json=hook, headers=auth).status_code == 201
        # Stopping a campaign queues campaign.finished; the delivery worker sends it.
        campaign = httpx.post(f"{base}/v1/campaigns", json={"name": "short"}, headers=auth).json()
        httpx.post(f"{base}/v1/campaigns/{campaign['id']}/stop", headers=auth).raise_for_status()

        sign_in(page, base, key, "/campaigns")
        expect(page.locator("#campaigns-list")).to_contain_text("stopped", timeout=WAIT_MS)
        screenshot(page, "campaigns")
        page.goto(f"{base}/webhooks")
        rows = page.locator("#deliveries tbody tr")
        reload_until(page, lambda: "delivered" in (rows.first.text_content() or ""))
        screenshot(page, "webhooks")
        rows.first.locator("a").first.click()
        expect(page.locator("#delivery-attempts")).to_have_text("1", timeout=WAIT_MS)
        expect(page.locator("#delivery-body")).to_contain_text("campaign.finished")
        assert len(received) == 1

        page.click("#redeliver")
        expect(page.locator("#redelivered")).to_be_visible(timeout=WAIT_MS)
        attempts = page.locator("#delivery-attempts")
        reload_until(page, lambda: attempts.text_content() == "2")
        expect(page.locator("#delivery-status")).to_have_text("delivered", timeout=WAIT_MS)
        expect(page.locator("#attempts tbody tr")).to_have_count(2, timeout=WAIT_MS)
        assert sink.duplicates == 1  # the same event id, received again
        screenshot(page, "delivery")
        assert page.errors == []
    finally:
        server.shutdown()
        server.server_close()
