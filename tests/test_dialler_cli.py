"""The campaign and database commands, run through the real CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from models.db import make_engine
from models.migrate import code_head
from robot.cli import app
from robot.crm.delivery import DeliveryWorker
from robot.dialler.campaigns import get_or_create_tenant

from fixtures.database import BACKENDS, FreshDatabase, add_script, open_fresh_database
from fixtures.webhook_receiver import FAST, FlakyReceiver, add_endpoint, serve_receiver

runner = CliRunner()


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database(request.param, tmp_path)


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    code, output = cli("db", "upgrade", "--database", url, "--json")
    assert code == 0, output
    assert json.loads(output) == {"revision": code_head(), "status": "ok"}
    tables = set(inspect(make_engine(url)).get_table_names())
    assert {"tenant", "script", "campaign", "lead", "call", "dnc_entry"} <= tables


def script_of_default_tenant(engine: Engine) -> str:
    """The id of a script of the CLI's default tenant, as the ``--script-id`` option takes it."""
    return str(add_script(engine, get_or_create_tenant(engine, "default")))


def test_campaign_life_through_the_cli(fresh_db: FreshDatabase, tmp_path: Path) -> None:
    db = ("--database", fresh_db.url)
    script_id = script_of_default_tenant(fresh_db.engine)
    code, output = cli(
        "campaign", "create", "--name", "spring", "--priority", "3", "--region", "gb",
        "--window", '{"hours": {"sun": null}}', "--retry", '{"max_attempts": 5}',
        "--script-id", script_id, *db, "--json",
    )  # fmt: skip
    assert code == 0, output
    created = json.loads(output)
    assert created["status"] == "draft"
    campaign_id = str(created["id"])

    leads = tmp_path / "leads.csv"
    leads.write_text("phone,name\n020 7946 0958,Ann\n020 7946 0959,Ben\n")
    code, output = cli("leads", "import", str(leads), "--campaign", campaign_id, *db)
    assert code == 0 and "2 of 2 rows imported, 0 rejected" in output

    assert (
        cli("campaign", "start", campaign_id, *db)[1].strip()
        == f"campaign {campaign_id} is running"
    )
    assert cli("campaign", "pause", campaign_id, *db, "--json")[1].strip() == (
        f'{{"id": {campaign_id}, "status": "paused"}}'
    )
    code, output = cli("campaign", "pause", campaign_id, *db)
    assert code == 1 and f"campaign {campaign_id} is paused; cannot pause it" in output

    code, output = cli("campaign", "stats", campaign_id, *db, "--json")
    stats = json.loads(output)
    assert (stats["status"], stats["leads"], stats["remaining"], stats["attempts"]) == (
        "paused",
        2,
        2,
        0,
    )
    assert stats["next_window_opening"] is not None
    code, output = cli("campaign", "stats", campaign_id, *db)
    assert code == 0 and "remaining" in output and "next window opening" in output

    assert cli("campaign", "stop", campaign_id, *db)[0] == 0
    code, output = cli("campaign", "start", campaign_id, *db)
    assert code == 1 and "is stopped; cannot start it" in output


def test_a_campaign_without_a_script_does_not_start(fresh_db: FreshDatabase) -> None:
    db = ("--database", fresh_db.url)
    created = cli("campaign", "create", "--name", "no script", *db, "--json")
    campaign_id = str(json.loads(created[1])["id"])
    code, output = cli("campaign", "start", campaign_id, *db)
    assert code == 1 and "script_id: the campaign needs a script before it can start" in output
    assert json.loads(cli("campaign", "stats", campaign_id, *db, "--json")[1])["status"] == "draft"


def test_stopping_from_the_cli_delivers_campaign_finished(fresh_db: FreshDatabase) -> None:
    db = ("--database", fresh_db.url)
    script_id = script_of_default_tenant(fresh_db.engine)
    flaky = FlakyReceiver()
    with serve_receiver(flaky) as url:
        add_endpoint(fresh_db.engine, url, tenant="default")
        created = cli("campaign", "create", "--name", "spring", "--script-id", script_id, *db,
                      "--json")  # fmt: skip
        campaign_id = json.loads(created[1])["id"]
        assert cli("campaign", "start", str(campaign_id), *db)[0] == 0
        assert cli("campaign", "stop", str(campaign_id), *db)[0] == 0
        # Queued with the status change: a worker that does not sweep still delivers it.
        worker = DeliveryWorker(fresh_db.engine, FAST, allow_private=True, sweep=False)
        asyncio.run(asyncio.wait_for(worker.run(until_idle=True), 60))
    [event] = flaky.events.values()
    assert event["type"] == "campaign.finished"
    assert (event["data"]["campaign_id"], event["data"]["status"]) == (campaign_id, "stopped")
    assert event["data"]["finished_at"] is not None


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--window", '{"hours": {"mon": "9-5"}}', "calling_window.hours.mon: expected HH:MM"),
        ("--window", "{oops", "--window: invalid JSON"),
        (
            "--retry",
            '{"delays_s": {"bored": 5}}',
            "retry_policy.delays_s.bored: not a call outcome",
        ),
        ("--timezone", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("--region", "XX", "default_region: unknown region 'XX'"),
    ],
)
def test_bad_campaign_settings_are_refused_by_name(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert cli("db", "upgrade", "--database", url)[0] == 0
    code, output = cli("campaign", "create", "--name", "x", option, value, "--database", url)
    assert code != 0 and message in output


def test_dnc_command_normalises_numbers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert cli("db", "upgrade", "--database", url)[0] == 0
    code, output = cli("leads", "dnc", "(212) 555-0100", "--database", url, "--json")
    assert code == 0 and json.loads(output)["added"] == ["+12125550100"]
    code, output = cli("leads", "dnc", "12", "--database", url)
    assert code == 2 and "invalid number(s): 12" in output
