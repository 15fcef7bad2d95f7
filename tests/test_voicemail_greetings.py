"""Greetings the detector once got wrong: short and Russian ones, long self-introductions.

Real models (Silero VAD, Whisper from the installed packages) on synthesized speech (piper,
espeak-ng) through a telephone channel. Verdicts only: the exact words Whisper hears are not
asserted.
"""

from __future__ import annotations

import numpy as np
import pytest

from robot.audio import AudioChunk
from voicemail.detector import DetectorSettings, VoicemailDetector
from voicemail.devset import default_cache_dir
from voicemail.devset_audio import VoiceBank, band_pass, mulaw_round_trip, seconds, tone
from voicemail.recordings import detect_with

RATE = 8000
JOHNSON = "Good afternoon, Johnson residence, how can I help you?"


@pytest.fixture(scope="module")
def bank() -> VoiceBank:
    return VoiceBank(default_cache_dir())


@pytest.fixture(scope="module")
def detector() -> VoicemailDetector:
    return VoicemailDetector(DetectorSettings())


def channel(*parts: np.ndarray, tail_s: float = 3.0) -> AudioChunk:
    audio = np.concatenate([seconds(0.3), *parts, seconds(tail_s)])
    return AudioChunk.from_array(mulaw_round_trip(band_pass(audio)), RATE)


@pytest.mark.parametrize("voice", ["espeak:ru", "espeak:ru+f4"])
def test_russian_short_greeting_then_a_beep_is_a_machine(
    bank: VoiceBank, detector: VoicemailDetector, voice: str
) -> None:
    greeting = bank.say(voice, "Оставьте сообщение.")
    audio = channel(greeting, seconds(0.3), tone(1000.0, 0.4, 0.3), tail_s=1.0)
    assert detect_with(detector, audio).verdict == "machine"


@pytest.mark.parametrize("voice", ["piper:1.3", "espeak:en-us@130"])
def test_long_human_introduction_is_a_human_by_its_words(
    bank: VoiceBank, detector: VoicemailDetector, voice: str
) -> None:
    intro = bank.say(voice, JOHNSON)
    assert len(intro) / RATE > 3.4
    verdict = detect_with(detector, channel(intro))
    assert verdict.verdict == "human", verdict


def test_words_hold_off_the_length_limit_that_cadence_alone_applies(
    bank: VoiceBank, detector: VoicemailDetector
) -> None:
    audio = channel(bank.say("espeak:en-us@130", JOHNSON))
    # The cadence alone takes a one-breath greeting this long for a machine's ...
    no_words = detect_with(VoicemailDetector(DetectorSettings(phrases=False)), audio)
    assert (no_words.verdict, no_words.evidence) == ("machine", "cadence")
    # ... the words ("how can I help") say it is a person.
    verdict = detect_with(detector, audio)
    assert verdict.verdict == "human", verdict
    assert any("held" in e.text for e in detector.timeline.of("cadence"))


def test_english_short_greeting_then_a_beep_is_a_machine(
    bank: VoiceBank, detector: VoicemailDetector
) -> None:
    greeting = bank.say("espeak:en-us+m4", "Leave a message.")
    audio = channel(greeting, seconds(0.3), tone(1400.0, 0.4, 0.3), tail_s=1.0)
    assert detect_with(detector, audio).verdict == "machine"


def test_short_hello_then_silence_stays_a_human(bank: VoiceBank, detector: VoicemailDetector):
    verdict = detect_with(detector, channel(bank.say("piper:1.0", "Hello?")))
    assert verdict.verdict == "human"
