"""Console scripts: lint by the project's validator, the state graph, save as a new version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dialogues.graph import GLOBAL_NODE, script_graph
from robot.config import Settings

from fixtures.api_harness import ApiHarness
from fixtures.console import (
    BROKEN_AT,
    BROKEN_SCRIPT,
    console_client,
    open_console_api,
    session_token,
    sign_in,
)
from fixtures.database import VALID_SCRIPT

BUNDLED = Path(__file__).parent.parent / "dialogues" / "scripts" / "lead_qualification.yaml"

#: ``lost`` is unreachable, ``stuck`` leads nowhere, ``global`` handlers add an edge each.
SHAPES = """script: shapes
start: a
intents:
  stop:
    examples: [stop calling]
global:
  on:
    stop: bye
states:
  a:
    say: hello
    next: stuck
  stuck:
    say: and now?
  lost:
    say: never said
    next: bye
  bye:
    say: goodbye
    end: true
"""


@pytest.fixture
def api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    yield from open_console_api(tmp_path, isolated_settings)


def signed_in(api: ApiHarness, tenant: str = "acme") -> tuple[TestClient, dict[str, str]]:
    browser = console_client(api)
    sign_in(browser, api.tenants[tenant][1])
    return browser, {"X-CSRF-Token": session_token(browser)}


def test_lint_reports_the_validators_problems_with_line_and_column(api: ApiHarness) -> None:
    browser, csrf = signed_in(api)
    answer = browser.post("/scripts/lint", json={"text": BROKEN_SCRIPT}, headers=csrf)
    assert answer.status_code == 200
    problems = answer.json()["diagnostics"]
    assert len(problems) == 1
    assert (problems[0]["line"], problems[0]["column"]) == BROKEN_AT
    assert "nowhere" in problems[0]["message"]
    # The same positions as the API's upload (the one validator).
    upload = api.request(
        "POST", "/v1/scripts", content=BROKEN_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    assert [(e["line"], e["column"]) for e in upload["errors"]] == [BROKEN_AT]
    valid = browser.post("/scripts/lint", json={"text": VALID_SCRIPT}, headers=csrf)
    assert valid.json() == {"diagnostics": []}


def test_lint_reports_yaml_syntax_errors_where_they_are(api: ApiHarness) -> None:
    browser, csrf = signed_in(api)
    text = "script: x\nstart: a\nstates:\n  a: [unclosed\n"
    problems = browser.post("/scripts/lint", json={"text": text}, headers=csrf).json()
    assert problems["diagnostics"]
    assert problems["diagnostics"][0]["line"] >= 4


def test_graph_marks_unreachable_and_dead_end_states() -> None:
    graph = script_graph(SHAPES)
    nodes = {node.id: node for node in graph.nodes}
    assert set(nodes) == {"a", "stuck", "lost", "bye", GLOBAL_NODE}
    assert nodes["a"].start and not nodes["a"].unreachable
    assert nodes["lost"].unreachable and not nodes["stuck"].unreachable
    assert nodes["stuck"].dead_end and not nodes["bye"].dead_end and nodes["bye"].end
    edges = {(e.source, e.target, e.label, e.kind) for e in graph.edges}
    assert edges == {
        ("a", "stuck", "next", "state"),
        ("lost", "bye", "next", "state"),
        (GLOBAL_NODE, "bye", "stop", "global"),
    }


def test_graph_of_a_script_with_problems_still_draws_its_states() -> None:
    graph = script_graph(BROKEN_SCRIPT + "  odd:\n    sayy: typo\n")
    nodes = {node.id: node for node in graph.nodes}
    assert set(nodes) == {"greet", "bye", "odd"}
    assert nodes["odd"].invalid
    assert not nodes["bye"].unreachable and not nodes["greet"].dead_end
    # The goto to 'nowhere' has no node to reach: only the edge to 'bye' is drawn.
    assert [(e.source, e.target, e.label) for e in graph.edges] == [("greet", "bye", "deny")]
    assert script_graph("states: [").error is not None
    assert script_graph("script: x\n").error == "the script has no 'states' mapping"


def test_graph_of_the_bundled_script_has_every_state_reachable() -> None:
    graph = script_graph(BUNDLED.read_text(encoding="utf-8"))
    assert graph.error is None
    assert len([n for n in graph.nodes if n.id != GLOBAL_NODE]) > 5
    assert not [n.id for n in graph.nodes if n.unreachable or n.invalid]


def test_graph_endpoints_for_editor_text_and_stored_scripts(api: ApiHarness) -> None:
    browser, csrf = signed_in(api)
    drawn = browser.post("/scripts/graph", json={"text": SHAPES}, headers=csrf).json()
    assert {n["id"] for n in drawn["nodes"]} == {"a", "stuck", "lost", "bye", GLOBAL_NODE}
    stored = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    graph = browser.get(f"/scripts/{stored['id']}/graph").json()
    assert [n["id"] for n in graph["nodes"]] == ["greet"]


def test_save_as_new_version_stores_the_next_version(api: ApiHarness) -> None:
    browser, csrf = signed_in(api)
    first = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    changed = VALID_SCRIPT.replace("this is a test call", "this is a second call")
    answer = browser.post(
        "/scripts/save",
        data={"yaml_text": changed, "csrf_token": csrf["X-CSRF-Token"]},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    new_id = int(answer.headers["location"].split("/")[2].split("?")[0])
    stored = api.request("GET", f"/v1/scripts/{new_id}").json()
    assert (stored["name"], stored["version"]) == ("hello", first["version"] + 1)
    assert "second call" in stored["yaml_text"]
    page = browser.get(answer.headers["location"])
    assert "Saved as version 2." in page.text
    assert "/scripts/" + str(new_id) in browser.get("/scripts").text


def test_saving_a_broken_script_stores_nothing_and_shows_its_problems(api: ApiHarness) -> None:
    browser, csrf = signed_in(api)
    answer = browser.post(
        "/scripts/save", data={"yaml_text": BROKEN_SCRIPT, "csrf_token": csrf["X-CSRF-Token"]}
    )
    assert answer.status_code == 422
    assert "line {}, column {}".format(*BROKEN_AT) in answer.text
    assert "nowhere" in answer.text
    assert api.request("GET", "/v1/scripts").json()["items"] == []


def test_editor_page_holds_the_stored_yaml(api: ApiHarness) -> None:
    stored = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    browser, _ = signed_in(api)
    page = browser.get(f"/scripts/{stored['id']}")
    assert page.status_code == 200
    assert "Hello {lead.first_name}, this is a test call." in page.text
    assert "/static/vendor/codemirror.js" in page.text
    assert browser.get("/static/vendor/codemirror.js").status_code == 200
    assert browser.get("/static/vendor/cytoscape.js").status_code == 200
