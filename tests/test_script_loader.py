"""The script loader: valid scripts load; broken ones report every problem with its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialogues.loader import load_script, load_script_text, validate_file
from robot.errors import ScriptError

SCRIPTS = Path(__file__).resolve().parents[1] / "dialogues" / "scripts"
BUNDLED = sorted(SCRIPTS.glob("*.yaml"))

MINIMAL = """\
script: minimal
start: hello
intents:
  affirm: [yes, yeah, sure]
  deny: [no, nope]
slots:
  ok: yes_no
states:
  hello:
    ask: Is this a good time?
    on:
      affirm: done
      deny: done
  done:
    say: Bye.
    disposition: qualified
    end: true
"""


def problems_of(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(ScriptError) as info:
        load_script_text(text, filename="t.yaml")
    return [(p.line, p.column, p.message) for p in info.value.problems]


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_scripts_validate(path: Path) -> None:
    loaded = load_script(path)
    assert loaded.script.start in loaded.script.states
    assert loaded.script.tests, "every bundled script carries test conversations"
    assert validate_file(path) == []


def test_minimal_script_loads() -> None:
    loaded = load_script_text(MINIMAL)
    assert loaded.examples["affirm"] == ["yes", "yeah", "sure"]
    assert loaded.script.states["hello"].on["affirm"][0].goto == "done"


def test_yaml_syntax_error_has_position() -> None:
    text = MINIMAL.replace("    ask: Is this a good time?", "    ask: [Is this a good time?")
    [(line, _col, message)] = problems_of(text)
    assert message.startswith("YAML:")
    assert line >= 10


def test_several_problems_reported_at_once_with_lines() -> None:
    text = """\
script: broken
start: greet
intents:
  affirm: [yes]
slots:
  budget: monee
states:
  greet:
    ask: Hi {lead.first_name}, is {company} right?
    slot: budget
    next: nowhere
    on:
      affirm: confirm
      mumble: confirm
  confirm:
    say: Good.
    end: true
  orphan:
    say: Never reached.
    disposition: qualified
    end: true
"""
    found = problems_of(text)
    messages = {m: (line, col) for line, col, m in found}
    assert messages[
        "slot 'budget' has unknown type 'monee' (known: choice, date, datetime, "
        "digits, free_text, integer, money, time, yes_no)"
    ] == (6, 11)
    assert messages["transition to unknown state 'nowhere'"] == (11, 11)
    assert messages["intent 'mumble' is used but never defined"] == (14, 7)
    assert messages["end state 'confirm' needs a disposition"] == (15, 3)
    assert messages["state 'orphan' is unreachable from 'greet'"] == (18, 3)
    assert messages["lead variable 'first_name' is used but not declared in 'variables'"][0] == 9
    assert messages["unknown constant '{company}': declare it under 'constants'"][0] == 9
    assert len(found) == 7


def test_unknown_field_and_typed_errors_point_at_the_key() -> None:
    text = MINIMAL.replace("    ask: Is this a good time?", "    aks: Is this a good time?")
    text = text.replace("    disposition: qualified", "    disposition: qualifed")
    found = problems_of(text)
    assert (10, 5, "unknown field 'aks' in states.hello") in found
    assert any(line == 16 and "unknown disposition 'qualifed'" in m for line, _c, m in found)


def test_missing_start_and_did_you_mean() -> None:
    text = MINIMAL.replace("start: hello\n", "")
    assert (1, 1, "missing 'start': name the state the call begins in") in problems_of(text)
    text = MINIMAL.replace("      deny: done", "      deny: dnoe")
    [(line, _c, message)] = problems_of(text)
    assert line == 13
    assert message == "transition to unknown state 'dnoe' (did you mean 'done'?)"


def test_dead_end_state_and_slot_without_next() -> None:
    text = MINIMAL + "  limbo:\n    say: Hmm.\n"
    text = text.replace("      deny: done", "      deny: limbo")
    messages = [m for _l, _c, m in problems_of(text)]
    assert messages == [
        "state 'limbo' has no way forward: give it 'next', 'on', 'ask', or 'end: true'"
    ]
    text = MINIMAL.replace("    ask: Is this a good time?", "    ask: Ok?\n    slot: ok")
    assert [m for _l, _c, m in problems_of(text)] == [
        "state 'hello' fills slot 'ok' but has no 'next'"
    ]


def test_missing_nlu_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL.replace("intents:", "nlu: missing.yml\nintents:"))
    [problem] = validate_file(path)
    assert problem.file == str(path)
    assert (problem.line, problem.message) == (3, "NLU file not found: missing.yml")


def test_file_not_found() -> None:
    [problem] = validate_file("/nonexistent/script.yaml")
    assert problem.message == "file not found"


def test_qualified_dispositions_must_be_known_dispositions() -> None:
    text = MINIMAL.replace(
        "start: hello\n",
        "start: hello\nsettings:\n  qualified_dispositions: [qualified, tranferred]\n",
    )
    found = problems_of(text)
    assert any(
        (line, col) == (4, 39) and "unknown disposition 'tranferred'" in message
        for line, col, message in found
    ), found
    loaded = load_script_text(MINIMAL, filename="t.yaml")
    assert loaded.script.settings.qualified_dispositions == ["qualified"]
