"""The console in a real browser: Playwright driving Debian's chromium (never a downloaded one).

A real server (uvicorn in a thread) on a fresh SQLite database; the browser signs in, opens
the script editor, types a broken script and sees the lint marker on the right line, and
sees the state graph. Every wait is for an element or a condition, never for a time.
Screenshots go to the test's temporary folder (or ``$CALLROBOT_TEST_SCREENSHOTS``).
"""

from __future__ import annotations

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
from fixtures.browser import (
    WAIT_MS,
    labels_missing,
    launch_chromium,
    open_page,
    screenshot,
    sign_in,
)
from fixtures.console import BROKEN_AT, BROKEN_SCRIPT
from fixtures.database import VALID_SCRIPT, open_fresh_database

pytestmark = pytest.mark.browser

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


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    yield from launch_chromium()


@pytest.fixture
def browser_page(chromium: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from open_page(chromium, tmp_path, request)


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


def focused(page: Any) -> str:
    """What has the keyboard focus: an element's id, or its first class."""
    return page.evaluate(
        """() => { const el = document.activeElement;
                   return el.id || (el.classList && el.classList[0]) || el.tagName; }"""
    )


def test_the_editor_page_works_from_the_keyboard_and_labels_every_field(
    console: tuple[str, str], browser_page: Any
) -> None:
    base, key = console
    page = browser_page
    sign_in(page, base, key)
    expect(page.locator("#lint-status")).to_have_text("no problems", timeout=WAIT_MS)
    assert labels_missing(page) == []
    # From the top of the page, Tab reaches the editor...
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    reached = []
    for _ in range(30):
        page.keyboard.press("Tab")
        reached.append(focused(page))
        if reached[-1] == "cm-content":
            break
    assert reached[-1] == "cm-content", reached
    # ...the keys edit the script, and Tab leaves the editor for the save button.
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.type("# typed from the keyboard")
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert focused(page) == "save"
    page.keyboard.press("Enter")
    expect(page.locator("p.ok")).to_have_text("Saved as version 1.", timeout=WAIT_MS)
    expect(page.locator(".cm-content")).to_contain_text("# typed from the keyboard")
    # The saved version's tools: its test conversations and a chat, by keyboard too.
    page.focus("#run-tests")
    page.keyboard.press("Enter")
    expect(page.locator("#tests-summary")).to_be_visible(timeout=WAIT_MS)
    page.focus("#chat-start")
    page.keyboard.press("Enter")
    expect(page.locator("#chat-message")).to_be_focused(timeout=WAIT_MS)
    page.keyboard.type("yes")
    page.keyboard.press("Enter")
    expect(page.locator("#chat-lines")).to_contain_text("intent affirm", timeout=WAIT_MS)
    assert labels_missing(page) == []
    screenshot(page, "editor-tools")
    assert page.errors == []
