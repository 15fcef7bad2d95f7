"""Tone tracking (beeps, SIT) and AMD-style cadence logic."""

from __future__ import annotations

import numpy as np
import pytest

from robot.audio import AudioChunk, read_wav
from voicemail.cadence import CadenceCall, CadenceLimits, CadenceTracker
from voicemail.devset_audio import sit_tones, tone
from voicemail.tones import ToneSegment, ToneTracker, goertzel_power, is_sit_sequence, sit_band
from voicemail.vad import VadFrame

RATE = 8000


def segments_of(audio: np.ndarray | AudioChunk) -> list[ToneSegment]:
    chunk = audio if isinstance(audio, AudioChunk) else AudioChunk.from_array(audio, RATE)
    tracker = ToneTracker()
    found = [s for frame in chunk.frames(20) for s in tracker.process(frame)]
    return found + tracker.flush()


def test_goertzel_measures_energy_at_one_frequency() -> None:
    wave = tone(1000.0, 0.2)
    assert goertzel_power(wave, 1000.0) == pytest.approx(1.0, abs=0.05)
    assert goertzel_power(wave, 1400.0) < 0.01
    assert goertzel_power(np.zeros(100), 1000.0) == 0.0


def test_real_beep_recording_is_one_pure_segment() -> None:
    beep = read_wav("/usr/share/asterisk/sounds/en/beep.wav", RATE)
    (segment,) = segments_of(beep)
    assert segment.freq_hz == pytest.approx(700, abs=10)
    assert segment.duration_ms == pytest.approx(beep.duration_ms, abs=40)
    assert segment.purity > 0.9


def test_tone_in_noise_is_still_found() -> None:
    rng = np.random.default_rng(3)
    wave = np.concatenate([np.zeros(1600), tone(850.0, 0.4, 0.3), np.zeros(1600)])
    noisy = (wave + rng.normal(0, 0.03, len(wave))).astype(np.float32)
    (segment,) = segments_of(noisy)
    assert segment.freq_hz == pytest.approx(850, abs=10)
    assert segment.duration_ms == pytest.approx(400, abs=60)


def test_two_tones_in_a_row_are_two_segments() -> None:
    found = segments_of(np.concatenate([tone(440, 0.3), tone(880, 0.3), np.zeros(800)]))
    assert [round(s.freq_hz, -1) for s in found] == [440, 880]


def test_sit_triple_is_recognised_and_a_falling_triple_is_not() -> None:
    found = segments_of(sit_tones(np.random.default_rng(0)))
    assert [sit_band(s.freq_hz) for s in found] == [0, 1, 2]
    assert is_sit_sequence(found)
    assert not is_sit_sequence(found[::-1])
    assert not is_sit_sequence(found[:2])


def test_noise_and_silence_have_no_tones() -> None:
    rng = np.random.default_rng(5)
    assert segments_of(rng.normal(0, 0.1, RATE * 2).astype(np.float32)) == []
    assert segments_of(np.zeros(RATE * 2, dtype=np.float32)) == []


def frames(pattern: str, frame_ms: float = 20.0) -> list[VadFrame]:
    """'s' speech, '.' silence, one character per frame."""
    return [
        VadFrame(i * frame_ms, (i + 1) * frame_ms, 1.0 if c == "s" else 0.0, c == "s")
        for i, c in enumerate(pattern)
    ]


def run_cadence(
    pattern: str, limits: CadenceLimits | None = None
) -> tuple[CadenceCall | None, CadenceTracker]:
    tracker = CadenceTracker(limits)
    for frame in frames(pattern):
        call = tracker.update(frame)
        if call:
            return call, tracker
    return None, tracker


def test_short_greeting_then_silence_is_human() -> None:
    call, _ = run_cadence("." * 20 + "s" * 30 + "." * 40)
    assert call is not None and call.kind == "human"
    assert call.at_ms == pytest.approx((20 + 30 + 35) * 20)
    assert call.reason == "greeting 0.6 s then silence 0.7 s"


def test_long_greeting_is_machine_even_with_short_pauses() -> None:
    call, tracker = run_cadence("." * 10 + ("s" * 20 + "." * 10) * 5)
    assert call is not None and call.kind == "machine"
    assert call.reason.endswith("> 2.0 s")
    assert tracker.words >= 4


def test_clicks_shorter_than_a_word_do_not_start_a_greeting() -> None:
    call, tracker = run_cadence(("s" * 3 + "." * 30) * 5)
    assert call is not None and call.kind == "initial_silence"
    assert not tracker.in_greeting
    assert tracker.words == 0


def test_initial_silence_and_word_limit() -> None:
    call, _ = run_cadence("." * 130)
    assert call is not None and call.kind == "initial_silence"
    limits = CadenceLimits(max_words=2, max_greeting_ms=0)
    call, _ = run_cadence(("s" * 8 + "." * 10) * 4, limits)
    assert call is not None and call.reason == "3 words > 2"


def test_one_breath_greeting_waits_for_the_continuous_limit() -> None:
    limits = CadenceLimits(max_greeting_ms=1000, max_continuous_greeting_ms=2000)
    call, _ = run_cadence("s" * 60 + "." * 45, limits)  # 1.2 s in one breath, then silence
    assert call is not None and call.kind == "human"
    call, _ = run_cadence("s" * 120, limits)
    assert call is not None and call.reason == "greeting 2.0 s > 2.0 s in few sentences"
    # A sentence pause (>= 350 ms) inside a long greeting is what machines do.
    call, tracker = run_cadence("s" * 30 + "." * 20 + "s" * 40, limits)
    assert call is not None and call.kind == "machine"
    assert tracker.sentence_pauses == 1
    assert call.reason.endswith(" s > 1.0 s")
