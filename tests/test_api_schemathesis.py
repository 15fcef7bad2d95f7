"""Property-based run over the OpenAPI schema: no input, however malformed, gets a 5xx.

Valid (positive) and invalid (negative) requests are generated for every operation from the
schema the app serves, and sent with a real key to the real app on a fresh SQLite database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from robot.config import Settings

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import VALID_SCRIPT, open_fresh_database

#: Examples per operation and mode; the whole run stays around a minute.
MAX_EXAMPLES = 15


@pytest.fixture
def api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    """The real app on a fresh SQLite database holding one of each resource."""
    for db in open_fresh_database("sqlite", tmp_path):
        for harness in open_api(db.engine, isolated_settings):
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


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(api: ApiHarness, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    auth = api.headers("acme")
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
            case.call_and_validate(headers=auth, checks=[not_a_server_error])

        try:
            check()
        except Unsatisfiable:
            # Nothing to negate (e.g. GET /health has no inputs): nothing to send.
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        exercised += 1
    assert exercised >= len(operations) - 2
