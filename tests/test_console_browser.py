"""The console in a real browser: Playwright driving Debian's chromium (never a downloaded one).

A real server (uvicorn in a thread) on a fresh SQLite database; the browser signs in, opens
the script editor, types a broken script and sees the lint marker on the right line, and
sees the state graph. Every wait is for an element or a condition, never for a time.
Screenshots go to the test's temporary folder (or ``$CALLROBOT_TEST_SCREENSHOTS``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from api.console.render import mask_number
from api.main import create_app
from robot.config import Settings

from fixtures.api_harness import RecordedCallPlacer, make_tenant, serve_in_thread
from fixtures.console import BROKEN_AT, BROKEN_SCRIPT
from fixtures.database import VALID_SCRIPT, open_fresh_database

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Generous: a busy two-core machine may take long to start chromium or lay out a graph.
WAIT_MS = 90_000

#: Four states: ``lost`` is unreachable and ``stuck`` leads nowhere.
SHAPES = """script: shapes
start: a
states:
  a:
    ask: hello?
    on:
      affirm: stuck
      deny: bye
  stuck:
    say: and now?
  lost:
    say: never said
    next: bye
  bye:
    say: goodbye
    disposition: not_interested
    end: true
"""


@pytest.fixture
def console(tmp_path: Path, isolated_settings: Settings) -> Iterator[tuple[str, str]]:
    """A served app (base URL) and tenant acme's API key."""
    for db in open_fresh_database("sqlite", tmp_path):
        _, key = make_tenant(db.engine, "acme")
        placer = RecordedCallPlacer(isolated_settings.data_dir / "recordings")
        app = create_app(isolated_settings, engine=db.engine, call_placer=placer)
        with serve_in_thread(app) as base:
            yield base, key


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One browser for the module's tests (each test gets its own context: no shared cookies)."""
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), "chromium is missing: apt-get install chromium (make test)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=WAIT_MS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page; it collects script errors and failed loads in ``page.errors`` (a refused
    save answers 422 on purpose; failed loads are recorded with their URL, not as console text)."""
    errors: list[str] = []
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                errors.append(f"console: {message.text}")
                if message.type == "error"
                and not message.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on(
            "response",
            lambda response: (
                errors.append(f"{response.status} {response.url}")
                if response.status >= 400 and "/scripts/save" not in response.url
                else None
            ),
        )
        page.errors = errors  # type: ignore[attr-defined]
        page.shots = screenshots_dir(request, tmp_path)  # type: ignore[attr-defined]
        yield page
    finally:
        context.close()


def screenshots_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """``$CALLROBOT_TEST_SCREENSHOTS/TEST`` when set (to keep them), else the test's tmp folder."""
    keep = os.environ.get("CALLROBOT_TEST_SCREENSHOTS")
    return Path(keep) / request.node.name if keep else tmp_path / "screenshots"


def screenshot(page: Any, name: str) -> None:
    page.shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(page.shots / f"{name}.png"), full_page=True)


def sign_in(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/scripts/new")
    expect(page).to_have_url(f"{base}/signin?next=/scripts/new", timeout=WAIT_MS)
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/scripts/new", timeout=WAIT_MS)
    expect(page.locator("#tenant-name")).to_have_text("acme", timeout=WAIT_MS)


def replace_text(page: Any, text: str) -> None:
    """Put ``text`` in the editor as typed input (one insertion: no auto-indentation)."""
    page.click(".cm-content")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def lint_lines(page: Any) -> list[int]:
    """Document lines holding an error mark, read from the rendered editor."""
    return page.evaluate(
        """() => {
            const lines = [...document.querySelectorAll('.cm-content > .cm-line')];
            const marks = [...document.querySelectorAll('.cm-content .cm-lintRange-error')];
            return marks.map(m => lines.indexOf(m.closest('.cm-line')) + 1);
        }"""
    )


def test_sign_in_type_a_broken_script_and_see_the_marker_on_its_line(
    console: tuple[str, str], browser_page: Any
) -> None:
    base, key = console
    page = browser_page
    sign_in(page, base, key)
    # The starting script is valid and has three states.
    expect(page.locator("#lint-status")).to_have_text("no problems", timeout=WAIT_MS)
    expect(page.locator("#graph-summary")).to_have_text("3 states", timeout=WAIT_MS)

    replace_text(page, BROKEN_SCRIPT)
    expect(page.locator("#lint-status")).to_have_text("1 problem", timeout=WAIT_MS)
    expect(page.locator(".cm-gutter-lint .cm-lint-marker-error")).to_have_count(1, timeout=WAIT_MS)
    page.wait_for_function(
        "() => document.querySelectorAll('.cm-content .cm-lintRange-error').length > 0",
        timeout=WAIT_MS,
    )
    line = BROKEN_AT[0]
    assert lint_lines(page) == [line]
    # The gutter marker sits beside that line's number.
    marker_top = page.locator(".cm-gutter-lint .cm-lint-marker-error").bounding_box()["y"]
    number = page.locator(".cm-lineNumbers .cm-gutterElement", has_text=str(line)).first
    number_box = number.bounding_box()
    assert number_box["y"] - 2 <= marker_top <= number_box["y"] + number_box["height"]
    expect(page.locator("#graph-summary")).to_have_text("2 states", timeout=WAIT_MS)
    screenshot(page, "editor-broken-script")
    assert page.errors == []


def test_the_graph_shows_the_scripts_states_and_highlights_problems(
    console: tuple[str, str], browser_page: Any
) -> None:
    base, key = console
    page = browser_page
    sign_in(page, base, key)
    expect(page.locator("#graph-summary")).to_have_text("3 states", timeout=WAIT_MS)
    replace_text(page, SHAPES)
    summary = "4 states, 1 unreachable, 1 dead end"
    expect(page.locator("#graph-summary")).to_have_text(summary, timeout=WAIT_MS)
    drawn = page.evaluate(
        """() => ({
            states: window.callrobotGraph.nodes('.state').length,
            unreachable: window.callrobotGraph.nodes('.unreachable').map(n => n.id()),
            deadEnds: window.callrobotGraph.nodes('.dead-end').map(n => n.id()),
            edges: window.callrobotGraph.edges().length,
        })"""
    )
    assert drawn == {"states": 4, "unreachable": ["lost"], "deadEnds": ["stuck"], "edges": 3}
    screenshot(page, "editor-graph")

    # The script is invalid (an unreachable state): saving shows the validator's problems.
    page.click("#save")
    expect(page.locator("#save-problems")).to_contain_text("unreachable", timeout=WAIT_MS)
    assert page.errors == []


def test_the_dashboard_shows_a_new_call_without_reloading_and_calls_filter(
    console: tuple[str, str], browser_page: Any
) -> None:
    base, key = console
    page = browser_page
    sign_in(page, base, key)
    page.goto(f"{base}/")
    expect(page.locator("h1")).to_have_text("Dashboard", timeout=WAIT_MS)
    expect(page.locator("#panels")).to_contain_text("No calls.", timeout=WAIT_MS)
    # A call placed through the API reaches the open page by its live feed (no reload).
    page.evaluate("() => { window.notReloaded = true; }")
    auth = {"Authorization": f"Bearer {key}"}
    script = httpx.post(
        f"{base}/v1/scripts", content=VALID_SCRIPT, headers={**auth, "Content-Type": "text/yaml"}
    ).json()
    number = "+12025550143"
    placed = httpx.post(
        f"{base}/v1/calls", json={"number": number, "script_id": script["id"]}, headers=auth
    )
    assert placed.status_code == 202
    expect(page.locator("#panels")).to_contain_text(mask_number(number), timeout=WAIT_MS)
    expect(page.locator("#outcomes")).to_contain_text("human", timeout=WAIT_MS)
    assert page.evaluate("() => window.notReloaded") is True
    assert number not in page.content()
    screenshot(page, "dashboard")

    page.goto(f"{base}/calls")
    expect(page.locator("table.calls")).to_contain_text(mask_number(number), timeout=WAIT_MS)
    page.select_option("select[name=outcome]", "busy")
    filtered = f"{base}/calls?outcome=busy&disposition=&campaign_id="
    expect(page).to_have_url(filtered, timeout=WAIT_MS)
    expect(page.locator("#calls-table")).to_contain_text("No calls.", timeout=WAIT_MS)
    screenshot(page, "calls")
    page.click("text=Sign out")
    expect(page).to_have_url(f"{base}/signin", timeout=WAIT_MS)
    assert page.errors == []
