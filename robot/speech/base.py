"""Speech engine contracts: synthesizers, recognizers and streaming recognizers.

Engines are small objects behind :class:`typing.Protocol`\\ s. Every engine method here is
*blocking* (neural inference, subprocesses); the call session runs them through
:func:`synthesize_async` / :func:`transcribe_async`, which use the named pools of
:mod:`robot.executors` (``speech`` for synthesis, ``asr`` for decoding) so the event loop never
waits on an engine.

Audio in and out is :class:`~robot.audio.AudioChunk`; synthesizers deliver 8 kHz telephony
audio, recognizers accept any rate and resample at their own edge.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import Protocol, TypeVar, runtime_checkable

from robot.audio import AudioChunk
from robot.errors import MissingExtraError
from robot.executors import (  # noqa: F401  (re-exported: engines import them from here)
    ASR_THREADS,
    ENGINE_NICE,
    ENGINE_THREADS,
    executors,
    lower_thread_priority,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Word:
    """One recognized word with its timing (ms from the start of the audio) when known."""

    text: str
    start_ms: float | None = None
    end_ms: float | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Transcript:
    """What a recognizer heard. Empty ``text`` means nothing usable was said."""

    text: str
    #: 0..1; how sure the engine is (engines map their own scores onto this range).
    confidence: float
    duration_ms: float
    words: tuple[Word, ...] = field(default_factory=tuple)
    engine: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.text.strip()


@runtime_checkable
class Synthesizer(Protocol):
    name: str
    language: str
    #: Rate of the audio this synthesizer returns (always the telephony rate, 8000 Hz).
    sample_rate: int

    def synthesize(self, text: str) -> AudioChunk:
        """Synthesize the whole text (blocking)."""
        ...

    def stream(self, text: str) -> Iterator[AudioChunk]:
        """Synthesize sentence by sentence, yielding each sentence's audio as it is ready."""
        ...


@runtime_checkable
class Recognizer(Protocol):
    name: str
    language: str

    def transcribe(self, audio: AudioChunk, *, hints: Sequence[str] = ()) -> Transcript:
        """Transcribe one utterance (blocking). ``hints`` are phrases the caller expects."""
        ...


@runtime_checkable
class RecognizerStream(Protocol):
    def feed(self, chunk: AudioChunk) -> str | None:
        """Push audio; returns the current partial text when it changed, else ``None``."""
        ...

    def finish(self) -> Transcript:
        """End of the utterance: the final transcript."""
        ...


@runtime_checkable
class StreamingRecognizer(Protocol):
    name: str
    language: str

    def start(self, hints: Sequence[str] = ()) -> RecognizerStream: ...


# --- executors (see robot.executors) ---------------------------------------------------------


def speech_executor() -> ThreadPoolExecutor:
    """The pool blocking synthesis and engine loading run in (``executors().get("speech")``)."""
    return executors().get("speech")


def asr_executor() -> ThreadPoolExecutor:
    """The pool utterances are decoded in during calls (``executors().get("asr")``)."""
    return executors().get("asr")


def in_engine_thread(build: Callable[[], T]) -> T:
    """Run ``build`` (loading an engine) in an engine thread, so that the compute threads
    the engine starts inherit that thread's lower priority."""
    if threading.current_thread().name.startswith(("speech", "asr")):
        return build()
    return speech_executor().submit(build).result()


async def synthesize_async(synthesizer: Synthesizer, text: str) -> AudioChunk:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(speech_executor(), synthesizer.synthesize, text)


async def transcribe_async(
    recognizer: Recognizer, audio: AudioChunk, *, hints: Sequence[str] = ()
) -> Transcript:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        asr_executor(), lambda: recognizer.transcribe(audio, hints=hints)
    )


# --- helpers shared by engines ----------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=\S)")


def split_sentences(text: str) -> list[str]:
    """Split text at sentence ends (``.``, ``!``, ``?``, ``…`` followed by space)."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def require_module(module: str, what: str, extra: str, package: str) -> ModuleType:
    """Import an optional dependency or raise :class:`MissingExtraError` naming the install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(what, extra, package) from e
