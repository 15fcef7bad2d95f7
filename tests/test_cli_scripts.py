"""The script commands, run as a user runs them: validate, test, chat, nlu."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robot.cli import app

SCRIPTS = Path(__file__).resolve().parents[1] / "dialogues" / "scripts"
BUNDLED = sorted(SCRIPTS.glob("*.yaml"))

runner = CliRunner()


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_script_conversations_pass(path: Path) -> None:
    result = runner.invoke(app, ["script", "test", str(path)])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    passed, failed = (int(part.split()[0]) for part in last.split(", "))
    assert failed == 0 and passed >= 5


def test_script_test_reports_a_failing_conversation(tmp_path: Path) -> None:
    text = (SCRIPTS / "lead_qualification.yaml").read_text()
    broken = tmp_path / "lead_qualification.yaml"
    (tmp_path / "common_intents.yml").write_text((SCRIPTS / "common_intents.yml").read_text())
    broken.write_text(
        text.replace(
            "    expect: {disposition: wrong_person}\n", "    expect: {disposition: qualified}\n", 1
        )
    )
    result = runner.invoke(app, ["script", "test", str(broken), "-k", "wrong person"])
    assert result.exit_code == 1
    assert "lead_qualification.yaml::wrong person FAILED" in result.output
    assert "E end: expected disposition 'qualified', got 'wrong_person'" in result.output
    assert result.output.strip().endswith("0 passed, 1 failed")


def test_validate_prints_every_problem_with_position(tmp_path: Path) -> None:
    good = SCRIPTS / "delivery_confirmation.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "script: bad\nstart: a\nstates:\n  a:\n    ask: Hi?\n    on:\n      yes: b\n"
        "  b:\n    say: bye\n    end: true\n"
    )
    result = runner.invoke(app, ["script", "validate", str(good), str(bad)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert f"{good}: ok" in lines
    assert f"{bad}:7:7: intent 'yes' is used but never defined" in lines
    assert f"{bad}:8:3: end state 'b' needs a disposition" in lines

    result = runner.invoke(app, ["script", "validate", "--json", str(bad)])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"file", "line", "column", "message"} <= set(records[0])
    assert runner.invoke(app, ["script", "validate", str(good)]).exit_code == 0


def test_nlu_json_contract_from_arguments_and_stdin() -> None:
    result = runner.invoke(
        app, ["nlu", "lead_qualification", "--json", "please stop calling me", "yeah sure"]
    )
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert set(first) == {"text", "intent", "confidence", "entities"}
    assert first["intent"] == "do_not_call" and second["intent"] == "affirm"
    result = runner.invoke(
        app, ["nlu", "lead_qualification", "--json"], input="about five thousand dollars\n"
    )
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(e["entity"] == "money" for e in record["entities"])


def test_chat_by_text_reaches_a_disposition() -> None:
    lines = "\n".join(["who is this", "yes", "no not anymore"]) + "\n"
    result = runner.invoke(
        app, ["chat", "lead_qualification", "--lead", "first_name=Ann", "--json"], input=lines
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert "Ann" in records[0]["robot"]
    assert records[1]["intent"] == "ask_who"
    assert records[-1]["result"]["disposition"] == "not_interested"


def test_chat_dtmf_and_debug_output() -> None:
    result = runner.invoke(
        app,
        [
            "chat",
            "delivery_confirmation",
            "--debug",
            "-l",
            "order_id=12",
            "-l",
            "delivery_day=Monday",
            "-l",
            "address=1 Main St",
        ],
        input="/1\n/1\n",
    )
    assert result.exit_code == 0, result.output
    assert "[state confirm_address]" in result.output
    assert "'disposition': 'qualified'" in result.output


def test_bad_lead_option_and_missing_script() -> None:
    result = runner.invoke(app, ["chat", "lead_qualification", "--lead", "oops"], input="")
    assert result.exit_code == 1
    result = runner.invoke(app, ["nlu", "no_such_script.yaml", "hi"])
    assert result.exit_code == 1
    assert "no_such_script.yaml:1:1: file not found" in result.output


def test_text_demo_prints_lead_records() -> None:
    result = runner.invoke(app, ["demo", "--text", "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["disposition"] for r in records] == ["qualified", "not_interested", "callback"]
    assert records[0]["answers"]["budget"] == {"amount": "15000", "currency": "USD"}
