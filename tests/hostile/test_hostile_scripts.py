"""Attacks on script parsing: each is refused at its line with the limit it broke."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from payloads import HANG_BOUND_S, alias_bomb, deeply_nested, in_child, single_line

from dialogues.loader import load_script, load_script_text
from robot.config import Settings, override_settings
from robot.errors import ScriptError
from robot.input_limits import InputLimits

CALLROBOT = str(Path(sys.executable).parent / "callrobot")


def _problems_of(text: str) -> list[str]:
    try:
        load_script_text(text, filename="attack.yaml")
    except ScriptError as e:
        return [str(p) for p in e.problems]
    return []


def _problems_of_file(path: str) -> list[str]:
    try:
        load_script(path)
    except ScriptError as e:
        return [str(p) for p in e.problems]
    return []


def test_the_alias_bomb_is_small() -> None:
    assert len(alias_bomb().encode()) < 600  # the attack costs the attacker nothing


def test_alias_bomb_is_refused_by_the_loader() -> None:
    result = in_child(_problems_of, alias_bomb())
    assert result[0] == "returned", result
    (problem,) = result[1]
    # Refused at the first alias that takes the expanded document past the node cap.
    assert problem.startswith("attack.yaml:8:")
    assert "alias '*l4'" in problem
    assert "CALLROBOT_INPUT_LIMITS__SCRIPT_MAX_NODES" in problem


def test_aliases_that_stay_small_still_load() -> None:
    text = """script: shared
start: a
constants:
  closing: &bye Thanks, goodbye!
states:
  a:
    say: *bye
    disposition: incomplete
    end: true
"""
    assert _problems_of(text) == []


def test_recursive_alias_is_refused() -> None:
    result = in_child(_problems_of, "script: x\nstart: a\nx: &a [1, *a]\n")
    assert result[0] == "returned", result
    (problem,) = result[1]
    assert problem.startswith("attack.yaml:3:")
    assert "recursive alias" in problem


def test_alias_bomb_is_refused_by_script_validate(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    try:
        result = subprocess.run(
            [CALLROBOT, "script", "validate", str(path)],
            capture_output=True,
            text=True,
            timeout=HANG_BOUND_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("callrobot script validate hung on an alias bomb")
    assert result.returncode == 1
    assert f"{path}:8:" in result.stdout + result.stderr
    assert "SCRIPT_MAX_NODES" in result.stdout + result.stderr


def test_deep_nesting_is_refused_at_its_line_and_column() -> None:
    result = in_child(_problems_of, deeply_nested())
    assert result[0] == "returned", result
    (problem,) = result[1]
    # The root mapping is level 1, so the 50th bracket (after "x: ", column 53) is level 51.
    assert problem.startswith("attack.yaml:3:53:")
    assert "nested deeper than 50 levels" in problem
    assert "SCRIPT_MAX_DEPTH" in problem


def test_ten_megabyte_single_line_is_refused_before_parsing() -> None:
    result = in_child(_problems_of, single_line())
    assert result[0] == "returned", result
    (problem,) = result[1]
    assert problem.startswith("attack.yaml:1:1:")
    assert "SCRIPT_MAX_BYTES" in problem


def test_ten_megabyte_script_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(single_line())
    result = in_child(_problems_of_file, str(path))
    assert result == (
        "returned",
        [
            f"{path}:1:1: the file is larger than 1000000 bytes "
            "(limit CALLROBOT_INPUT_LIMITS__SCRIPT_MAX_BYTES)"
        ],
    )


def test_long_scalar_is_refused_at_its_line() -> None:
    text = "script: x\nstart: a\nx: " + "a" * 200_000 + "\n"
    (problem,) = _problems_of(text)
    assert problem.startswith("attack.yaml:3:4:")
    assert "SCRIPT_MAX_SCALAR_CHARS" in problem


def test_nul_byte_is_refused_at_its_line_and_column() -> None:
    (problem,) = _problems_of("script: x\nstart: a\nx: a\x00b\n")
    assert problem == "attack.yaml:3:5: YAML: character U+0000 is not allowed in YAML"


def test_invalid_utf8_in_a_script_file_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"script: x\nstart: a\nname: caf\xe9\n")
    (problem,) = _problems_of_file(str(path))
    assert problem == f"{path}:3:10: not UTF-8 text: byte 0xe9 cannot be decoded"


def test_parse_time_is_bounded(tmp_path: Path) -> None:
    # A budget no parse can meet shows the time check stops the parse, whatever the machine.
    override_settings(
        Settings(data_dir=tmp_path, input_limits=InputLimits(script_parse_timeout_s=1e-9))
    )
    (problem,) = _problems_of("script: x\nstart: a\nstates: {}\n")
    assert "parsing took longer than" in problem
    assert "SCRIPT_PARSE_TIMEOUT_S" in problem


def test_limits_come_from_settings(tmp_path: Path) -> None:
    override_settings(Settings(data_dir=tmp_path, input_limits=InputLimits(script_max_nodes=5)))
    (problem,) = _problems_of("script: x\nstart: a\nl: [1, 2, 3, 4, 5]\n")
    assert "more than 5 nodes" in problem


def test_bundled_scripts_fit_the_default_limits() -> None:
    scripts = Path(__file__).resolve().parents[2] / "dialogues" / "scripts"
    for path in sorted(scripts.glob("*.yaml")):
        assert _problems_of_file(str(path)) == [], path
