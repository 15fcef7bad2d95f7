"""Speech engine contracts: synthesizers, recognizers and streaming recognizers.

Engines are small objects behind :class:`typing.Protocol`\\ s. Every engine method here is
*blocking* (neural inference, subprocesses); the call session runs them through
:func:`synthesize_async` / :func:`transcribe_async`, which use one shared thread pool so the
event loop never waits on an engine.

Audio in and out is :class:`~robot.audio.AudioChunk`; synthesizers deliver 8 kHz telephony
audio, recognizers accept any rate and resample at their own edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol, TypeVar, runtime_checkable

from robot.audio import AudioChunk
from robot.errors import MissingExtraError


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


# --- shared executor --------------------------------------------------------------------------

_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_asr_executor: ThreadPoolExecutor | None = None
#: Engines release the GIL while they compute; a few threads keep many calls moving on 2 cores.
ENGINE_THREADS = 4
#: Utterances decoded at once. Whisper runs one decode at a time per model (its CTranslate2
#: worker) on ``cpu_threads`` cores, so more threads would only wait there, holding back
#: nothing but themselves; kept apart from synthesis so prompts never queue behind decodes.
ASR_THREADS = 2
#: Scheduling niceness of engine threads (Linux, per thread; inherited by the threads the
#: engines start). The event loop moves every call's 20 ms frames and must get a core the
#: moment it wakes; inference can wait a few milliseconds.
ENGINE_NICE = 10

T = TypeVar("T")


def lower_thread_priority(nice: int = ENGINE_NICE) -> None:
    """Make the calling thread (and the threads it starts later) yield to the event loop."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


def speech_executor() -> ThreadPoolExecutor:
    """The thread pool blocking speech engines run in (created on first use)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                ENGINE_THREADS, thread_name_prefix="speech", initializer=lower_thread_priority
            )
        return _executor


_job = threading.local()


def _timed_job(queued: float, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    _job.wait_ms = (time.monotonic() - queued) * 1000.0
    try:
        return fn(*args, **kwargs)
    finally:
        _job.wait_ms = None


class QueueTimedExecutor(ThreadPoolExecutor):
    """A thread pool whose jobs can ask how long they waited in its queue
    (:func:`take_queue_wait_ms`): the decode queue wait that admission control watches."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return super().submit(_timed_job, time.monotonic(), fn, *args, **kwargs)


def take_queue_wait_ms() -> float | None:
    """How long the job running in this thread waited for it (ms): once per job, then None
    (and None outside a :class:`QueueTimedExecutor`)."""
    wait_ms: float | None = getattr(_job, "wait_ms", None)
    _job.wait_ms = None
    return wait_ms


def asr_executor() -> ThreadPoolExecutor:
    """The thread pool utterances are decoded in during calls (created on first use)."""
    global _asr_executor
    with _executor_lock:
        if _asr_executor is None:
            _asr_executor = QueueTimedExecutor(
                ASR_THREADS, thread_name_prefix="speech-asr", initializer=lower_thread_priority
            )
        return _asr_executor


def in_engine_thread(build: Callable[[], T]) -> T:
    """Run ``build`` (loading an engine) in an engine thread, so that the compute threads
    the engine starts inherit that thread's lower priority."""
    if threading.current_thread().name.startswith("speech"):
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
        speech_executor(), lambda: recognizer.transcribe(audio, hints=hints)
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
