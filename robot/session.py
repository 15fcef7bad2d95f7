"""The call session: one call, from dialling to hang-up.

A one-way flow: carrier audio -> VAD -> endpointer -> ASR -> dialogue manager -> TTS ->
carrier. Three tasks run per call in one task group:

* ``listen`` reads callee audio (recording it), feeds the voicemail detector while it is
  undecided, runs VAD and endpointing, and on a real interruption stops robot playback at
  once (out of band: it never waits behind queued work);
* ``watch`` reads control events (DTMF, hang-up);
* ``converse`` waits for the answer verdict, then turns inputs (utterances, DTMF, silence
  timers) into dialogue turns and speaks them.

Each utterance is decoded for the state the dialogue is in (``dialogues.expected``): in a
short-answer state (yes/no, digits, a choice, a few short intents) a closed grammar
(``SessionEngines.grammar``, pocketsphinx) decodes it first, unless it is long; an empty or
unsure grammar result goes to the general recognizer, which also gets the state's expected
phrases as hints. The turn log records which engine produced each transcript.

The session is the one catch boundary for a call: whatever fails, the call gets an outcome,
is hung up, and the error is logged; one failing call never stops the dialler.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from dialogues.expected import ExpectedAnswers, expected_answers
from dialogues.manager import BargeIn, DialogueManager, Dtmf, HangUp, NoInput, Turn, UserText
from robot.audio import AudioChunk
from robot.carriers.base import Call, CallOutcome
from robot.errors import CallrobotError
from robot.executors import executors
from robot.recording import CallRecorder
from robot.speech.base import (
    Recognizer,
    Transcript,
    asr_executor,
    speech_executor,
    split_sentences,
)
from robot.speech.endpoint import Endpointer, EndpointerConfig, EndpointEventKind
from voicemail.signalling import classify_signalling

log = logging.getLogger(__name__)


class AudioVerdict(Protocol):
    @property
    def verdict(self) -> str: ...  # "human" | "machine" | "unknown"

    @property
    def decision_ms(self) -> float: ...

    @property
    def reason(self) -> str: ...


class AnsweringMachineDetector(Protocol):
    def feed(self, chunk: AudioChunk) -> AudioVerdict | None: ...
    def finish(self) -> AudioVerdict: ...


class PromptSource(Protocol):
    """Where robot audio comes from: a synthesizer, possibly behind a prompt cache."""

    def synthesize(self, text: str) -> AudioChunk: ...


@dataclass
class SessionEngines:
    tts: PromptSource
    asr: Recognizer
    vad_factory: Callable[[], Any]
    detector_factory: Callable[[], AnsweringMachineDetector] | None = None
    #: Closed-grammar recognizer for short-answer states (None: the general one decodes all).
    grammar: Recognizer | None = None
    #: Gives a detector back once its call no longer needs it (for reuse by the next call).
    detector_release: Callable[[AnsweringMachineDetector], None] | None = None


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
class SessionConfig:
    endpoint: EndpointerConfig = field(default_factory=EndpointerConfig)
    #: Longest wait for the answer verdict before talking anyway.
    max_detection_ms: float = 4000.0
    max_call_ms: float = 10 * 60 * 1000.0
    ring_timeout_s: float = 30.0
    recording_dir: Path | None = None
    short_answers: ShortAnswerConfig = field(default_factory=ShortAnswerConfig)


@dataclass
class TranscriptTurn:
    who: str  # "robot" | "callee"
    text: str
    start_ms: float
    end_ms: float | None = None
    state: str | None = None
    intent: str | None = None
    confidence: float | None = None
    interrupted: bool = False
    #: The recognizer that produced a callee turn's text (``pocketsphinx``, ``whisper``...).
    engine: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class CallReport:
    call_id: str
    outcome: str = CallOutcome.FAILED.value
    disposition: str | None = None
    q850: int | None = None
    signalling_reason: str = ""
    voicemail_verdict: str | None = None
    voicemail_reason: str | None = None
    voicemail_decision_ms: float | None = None
    answered_ms: float | None = None
    duration_ms: float = 0.0
    slots: dict[str, Any] = field(default_factory=dict)
    transcript: list[TranscriptTurn] = field(default_factory=list)
    callback_at: datetime | None = None
    transfer_to: str | None = None
    do_not_call: bool = False
    barge_ins: int = 0
    #: End of callee speech -> first robot audio queued, per turn (ms).
    turn_latencies_ms: list[float] = field(default_factory=list)
    recording_path: str | None = None
    #: What the network said (status, Reason, Diversion, History-Info, timings).
    signalling: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "outcome": self.outcome,
            "disposition": self.disposition,
            "q850": self.q850,
            "duration_ms": round(self.duration_ms),
        }


@dataclass
class _Input:
    kind: str  # "utterance" | "dtmf" | "hangup" | "verdict" | "speech_started"
    text: str = ""
    engine: str | None = None
    digit: str = ""
    verdict: AudioVerdict | None = None
    speech_end: float = 0.0
    #: The utterance on the session's clock (ms since dialling).
    start_ms: float = 0.0
    end_ms: float = 0.0


class CallSession:
    def __init__(
        self,
        call: Call,
        manager: DialogueManager,
        engines: SessionEngines,
        config: SessionConfig | None = None,
    ) -> None:
        self.call = call
        self.manager = manager
        self.engines = engines
        self.config = config or SessionConfig()
        self.report = CallReport(call.call_id)
        self.recorder = CallRecorder()
        self._inputs: asyncio.Queue[_Input] = asyncio.Queue()
        self._t0 = time.monotonic()
        self._speaking = False
        self._speaker: asyncio.Task[None] | None = None
        self._turn_audio_ms = 0.0
        self._detector: AnsweringMachineDetector | None = None
        self._verdict_sent = False
        self._ended = asyncio.Event()
        self._in_speech = False
        self._dialogue_started = float("inf")
        self._pending_asr = 0
        self._beep_waiter: Any = None
        self._beep_over = asyncio.Event()
        self._first_turn = Turn()
        self._first_audio: list[asyncio.Future[AudioChunk]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._events = call.events().__aiter__()
        self._expected: dict[str, ExpectedAnswers] = {}
        self._detector_frames: list[AudioChunk] = []
        self._detecting: asyncio.Task[None] | None = None
        self._detector_job: concurrent.futures.Future[AudioVerdict | None] | None = None
        self._transcribing = True

    def _now_ms(self) -> float:
        return (time.monotonic() - self._t0) * 1000.0

    # -- the one catch boundary -------------------------------------------------------------

    async def run(self) -> CallReport:
        try:
            await self._run()
        except Exception as e:  # the call's one catch boundary
            log.exception("call %s failed", self.call.call_id)
            self.report.outcome = (
                self.report.outcome if self.report.answered_ms else CallOutcome.FAILED.value
            )
            self.report.error = f"{type(e).__name__}: {e}"
        finally:
            await self._cleanup()
        return self.report

    async def _cleanup(self) -> None:
        if self._speaker is not None:
            self._speaker.cancel()
        for future in self._first_audio:
            future.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.call.hangup()
        job = self._detector_job
        busy = job is not None and not job.done()  # still feeding it: not handed on
        if self._detector is not None and self.engines.detector_release is not None and not busy:
            detector, self._detector = self._detector, None
            try:
                self.engines.detector_release(detector)
            except Exception as e:  # a detector that cannot reset is simply not reused
                log.warning("cannot reuse the detector of call %s: %s", self.call.call_id, e)
        self.report.duration_ms = self._now_ms()
        self.report.transcript.sort(key=lambda turn: turn.start_ms)
        sig = self.call.signalling
        self.report.signalling = {
            "final_status": sig.final_status,
            "reason_phrase": sig.final_reason_phrase,
            "reason": list(sig.reason),
            "diversion": list(sig.diversion),
            "history_info": list(sig.history_info),
            "provisional": list(sig.provisional),
            "early_media": sig.early_media,
            "ringing_ms": sig.ringing_ms,
            "answer_ms": sig.answer_ms,
            "hangup_by": sig.hangup_by,
            "classified_as": self.report.signalling_reason,
        }
        result = self.manager.result()
        if self.report.outcome == CallOutcome.HUMAN.value:
            self.report.disposition = result.disposition
            self.report.slots = result.slots
            self.report.callback_at = result.callback_at
            self.report.transfer_to = result.transfer_to
            self.report.do_not_call = result.do_not_call
        if self.config.recording_dir is not None and self.report.answered_ms is not None:
            path = self.config.recording_dir / f"{self.call.call_id}.wav"
            try:
                self.report.recording_path = str(self.recorder.write(path))
                write_turn_log(path.with_suffix(".json"), self.report, self.manager)
            except OSError as e:
                log.warning("cannot write the recording of call %s: %s", self.call.call_id, e)

    async def _run(self) -> None:
        # The greeting is known before anyone answers: synthesize it while the phone rings.
        self._first_turn = self.manager.start()
        self._first_audio = self._synthesis(self._first_turn.text)
        if not await self._await_answer():
            return
        verdict = classify_signalling(self.call.signalling)
        self.report.q850 = verdict.q850
        self.report.signalling_reason = verdict.reason
        if verdict.is_final:  # e.g. answered by a carrier voicemail (Diversion)
            self.report.outcome = verdict.outcome
            self.report.voicemail_verdict = "machine"
            self.report.voicemail_reason = verdict.reason
            if verdict.outcome == CallOutcome.MACHINE.value and self._leaves_message():
                self._transcribing = False
                await self._with_listeners(self._on_machine())
            return
        if self.engines.detector_factory is not None:
            self._detector = self.engines.detector_factory()
        await self._with_listeners(self._converse())

    async def _with_listeners(self, main: Any) -> None:
        """Run ``main`` while the callee audio and control events are followed."""
        async with asyncio.TaskGroup() as group:
            listen = group.create_task(self._listen())
            watch = group.create_task(self._watch())
            await main
            self._ended.set()
            listen.cancel()
            watch.cancel()

    def _leaves_message(self) -> bool:
        settings = self.manager.settings
        message = getattr(settings, "voicemail_message", None)
        return bool(getattr(settings, "on_machine", "hangup") == "leave_message" and message)

    async def _await_answer(self) -> bool:
        """Follow control events until answer (True) or a failed call (False)."""
        async for event in self._events:
            if event.kind == "answered":
                self.report.answered_ms = self._now_ms()
                return True
            if event.kind in ("failed", "hangup"):
                verdict = classify_signalling(self.call.signalling)
                outcome = verdict.outcome
                if outcome == "answered":  # hung up right at answer
                    outcome = CallOutcome.FAILED.value
                self.report.outcome = outcome
                self.report.q850 = verdict.q850
                self.report.signalling_reason = verdict.reason
                return False
        self.report.outcome = CallOutcome.FAILED.value
        return False

    # -- tasks ------------------------------------------------------------------------------

    async def _listen(self) -> None:
        vad = self.engines.vad_factory()
        endpointer = Endpointer(self.config.endpoint)
        early: asyncio.Task[Transcript] | None = None
        async for frame in self.call.audio():
            self.recorder.add_callee(frame)
            if self._detector is not None and not self._verdict_sent:
                self._feed_detector(frame)
            if self._beep_waiter is not None and self._beep_waiter.feed(frame) is not None:
                self._beep_over.set()
            endpointer.robot_speaking = self._speaking
            for event in endpointer.feed(frame, vad.process(frame)):
                kind = event.kind
                log.debug(
                    "call %s: %s at %.0f ms (robot speaking: %s)",
                    self.call.call_id,
                    kind.value,
                    event.at_ms,
                    self._speaking,
                )
                if kind is EndpointEventKind.SPEECH_STARTED:
                    self._in_speech = True
                    if self._speaking and self.manager.settings.barge_in:
                        self._barge_in()
                    self._inputs.put_nowait(_Input("speech_started"))
                elif not self._transcribing:
                    continue  # a machine answered: nothing it says is decoded
                elif kind is EndpointEventKind.MAYBE_ENDED and event.audio is not None:
                    # Start decoding before the endpoint is certain; kept if speech stays off.
                    early = self._spawn(self._transcribe(event.audio, event.speech_ms))
                elif kind is EndpointEventKind.SPEECH_RESUMED:
                    early = None
                elif kind is EndpointEventKind.SPEECH_ENDED and event.audio is not None:
                    self._in_speech = False
                    trailing_ms = self.config.endpoint.trailing_silence_ms
                    end = time.monotonic() - trailing_ms / 1000
                    now_ms = self._now_ms()
                    span = (
                        now_ms - (event.at_ms - (event.audio_start_ms or event.at_ms)),
                        now_ms - trailing_ms,
                    )
                    decoding = early or self._spawn(self._transcribe(event.audio, event.speech_ms))
                    early = None
                    self._spawn(self._deliver(decoding, end, span))

    def _feed_detector(self, frame: AudioChunk) -> None:
        """Queue a frame for the detector, which runs in a worker thread: it may read the
        greeting with Whisper, far too long to hold the event loop (every call's frames)."""
        self._detector_frames.append(frame)
        if self._detecting is None or self._detecting.done():
            self._detecting = self._spawn(self._detect())

    async def _detect(self) -> None:
        loop = asyncio.get_running_loop()
        while self._detector_frames and not self._verdict_sent:
            frames, self._detector_frames = self._detector_frames, []
            job = detector_executor().submit(self._detect_in, frames)
            self._detector_job = job
            found = await asyncio.wrap_future(job, loop=loop)
            if found is not None:
                self._verdict_sent = True
                self._inputs.put_nowait(_Input("verdict", verdict=found))

    def _detect_in(self, frames: list[AudioChunk]) -> AudioVerdict | None:
        """Feed frames in order (blocking); the verdict, once there is one."""
        detector = self._detector
        assert detector is not None
        for frame in frames:
            found = detector.feed(frame)
            if found is not None:
                return found
        waited_ms = self._now_ms() - (self.report.answered_ms or 0.0)
        if waited_ms > self.config.max_detection_ms:
            return detector.finish()
        return None

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver(
        self, decoding: asyncio.Task[Transcript], speech_end: float, span: tuple[float, float]
    ) -> None:
        self._pending_asr += 1
        try:
            heard = await decoding
        finally:
            self._pending_asr -= 1
        self._inputs.put_nowait(
            _Input(
                "utterance",
                text=heard.text.strip(),
                engine=heard.engine or None,
                speech_end=speech_end,
                start_ms=span[0],
                end_ms=span[1],
            )
        )

    def _expected_now(self) -> ExpectedAnswers:
        state = self.manager.state
        if state not in self._expected:
            self._expected[state] = expected_answers(self.manager.loaded, state)
        return self._expected[state]

    async def _transcribe(self, audio: AudioChunk, speech_ms: float) -> Transcript:
        expected = self._expected_now()  # the question being answered, as the callee stops
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            asr_executor(), self._recognize, audio, speech_ms, expected
        )

    def _recognize(
        self, audio: AudioChunk, speech_ms: float, expected: ExpectedAnswers
    ) -> Transcript:
        """Decode one utterance (blocking, in the decoding executor)."""
        cfg = self.config.short_answers
        grammar = self.engines.grammar
        asr = self.engines.asr
        if grammar is not None and cfg.enabled and expected.short:
            heard = Transcript("", 0.0, audio.duration_ms)
            try:
                known = getattr(grammar, "known_phrases", None)
                phrases = known(expected.phrases) if known is not None else expected.phrases
                if phrases and speech_ms <= cfg.max_speech_ms:
                    heard = grammar.transcribe(audio, hints=phrases)
            except CallrobotError as e:  # the general recognizer still hears it
                log.warning("call %s: grammar recognizer failed: %s", self.call.call_id, e)
            if heard.text.strip() and heard.confidence >= cfg.min_confidence:
                return heard
            log.debug("call %s: grammar gave %r, asking %s", self.call.call_id, heard, asr.name)
        hints: tuple[str, ...] = ()
        if cfg.hints:
            if asr.name == "vosk":  # a grammar: only where short answers are expected
                hints = tuple(p for p in expected.phrases if not p.startswith("<"))
            elif cfg.prompt_hints:
                hints = expected.hints
        return asr.transcribe(audio, hints=hints)

    async def _watch(self) -> None:
        async for event in self._events:
            if event.kind == "dtmf" and event.digit:
                self._inputs.put_nowait(_Input("dtmf", digit=event.digit))
            elif event.kind in ("hangup", "failed"):
                self._inputs.put_nowait(_Input("hangup"))
                return
        self._inputs.put_nowait(_Input("hangup"))

    def _barge_in(self) -> None:
        dropped_ms = self.call.stop_playback()
        self.recorder.stop_robot()
        if self._speaker is not None:
            self._speaker.cancel()
        self._speaking = False
        total = self._turn_audio_ms
        self.report.barge_ins += 1
        robot_turns = [t for t in self.report.transcript if t.who == "robot"]
        if robot_turns:
            robot_turns[-1].interrupted = True
            robot_turns[-1].end_ms = self._now_ms()
        self.manager.handle(BargeIn(heard_ms=max(0.0, total - dropped_ms), total_ms=total))

    async def _converse(self) -> None:
        if self._detector is not None:
            verdict = await self._await_verdict()
            if verdict is None:  # hung up before the detector could tell
                self.report.outcome = CallOutcome.HUMAN.value
                self.report.voicemail_verdict = "unknown"
                self.report.voicemail_reason = "hung up before a verdict"
                return
            self.report.voicemail_verdict = verdict.verdict
            self.report.voicemail_reason = verdict.reason
            self.report.voicemail_decision_ms = verdict.decision_ms
            if verdict.verdict == "machine":
                self.report.outcome = CallOutcome.MACHINE.value
                self._transcribing = False
                await self._on_machine()
                return
        self.report.outcome = CallOutcome.HUMAN.value
        self._dialogue_started = time.monotonic()
        await self._play_turn(self._first_turn, speech_end=None, audio=self._first_audio)
        deadline = self.config.max_call_ms
        while not self.manager.ended and self._now_ms() < deadline:
            timeout = None
            if not self._speaking and not self._in_speech and not self._pending_asr:
                timeout = self.manager.settings.no_input_timeout_ms / 1000
            try:
                item = await asyncio.wait_for(self._inputs.get(), timeout)
            except TimeoutError:
                await self._play_turn(self.manager.handle(NoInput()), speech_end=None)
                continue
            if item.kind == "hangup":
                self.manager.handle(HangUp())
                return
            if item.kind == "utterance":
                if not item.text:
                    continue  # noise or an empty recognition: keep listening
                self._log_callee(item.text, item.start_ms, item.end_ms, item.engine)
                if item.speech_end < self._dialogue_started:
                    continue  # the pickup "hello?" the greeting already answers
                turn = self.manager.handle(UserText(item.text))
                if turn.nlu is not None:
                    self.report.transcript[-1].intent = turn.nlu.intent
                    self.report.transcript[-1].confidence = round(turn.nlu.confidence, 3)
                await self._play_turn(turn, speech_end=item.speech_end)
            elif item.kind == "dtmf":
                self._log_callee(f"(dtmf {item.digit})", self._now_ms(), self._now_ms())
                await self._play_turn(self.manager.handle(Dtmf(item.digit)), speech_end=None)
        if self._speaker is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._speaker
        if self.manager.ended:
            await self._finish_actions()

    async def _await_verdict(self) -> AudioVerdict | None:
        while True:
            item = await self._inputs.get()
            if item.kind == "verdict":
                return item.verdict
            if item.kind == "utterance" and item.text:
                # The pickup "hello?": part of the transcript, not an answer to anything yet.
                self._log_callee(item.text, item.start_ms, item.end_ms, item.engine)
            if item.kind == "hangup":
                self.manager.handle(HangUp())
                return None

    async def _on_machine(self) -> None:
        """Leave the script's voicemail message after the beep, when it asks for one."""
        message = getattr(self.manager.settings, "voicemail_message", None)
        if self._leaves_message() and message:
            from voicemail.early_media import BeepWaiter

            # Speak after the beep (or once the greeting has gone quiet), not over it.
            self._beep_waiter = BeepWaiter()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._beep_over.wait(), timeout=30.0)
            self._beep_waiter = None
            text = self.manager.render(message)
            await self._play_turn(_text_turn(text, self.manager.state), speech_end=None)
            if self._speaker is not None:
                await self._speaker
            await self.call.playback_done()

    def _log_callee(
        self, text: str, start_ms: float, end_ms: float, engine: str | None = None
    ) -> None:
        turn = TranscriptTurn("callee", text, round(start_ms), round(end_ms), self.manager.state)
        turn.engine = engine
        self.report.transcript.append(turn)

    # -- speaking ---------------------------------------------------------------------------

    async def _play_turn(
        self,
        turn: Turn,
        speech_end: float | None,
        audio: list[asyncio.Future[AudioChunk]] | None = None,
    ) -> None:
        if self._speaker is not None and not self._speaker.done():
            self._speaker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._speaker
        if not turn.replies:
            if turn.ended:
                await self._finish_actions()
            return
        spoken = TranscriptTurn("robot", turn.text, self._now_ms(), state=turn.state)
        self.report.transcript.append(spoken)
        self._speaking = True
        self._turn_audio_ms = 0.0
        self._speaker = asyncio.create_task(self._speak(spoken, speech_end, audio))
        if turn.ended:
            with contextlib.suppress(asyncio.CancelledError):
                await self._speaker

    def _synthesis(self, text: str) -> list[asyncio.Future[AudioChunk]]:
        """Start synthesizing every sentence at once, so no gap opens between sentences."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[AudioChunk]] = []
        peek = getattr(self.engines.tts, "cached", None)
        for sentence in split_sentences(text):
            ready = peek(sentence) if peek is not None else None
            if ready is not None:
                done: asyncio.Future[AudioChunk] = loop.create_future()
                done.set_result(ready)
                futures.append(done)
            else:
                futures.append(
                    loop.run_in_executor(speech_executor(), self.engines.tts.synthesize, sentence)
                )
        return futures

    async def _speak(
        self,
        spoken: TranscriptTurn,
        speech_end: float | None,
        audio: list[asyncio.Future[AudioChunk]] | None = None,
    ) -> None:
        pending = audio if audio is not None else self._synthesis(spoken.text)
        try:
            for future in pending:
                chunk = await future
                if speech_end is not None:
                    self.report.turn_latencies_ms.append((time.monotonic() - speech_end) * 1000)
                    speech_end = None
                self.recorder.add_robot(chunk)
                self._turn_audio_ms += chunk.duration_ms
                await self.call.play(chunk)
            await self.call.playback_done()
            spoken.end_ms = self._now_ms()
        finally:
            for future in pending:
                future.cancel()
            self._speaking = False

    async def _finish_actions(self) -> None:
        result = self.manager.result()
        if result.transfer_to:
            try:
                await self.call.transfer(result.transfer_to, bridged=True)
            except Exception as e:  # a failed transfer still ends the call
                log.warning("transfer failed on call %s: %s", self.call.call_id, e)


def detector_executor() -> concurrent.futures.ThreadPoolExecutor:
    """Threads answering-machine detectors run in (each call feeds its own in order)."""
    return executors().get("detector")


def _text_turn(text: str, state: str) -> Turn:
    from dialogues.manager import Reply

    return Turn(replies=[Reply(text, "say", state)], state=state, ended=True)


def write_turn_log(path: Path, report: CallReport, manager: DialogueManager) -> None:
    """The turn log stored beside a recording: what was said, when, understood as what.

    ``callrobot replay`` reads it to compare a recorded call with what the current script
    and engines make of the same callee audio."""
    import json

    script = manager.script
    data = {
        "call_id": report.call_id,
        "script": {"name": script.script, "version": script.version},
        "lead": manager.lead,
        "timezone": str(manager.tz),
        "outcome": report.outcome,
        "disposition": report.disposition,
        "slots": report.slots,
        "voicemail": {
            "verdict": report.voicemail_verdict,
            "reason": report.voicemail_reason,
            "decision_ms": report.voicemail_decision_ms,
        },
        "answered_ms": report.answered_ms,
        "turns": [turn.to_json() for turn in report.transcript],
    }
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
