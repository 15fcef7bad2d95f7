"""Cheaper greeting reads: tiny.en for English calls, fewer reads, the short window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot.audio import AudioChunk, read_wav
from robot.engine import CallEngine
from voicemail.detector import DetectorSettings, VoicemailDetector
from voicemail.recordings import detect_with

SOUNDS = Path("/usr/share/asterisk/sounds")


def test_calls_read_in_their_language_and_others_keep_the_configured_ones() -> None:
    settings = DetectorSettings()
    assert settings.phrase_language == "en,ru"
    assert settings.for_call_language("en").phrase_language == "en"
    assert settings.for_call_language("en-US").phrase_language == "en"
    assert settings.for_call_language("ru").phrase_language == "ru"
    assert settings.for_call_language("de") is settings


def test_the_call_engine_gives_english_calls_a_tiny_en_reader() -> None:
    engine = CallEngine()
    pool = engine.detector_pool("en")
    assert engine.detectors is pool and engine.detector_pool("en-US") is pool
    detector = pool.acquire()
    assert isinstance(detector, VoicemailDetector) and detector.reader is not None
    assert detector.reader.languages == ("en",)
    assert not detector.reader._model.multilingual  # tiny.en, not the multilingual base


def greeting() -> AudioChunk:
    """vm-nobodyavail then vm-intro with a short pause: 9 s of a real voicemail greeting."""
    parts = [read_wav(SOUNDS / "en" / f"{n}.wav", 8000) for n in ("vm-nobodyavail", "vm-intro")]
    gap = np.zeros(2400, np.float32)
    samples = np.concatenate([parts[0].to_float(), gap, parts[1].to_float()])
    return AudioChunk.from_array(samples, 8000)


@pytest.mark.parametrize("read_every_ms", [400.0, 800.0])
def test_tiny_en_reads_a_real_greeting_as_a_machine(read_every_ms: float) -> None:
    settings = DetectorSettings(phrase_language="en", read_every_ms=read_every_ms)
    detector = VoicemailDetector(settings)
    verdict = detect_with(detector, greeting())
    assert verdict.verdict == "machine" and verdict.evidence == "phrase", verdict
    assert "nobody is available" in verdict.reason.lower()


def test_reading_every_800_ms_reads_less_than_every_400_ms() -> None:
    """Read counts, not time: the same greeting, read on a longer stride, needs fewer reads.

    A recording with no machine phrase in it (an early phrase would end both after one read)."""
    audio = read_wav(SOUNDS / "en" / "tt-weasels.wav", 8000)
    reads = {}
    for every in (400.0, 800.0):
        detector = VoicemailDetector(
            DetectorSettings(phrase_language="en", read_every_ms=every, read_pause_ms=5000)
        )
        detect_with(detector, audio)
        assert detector.reader is not None
        reads[every] = detector.reader.reads
    assert 2 <= reads[800.0] < reads[400.0], reads
