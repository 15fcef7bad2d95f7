"""Speaking: the robot's replies, synthesized and played to the callee.

All sentences of a reply are synthesized at once (static sentences come from the prompt
cache, in memory, so no thread hop) in the ``speech`` pool, so no gap opens between them.
Every wait has a deadline: a sentence whose synthesis takes longer than
``synthesis_timeout_ms`` is skipped with the rest of the reply, and the wait for the carrier
to finish playing is bounded by the reply's length plus ``playback_grace_ms``; both are
logged at WARNING with the call id and counted (:data:`robot.session_metrics.STALLS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

from robot.audio import AudioChunk
from robot.carriers.base import Call
from robot.recording import CallRecorder
from robot.report import TranscriptTurn
from robot.session_metrics import STALLS
from robot.speech.base import split_sentences

log = logging.getLogger(__name__)


class PromptSource(Protocol):
    """Where robot audio comes from: a synthesizer, possibly behind a prompt cache."""

    def synthesize(self, text: str) -> AudioChunk: ...


@dataclass(frozen=True, slots=True)
class SpeakingConfig:
    #: Longest wait for one sentence's audio.
    synthesis_timeout_ms: float = 10000.0
    #: Longest wait for playback to finish beyond the reply's own length.
    playback_grace_ms: float = 5000.0


class Speaker:
    """Synthesizes and plays one call's replies, one at a time."""

    def __init__(
        self,
        call: Call,
        tts: PromptSource,
        recorder: CallRecorder,
        executor: Executor,
        now_ms: Callable[[], float],
        config: SpeakingConfig | None = None,
        on_late: Callable[[str], None] | None = None,
    ) -> None:
        self.call = call
        self.tts = tts
        self.recorder = recorder
        self.executor = executor
        self.now_ms = now_ms
        self.config = config or SpeakingConfig()
        self.on_late = on_late or (lambda kind: None)
        #: Robot audio queued for the current reply (ms).
        self.turn_audio_ms = 0.0
        #: The reply being spoken.
        self.task: asyncio.Task[None] | None = None

    @property
    def speaking(self) -> bool:
        return self.task is not None and not self.task.done()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def stop(self) -> None:
        """Stop the reply being spoken (if any) and wait until it has stopped."""
        if self.speaking:
            assert self.task is not None
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def finished(self) -> None:
        """Wait until the current reply has been played (or cut short)."""
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def start(
        self,
        spoken: TranscriptTurn,
        audio: list[asyncio.Future[AudioChunk]] | None,
        on_first_audio: Callable[[float], None] | None,
        on_done: Callable[[], None],
    ) -> asyncio.Task[None]:
        """Speak ``spoken`` in a task of its own; ``on_done`` when it is over, however."""

        async def run() -> None:
            try:
                await self.speak(spoken, audio, on_first_audio)
            finally:
                on_done()

        self.task = asyncio.create_task(run())
        return self.task

    def synthesis(self, text: str) -> list[asyncio.Future[AudioChunk]]:
        """Start synthesizing every sentence at once, so no gap opens between sentences."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[AudioChunk]] = []
        peek = getattr(self.tts, "cached", None)
        for sentence in split_sentences(text):
            ready = peek(sentence) if peek is not None else None
            if ready is not None:
                done: asyncio.Future[AudioChunk] = loop.create_future()
                done.set_result(ready)
                futures.append(done)
            else:
                futures.append(loop.run_in_executor(self.executor, self.tts.synthesize, sentence))
        return futures

    async def speak(
        self,
        spoken: TranscriptTurn,
        audio: list[asyncio.Future[AudioChunk]] | None = None,
        on_first_audio: Callable[[float], None] | None = None,
    ) -> None:
        """Play ``spoken`` (its audio futures, or synthesize its text) and wait until it has
        been played; ``on_first_audio(synthesis_ms)`` once its first audio is queued."""
        started = time.monotonic()
        pending = audio if audio is not None else self.synthesis(spoken.text)
        self.turn_audio_ms = 0.0
        timeout_s = self.config.synthesis_timeout_ms / 1000
        try:
            for future in pending:
                try:
                    chunk = await asyncio.wait_for(future, timeout_s)
                except TimeoutError:
                    self._late("synthesis", f"a sentence took over {timeout_s:.0f} s")
                    break
                if on_first_audio is not None:
                    on_first_audio((time.monotonic() - started) * 1000)
                    on_first_audio = None
                self.recorder.add_robot(chunk)
                self.turn_audio_ms += chunk.duration_ms
                await self.call.play(chunk)
            limit_s = (self.turn_audio_ms + self.config.playback_grace_ms) / 1000
            try:
                await asyncio.wait_for(self.call.playback_done(), limit_s)
            except TimeoutError:
                self._late("playback", f"playback not done after {limit_s:.1f} s")
            spoken.end_ms = self.now_ms()
        finally:
            for future in pending:
                future.cancel()

    def _late(self, kind: str, what: str) -> None:
        log.warning("call %s: %s; going on", self.call.call_id, what)
        STALLS.add(kind)
        self.on_late(kind)
