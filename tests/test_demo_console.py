"""``callrobot demo`` leaves what it did in its own database, under the tenant ``demo``, and
prints how to open it in the web console with a key that signs in there. The network here
holds the busy callee only (no conversation: the test stays short); the rest of the demo,
database, dialler, call engine, outbox and CRM receiver, is the real one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from models.db import make_engine
from robot.carriers import sim
from robot.cli import app
from robot.config import Settings

from fixtures.console import sign_in

pytestmark = pytest.mark.slow


def test_the_demo_prints_how_to_open_its_campaign_in_the_console(
    monkeypatch: pytest.MonkeyPatch, isolated_settings: Settings
) -> None:
    class BusyNetwork(sim.SimCarrier):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.personas = [p for p in self.personas if p.name == "busy"]
            self._by_number = {n: p for p in self.personas for n in p.numbers}

    monkeypatch.setattr(sim, "SimCarrier", BusyNetwork)
    result = CliRunner().invoke(app, ["demo", "--concurrency", "1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    found = re.search(
        r"run `CALLROBOT_DATABASE_URL=(sqlite:///\S+) callrobot serve` then open "
        r"http://127\.0\.0\.1:8000/ and sign in with (cr_\S+) \(tenant demo",
        text,
    )
    assert found is not None, text
    url, key = found.groups()
    assert Path(url.removeprefix("sqlite:///")) == isolated_settings.data_dir / "demo.db"

    engine = make_engine(url)
    try:
        with TestClient(create_app(isolated_settings, engine=engine)) as browser:
            assert sign_in(browser, key).status_code == 200
            campaigns = browser.get("/campaigns").text
            assert ": lead qualification" in campaigns and ">finished<" in campaigns
            assert "busy" in browser.get("/calls").text
            webhooks = browser.get("/webhooks").text
            assert "call.completed" in webhooks and ">delivered<" in webhooks
    finally:
        engine.dispose()
