"""Listening: callee audio in, utterances and their transcripts out.

A :class:`Listener` runs one call's callee audio through the VAD and the endpointer, tells
when the callee talks over the robot (barge-in), starts decoding at the first short silence
(early decoding, kept if the callee stays silent until the endpoint), picks the engine that
decodes each utterance, and gives every decode a deadline. It reports to its session through
:class:`RecognitionHooks` and decides nothing about turns: that is the session's job.

Which engine decodes: in a short-answer state (yes/no, digits, a choice, a few short intents;
``dialogues.expected``) a closed grammar (pocketsphinx) decodes first, unless the utterance
is long; an empty or unsure grammar result goes to the general recognizer, which also gets
the state's expected phrases as hints where they help.

Deadlines: a decode that has not finished ``decode_timeout_ms`` after the end of speech is
reported with ``on_late_transcript``, logged at WARNING with the call id and counted
(:data:`robot.session_metrics.STALLS`); its result, if it comes later, is dropped. Results
reach the session in the order the utterances were spoken.

Times: ``*_ms`` of an :class:`Utterance` are on the stream timeline (the callee audio, from
its first frame); :attr:`Listener.stream_ms` is how much of it has been heard so far.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol

from dialogues.expected import ExpectedAnswers
from robot import metrics
from robot.audio import AudioChunk
from robot.errors import CallrobotError
from robot.session_metrics import STALLS, NullObserver, SessionObserver
from robot.speech.base import Recognizer, Transcript
from robot.speech.endpoint import Endpointer, EndpointerConfig, EndpointEvent, EndpointEventKind

log = logging.getLogger(__name__)

#: Default deadline of a decode, from the end of speech (ms).
DECODE_TIMEOUT_MS = 3000.0


@dataclass
class ShortAnswerConfig:
    """When the grammar recognizer decodes (see ``speech.short_answers`` settings)."""

    enabled: bool = True
    #: Utterances with more voiced time go straight to the general recognizer.
    max_speech_ms: float = 2000.0
    #: Grammar results below this confidence go to the general recognizer too.
    min_confidence: float = 0.7
    #: Expected phrases reach the general recognizer as hints (a grammar for Vosk) ...
    hints: bool = True
    #: ... and Whisper as its initial prompt.
    prompt_hints: bool = False


@dataclass
class Utterance:
    """One stretch of callee speech the endpointer closed."""

    seq: int
    #: First voiced audio and last voiced audio (stream ms).
    start_ms: float
    end_ms: float
    #: When the endpoint fired (stream ms): ``end_ms`` plus the trailing silence.
    endpoint_ms: float
    speech_ms: float
    #: ``time.monotonic()`` at the last voiced audio: turn latency counts from here.
    ended_at: float
    #: It started while the robot spoke and barge-in was allowed (the robot stopped for it).
    barged_in: bool = False
    #: Stage times of its decoding (ms): thread queue, decoding, endpoint -> transcript.
    stages: dict[str, float] = field(default_factory=dict)
    #: Its audio (pre-roll included) to its last voice on the session's clock (``clock_ms``).
    call_start_ms: float = 0.0
    call_end_ms: float = 0.0


class RecognitionHooks(Protocol):
    """What a :class:`Listener` tells its session; called on the event loop, never blocking."""

    def on_audio(self, frame: AudioChunk) -> None:
        """Every callee frame, first (recording, the answering-machine detector)."""

    def on_start_of_speech(self, start_ms: float, barge_in: bool) -> None:
        """Speech confirmed, starting at ``start_ms``; ``barge_in``: over the robot, allowed."""

    def on_end_of_speech(self, utterance: Utterance) -> None:
        """The endpoint: the utterance is being decoded."""

    def on_final_transcript(self, utterance: Utterance, transcript: Transcript) -> None:
        """The utterance's transcript (possibly empty: noise)."""

    def on_late_transcript(self, utterance: Utterance) -> None:
        """The utterance missed its decode deadline (or its decoder failed)."""


class Listener:
    """One call's listening: VAD, endpointing, barge-in, decoding with deadlines."""

    def __init__(
        self,
        call_id: str,
        hooks: RecognitionHooks,
        *,
        asr: Recognizer,
        vad_factory: Callable[[], Any],
        executor: Executor,
        expected: Callable[[], ExpectedAnswers],
        endpoint: EndpointerConfig | None = None,
        grammar: Recognizer | None = None,
        short_answers: ShortAnswerConfig | None = None,
        decode_timeout_ms: float = DECODE_TIMEOUT_MS,
        allow_barge_in: bool = True,
        observer: SessionObserver | None = None,
        clock_ms: Callable[[], float] = lambda: time.monotonic() * 1000,
    ) -> None:
        self.call_id = call_id
        self.hooks = hooks
        self.asr = asr
        self.grammar = grammar
        self.vad_factory = vad_factory
        self.vad: Any = None
        self.executor = executor
        self.expected = expected
        self.endpointer = Endpointer(endpoint)
        self.short_answers = short_answers or ShortAnswerConfig()
        self.decode_timeout_ms = decode_timeout_ms
        self.allow_barge_in = allow_barge_in
        self.clock_ms = clock_ms
        self.observer: SessionObserver = observer or NullObserver()
        #: Set by the session while robot audio plays (barge-in threshold and decision).
        self.robot_speaking = False
        #: Off once a machine answered: nothing it says is decoded.
        self.transcribing = True
        #: Callee audio heard so far (stream ms).
        self.stream_ms = 0.0
        self.late_decodes = 0
        self._seq = 0
        self._early: asyncio.Task[tuple[Transcript, dict[str, float]]] | None = None
        self._barged_in = False
        self._pending: set[int] = set()
        self._last_delivery: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def pending(self) -> int:
        """Utterances waiting for their transcript."""
        return len(self._pending)

    async def run(self, frames: AsyncIterable[AudioChunk]) -> None:
        """Listen until the audio ends (or the task is cancelled)."""
        if self.vad is None:
            self.vad = self.vad_factory()
        try:
            async for frame in frames:
                self.feed(frame)
        finally:
            for task in list(self._tasks):
                task.cancel()

    def feed(self, frame: AudioChunk) -> None:
        self.hooks.on_audio(frame)
        if self.stream_ms == 0.0 and frame.timestamp_ms:
            self.stream_ms = frame.timestamp_ms
        self.stream_ms += frame.duration_ms
        self.endpointer.robot_speaking = self.robot_speaking
        for event in self.endpointer.feed(frame, self.vad.process(frame)):
            log.debug(
                "call %s: %s at %.0f ms (robot speaking: %s)",
                self.call_id,
                event.kind.value,
                event.at_ms,
                self.robot_speaking,
            )
            self._on_event(event)

    # -- endpoint events ----------------------------------------------------------------------

    def _on_event(self, event: EndpointEvent) -> None:
        kind = event.kind
        if kind is EndpointEventKind.SPEECH_STARTED:
            self._barged_in = self.robot_speaking and self.allow_barge_in
            start = event.speech_start_ms if event.speech_start_ms is not None else event.at_ms
            self.hooks.on_start_of_speech(start, self._barged_in)
        elif not self.transcribing:
            return
        elif kind is EndpointEventKind.MAYBE_ENDED and event.audio is not None:
            # Start decoding before the endpoint is certain; kept if speech stays off.
            self._early = self._spawn(self._decode(event.audio, event.speech_ms))
        elif kind is EndpointEventKind.SPEECH_RESUMED:
            self._early = None
        elif kind is EndpointEventKind.SPEECH_ENDED and event.audio is not None:
            trailing_ms = self.endpointer.config.trailing_silence_ms
            start = event.speech_start_ms if event.speech_start_ms is not None else event.at_ms
            end = event.at_ms - trailing_ms if event.speech_end_ms is None else event.speech_end_ms
            self._seq += 1
            now_ms = self.clock_ms()
            audio_start = event.audio_start_ms if event.audio_start_ms is not None else start
            utterance = Utterance(
                seq=self._seq,
                start_ms=start,
                end_ms=end,
                endpoint_ms=event.at_ms,
                speech_ms=event.speech_ms,
                ended_at=time.monotonic() - (event.at_ms - end) / 1000,
                barged_in=self._barged_in,
                stages={"endpoint": round(event.at_ms - end, 1)},
                call_start_ms=now_ms - (event.at_ms - audio_start),
                call_end_ms=now_ms - (event.at_ms - end),
            )
            self._barged_in = False
            decoding = self._early or self._spawn(self._decode(event.audio, event.speech_ms))
            self._early = None
            self.hooks.on_end_of_speech(utterance)
            previous = self._last_delivery
            self._last_delivery = self._spawn(self._deliver(utterance, decoding, previous))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- decoding -----------------------------------------------------------------------------

    async def _decode(
        self, audio: AudioChunk, speech_ms: float
    ) -> tuple[Transcript, dict[str, float]]:
        expected = self.expected()  # the question being answered, as the callee stops
        loop = asyncio.get_running_loop()
        queued = time.monotonic()
        context = contextvars.copy_context()  # the call's log ids, in the decoding thread too
        return await loop.run_in_executor(
            self.executor, context.run, self._timed_recognize, audio, speech_ms, expected, queued
        )

    def _timed_recognize(
        self, audio: AudioChunk, speech_ms: float, expected: ExpectedAnswers, queued: float
    ) -> tuple[Transcript, dict[str, float]]:
        started = time.monotonic()
        heard = self.recognize(audio, speech_ms, expected)
        stages = {
            "decode_queue": round((started - queued) * 1000, 1),
            "decode_run": round((time.monotonic() - started) * 1000, 1),
        }
        return heard, stages

    def recognize(
        self, audio: AudioChunk, speech_ms: float, expected: ExpectedAnswers
    ) -> Transcript:
        """Decode one utterance with the engine that suits the state (blocking)."""
        cfg = self.short_answers
        grammar = self.grammar
        asr = self.asr
        if grammar is not None and cfg.enabled and expected.short:
            heard = Transcript("", 0.0, audio.duration_ms)
            try:
                known = getattr(grammar, "known_phrases", None)
                phrases = known(expected.phrases) if known is not None else expected.phrases
                if phrases and speech_ms <= cfg.max_speech_ms:
                    heard = grammar.transcribe(audio, hints=phrases)
            except CallrobotError as e:  # the general recognizer still hears it
                log.warning("call %s: grammar recognizer failed: %s", self.call_id, e)
            if heard.text.strip() and heard.confidence >= cfg.min_confidence:
                return heard
            log.debug("call %s: grammar gave %r, asking %s", self.call_id, heard, asr.name)
        hints: tuple[str, ...] = ()
        if cfg.hints:
            if asr.name == "vosk":  # a grammar: only where short answers are expected
                hints = tuple(p for p in expected.phrases if not p.startswith("<"))
            elif cfg.prompt_hints:
                hints = expected.hints
        return asr.transcribe(audio, hints=hints)

    async def _deliver(
        self,
        utterance: Utterance,
        decoding: asyncio.Task[tuple[Transcript, dict[str, float]]],
        previous: asyncio.Task[None] | None,
    ) -> None:
        self._pending.add(utterance.seq)
        endpoint_at = time.monotonic()
        try:
            await asyncio.wait({decoding}, timeout=self.decode_timeout_ms / 1000)
        finally:
            self._pending.discard(utterance.seq)
        if previous is not None:  # in the order they were spoken
            await asyncio.wait({previous})
        if not decoding.done():
            self._late(utterance, decoding)
            return
        try:
            heard, stages = decoding.result()
        except (asyncio.CancelledError, Exception) as e:  # no transcript: not understood
            log.warning("call %s: decoding utterance %d failed: %s", self.call_id, utterance.seq, e)
            self.hooks.on_late_transcript(utterance)
            return
        utterance.stages.update(stages)
        utterance.stages["decode_wait"] = round((time.monotonic() - endpoint_at) * 1000, 1)
        self.observer.on_decode_wait(stages["decode_queue"])
        metrics.decoded(stages["decode_queue"], stages["decode_run"])
        self.hooks.on_final_transcript(utterance, heard)

    def _late(self, utterance: Utterance, decoding: asyncio.Task[Any]) -> None:
        log.warning(
            "call %s: utterance %d not decoded within %.0f ms: handled as not understood",
            self.call_id,
            utterance.seq,
            self.decode_timeout_ms,
        )
        self.late_decodes += 1
        STALLS.add("decode")
        metrics.late_decode()
        self.observer.on_late_decode()

        def dropped(task: asyncio.Task[Any]) -> None:
            if not task.cancelled() and task.exception() is None:
                log.info(
                    "call %s: late transcript of utterance %d dropped", self.call_id, utterance.seq
                )

        decoding.add_done_callback(dropped)
        self.hooks.on_late_transcript(utterance)
