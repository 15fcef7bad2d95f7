"""Endpointing: real recordings with silence gaps through the real VADs, and the state logic."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from robot.audio import AudioChunk, read_wav, silence
from robot.errors import ValidationError
from robot.speech.endpoint import (
    Endpointer,
    EndpointerConfig,
    EndpointEventKind,
    detect_utterances,
)
from robot.speech.evaluation import ASTERISK_SOUNDS_DIR
from voicemail.vad import create_vad

EN = ASTERISK_SOUNDS_DIR / "en"
K = EndpointEventKind


def join(*chunks: AudioChunk) -> AudioChunk:
    return AudioChunk(b"".join(c.pcm for c in chunks), 8000)


@pytest.fixture(scope="module")
def conversation() -> tuple[AudioChunk, list[tuple[float, float]]]:
    """Three real utterances separated by silence, with their (start, end) in ms."""
    pieces = [
        silence(500),
        read_wav(EN / "vm-intro.wav"),
        silence(1200),
        read_wav(EN / "hello.wav"),
        silence(1000),
        read_wav(EN / "ss-noservice.wav"),
        silence(1000),
    ]
    spans, position = [], 0.0
    for i, piece in enumerate(pieces):
        if i % 2 == 1:
            spans.append((position, position + piece.duration_ms))
        position += piece.duration_ms
    return join(*pieces), spans


@pytest.mark.parametrize("vad_kind", ["webrtc", "silero"])
def test_finds_each_utterance_in_real_audio(conversation, vad_kind: str) -> None:
    audio, spans = conversation
    events = detect_utterances(audio, create_vad(vad_kind))
    ended = [e for e in events if e.kind is K.SPEECH_ENDED]
    started = [e for e in events if e.kind is K.SPEECH_STARTED]
    assert len(ended) == len(started) == 3
    for (start_ms, end_ms), start_event, end_event in zip(spans, started, ended, strict=True):
        assert start_ms < start_event.at_ms < start_ms + 800
        # the endpoint comes after the speech plus the trailing silence, not much later
        assert end_ms < end_event.at_ms < end_ms + 1000
        assert end_event.audio is not None and end_event.audio_start_ms is not None
        assert end_event.audio_start_ms < start_ms + 400  # pre-roll keeps the first syllable
        assert end_event.audio.duration_ms > 0.6 * (end_ms - start_ms)
    # every end was announced early (maybe_ended) before it became certain
    for end_event in ended:
        early = [e for e in events if e.kind is K.MAYBE_ENDED and e.at_ms <= end_event.at_ms]
        assert early and end_event.at_ms - early[-1].at_ms <= 400


def test_utterance_audio_is_the_spoken_audio(conversation) -> None:
    audio, _spans = conversation
    ended = [e for e in detect_utterances(audio, create_vad("webrtc")) if e.kind is K.SPEECH_ENDED]
    hello = ended[1]
    assert hello.audio is not None and hello.audio_start_ms is not None
    offset = int(hello.audio_start_ms * 8) * 2
    assert hello.audio.pcm == audio.pcm[offset : offset + len(hello.audio.pcm)]


@dataclass(frozen=True)
class Frame:
    start_ms: float
    end_ms: float
    is_speech: bool


def run_pattern(endpointer: Endpointer, pattern: str, frame_ms: int = 20):
    """Feed one frame per character: '#' speech, '.' silence. Returns events."""
    events = []
    for i, mark in enumerate(pattern):
        frame = AudioChunk(b"\x01\x00" * (8 * frame_ms), 8000)
        vad = [Frame(i * frame_ms, (i + 1) * frame_ms, mark == "#")]
        events.extend(endpointer.feed(frame, vad))
    return events


def test_short_backchannel_does_not_barge_in_while_the_robot_speaks() -> None:
    endpointer = Endpointer()
    endpointer.robot_speaking = True
    uh_huh = "." * 5 + "#" * 12 + "." * 40  # 240 ms of voice
    assert run_pattern(endpointer, uh_huh) == []
    endpointer = Endpointer()
    endpointer.robot_speaking = True
    kinds = [e.kind for e in run_pattern(endpointer, "." * 5 + "#" * 16 + "." * 40)]
    assert kinds == [K.SPEECH_STARTED, K.MAYBE_ENDED, K.SPEECH_ENDED]


def test_short_answer_counts_while_the_robot_listens() -> None:
    endpointer = Endpointer()
    events = run_pattern(endpointer, "." * 5 + "#" * 12 + "." * 40)
    assert [e.kind for e in events] == [K.SPEECH_STARTED, K.MAYBE_ENDED, K.SPEECH_ENDED]
    assert events[0].at_ms == pytest.approx(5 * 20 + 120)  # min_speech_listening_ms
    trailing = endpointer.config.trailing_silence_ms
    assert events[-1].at_ms == pytest.approx((5 + 12) * 20 + trailing)  # trailing silence
    assert events[-1].speech_ms == pytest.approx(240)


def test_a_pause_shorter_than_the_trailing_silence_resumes_the_utterance() -> None:
    endpointer = Endpointer(EndpointerConfig(trailing_silence_ms=600, early_silence_ms=200))
    events = run_pattern(endpointer, "#" * 20 + "." * 15 + "#" * 20 + "." * 35)
    kinds = [e.kind for e in events]
    assert kinds == [
        K.SPEECH_STARTED,
        K.MAYBE_ENDED,
        K.SPEECH_RESUMED,
        K.MAYBE_ENDED,
        K.SPEECH_ENDED,
    ]
    final = events[-1]
    assert final.speech_ms == pytest.approx(800)
    assert final.audio is not None and final.audio.duration_ms == pytest.approx(55 * 20 + 200)


def test_a_long_monologue_is_cut_at_max_utterance() -> None:
    endpointer = Endpointer(EndpointerConfig(max_utterance_ms=1000))
    events = run_pattern(endpointer, "#" * 60)
    ended = [e for e in events if e.kind is K.SPEECH_ENDED]
    assert len(ended) == 1 and ended[0].at_ms == pytest.approx(1000)


def test_bad_configuration_names_the_setting() -> None:
    with pytest.raises(ValidationError, match="early_silence_ms"):
        EndpointerConfig(trailing_silence_ms=200, early_silence_ms=300)
    with pytest.raises(ValidationError, match="pre_roll_ms"):
        EndpointerConfig(pre_roll_ms=-1)


def test_mixed_rates_are_refused() -> None:
    endpointer = Endpointer()
    endpointer.feed(silence(20), [])
    with pytest.raises(ValidationError, match="16000 Hz"):
        endpointer.feed(silence(20, rate=16000), [])


def test_configuration_comes_from_settings(isolated_settings) -> None:
    from robot.speech.endpoint import endpointer_config_from_settings

    isolated_settings.speech.endpoint.trailing_silence_ms = 450
    config = endpointer_config_from_settings()
    assert config.trailing_silence_ms == 450 and config.min_speech_ms == 300
    assert config.candidate_gap_ms == isolated_settings.speech.endpoint.candidate_gap_ms
    isolated_settings.speech.endpoint.early_silence_ms = 500
    with pytest.raises(ValidationError, match="early_silence_ms"):
        endpointer_config_from_settings()


def test_the_endpointer_defaults_are_the_settings_defaults() -> None:
    from robot.speech.settings import EndpointSettings

    settings, config = EndpointSettings(), EndpointerConfig()
    for name in EndpointerConfig.__dataclass_fields__:
        assert getattr(config, name) == getattr(settings, name), name


def test_events_carry_the_voiced_span() -> None:
    events = run_pattern(Endpointer(), "." * 5 + "#" * 12 + "." * 40)
    assert events[0].speech_start_ms == pytest.approx(5 * 20)
    assert events[-1].speech_start_ms == pytest.approx(5 * 20)
    assert events[-1].speech_end_ms == pytest.approx((5 + 12) * 20)
