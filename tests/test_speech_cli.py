"""The ``callrobot asr`` and ``callrobot tts`` commands, run as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from robot.audio import read_wav
from robot.speech.evaluation import asterisk_prompts, word_error_rate


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "from robot.cli import app; app()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_asr_command_transcribes_ten_sentence_prompts(tmp_path: Path) -> None:
    prompts = asterisk_prompts("en", min_words=3)[::28][:10]
    assert len(prompts) == 10
    result = run("asr", "--json", *(str(p.path) for p in prompts), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(p.path) for p in prompts]
    assert all(set(line) == {"file", "text"} for line in lines)
    wer = word_error_rate([(p.text, line["text"]) for p, line in zip(prompts, lines, strict=True)])
    assert wer <= 0.15, lines


def test_asr_reports_an_unreadable_file_and_keeps_the_others(tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....not audio")
    good = asterisk_prompts("en", min_words=3)[0]
    result = run("asr", "--json", str(broken), str(good.path), cwd=tmp_path)
    assert result.returncode == 1
    assert f"{broken}: cannot read audio" in result.stderr
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["file"] == str(good.path) and line["text"]


def test_asr_with_hints_uses_the_grammar_engine(tmp_path: Path) -> None:
    no = "/usr/share/asterisk/sounds/en/vm-no.wav"
    result = run("asr", "--engine", "pocketsphinx", "--hints", "yes|no", no, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{no}: no"


def test_tts_writes_an_8khz_wav(tmp_path: Path) -> None:
    out = tmp_path / "prompts" / "hello.wav"
    result = run("tts", "Hello, this is a test call.", "-o", str(out), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    audio = read_wav(out)
    assert summary["engine"] == "piper" and audio.rate == 8000
    assert abs(summary["duration_ms"] - audio.duration_ms) < 2


def test_tts_errors_are_clear(tmp_path: Path) -> None:
    empty = run("tts", "  ", "-o", str(tmp_path / "x.wav"), cwd=tmp_path)
    assert empty.returncode == 1 and "text is empty" in empty.stderr
    bad = run("tts", "hi", "-o", str(tmp_path / "x.wav"), "--engine", "festival", cwd=tmp_path)
    assert bad.returncode == 1 and "unknown TTS engine 'festival'" in bad.stderr
