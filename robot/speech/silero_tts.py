"""Silero TTS for operators who supply a model file (``v4_ru.pt``, ``v3_en.pt``...).

The Silero package itself only downloads weights, so this engine loads a local ``.pt``
(a ``torch.package`` archive) and needs ``torch`` installed: without it, constructing the
engine raises :class:`~robot.errors.MissingExtraError` naming the install.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from robot.audio import TELEPHONY_RATE_HZ, AudioChunk
from robot.errors import EngineError
from robot.speech.base import require_module, split_sentences

log = logging.getLogger(__name__)

#: Rates the Silero models can produce; 8 kHz is native, so no resampling is needed.
SILERO_RATES_HZ = (8000, 24000, 48000)


class SileroSynthesizer:
    """A Silero ``torch.package`` TTS model, speaking with ``speaker`` at 8 kHz."""

    name = "silero"
    sample_rate = TELEPHONY_RATE_HZ

    def __init__(
        self, model_path: str | Path, *, language: str = "ru", speaker: str = "xenia"
    ) -> None:
        torch = require_module("torch", "Silero TTS", "silero", "torch")
        path = Path(model_path)
        if not path.is_file():
            raise EngineError(f"Silero TTS model file not found: {path}")
        self.model_path = path
        self.language = language
        self.speaker = speaker
        self.voice_name = f"{path.stem}:{speaker}"
        self.version = f"torch {torch.__version__}"
        self._lock = threading.Lock()
        try:
            importer = torch.package.PackageImporter(str(path))
            self._model: Any = importer.load_pickle("tts_models", "model")
            self._model.to(torch.device("cpu"))
        except Exception as e:
            raise EngineError(f"cannot load Silero TTS model {path}: {e}") from e

    def synthesize(self, text: str) -> AudioChunk:
        if not text.strip():
            return AudioChunk(b"", TELEPHONY_RATE_HZ)
        with self._lock:
            try:
                audio = self._model.apply_tts(
                    text=text, speaker=self.speaker, sample_rate=TELEPHONY_RATE_HZ
                )
            except Exception as e:
                raise EngineError(f"Silero synthesis failed (speaker {self.speaker}): {e}") from e
        samples = np.asarray(audio.numpy() if hasattr(audio, "numpy") else audio, np.float32)
        return AudioChunk.from_array(samples, TELEPHONY_RATE_HZ)

    def stream(self, text: str) -> Iterator[AudioChunk]:
        for sentence in split_sentences(text):
            yield self.synthesize(sentence)
