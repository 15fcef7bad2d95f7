"""Beeps at any frequency and SIT after a greeting, through a telephone channel.

The greetings are synthesized (espeak-ng, piper) and the beeps are pure tones; every case goes
through a 300-3400 Hz band-pass and a G.711 round trip. Phrase reading is off where the beep
alone must decide, so no verdict here depends on what Whisper hears.
"""

from __future__ import annotations

import numpy as np
import pytest

from robot.audio import AudioChunk
from voicemail.beeps import ToneJudge
from voicemail.detector import DetectorSettings, VoicemailDetector
from voicemail.devset import default_cache_dir
from voicemail.devset_audio import (
    VoiceBank,
    add_noise,
    alaw_round_trip,
    band_pass,
    mulaw_round_trip,
    seconds,
    sit_tones,
    tone,
    tone_at_dbfs,
)
from voicemail.level import LevelLimiter
from voicemail.recordings import detect_with
from voicemail.timeline import Timeline
from voicemail.tones import ToneTracker

RATE = 8000


@pytest.fixture(scope="module")
def bank() -> VoiceBank:
    return VoiceBank(default_cache_dir())


@pytest.fixture(scope="module")
def tones_only() -> VoicemailDetector:
    return VoicemailDetector(DetectorSettings(phrases=False))


def channel(*parts: np.ndarray, law: str = "mu", snr_db: float | None = None) -> AudioChunk:
    audio = np.concatenate([seconds(0.3), *parts, seconds(1.5)])
    if snr_db is not None:
        audio = add_noise(audio, snr_db, "pink", np.random.default_rng(7))
    audio = band_pass(audio)
    audio = alaw_round_trip(audio) if law == "a" else mulaw_round_trip(audio)
    return AudioChunk.from_array(audio, RATE)


@pytest.mark.parametrize("freq_hz", [1000.0, 1400.0, 440.0, 2000.0])
@pytest.mark.parametrize("law", ["mu", "a"])
def test_beep_after_a_greeting_is_a_machine_at_any_frequency(
    bank: VoiceBank, tones_only: VoicemailDetector, freq_hz: float, law: str
) -> None:
    greeting = bank.say("espeak:en-us", "Hey, it's Kate. Leave a message.")
    audio = channel(greeting, seconds(0.3), tone(freq_hz, 0.4, 0.3), law=law)
    verdict = detect_with(tones_only, audio)
    assert verdict.verdict == "machine"
    assert verdict.evidence == "beep"
    assert abs(float(verdict.reason.split()[1]) - freq_hz) < 15
    beep_starts_ms = (0.3 + len(greeting) / RATE + 0.3) * 1000
    assert beep_starts_ms < verdict.decision_ms < beep_starts_ms + 1000


@pytest.mark.parametrize(("freq_hz", "seconds_long"), [(1000.0, 0.1), (2400.0, 0.1), (700, 2.0)])
def test_short_quiet_beep_in_noise_is_found(
    bank: VoiceBank, tones_only: VoicemailDetector, freq_hz: float, seconds_long: float
) -> None:
    greeting = bank.say("espeak:en-gb+f3", "Please leave a message.")
    beep = tone_at_dbfs(freq_hz, seconds_long, -30.0)
    greeting = greeting * (0.1 / np.sqrt(np.mean(greeting**2)))  # speech at -20 dBFS
    verdict = detect_with(tones_only, channel(greeting, seconds(0.4), beep, snr_db=25))
    assert verdict.evidence == "beep", verdict


def test_greeting_pause_beep_is_not_a_human_after_the_pause(
    bank: VoiceBank, tones_only: VoicemailDetector
) -> None:
    """The issue's case: 0.3 s silence and a 1000 Hz beep must not end as 'then silence'."""
    greeting = bank.say("piper:1.0", "Hey, it's Kate. Leave a message.")
    verdict = detect_with(tones_only, channel(greeting, seconds(0.3), tone(1000.0, 0.4, 0.3)))
    assert (verdict.verdict, verdict.evidence) == ("machine", "beep")


def test_sit_triple_is_still_a_sit_after_a_law_g711(tones_only: VoicemailDetector) -> None:
    rng = np.random.default_rng(3)
    verdict = detect_with(tones_only, channel(sit_tones(rng), law="a"))
    assert (verdict.verdict, verdict.reason) == ("machine", "SIT tone")


def test_loud_band_limited_speech_still_starts_a_greeting(bank: VoiceBank) -> None:
    """Silero misses loud telephone-band speech; the level limiter in front of it does not."""
    greeting = bank.say("piper:1.0", "Hey, it's Kate. Leave a message.")
    loud = channel(greeting / np.max(np.abs(greeting)))
    limited = detect_with(VoicemailDetector(DetectorSettings(phrases=False)), loud)
    assert "initial silence" not in limited.reason
    assert limited.evidence != "beep"


def test_level_limiter_only_turns_down() -> None:
    limiter = LevelLimiter(-34.0)
    quiet = AudioChunk.from_array(tone(500.0, 0.5, 0.005), RATE)
    assert limiter.process(quiet).pcm == quiet.pcm
    loud = AudioChunk.from_array(tone(500.0, 0.5, 0.5), RATE)
    out = limiter.process(loud).to_float()[2000:]
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(out**2)))
    assert -37 < rms_dbfs < -31


def _judge(audio: np.ndarray) -> tuple[ToneJudge, list]:
    settings = DetectorSettings()
    tracker = ToneTracker()
    judge = ToneJudge(settings, tracker, Timeline())
    verdicts = []
    chunk = AudioChunk.from_array(audio, RATE)
    heard = 0.0
    for frame in chunk.frames(20):
        heard += frame.duration_ms
        if verdict := judge.update(tracker.process(frame), heard):
            verdicts.append(verdict)
    return judge, verdicts


def test_a_lone_first_band_sit_tone_is_a_beep_once_no_second_tone_follows() -> None:
    _, verdicts = _judge(np.concatenate([seconds(0.2), tone(985.2, 0.3), seconds(0.5)]))
    assert verdicts[0].evidence == "beep"
    assert verdicts[0].decision_ms > 500  # waited past the tone's end for a second SIT tone
    assert verdicts[0].decision_ms < 800


def test_second_band_tone_without_a_first_is_a_beep_while_it_plays() -> None:
    _, verdicts = _judge(np.concatenate([seconds(0.2), tone(1400.0, 1.0), seconds(0.2)]))
    assert verdicts[0].evidence == "beep"
    assert verdicts[0].decision_ms < 600


def test_sit_tones_are_held_back_until_the_triple_is_heard() -> None:
    rng = np.random.default_rng(5)
    judge, verdicts = _judge(np.concatenate([seconds(0.2), sit_tones(rng), seconds(0.5)]))
    assert [v.reason for v in verdicts[:1]] == ["SIT tone"]
    assert len(judge.timeline.of("tone")) >= 2


def test_explain_timeline_tells_tones_speech_and_verdict(
    bank: VoiceBank, tones_only: VoicemailDetector
) -> None:
    greeting = bank.say("espeak:en-us", "Hello, leave a message.")
    detect_with(tones_only, channel(greeting, seconds(0.3), tone(1000.0, 0.4, 0.3)))
    sources = [entry.source for entry in tones_only.timeline.entries]
    assert "vad" in sources and "tone" in sources
    assert sources[-1] == "verdict"
    assert "1000 Hz" in tones_only.timeline.of("tone")[-1].text
