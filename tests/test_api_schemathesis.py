"""Property-based runs over the OpenAPI schema: no 5xx, and every answer matches the document.

Valid (positive) and invalid (negative) requests are generated for every operation from the
schema the app serves, and sent with a real key to the real app on a fresh SQLite database;
a stateful run then follows the schema's links (create, then read or act on what was made).
Every response must have a documented status, content type, headers and body schema: error
answers are problems (``application/problem+json``) as ``api.openapi`` documents them.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import max_response_time, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import Engine

from models.db import make_engine
from robot.config import Settings
from robot.control.conference_rooms import ConferenceRooms

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import VALID_SCRIPT, open_fresh_database

#: Examples per operation and mode; the whole file stays around a minute on two cores.
MAX_EXAMPLES = 25
#: Stateful scenarios and steps per scenario.
STATEFUL_SCENARIOS = 30
STATEFUL_STEPS = 8
#: Slowest response accepted (seconds), checked only when this variable is set (CI sets it):
#: a bound on wall time says as much about the machine as about the code.
RESPONSE_TIME_ENV = "CALLROBOT_TEST_MAX_RESPONSE_S"

CHECKS: list[Any] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _checks() -> list[Any]:
    return [*CHECKS, max_response_time] if os.environ.get(RESPONSE_TIME_ENV) else CHECKS


def _load_schema(api: ApiHarness) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    limit = os.environ.get(RESPONSE_TIME_ENV)
    if limit:
        schema.config.checks.max_response_time.limit = float(limit)
    return schema


@pytest.fixture
def api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    """The real app on a fresh SQLite database holding one of each resource.

    The request rate limit is raised (generated requests come far faster than any client's)
    and bad keys are never slowed down or blocked: whether one is depends on the clock, and
    every answer must depend on the request alone.
    """
    quotas = isolated_settings.quotas.model_copy(
        update={
            "rate_per_s": 1e6,
            "burst": 1e6,
            "auth_failures_free": 10**9,
            "auth_failures_block": 10**9,
        }
    )
    settings_ = isolated_settings.model_copy(update={"quotas": quotas})
    for db in open_fresh_database("sqlite", tmp_path):
        for harness in open_api(db.engine, settings_):
            script = harness.request(
                "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
            ).json()
            campaign = harness.request(
                "POST", "/v1/campaigns", json={"name": "c", "script_id": script["id"]}
            ).json()
            harness.request(
                "POST", f"/v1/campaigns/{campaign['id']}/leads", json=[{"phone": "+12025550143"}]
            )
            harness.request("POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/"})
            harness.request("POST", "/v1/dnc", json={"number": "+12025550199"})
            yield harness


def test_every_error_status_is_documented_as_a_problem(api: ApiHarness) -> None:
    document = api.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {code for code in responses if code[0] in "45" and code != "416"}
            assert "503" in errors, (method, path)
            if path != "/health":
                assert {"401", "429"} <= errors, (method, path)
                assert "Retry-After" in responses["429"]["headers"]
            for code in errors:
                content = responses[code]["content"]
                assert list(content) == ["application/problem+json"], (method, path, code)
    calls = document["paths"]["/v1/calls"]["post"]["responses"]
    assert {"404", "409", "413", "422"} <= set(calls)
    leads = document["paths"]["/v1/campaigns/{campaign_id}/leads"]["post"]["responses"]
    assert {"413", "415"} <= set(leads)
    links = document["paths"]["/v1/campaigns"]["post"]["responses"]["201"]["links"]
    assert links["GetCampaign"]["parameters"] == {"path.campaign_id": "$response.body#/id"}


def test_error_answers_are_problems(api: ApiHarness) -> None:
    missing = api.request("GET", "/v1/campaigns/999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "campaign 999999 not found",
    }
    invalid = api.request("POST", "/v1/campaigns", json={"name": 5})
    body = invalid.json()
    assert invalid.status_code == 422 and body["status"] == 422
    assert {e["field"] for e in body["errors"]} == {"body.name"}
    unknown_route = api.request("GET", "/v1/nowhere")
    assert unknown_route.status_code == 404
    assert unknown_route.headers["content-type"] == "application/problem+json"
    anonymous = api.client.get("/v1/campaigns")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["title"] == "Unauthorized"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_answers_match_the_schema(
    api: ApiHarness, mode: GenerationMode
) -> None:
    schema = _load_schema(api)
    auth = api.headers("acme")
    checks = _checks()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    exercised = 0
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=auth, checks=checks)

        try:
            check()
        except Unsatisfiable:
            # Nothing to negate (e.g. GET /health has no inputs): nothing to send.
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        exercised += 1
    assert exercised >= len(operations) - 2


def _copy_database(engine: Engine, target: Path) -> Engine:
    """A new SQLite file holding what ``engine``'s file holds now (SQLite's backup API)."""
    source = engine.url.database
    assert source is not None
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return make_engine(f"sqlite:///{target}")


def test_stateful_links_keep_answers_conforming(api: ApiHarness, tmp_path: Path) -> None:
    """Scenarios chain operations through the links (create, then read, act, delete).

    Each scenario starts from the same database (a copy of the seeded one): Hypothesis
    replays choices and needs the same choices to meet the same answers.
    """
    schema = _load_schema(api)
    auth = api.headers("acme")
    checks = _checks()
    followed: list[str] = []
    state = api.client.app.state  # type: ignore[attr-defined]
    engines: list[Engine] = []

    class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            engines.append(_copy_database(api.engine, tmp_path / f"scenario-{len(engines)}.db"))
            state.engine = engines[-1]
            # Conference rooms live in memory: each scenario starts without any, too.
            state.conferences = ConferenceRooms(
                engines[-1], recording_dir=tmp_path / f"conferences-{len(engines)}"
            )

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": auth}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            followed.append(f"{case.method} {case.path} {response.status_code}")

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=checks, headers=auth, recorder=self.recorder)

    try:
        Scenarios.run(
            settings=settings(
                max_examples=STATEFUL_SCENARIOS,
                stateful_step_count=STATEFUL_STEPS,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
                phases=[Phase.generate],
            )
        )
    finally:
        state.engine = api.engine
        for engine in engines:
            engine.dispose()
    # Links were followed: an id from one answer reached another operation's path, and worked.
    by_id = [step for step in followed if "{" in step and step.split()[-1].startswith("2")]
    assert len(by_id) >= 3, followed
