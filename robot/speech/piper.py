"""Piper neural TTS (``piper-tts``), English by default with the packaged ``joe`` voice.

The voice model is loaded once per (model path) and shared: ONNX inference is thread-safe,
but Piper's phonemizer (espeak-ng) keeps global state, so phonemizing is serialized with a
lock. Piper speaks at the voice's rate (22.05 kHz for ``joe``); audio is resampled to 8 kHz
here, at the engine's edge.

The voice speaks without random variation (``noise_scale`` and ``noise_w_scale`` 0): Piper's
default draws fresh noise for each sentence, so the same text would sound a little different
on every call. Without it one text gives one audio everywhere: prompts cache, recordings and
replays compare, and a conversation test hears the same words on every machine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from robot.audio import TELEPHONY_RATE_HZ, AudioChunk, StreamResampler
from robot.errors import EngineError
from robot.speech.base import require_module
from robot.speech.packaged import distribution_version, piper_voice_paths

log = logging.getLogger(__name__)

_phonemize_lock = threading.Lock()
#: Piper normalises every sentence to full scale; telephony codecs prefer some headroom.
DEFAULT_VOLUME = 0.7


@lru_cache(maxsize=4)
def _load_voice(model_path: str, config_path: str) -> Any:
    piper = require_module("piper", "Piper TTS", "speech", "piper-tts")
    try:
        return piper.PiperVoice.load(model_path, config_path=config_path)
    except Exception as e:
        raise EngineError(f"cannot load Piper voice {model_path}: {e}") from e


class PiperSynthesizer:
    """Piper voice -> 8 kHz :class:`AudioChunk`, whole text or sentence by sentence."""

    name = "piper"
    sample_rate = TELEPHONY_RATE_HZ

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        config_path: str | Path | None = None,
        language: str = "en",
        length_scale: float | None = None,
        volume: float = DEFAULT_VOLUME,
    ) -> None:
        if model_path is None:
            model, config = piper_voice_paths()
        else:
            model = Path(model_path)
            config = Path(config_path) if config_path else Path(f"{model}.json")
            for path in (model, config):
                if not path.is_file():
                    raise EngineError(f"Piper voice file not found: {path}")
        self.model_path = model
        self.language = language
        self.voice_name = model.stem
        self.version = f"piper-tts {distribution_version('piper-tts')} no-noise"
        self._voice = _load_voice(str(model), str(config))
        piper = require_module("piper", "Piper TTS", "speech", "piper-tts")
        self._syn_config = piper.SynthesisConfig(
            length_scale=length_scale, volume=volume, noise_scale=0.0, noise_w_scale=0.0
        )
        self.native_rate = int(self._voice.config.sample_rate)

    def _sentences(self, text: str) -> list[list[str]]:
        with _phonemize_lock:
            try:
                return [p for p in self._voice.phonemize(text) if p]
            except Exception as e:
                raise EngineError(f"Piper could not phonemize the text: {e}") from e

    def _sentence_audio(self, phonemes: list[str]) -> np.ndarray:
        try:
            ids = self._voice.phonemes_to_ids(phonemes)
            audio = np.asarray(self._voice.phoneme_ids_to_audio(ids, self._syn_config))
        except Exception as e:
            raise EngineError(f"Piper synthesis failed: {e}") from e
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > 1e-8:
            audio = audio / peak
        audio = np.clip(audio * self._syn_config.volume, -1.0, 1.0)
        return (audio * 32767.0).astype("<i2")

    def stream(self, text: str) -> Iterator[AudioChunk]:
        """Yield 8 kHz audio one sentence at a time (first audio after the first sentence)."""
        resampler = StreamResampler(self.native_rate, TELEPHONY_RATE_HZ)
        sentences = self._sentences(text)
        log.debug("piper: %d sentence(s) for %r", len(sentences), text)
        for index, phonemes in enumerate(sentences):
            native = self._sentence_audio(phonemes)
            last = index == len(sentences) - 1
            pcm = resampler.process(native.tobytes(), last=last)
            if pcm:
                yield AudioChunk(pcm, TELEPHONY_RATE_HZ)

    def synthesize(self, text: str) -> AudioChunk:
        return AudioChunk(b"".join(c.pcm for c in self.stream(text)), TELEPHONY_RATE_HZ)
