"""Whisper on a window cut to the utterance: right words on real recordings, no run-on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from robot.audio import AudioChunk, read_wav
from robot.speech import whisper_window
from robot.speech.evaluation import asterisk_prompts, normalize_text, word_error_rate
from robot.speech.registry import create_recognizer
from robot.speech.settings import SpeechSettings
from robot.speech.whisper import WhisperOptions, WhisperRecognizer

#: Real Asterisk recordings from 0.8 s to 9 s, with their published transcripts.
PROMPTS = ["hello", "vm-goodbye", "vm-nobodyavail", "vm-intro", "vm-review", "conf-onlyperson"]


@pytest.fixture(scope="module")
def references() -> dict:
    return {p.name: p for p in asterisk_prompts("en", min_words=1)}


@pytest.fixture(scope="module")
def whisper() -> WhisperRecognizer:
    recognizer = WhisperRecognizer()
    assert recognizer.options.window == "short"  # the default
    return recognizer


def test_short_window_gives_the_words_of_short_and_long_recordings(whisper, references) -> None:
    whisper.decodes.clear()
    pairs = []
    for name in PROMPTS:
        transcript = whisper.transcribe(read_wav(references[name].path))
        assert not transcript.is_empty, name
        pairs.append((references[name].text, transcript.text))
    assert word_error_rate(pairs) <= 0.05, pairs
    assert whisper.decodes == {"short": len(PROMPTS)}  # none needed the full window


@pytest.mark.parametrize("pad_ms", [1000.0, WhisperOptions().window_pad_ms])
def test_a_sentence_is_not_decoded_twice(whisper, references, pad_ms: float) -> None:
    """On vm-nobodyavail with 1 s of padding the decoder used to say the sentence twice."""
    recognizer = WhisperRecognizer(options=replace(whisper.options, window_pad_ms=pad_ms))
    transcript = recognizer.transcribe(read_wav(references["vm-nobodyavail"].path))
    assert normalize_text(transcript.text) == normalize_text(references["vm-nobodyavail"].text)


def test_full_window_is_a_setting(references) -> None:
    recognizer = create_recognizer("whisper", "en", settings=SpeechSettings(whisper_window="full"))
    assert isinstance(recognizer, WhisperRecognizer) and recognizer.options.window == "full"
    transcript = recognizer.transcribe(read_wav(references["vm-intro"].path))
    assert word_error_rate([(references["vm-intro"].text, transcript.text)]) <= 0.1
    assert recognizer.decodes == {"full": 1}


def test_a_decoding_that_runs_out_of_tokens_is_redone_on_the_full_window(
    whisper, references, monkeypatch
) -> None:
    monkeypatch.setattr(whisper_window, "token_budget", lambda *args, **kwargs: 3)
    recognizer = WhisperRecognizer(options=whisper.options)
    transcript = recognizer.transcribe(read_wav(references["vm-intro"].path))
    assert recognizer.decodes == {"redo": 1, "full": 1}
    assert word_error_rate([(references["vm-intro"].text, transcript.text)]) <= 0.1


def test_audio_longer_than_one_window_is_decoded_on_full_windows(whisper, references) -> None:
    # 5 s of padding leaves 25 s of audio in one window: 26 s of speech goes to full windows.
    parts = [read_wav(references[name].path) for name in ("vm-intro", "vm-review")]
    audio = AudioChunk.from_array(
        np.concatenate([p.to_float() for p in parts * 2] + [np.zeros(4000, np.float32)]),
        parts[0].rate,
    )
    assert audio.duration_ms > 25_000
    recognizer = WhisperRecognizer(options=whisper.options)
    transcript = recognizer.transcribe(audio)
    assert recognizer.decodes == {"full": 1}
    assert "pound key" in transcript.text.lower()


def test_silence_stays_empty_on_the_short_window(whisper) -> None:
    rng = np.random.default_rng(3)
    for samples in (np.zeros(8000, np.float32), rng.normal(0, 0.05, 16000).astype(np.float32)):
        transcript = whisper.transcribe(AudioChunk.from_array(samples, 8000))
        assert transcript.is_empty and transcript.confidence == 0.0


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "Nobody is available to take your call. Nobody is available to take",
            "Nobody is available to take your call.",
        ),
        ("Call me later. Call me later.", "Call me later."),
        (
            "Please hold. Your call is important. Please hold.",
            "Please hold. Your call is important.",
        ),
        ("No. No.", "No. No."),
        ("Yes, I said yes.", "Yes, I said yes."),
        ("I am here. I was there.", "I am here. I was there."),
        ("", ""),
    ],
)
def test_repeated_sentences_are_cut_and_real_repetition_stays(text: str, kept: str) -> None:
    assert whisper_window.cut_repeated_sentences(text) == kept


def test_window_features_are_even_and_never_longer_than_30_s() -> None:
    from faster_whisper.feature_extractor import FeatureExtractor

    extractor = FeatureExtractor(feature_size=80)
    short = whisper_window.window_features(extractor, np.zeros(16_110, np.float32), 1000.0)
    assert short.shape[:2] == (1, 80) and short.shape[2] % 2 == 0
    assert 200 <= short.shape[2] <= 202
    long = whisper_window.window_features(extractor, np.zeros(16_000 * 40, np.float32), 1000.0)
    assert long.shape[2] == whisper_window.FULL_WINDOW_FRAMES
    assert whisper_window.fits_window(np.zeros(16_000 * 23), 7000.0)
    assert not whisper_window.fits_window(np.zeros(16_000 * 24), 7000.0)


def test_options_default_to_the_short_window() -> None:
    assert WhisperOptions().window == "short"
    assert SpeechSettings().whisper_window == "short"
