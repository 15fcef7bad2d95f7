"""The streaming audio detector on real recordings (Debian asterisk-core-sounds-en-wav)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot.audio import AudioChunk, read_wav, silence
from voicemail.detector import DetectorSettings, Verdict, VoicemailDetector
from voicemail.devset_audio import sit_tones, tone
from voicemail.phrases import ListPhraseSpotter, PhraseHit, PocketsphinxPhraseSpotter
from voicemail.recordings import detect_audio

SOUNDS = Path("/usr/share/asterisk/sounds/en")
RATE = 8000


def prompt(name: str) -> AudioChunk:
    return read_wav(SOUNDS / f"{name}.wav", RATE)


def join(*parts: AudioChunk | np.ndarray) -> AudioChunk:
    pcm = b"".join(
        p.pcm if isinstance(p, AudioChunk) else AudioChunk.from_array(p, RATE).pcm for p in parts
    )
    return AudioChunk(pcm, RATE)


def test_voicemail_prompt_is_a_machine_by_its_long_greeting() -> None:
    no_words = DetectorSettings(phrases=False)  # the cadence alone
    verdict = detect_audio(join(silence(300), prompt("vm-intro")), no_words)
    assert verdict.verdict == "machine"
    assert verdict.evidence == "cadence"
    assert verdict.reason.startswith("greeting ")
    assert 1800 < verdict.decision_ms < 5000


def test_hello_then_silence_is_a_human_decided_soon_after_the_pause() -> None:
    audio = join(silence(400), prompt("hello"), silence(3000))
    verdict = detect_audio(audio)
    assert verdict.verdict == "human"
    assert "then silence" in verdict.reason
    assert verdict.decision_ms < 2500


def test_short_greeting_ending_in_a_beep_is_a_machine_by_the_beep() -> None:
    audio = join(silence(200), prompt("vm-isunavail"), silence(350), prompt("beep"))
    verdict = detect_audio(audio, DetectorSettings(phrases=False))
    assert verdict.verdict == "machine"
    assert verdict.evidence == "beep"
    assert verdict.reason.startswith("beep 700 Hz")


@pytest.mark.parametrize("freq_hz", [440.0, 1000.0, 1400.0])
def test_beep_frequency_is_reported(freq_hz: float) -> None:
    verdict = detect_audio(join(silence(500), tone(freq_hz, 0.5), silence(500)))
    assert verdict.evidence == "beep"
    assert abs(float(verdict.reason.split()[1]) - freq_hz) < 15


def test_sit_before_an_announcement_is_reported_as_sit() -> None:
    rng = np.random.default_rng(1)
    verdict = detect_audio(join(silence(200), sit_tones(rng), prompt("ss-noservice")))
    assert verdict.verdict == "machine"
    assert verdict.reason == "SIT tone"
    assert verdict.decision_ms < 1500


def test_sit_band_tone_alone_is_a_beep_not_a_sit() -> None:
    verdict = detect_audio(join(silence(200), tone(913.8, 0.3), silence(1500)))
    assert verdict.evidence == "beep"


@pytest.mark.parametrize("name", ["vm-intro", "ss-noservice", "vm-nobodyavail", "tt-weasels"])
def test_speech_never_counts_as_a_beep(name: str) -> None:
    settings = DetectorSettings(max_greeting_ms=60000, total_analysis_ms=60000)
    verdict = detect_audio(join(prompt(name), silence(100)), settings)
    assert verdict.evidence != "beep"


def test_streaming_feed_returns_none_until_decided_then_keeps_the_verdict() -> None:
    detector = VoicemailDetector()
    audio = join(silence(300), prompt("hello"), silence(2000))
    results: list[Verdict | None] = [detector.feed(f) for f in audio.frames(20)]
    first = next(i for i, r in enumerate(results) if r is not None)
    assert all(r is None for r in results[:first])
    assert all(r == results[first] for r in results[first:])
    assert detector.finish() == results[first]
    assert results[first] is not None and results[first].decision_ms == pytest.approx(
        (first + 1) * 20, abs=40
    )


def test_chunk_size_does_not_change_the_verdict() -> None:
    audio = join(silence(300), prompt("vm-nobodyavail"), silence(300), prompt("beep"), silence(500))
    verdicts = []
    for frame_ms in (10, 20, 60):
        detector = VoicemailDetector()
        verdict = None
        for frame in audio.frames(frame_ms):
            verdict = detector.feed(frame) or verdict
            if verdict:
                break
        verdicts.append(verdict or detector.finish())
    assert len({v.verdict for v in verdicts}) == 1
    assert max(v.decision_ms for v in verdicts) - min(v.decision_ms for v in verdicts) < 100


def test_16k_input_is_resampled_at_the_edge() -> None:
    audio = join(silence(300), prompt("hello"), silence(2000)).resampled(16000)
    assert detect_audio(audio).verdict == "human"


def test_initial_silence_verdict_is_a_setting() -> None:
    quiet = silence(4000)
    verdict = detect_audio(quiet)
    assert verdict.verdict == "human"
    assert verdict.reason == "initial silence 2.5 s"
    assert 2500 <= verdict.decision_ms < 2700  # plus the VAD window and resampler delay
    wary = DetectorSettings(initial_silence_verdict="unknown", initial_silence_ms=1000)
    verdict = detect_audio(quiet, wary)
    assert verdict.verdict == "unknown"
    assert verdict.reason == "initial silence 1.0 s"


def test_thresholds_are_settings() -> None:
    audio = join(silence(300), prompt("vm-intro"))
    patient = DetectorSettings(max_greeting_ms=60000, total_analysis_ms=4000, phrases=False)
    verdict = detect_audio(audio, patient)
    assert verdict.verdict == "machine"
    assert verdict.evidence == "timeout"
    assert verdict.decision_ms == pytest.approx(4000, abs=40)
    strict = DetectorSettings(max_greeting_ms=500, max_continuous_greeting_ms=0, phrases=False)
    assert detect_audio(audio, strict).decision_ms < 1500


def test_audio_ending_during_a_short_greeting_is_a_human() -> None:
    verdict = detect_audio(join(silence(200), prompt("hello")))
    assert verdict.verdict == "human"
    assert "audio ended" in verdict.reason


def test_machine_phrase_from_the_spotter_decides_before_the_cadence() -> None:
    spotter = ListPhraseSpotter([PhraseHit("leave a message", 900.0)])
    detector = VoicemailDetector(phrase_spotter=spotter)
    audio = join(silence(300), prompt("vm-intro"))
    verdict = None
    for frame in audio.frames(20):
        verdict = detector.feed(frame)
        if verdict:
            break
    assert verdict == Verdict("machine", 900.0, 'phrase "leave a message"', "phrase")


def test_pocketsphinx_spots_carrier_announcement_and_not_a_hello() -> None:
    spotter = PocketsphinxPhraseSpotter()
    hits = [h for f in prompt("ss-noservice").frames(20) for h in spotter.process(f)]
    assert "the number you have dialed" in {h.phrase for h in hits}
    spotter.reset()
    hello = join(prompt("hello"), silence(500), prompt("hello-world"))
    assert [h for f in hello.frames(20) for h in spotter.process(f)] == []


def test_phrase_setting_builds_the_real_spotter() -> None:
    audio = join(silence(200), prompt("ss-noservice"))
    verdict = detect_audio(audio, DetectorSettings(phrases=True, phrase_engine="pocketsphinx"))
    assert verdict.verdict == "machine"
    assert verdict.reason == 'phrase "the number you have dialed"'
