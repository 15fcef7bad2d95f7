"""VAD engines on real recordings (Debian asterisk-core-sounds-en-wav) and generated signals."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from robot.audio import AudioChunk, read_wav
from robot.errors import ValidationError
from voicemail.vad import VadFrame, VoiceActivityDetector, create_vad

SOUNDS = Path("/usr/share/asterisk/sounds/en")
RATE = 8000


def _run(vad: VoiceActivityDetector, audio: AudioChunk, frame_ms: int = 20) -> list[VadFrame]:
    frames: list[VadFrame] = []
    for chunk in audio.frames(frame_ms):
        frames.extend(vad.process(chunk))
    return frames


def _speech_share(frames: list[VadFrame]) -> float:
    return sum(f.is_speech for f in frames) / len(frames)


def _noise(seconds: float) -> AudioChunk:
    rng = np.random.default_rng(7)
    return AudioChunk.from_array(rng.normal(0, 0.1, int(RATE * seconds)).astype(np.float32), RATE)


def _music(seconds: float) -> AudioChunk:
    """A hold-music-like melody: harmonic notes changing every third of a second."""
    t = np.arange(int(RATE * seconds)) / RATE
    notes = np.array([262, 330, 392, 523, 440, 349])
    pitch = notes[(t / 0.333).astype(int) % len(notes)]
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    wave = 0.3 * np.sin(phase) + 0.15 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)
    return AudioChunk.from_array(wave.astype(np.float32), RATE)


@pytest.fixture(scope="module")
def speech() -> AudioChunk:
    return read_wav(SOUNDS / "vm-intro.wav")


@pytest.mark.parametrize("kind", ["silero", "webrtc"])
def test_speech_is_detected_and_silence_is_not(kind: str, speech: AudioChunk) -> None:
    vad = create_vad(kind)
    assert _speech_share(_run(vad, speech)) > 0.6
    vad.reset()
    assert _speech_share(_run(vad, AudioChunk(b"\x00\x00" * RATE * 3, RATE))) == 0.0


def test_silero_ignores_noise_and_music_that_webrtc_calls_speech() -> None:
    silero, webrtc = create_vad("silero"), create_vad("webrtc")
    for signal in (_noise(3), _music(3)):
        silero.reset()
        webrtc.reset()
        assert _speech_share(_run(silero, signal)) < 0.05
        assert _speech_share(_run(webrtc, signal)) > 0.5


@pytest.mark.parametrize("kind", ["silero", "webrtc"])
def test_frames_cover_the_stream_contiguously_whatever_the_chunk_size(
    kind: str, speech: AudioChunk
) -> None:
    whole = _run(create_vad(kind), speech, frame_ms=20)
    odd = create_vad(kind)
    pieces: list[VadFrame] = []
    pcm = speech.pcm
    for start in range(0, len(pcm), 2 * 37):  # 37-sample chunks
        pieces.extend(odd.process(AudioChunk(pcm[start : start + 74], RATE)))
    # The 20 ms split zero-pads its last frame, so it may yield one frame more.
    common = min(len(whole), len(pieces))
    assert len(whole) - common <= 1
    assert [f.start_ms for f in whole[:common]] == [f.start_ms for f in pieces[:common]]
    assert whole[0].start_ms == 0.0
    for before, after in itertools.pairwise(whole):
        assert after.start_ms == pytest.approx(before.end_ms)
    assert whole[-1].end_ms == pytest.approx(speech.duration_ms, abs=100)
    agree = sum(a.is_speech == b.is_speech for a, b in zip(whole, pieces, strict=False))
    assert agree / common > 0.97


def test_silero_accepts_16k_input_and_agrees_with_8k(speech: AudioChunk) -> None:
    at_8k = _run(create_vad("silero"), speech)
    at_16k = _run(create_vad("silero"), speech.resampled(16000))
    assert abs(len(at_8k) - len(at_16k)) <= 2
    agree = sum(a.is_speech == b.is_speech for a, b in zip(at_8k, at_16k, strict=False))
    assert agree / min(len(at_8k), len(at_16k)) > 0.9


def test_reset_restarts_timeline_and_state(speech: AudioChunk) -> None:
    vad = create_vad("silero")
    first = _run(vad, speech)
    vad.reset()
    second = _run(vad, speech)
    assert [f.start_ms for f in first] == [f.start_ms for f in second]
    # The stream resampler may differ by a least significant bit between runs.
    for a, b in zip(first, second, strict=True):
        assert a.speech_prob == pytest.approx(b.speech_prob, abs=0.1)


def test_timestamp_of_first_chunk_sets_the_origin() -> None:
    vad = create_vad("webrtc")
    frames = vad.process(AudioChunk(b"\x00\x00" * 800, RATE, timestamp_ms=1500.0))
    assert frames[0].start_ms == 1500.0
    assert frames[-1].end_ms == pytest.approx(1600.0)


def test_threshold_changes_silero_decisions(speech: AudioChunk) -> None:
    lenient = _speech_share(_run(create_vad("silero", threshold=0.1), speech))
    strict = _speech_share(_run(create_vad("silero", threshold=0.95), speech))
    assert lenient > strict


def test_bad_engine_and_threshold_are_named() -> None:
    with pytest.raises(ValidationError, match="unknown VAD engine 'bogus'"):
        create_vad("bogus")
    with pytest.raises(ValidationError, match="threshold"):
        create_vad("silero", threshold=1.5)
