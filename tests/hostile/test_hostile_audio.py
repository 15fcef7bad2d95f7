"""Attacks on audio files: lying and truncated WAV headers, absurd formats, over-long audio.

Every reader (``replay``, ``asr``, ``voicemail detect``, the simulated callee) opens files
through one checked function; each attack must end in an error naming the file and never
read or allocate as far as the header claims.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from payloads import HANG_BOUND_S, in_child

from robot.audio import read_wav
from robot.audio_files import AudioFileError
from robot.config import Settings, override_settings
from robot.errors import ValidationError
from robot.input_limits import InputLimits
from robot.recording import read_recording
from robot.replay import load_recorded_call
from voicemail.detector import read_callee_audio

CALLROBOT = str(Path(sys.executable).parent / "callrobot")
ONE_SECOND = np.zeros(8000, dtype="<i2").tobytes()


def wav_bytes(
    pcm: bytes = ONE_SECOND,
    *,
    rate: int = 8000,
    channels: int = 1,
    data_claim: int | None = None,
    riff_claim: int | None = None,
) -> bytes:
    block = channels * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * block) & 0xFFFFFFFF, block, 16)
    claim = len(pcm) if data_claim is None else data_claim
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", claim)
    body += pcm
    return b"RIFF" + struct.pack("<I", len(body) if riff_claim is None else riff_claim) + body


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _error_of(path: Path) -> tuple[str, str] | str:
    try:
        read_wav(path)
    except ValidationError as e:
        return type(e).__name__, str(e)
    return "read"


def test_a_good_wav_still_reads(tmp_path: Path) -> None:
    audio = read_wav(_write(tmp_path, "ok.wav", wav_bytes()))
    assert (audio.rate, audio.samples) == (8000, 8000)


def test_header_claiming_4_gigabytes_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "liar.wav", wav_bytes(data_claim=0xFFFFFFF0, riff_claim=0xFFFFFFFF))
    result = in_child(_error_of, path)
    assert result == (
        "returned",
        (
            "AudioFileError",
            f"{path}: truncated or lying WAV header: the data chunk claims 4294967280 bytes "
            "but the file holds 16000 after it",
        ),
    )


def test_truncated_wav_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "cut.wav", wav_bytes()[:60])
    kind, message = _error_of(path)
    assert kind == "AudioFileError"
    assert "claims 16000 bytes but the file holds 16 after it" in message


def test_wav_cut_inside_its_header_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "stub.wav", wav_bytes()[:30])
    kind, message = _error_of(path)
    assert kind == "AudioFileError"
    assert message.startswith(f"{path}: truncated WAV file: chunk b'fmt '")


def test_absurd_channel_count_is_refused_before_reading(tmp_path: Path) -> None:
    path = _write(tmp_path, "wide.wav", wav_bytes(b"\x00" * 2000 * 8, channels=1000))
    kind, message = _error_of(path)
    assert kind == "AudioFileError"
    assert "1000 channels, at most 2" in message
    assert "AUDIO_MAX_CHANNELS" in message


def test_absurd_sample_rate_is_refused(tmp_path: Path) -> None:
    for rate in (0, 4_000_000_000, 1_000_000):
        path = _write(tmp_path, f"rate{rate}.wav", wav_bytes(rate=rate))
        kind, message = _error_of(path)
        assert kind == "AudioFileError", rate
        assert str(path) in message


def test_audio_longer_than_the_cap_is_refused(tmp_path: Path) -> None:
    override_settings(Settings(data_dir=tmp_path, input_limits=InputLimits(audio_max_seconds=0.5)))
    kind, message = _error_of(_write(tmp_path, "long.wav", wav_bytes()))
    assert kind == "AudioFileError"
    assert "1 s of audio, more than 0.5 s" in message
    assert "AUDIO_MAX_SECONDS" in message


def test_not_audio_at_all_is_refused(tmp_path: Path) -> None:
    kind, message = _error_of(_write(tmp_path, "junk.wav", b"\x00" * 100))
    assert kind == "AudioFileError"
    assert "not a readable audio file" in message


def test_replay_refuses_a_lying_recording(tmp_path: Path) -> None:
    path = _write(tmp_path, "call.wav", wav_bytes(data_claim=0xFFFFFFF0))
    with pytest.raises(AudioFileError, match="lying WAV header"):
        read_recording(path)


def test_replay_turn_log_nested_100000_deep_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "call.wav", wav_bytes())
    path.with_suffix(".json").write_text('{"turns": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ValidationError, match=r"call.json:1:\d+: JSON nested deeper than 16"):
        load_recorded_call(path)


def test_voicemail_detect_reads_through_the_checked_opener(tmp_path: Path) -> None:
    path = _write(tmp_path, "vm.wav", wav_bytes(data_claim=0xFFFFFFF0))
    with pytest.raises(AudioFileError) as caught:
        read_callee_audio(path)
    assert str(caught.value).count(str(path)) == 1  # named once, not wrapped twice


def test_voicemail_detect_cli_reports_the_lying_file_and_goes_on(tmp_path: Path) -> None:
    bad = _write(tmp_path, "liar.wav", wav_bytes(data_claim=0xFFFFFFF0))
    good = _write(tmp_path, "ok.wav", wav_bytes())
    files = [str(bad), str(good)]
    result = subprocess.run(
        [CALLROBOT, "voicemail", "detect", "--vad", "webrtc", "--no-phrases", "--json", *files],
        capture_output=True,
        text=True,
        timeout=HANG_BOUND_S * 3,
    )
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["file"] == str(bad) and lines[0]["verdict"] is None
    assert "lying WAV header" in lines[0]["error"]
    assert lines[1]["file"] == str(good) and lines[1]["verdict"] in ("human", "machine", "unknown")


def test_replay_cli_reports_a_lying_recording_as_bad_input(tmp_path: Path) -> None:
    bad = _write(tmp_path, "call.wav", wav_bytes(data_claim=0xFFFFFFF0))
    bad.with_suffix(".json").write_text(json.dumps({"turns": [], "answered_ms": 0}))
    script = Path(__file__).resolve().parents[2] / "dialogues/scripts/lead_qualification.yaml"
    result = subprocess.run(
        [CALLROBOT, "replay", str(bad), "--script", str(script), "--json"],
        capture_output=True,
        text=True,
        timeout=HANG_BOUND_S * 3,
    )
    assert result.returncode == 2, result.stderr
    (line,) = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["file"] == str(bad) and line["same"] is False
    assert "truncated or lying WAV header" in line["error"]


def test_asr_cli_reports_a_lying_wav_and_transcribes_the_others(tmp_path: Path) -> None:
    bad = _write(tmp_path, "liar.wav", wav_bytes(data_claim=0xFFFFFFF0))
    good = _write(tmp_path, "silence.wav", wav_bytes())
    result = subprocess.run(
        [
            CALLROBOT,
            "asr",
            "--engine",
            "pocketsphinx",
            "--hints",
            "yes|no",
            "--json",
            str(bad),
            str(good),
        ],
        capture_output=True,
        text=True,
        timeout=HANG_BOUND_S * 3,
    )
    assert result.returncode == 1
    assert f"{bad}: cannot read audio: truncated or lying WAV header" in result.stderr
    (line,) = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["file"] == str(good)
