"""``callrobot replay`` on a real recorded call, with the real engines.

One call to the wrong-person persona is placed over the simulated network (Piper voices,
Whisper, Silero VAD, the bundled lead-qualification script) and recorded; then it is replayed
three times: against the same script (nothing may differ in intents, states or the
disposition; transcripts are compared with the default word error rate tolerance, since the
same audio may be cut a little differently), against a copy of the script that routes the
wrong-person intent to another end state, and as part of a folder with a broken recording.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dialogues.loader import load_script
from robot.carriers.sim import SimCarrier
from robot.cli import app
from robot.config import Settings
from robot.engine import CallEngine
from robot.recording import read_recording

SCRIPTS = Path(__file__).resolve().parents[1] / "dialogues" / "scripts"
WRONG_PERSON = "+12025550105"
#: The recording is made in real time (turn log times are wall-clock ms); replays run faster.
REPLAY_SPEED = "1.5"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recording (.wav, with its .json turn log) of one wrong-person call."""
    folder = tmp_path_factory.mktemp("recorded")
    engine = CallEngine(settings=Settings(data_dir=tmp_path_factory.mktemp("engine")))
    loaded = load_script(SCRIPTS / "lead_qualification.yaml")

    async def place_call() -> str | None:
        carrier = SimCarrier(speed=1.0)
        try:
            report = await engine.call(
                carrier,
                WRONG_PERSON,
                loaded,
                lead={"first_name": "John"},
                timezone="America/New_York",
                recording_dir=folder,
            )
        finally:
            await carrier.close()
        assert report.disposition == "wrong_person", report
        return report.recording_path

    path = asyncio.run(place_call())
    assert path is not None
    # The robot ended the call: a replay holds the line open for it (see robot.replay).
    assert json.loads(Path(path).with_suffix(".json").read_text())["hangup_by"] == "local"
    return Path(path)


def replay(*args: str) -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(app, ["replay", *args, "--speed", REPLAY_SPEED, "--json"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, lines, result.stderr


def test_replay_by_call_id_against_the_same_script_finds_no_difference(
    recorded: Path, isolated_settings: Settings, tmp_path: Path
) -> None:
    stored = isolated_settings.data_dir / "recordings" / "2026-11-26"
    stored.mkdir(parents=True)
    for suffix in (".wav", ".json"):
        shutil.copy(recorded.with_suffix(suffix), stored)
    code, lines, stderr = replay(recorded.stem, "--record", str(tmp_path / "new"))
    assert lines and lines[0]["call_id"] == recorded.stem, stderr
    assert lines[0]["differences"] == [] and lines[0]["same"] is True
    assert lines[0]["disposition_before"] == lines[0]["disposition_after"] == "wrong_person"
    assert code == 0
    # --record keeps the replayed call: the same callee channel beside the new robot channel
    new_callee, new_robot = read_recording(tmp_path / "new" / f"{recorded.stem}-replay.wav")
    old_callee, _ = read_recording(recorded)
    new_left, old_left = new_callee.to_array(), old_callee.to_array()
    last_sound = int(np.nonzero(old_left)[0][-1])  # channels are zero-padded to the robot's end
    assert len(new_left) > last_sound
    assert np.array_equal(new_left[: last_sound + 1], old_left[: last_sound + 1])
    assert np.abs(new_robot.to_array()).max() > 1000
    turn_log = json.loads((tmp_path / "new" / f"{recorded.stem}-replay.json").read_text())
    assert turn_log["disposition"] == "wrong_person"


def test_replay_against_a_changed_script_names_the_turn_and_the_disposition(
    recorded: Path, tmp_path: Path
) -> None:
    source = (SCRIPTS / "lead_qualification.yaml").read_text(encoding="utf-8")
    routed = "    wrong_person: wrong_person_end\n"
    assert source.count(routed) == 1
    changed = tmp_path / "lead_qualification.yaml"
    changed.write_text(source.replace(routed, "    wrong_person: not_interested_end\n"))
    shutil.copy(SCRIPTS / "common_intents.yml", tmp_path)

    code, lines, stderr = replay(str(recorded), "--script", str(changed))
    assert code == 1, stderr
    differences = lines[0]["differences"]
    state = [d for d in differences if d["kind"] == "state"]
    assert len(state) == 1, differences
    assert state[0]["before"] == "wrong_person_end"
    assert state[0]["after"] == "not_interested_end"
    assert state[0]["turn"] >= 1
    assert {"kind": "disposition", "before": "wrong_person", "after": "not_interested"} in (
        differences
    )
    assert not [d for d in differences if d["kind"] in ("intent", "missing", "extra")]


def test_batch_replays_good_calls_and_names_broken_ones(recorded: Path, tmp_path: Path) -> None:
    for suffix in (".wav", ".json"):
        shutil.copy(recorded.with_suffix(suffix), tmp_path)
    shutil.copy(recorded, tmp_path / "orphan.wav")  # a recording without its turn log

    code, lines, stderr = replay(str(tmp_path))
    by_name = {Path(line["file"]).name: line for line in lines}
    assert by_name[recorded.name]["same"] is True, by_name
    assert "no turn log" in by_name["orphan.wav"]["error"]
    assert "orphan.wav" in stderr and "orphan.json is missing" in stderr
    assert code == 2  # bad input wins over "no differences" (and over differences)


def test_replay_of_an_unknown_call_id_is_bad_input() -> None:
    result = CliRunner().invoke(app, ["replay", "no-such-call"])
    assert result.exit_code == 2
    assert "no-such-call: no such recording file, folder or call id" in result.stderr


def test_replay_with_a_missing_script_is_bad_input(recorded: Path, tmp_path: Path) -> None:
    code, lines, stderr = replay(str(recorded), "--script", str(tmp_path / "gone.yaml"))
    assert code == 2
    assert "gone.yaml:1:1: file not found" in stderr
    assert lines[0]["file"] == str(recorded) and lines[0]["same"] is False
