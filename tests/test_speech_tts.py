"""TTS engines against the real voices: Piper (packaged joe voice), espeak-ng; Silero's guard."""

from __future__ import annotations

import asyncio
import builtins
import sys

import numpy as np
import pytest

from robot.audio import TELEPHONY_RATE_HZ, AudioChunk
from robot.errors import EngineError, MissingExtraError
from robot.speech.base import Synthesizer, split_sentences, synthesize_async
from robot.speech.espeak import EspeakSynthesizer, parse_wav_bytes
from robot.speech.evaluation import normalize_text
from robot.speech.piper import PiperSynthesizer
from robot.speech.whisper import WhisperRecognizer

SENTENCE = "Hello, this is Anna from Bright Energy. Do you have a minute to talk about your bill?"


def rms(chunk: AudioChunk) -> float:
    samples = chunk.to_array().astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


@pytest.fixture(scope="module")
def piper() -> PiperSynthesizer:
    return PiperSynthesizer()


@pytest.fixture(scope="module")
def whisper() -> WhisperRecognizer:
    return WhisperRecognizer()


def test_piper_speaks_a_sentence_at_8khz_that_whisper_understands(
    piper: PiperSynthesizer, whisper: WhisperRecognizer
) -> None:
    audio = piper.synthesize(SENTENCE)
    assert isinstance(piper, Synthesizer)
    assert audio.rate == TELEPHONY_RATE_HZ == piper.sample_rate
    # ~16 words at a natural pace: between 3 and 9 seconds.
    assert 3000 < audio.duration_ms < 9000
    assert rms(audio) > 1000
    heard = set(normalize_text(whisper.transcribe(audio).text))
    said = set(normalize_text(SENTENCE))
    assert len(heard & said) / len(said) >= 0.8, heard


def test_piper_streams_one_chunk_per_sentence(piper: PiperSynthesizer) -> None:
    chunks = list(piper.stream("Good morning. How are you today? I hope well."))
    assert len(chunks) == 3
    assert all(c.rate == TELEPHONY_RATE_HZ and rms(c) > 500 for c in chunks)
    whole = piper.synthesize("Good morning. How are you today? I hope well.")
    # Piper's duration predictor is stochastic: the same text varies by a few percent.
    assert sum(c.duration_ms for c in chunks) == pytest.approx(whole.duration_ms, rel=0.15)


def test_piper_rejects_a_missing_voice_file(tmp_path) -> None:
    with pytest.raises(EngineError, match=r"nope\.onnx"):
        PiperSynthesizer(tmp_path / "nope.onnx")


async def test_synthesis_runs_off_the_event_loop(piper: PiperSynthesizer) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    audio = await synthesize_async(piper, "The loop keeps running while I am being spoken.")
    task.cancel()
    assert audio.duration_ms > 1000
    assert ticks > 0  # the loop was free while the engine worked


def test_espeak_speaks_russian_at_8khz() -> None:
    espeak = EspeakSynthesizer("ru")
    audio = espeak.synthesize("Здравствуйте! Вам удобно сейчас говорить?")
    assert audio.rate == TELEPHONY_RATE_HZ
    assert 1000 < audio.duration_ms < 6000
    assert rms(audio) > 500
    chunks = list(espeak.stream("Здравствуйте! Вам удобно сейчас говорить?"))
    assert len(chunks) == 2


def test_espeak_unknown_voice_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="no-such-voice"):
        EspeakSynthesizer("no-such-voice")
    assert EspeakSynthesizer("en-us+f3").synthesize("hello").duration_ms > 200


def test_espeak_missing_binary_names_the_install() -> None:
    with pytest.raises(MissingExtraError, match="espeak-ng"):
        EspeakSynthesizer("ru", binary="espeak-ng-not-installed")


def test_wav_parser_rejects_garbage_naming_the_source() -> None:
    with pytest.raises(EngineError, match="my-engine"):
        parse_wav_bytes(b"RIFF" + b"\x00" * 60, "my-engine")


def test_silero_without_torch_names_the_extra(monkeypatch, tmp_path) -> None:
    from robot.speech.silero_tts import SileroSynthesizer

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_torch)
    model = tmp_path / "v4_ru.pt"
    model.write_bytes(b"not a model")
    with pytest.raises(MissingExtraError, match=r"callrobot\[silero\]"):
        SileroSynthesizer(model)


def test_sentence_splitting() -> None:
    assert split_sentences("Hi there. How are you?  Fine!") == [
        "Hi there.",
        "How are you?",
        "Fine!",
    ]
    assert split_sentences("Dr.Smith called at 3.30") == ["Dr.Smith called at 3.30"]
    assert split_sentences("   ") == []


def test_one_piper_voice_serves_several_threads(piper: PiperSynthesizer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = ["Yes, that works for me.", "Please call me tomorrow.", "Who is calling?"]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(piper.synthesize, texts))
    for audio in results:
        assert audio.rate == TELEPHONY_RATE_HZ and 600 < audio.duration_ms < 4000
        assert rms(audio) > 1000
