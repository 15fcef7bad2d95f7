"""Log lines of a call carry its call, lead and campaign ids; ``json`` gives one object per
line with a fixed set of fields (no payloads, secrets masked)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_dialler import FAST, NY, Clock, ScriptedRunner, make_campaign
from typer.testing import CliRunner

from robot import metrics
from robot.cli import app
from robot.config import Settings, override_settings
from robot.dialler import CallResult, DialJob, Dialler
from robot.logs import CallContextFilter, JsonFormatter, call_context, configure_logging

from fixtures.database import FreshDatabase, open_fresh_database

FIELDS = {"ts", "level", "logger", "message", "worker", "call_id", "lead_id", "campaign_id"}
log = logging.getLogger("robot.tests.logs")


@pytest.fixture
def json_logs() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("json", "INFO")
    yield
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database("sqlite", tmp_path)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_every_line_of_a_dialled_call_names_its_call_lead_and_campaign(
    db: FreshDatabase, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    campaign_id = make_campaign(db.engine, NY[:2])
    jobs: dict[int, DialJob] = {}

    def talk(job: DialJob) -> CallResult:
        jobs[job.call_id] = job
        log.info("inside call with secret whsec_c2VjcmV0c2VjcmV0 and key cr_abcdefgh12345678")
        return CallResult(outcome="human", disposition="qualified")

    log.info("before any call")
    asyncio.run(
        Dialler(db.engine, ScriptedRunner(talk), limits=FAST, clock=Clock()).run(until_idle=True)
    )
    lines = json_lines(capsys.readouterr().err)

    assert lines and all(set(line) == FIELDS for line in lines)
    assert all(line["worker"] == metrics.worker_name() for line in lines)
    [outside] = [line for line in lines if line["message"] == "before any call"]
    assert (outside["call_id"], outside["lead_id"], outside["campaign_id"]) == (None, None, None)
    inside = [line for line in lines if line["message"].startswith("inside call")]
    ended = [line for line in lines if " ended " in line["message"]]
    assert len(inside) == len(ended) == len(jobs) == 2
    for line in inside + ended:
        job = jobs[line["call_id"]]
        assert (line["lead_id"], line["campaign_id"]) == (job.lead_id, campaign_id)
    for line in inside:
        assert line["level"] == "info" and line["logger"] == "robot.tests.logs"
        assert "whsec_***" in line["message"] and "cr_***" in line["message"]
        assert "c2VjcmV0" not in line["message"] and "abcdefgh" not in line["message"]


def test_json_lines_hold_only_their_fields_and_masked_tracebacks() -> None:
    record = logging.LogRecord("robot.x", logging.ERROR, __file__, 1, "failed %s", ("x",), None)
    record.audio = b"\x00\x01" * 100  # an extra never becomes a field
    with call_context(call_id=7, lead_id=3, campaign_id=1):
        CallContextFilter().filter(record)
    try:
        raise RuntimeError("Authorization: Bearer cr_topsecretvalue")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert set(line) == FIELDS | {"exc"}
    assert (line["call_id"], line["lead_id"], line["campaign_id"]) == (7, 3, 1)
    assert line["message"] == "failed x"
    assert "topsecret" not in line["exc"] and "RuntimeError" in line["exc"]


def test_text_lines_show_ids_only_inside_a_call(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("text", "INFO")
    try:
        log.info("idle")
        with call_context(call_id=11, lead_id=5):
            log.info("talking")
        log.info("idle again")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    idle, talking, again = capsys.readouterr().err.splitlines()
    assert idle.endswith("robot.tests.logs idle") and "[" not in idle
    assert talking.endswith("robot.tests.logs [call=11 lead=5] talking")
    assert again.endswith("robot.tests.logs idle again")


def test_log_format_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLROBOT_LOG_FORMAT", "json")
    monkeypatch.setenv("CALLROBOT_LOG_LEVEL", "DEBUG")
    override_settings(None)
    root = logging.getLogger()
    level = root.level
    try:
        assert CliRunner().invoke(app, ["keys", "--help"]).exit_code == 0
        ours = [h for h in root.handlers if getattr(h, "_callrobot", False)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, JsonFormatter)
        assert root.level == logging.DEBUG
        monkeypatch.setenv("CALLROBOT_LOG_FORMAT", "xml")
        with pytest.raises(ValueError, match="log_format"):
            Settings()
    finally:
        for handler in [h for h in root.handlers if getattr(h, "_callrobot", False)]:
            root.removeHandler(handler)
        root.setLevel(level)
