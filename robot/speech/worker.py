"""A recognizer that runs in a worker process.

pocketsphinx holds the interpreter lock while it decodes. In a process that moves many calls'
20 ms frames on one event loop, a few grammar decodes a second (three passes each in strict
mode) keep that loop waiting for the lock and make frames late. :class:`ProcessRecognizer`
runs the engine in one worker process instead (started once, with the ``spawn`` method so no
engine threads are forked), where it uses the other core without touching this process's lock.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from robot.audio import AudioChunk
from robot.errors import CallrobotError, EngineError
from robot.speech.base import Recognizer, Transcript

log = logging.getLogger(__name__)

_engine: Any = None


#: How often the worker checks that the process that started it is still there (s).
PARENT_CHECK_S = 1.0


def _start(build: Callable[[], Recognizer], parent_pid: int) -> None:
    global _engine
    threading.Thread(
        target=_exit_with_parent, args=(parent_pid,), name="parent-watch", daemon=True
    ).start()
    _engine = build()


def _exit_with_parent(parent_pid: int) -> None:
    """A parent killed outright (SIGKILL, OOM) never shuts the pool down: leave with it."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _transcribe(pcm: bytes, rate: int, hints: tuple[str, ...]) -> Transcript:
    return _engine.transcribe(AudioChunk(pcm, rate), hints=hints)


def _known(phrases: tuple[str, ...]) -> tuple[str, ...]:
    return _engine.known_phrases(phrases)


class ProcessRecognizer:
    """``Recognizer`` (and ``known_phrases``) forwarded to an engine built in a worker process.

    ``build`` must be picklable (a module-level function or a ``functools.partial`` of one).
    """

    def __init__(self, build: Callable[[], Recognizer], *, name: str, language: str = "en") -> None:
        self.name = name
        self.language = language
        self._build = build
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._known: dict[tuple[str, ...], tuple[str, ...]] = {}

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start,
                    initargs=(self._build, os.getpid()),
                )
                # Shut down before the interpreter tears modules down (else the pool's own
                # clean-up runs too late and complains on stderr).
                atexit.register(self.close)
            return self._pool

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return self._executor().submit(fn, *args).result()
        except CallrobotError:
            raise
        except BrokenProcessPool as e:
            with self._lock:
                self._pool = None  # start a fresh worker next time
            raise EngineError(f"the {self.name} worker process stopped: {e}") from e
        except Exception as e:
            raise EngineError(f"{self.name} failed in its worker process: {e}") from e

    def start(self) -> None:
        """Start the worker and load the engine now (not on the first utterance)."""
        self._call(_known, ())

    def known_phrases(self, phrases: Sequence[str]) -> tuple[str, ...]:
        key = tuple(phrases)
        if key not in self._known:
            self._known[key] = self._call(_known, key)
        return self._known[key]

    def transcribe(self, audio: AudioChunk, *, hints: Sequence[str] = ()) -> Transcript:
        return self._call(_transcribe, audio.pcm, audio.rate, tuple(hints))

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            atexit.unregister(self.close)
            pool.shutdown(wait=False, cancel_futures=True)
