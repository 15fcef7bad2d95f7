"""Phrase evidence: words that only answering machines and carrier announcements say.

A :class:`PhraseSpotter` streams callee audio and reports :class:`PhraseHit` s. The real one,
:class:`PocketsphinxPhraseSpotter`, runs pocketsphinx keyword spotting with the en-us model that
ships in the ``pocketsphinx`` wheel (16 kHz; telephony audio is upsampled at its edge). Each
phrase carries a detection threshold: longer phrases take smaller ones. Russian phrases are
listed for operators who plug in a Russian model; the bundled model is English only.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from robot.audio import AudioChunk, StreamResampler
from robot.errors import EngineError, MissingExtraError, ValidationError

logger = logging.getLogger(__name__)

#: English machine phrases with their pocketsphinx keyword thresholds.
ENGLISH_MACHINE_PHRASES: dict[str, float] = {
    "leave a message": 1e-20,
    "leave your message": 1e-20,
    "after the tone": 1e-20,
    "after the beep": 1e-20,
    "not available": 1e-15,
    "is unavailable": 1e-15,
    "record your message": 1e-20,
    "the number you have dialed": 1e-25,
    "is not in service": 1e-20,
    "please hang up": 1e-15,
    "you have reached": 1e-20,
    "you've reached": 1e-15,
    "voice mail": 1e-12,
    "mailbox": 1e-10,
    "is not answering": 1e-15,
    "not in service": 1e-15,
    "circuits are busy": 1e-15,
    "cannot be completed": 1e-15,
    "your call cannot be completed": 1e-20,
    "try your call again": 1e-25,
    "please try again": 1e-15,
    "check the number": 1e-15,
    "to take your call": 1e-20,
    "can't take your call": 1e-20,
}
#: Russian machine phrases (need an operator-supplied Russian model).
RUSSIAN_MACHINE_PHRASES: tuple[str, ...] = (
    "оставьте сообщение",
    "после сигнала",
    "абонент недоступен",
    "абонент не отвечает",
    "номер не обслуживается",
    "неправильно набран номер",
)


@dataclass(frozen=True, slots=True)
class PhraseHit:
    """A phrase heard at ``at_ms`` (stream time); ``machine`` when it points to a machine."""

    phrase: str
    at_ms: float
    machine: bool = True


@runtime_checkable
class PhraseSpotter(Protocol):
    name: str

    def process(self, chunk: AudioChunk) -> list[PhraseHit]:
        """Feed audio of any rate; return phrases completed so far."""
        ...

    def busy(self) -> bool:
        """True while words were heard recently enough that a phrase may still complete."""
        ...

    def reset(self) -> None: ...


class PocketsphinxPhraseSpotter:
    """Keyword spotting with pocketsphinx over a list of phrases and thresholds."""

    name = "pocketsphinx"
    rate_hz = 16000

    def __init__(
        self,
        phrases: dict[str, float] | None = None,
        *,
        model_dir: str | None = None,
        dictionary: str | None = None,
    ) -> None:
        try:
            import pocketsphinx
        except ImportError as e:
            raise MissingExtraError("phrase spotting", "speech", "pocketsphinx") from e
        self.phrases = dict(phrases or ENGLISH_MACHINE_PHRASES)
        if not self.phrases:
            raise ValidationError("phrase spotter needs at least one phrase")
        base = pocketsphinx.get_model_path()
        hmm = model_dir or os.path.join(base, "en-us", "en-us")
        dict_path = dictionary or os.path.join(base, "en-us", "cmudict-en-us.dict")
        with tempfile.NamedTemporaryFile("w", suffix=".kws", delete=False) as keyfile:
            for phrase, threshold in self.phrases.items():
                keyfile.write(f"{phrase.lower()} /{threshold:g}/\n")
        try:
            self._decoder = pocketsphinx.Decoder(
                hmm=hmm, dict=dict_path, kws=keyfile.name, loglevel="FATAL"
            )
        except Exception as e:
            raise EngineError(f"cannot start pocketsphinx phrase spotting: {e}") from e
        finally:
            os.unlink(keyfile.name)
        self._started = False
        self.reset()

    def reset(self) -> None:
        if self._started:
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._started = True
        self._resampler: StreamResampler | None = None
        self._input_rate: int | None = None
        self._heard_ms = 0.0

    def busy(self) -> bool:
        return False

    def process(self, chunk: AudioChunk) -> list[PhraseHit]:
        if self._input_rate != chunk.rate:
            self._resampler = StreamResampler(chunk.rate, self.rate_hz)
            self._input_rate = chunk.rate
        assert self._resampler is not None
        pcm = self._resampler.process(chunk.pcm)
        self._heard_ms += chunk.duration_ms
        if not pcm:
            return []
        try:
            self._decoder.process_raw(pcm, False, False)
            hypothesis = self._decoder.hyp()
        except Exception as e:
            raise EngineError(f"pocketsphinx phrase spotting failed: {e}") from e
        if hypothesis is None or not hypothesis.hypstr.strip():
            return []
        hits = [
            PhraseHit(phrase, self._heard_ms)
            for phrase in self.phrases
            if phrase.lower() in hypothesis.hypstr.lower()
        ]
        logger.debug("phrase spotter heard %r", hypothesis.hypstr)
        self._decoder.end_utt()
        self._decoder.start_utt()
        return hits


class ListPhraseSpotter:
    """A scripted spotter for unit tests of the detector's logic: reports given hits in time."""

    name = "list"

    def __init__(self, hits: Sequence[PhraseHit]) -> None:
        self._hits = sorted(hits, key=lambda h: h.at_ms)
        self.reset()

    def reset(self) -> None:
        self._heard_ms = 0.0
        self._next = 0

    def busy(self) -> bool:
        return False

    def process(self, chunk: AudioChunk) -> list[PhraseHit]:
        self._heard_ms += chunk.duration_ms
        due = []
        while self._next < len(self._hits) and self._hits[self._next].at_ms <= self._heard_ms:
            due.append(self._hits[self._next])
            self._next += 1
        return due


def create_phrase_spotter(language: str = "en") -> PhraseSpotter:
    """The default spotter for a language (English: pocketsphinx with the bundled model)."""
    if language.lower().startswith("en"):
        return PocketsphinxPhraseSpotter()
    raise ValidationError(
        f"no bundled phrase model for language {language!r}: only 'en' ships with pocketsphinx"
    )
