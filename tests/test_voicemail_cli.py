"""`callrobot voicemail detect` over real files, bad files included, in one process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from robot.audio import AudioChunk, read_wav, silence, write_wav
from robot.cli import app
from voicemail.devset import CATEGORIES

SOUNDS = Path("/usr/share/asterisk/sounds/en")
runner = CliRunner()


def _write(path: Path, *names: str, tail_ms: float = 0) -> Path:
    pcm = b"".join(read_wav(SOUNDS / f"{n}.wav", 8000).pcm for n in names)
    write_wav(path, AudioChunk(silence(300).pcm + pcm + silence(tail_ms).pcm, 8000))
    return path


def test_detect_json_gives_one_line_per_file_and_survives_bad_files(tmp_path: Path) -> None:
    machine = _write(tmp_path / "machine.wav", "vm-nobodyavail", "beep")
    human = _write(tmp_path / "human.wav", "hello", tail_ms=2500)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00not really a wave file")
    empty = tmp_path / "empty.wav"
    write_wav(empty, AudioChunk(b"", 8000))
    missing = tmp_path / "missing.wav"
    files = [machine, broken, human, missing, empty]
    result = runner.invoke(app, ["voicemail", "detect", *map(str, files), "--json"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(f) for f in files]
    by_file = {Path(line["file"]).name: line for line in lines}
    assert by_file["machine.wav"]["verdict"] == "machine"
    assert by_file["human.wav"]["verdict"] == "human"
    assert isinstance(by_file["human.wav"]["decision_ms"], int)
    assert "then silence" in by_file["human.wav"]["reason"]
    assert "not a readable audio file" in by_file["broken.wav"]["error"]
    assert "no such file" in by_file["missing.wav"]["error"]
    assert "no audio samples" in by_file["empty.wav"]["error"]
    assert str(broken) in result.stderr
    assert "3 of 5 file(s) could not be analysed" in result.stderr


def test_detect_readable_line_and_exit_zero(tmp_path: Path) -> None:
    human = _write(tmp_path / "hello.wav", "hello", tail_ms=2500)
    result = runner.invoke(app, ["voicemail", "detect", str(human)])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{human}: human at ")


def test_detect_rejects_an_unknown_vad_engine(tmp_path: Path) -> None:
    human = _write(tmp_path / "hello.wav", "hello")
    result = runner.invoke(app, ["voicemail", "detect", "--vad", "nope", str(human)])
    assert result.exit_code == 2
    assert "unknown VAD engine 'nope'" in result.stderr


def test_console_script_runs_detect_with_webrtc(tmp_path: Path) -> None:
    machine = _write(tmp_path / "vm.wav", "vm-intro")
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "callrobot"),
            "voicemail",
            "detect",
            "--vad",
            "webrtc",
            str(machine),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["verdict"] == "machine"


def test_devset_command_writes_a_labelled_set(tmp_path: Path) -> None:
    out = tmp_path / "set"
    result = runner.invoke(app, ["voicemail", "devset", str(out), "--per-category", "1"])
    assert result.exit_code == 0, result.output
    rows = (out / "labels.csv").read_text().splitlines()
    assert rows[0] == "file,label,category,split"
    assert len(rows) == 1 + 2 * len(CATEGORIES)
    assert all((out / row.split(",")[0]).exists() for row in rows[1:])


def test_detect_explain_prints_the_evidence_timeline(tmp_path: Path) -> None:
    machine = _write(tmp_path / "machine.wav", "vm-nobodyavail", "beep")
    result = runner.invoke(app, ["voicemail", "detect", "--no-phrases", "--explain", str(machine)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{machine}: machine")
    assert any(" vad " in line and "speech" in line for line in lines[1:])
    assert any(" tone " in line for line in lines[1:])
    assert "verdict" in lines[-1]
    as_json = runner.invoke(
        app, ["voicemail", "detect", "--no-phrases", "--explain", "--json", str(machine)]
    )
    record = json.loads(as_json.stdout.splitlines()[0])
    assert record["verdict"] == "machine"
    assert {"vad", "tone", "verdict"} <= {e["source"] for e in record["evidence"]}
