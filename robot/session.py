"""The call session: one call, from dialling to hang-up; it decides the turns.

A one-way flow: carrier audio -> VAD -> endpointer -> ASR -> dialogue manager -> TTS ->
carrier. The jobs are split: :mod:`robot.listening` (VAD, endpointing, barge-in, decoding,
which engine) reports through its hooks, :mod:`robot.turn_taking` says which utterance answers
which question and :mod:`robot.callee_answers` takes utterances as answers by those rules,
:mod:`robot.speaking` synthesizes and plays replies, :mod:`robot.report` holds what the call
leaves behind. Three tasks run per call in one task group: ``listen``,
``watch`` (DTMF, hang-up) and ``converse`` (waits for the answer verdict, then turns inputs
into dialogue turns and speaks them).

No silent stalls: every wait has a deadline. A late decode is handled as not understood (the
script's no-match reprompt), the no-input timer counts from the end of speech even while a
decode is pending, the answer verdict, each synthesis and each playback are bounded; every
miss is logged with the call id and counted (report, :data:`~robot.session_metrics.STALLS`).

The session is the one catch boundary for a call: whatever fails, the call gets an outcome,
is hung up, and the error is logged; one failing call never stops the dialler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from dialogues.expected import ExpectedAnswers, expected_answers
from dialogues.manager import (
    BargeIn,
    DialogueManager,
    Dtmf,
    HangUp,
    NoInput,
    Reply,
    Turn,
)
from robot import metrics
from robot.answer_detection import AnswerDetection, AnsweringMachineDetector, AudioVerdict
from robot.audio import AudioChunk
from robot.callee_answers import CalleeAnswers, CalleeInput
from robot.carriers.base import Call, CallOutcome
from robot.listening import Listener, ShortAnswerConfig, Utterance
from robot.recording import CallRecorder
from robot.report import CallReport, TranscriptTurn, write_turn_log
from robot.session_setup import SessionConfig, SessionEngines
from robot.speaking import PromptSource, Speaker
from robot.speech.base import Transcript
from robot.turn_taking import TurnTaking

#: The names callers import from here.
__all__ = [
    "AnsweringMachineDetector",
    "AudioVerdict",
    "CallReport",
    "CallSession",
    "PromptSource",
    "SessionConfig",
    "SessionEngines",
    "ShortAnswerConfig",
    "TranscriptTurn",
    "write_turn_log",
]

log = logging.getLogger(__name__)

#: Reply kinds that ask the callee something.
_ASKING = ("ask", "reprompt", "repeat")


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
        self._inputs: asyncio.Queue[CalleeInput] = asyncio.Queue()
        self._t0 = time.monotonic()
        self._hung_up = asyncio.Event()
        self._first_turn = Turn()
        self._first_audio: list[asyncio.Future[AudioChunk]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._events = call.events().__aiter__()
        self._in_speech = False
        #: Start of the no-input countdown: the later of robot done and end of speech.
        self._quiet_since = time.monotonic()
        self.turns = TurnTaking(self.config.endpoint.candidate_gap_ms)
        self.answers = CalleeAnswers(
            call.call_id, manager, self.report, self.turns, self._play_turn
        )
        self.answer = AnswerDetection(
            call.call_id,
            self.report,
            self._spawn,
            max_detection_ms=self.config.max_detection_ms,
            grace_ms=self.config.verdict_grace_ms,
        )
        self.speaker = Speaker(
            call,
            engines.tts,
            self.recorder,
            engines.executors.get("speech"),
            self._now_ms,
            self.config.speaking,
            on_late=self._count_late,
        )
        self.listener = Listener(
            call.call_id,
            self,
            asr=engines.asr,
            vad_factory=engines.vad_factory,
            executor=engines.executors.get("asr"),
            expected=self._expected_now,
            endpoint=self.config.endpoint,
            grammar=engines.grammar,
            short_answers=self.config.short_answers,
            decode_timeout_ms=self.config.decode_timeout_ms,
            allow_barge_in=bool(getattr(manager.settings, "barge_in", True)),
            observer=engines.observer,
            clock_ms=self._now_ms,
        )

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
        self.speaker.cancel()
        for future in self._first_audio:
            future.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.call.hangup()
        detector, release = self.answer.detector, self.engines.detector_release
        if detector is not None and release is not None and not self.answer.busy:
            try:  # (a detector still being fed is not handed on)
                release(detector)
            except Exception as e:  # a detector that cannot reset is simply not reused
                log.warning("cannot reuse the detector of call %s: %s", self.call.call_id, e)
        self.report.late_decodes = self.listener.late_decodes
        self.report.duration_ms = self._now_ms()
        self.report.transcript.sort(key=lambda turn: turn.start_ms)
        self.report.record_signalling(self.call.signalling)
        if self.report.outcome == CallOutcome.HUMAN.value:
            self.report.record_result(self.manager.result())
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
        self._first_audio = self.speaker.synthesis(self._first_turn.text)
        if not await self.answer.answered(self._events, self.call.signalling, self._now_ms):
            return
        outcome = self.answer.signalled_outcome(self.call.signalling)
        if outcome is not None:  # e.g. answered by a carrier voicemail (Diversion)
            if outcome == CallOutcome.MACHINE.value and self._leaves_message():
                self.listener.transcribing = False
                await self._with_listeners(self._on_machine())
            return
        if self.engines.detector_factory is not None:
            detector = self.engines.detector_factory()
            self.answer.start(detector, self.engines.executors.get("detector"))
        await self._with_listeners(self._converse())

    async def _with_listeners(self, main: Any) -> None:
        """Run ``main`` while the callee audio and control events are followed."""
        async with asyncio.TaskGroup() as group:
            listen = group.create_task(self.listener.run(self.call.audio()))
            watch = group.create_task(self._watch())
            await main
            listen.cancel()
            watch.cancel()

    def _leaves_message(self) -> bool:
        settings = self.manager.settings
        message = getattr(settings, "voicemail_message", None)
        return bool(getattr(settings, "on_machine", "hangup") == "leave_message" and message)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _put(self, item: CalleeInput) -> None:
        item.queued_at = time.monotonic()
        self._inputs.put_nowait(item)

    def _count_late(self, kind: str) -> None:  # the speaker's late waits
        self.report.late_waits[kind] = self.report.late_waits.get(kind, 0) + 1

    def _expected_now(self) -> ExpectedAnswers:
        """What the answer being decoded may be: the state's answers, or a yes or a no while
        the robot confirms what it heard."""
        return expected_answers(self.manager.loaded, self.manager.state, self.manager.confirming)

    async def _watch(self) -> None:
        async for event in self._events:
            if event.kind == "dtmf" and event.digit:
                self._put(CalleeInput("dtmf", digit=event.digit))
            elif event.kind in ("hangup", "failed"):
                break
        self._hung_up.set()
        self._put(CalleeInput("hangup"))

    # -- listening hooks (robot.listening.RecognitionHooks) -----------------------------------

    def on_audio(self, frame: AudioChunk) -> None:
        self.recorder.add_callee(frame)
        self.answer.feed(frame)

    def on_start_of_speech(self, start_ms: float, barge_in: bool) -> None:
        self._in_speech = True
        self.turns.speech_started(start_ms, barge_in)
        if barge_in:
            self._barge_in()
        self._put(CalleeInput("speech_started"))

    def on_end_of_speech(self, utterance: Utterance) -> None:
        self._in_speech = False
        self._quiet_since = max(self._quiet_since, utterance.ended_at)
        self._put(CalleeInput("speech_ended"))

    def on_final_transcript(self, utterance: Utterance, transcript: Transcript) -> None:
        self._put(
            CalleeInput(
                "utterance",
                text=transcript.text.strip(),
                engine=transcript.engine or None,
                utterance=utterance,
                transcript=transcript,
            )
        )

    def on_late_transcript(self, utterance: Utterance) -> None:
        self._put(CalleeInput("late", utterance=utterance))

    def _barge_in(self) -> None:
        dropped_ms = self.call.stop_playback()
        self.recorder.stop_robot()
        self.speaker.cancel()
        total = self.speaker.turn_audio_ms
        self.report.barge_ins += 1
        self.report.robot_interrupted(self._now_ms())
        self.manager.handle(BargeIn(heard_ms=max(0.0, total - dropped_ms), total_ms=total))

    # -- turn-taking ------------------------------------------------------------------------

    async def _converse(self) -> None:
        if self.answer.detector is not None:
            verdict = await self.answer.verdict(self._hung_up)
            self.report.voicemail_verdict = verdict.verdict
            self.report.voicemail_reason = verdict.reason
            self.report.voicemail_decision_ms = verdict.decision_ms
            if self._hung_up.is_set():  # hung up before (or as) the detector could tell
                self.report.outcome = CallOutcome.HUMAN.value
                self.report.voicemail_decision_ms = None
                self.manager.handle(HangUp())
                self.answers.log_unanswered(self._inputs)
                return
            if verdict.verdict == "machine":
                self.report.outcome = CallOutcome.MACHINE.value
                self.answers.log_unanswered(self._inputs)
                self.listener.transcribing = False
                await self._on_machine()
                return
        self.report.outcome = CallOutcome.HUMAN.value
        await self._play_turn(self._first_turn, audio=self._first_audio)
        while not self.manager.ended and self._now_ms() < self.config.max_call_ms:
            try:
                item = await asyncio.wait_for(self._inputs.get(), self._no_input_wait_s())
            except TimeoutError:
                await self._on_silence()
                continue
            if item.kind == "hangup":
                self.manager.handle(HangUp())
                return
            if item.kind in ("utterance", "late"):
                await self.answers.on_utterance(item)
            elif item.kind == "dtmf":
                await self.answers.answer_held()
                now = self._now_ms()
                self.answers.log_callee(f"(dtmf {item.digit})", (now, now))
                await self._play_turn(self.manager.handle(Dtmf(item.digit)))
        await self.speaker.finished()
        if self.manager.ended:
            await self._finish_actions()

    def _no_input_wait_s(self) -> float | None:
        """Seconds left until the no-input timer fires; None while someone is talking.

        The countdown starts when the robot stops or the callee's speech ends, and goes on
        while that speech is decoded; if it runs out with a decode still pending, the
        callee did speak: the decode's own deadline (``decode_timeout_ms``) answers for it.
        """
        if self.speaker.speaking or self._in_speech or self.turns.held is not None:
            return None
        timeout_s = self.manager.settings.no_input_timeout_ms / 1000
        left_s = self._quiet_since + timeout_s - time.monotonic()
        if left_s <= 0 and self.listener.pending:
            return None  # a late or final transcript is on its way, within its deadline
        return max(0.0, left_s)

    async def _on_silence(self) -> None:
        if self.listener.pending:
            return  # see _no_input_wait_s
        self._quiet_since = time.monotonic()
        await self._play_turn(self.manager.handle(NoInput()))

    async def _on_machine(self) -> None:
        """Leave the script's voicemail message after the beep, when it asks for one."""
        message = getattr(self.manager.settings, "voicemail_message", None)
        if self._leaves_message() and message:
            await self.answer.beep()
            text = self.manager.render(message)
            await self._play_turn(_text_turn(text, self.manager.state))

    # -- speaking ---------------------------------------------------------------------------

    async def _play_turn(
        self,
        turn: Turn,
        audio: list[asyncio.Future[AudioChunk]] | None = None,
        utterance: Utterance | None = None,
        stages: dict[str, float] | None = None,
    ) -> None:
        await self.speaker.stop()
        if not turn.replies:
            if turn.ended:
                await self._finish_actions()
            return
        spoken = TranscriptTurn("robot", turn.text, self._now_ms(), state=turn.state)
        self.report.transcript.append(spoken)
        asks = any(reply.kind in _ASKING for reply in turn.replies)
        if asks:
            self.turns.robot_asks()
        self.listener.robot_speaking = True

        def first_audio(synthesis_ms: float) -> None:
            if utterance is None:
                return
            total = (time.monotonic() - utterance.ended_at) * 1000
            self.report.record_turn(total, {**(stages or {}), "synthesis": round(synthesis_ms, 1)})
            self.engines.observer.on_turn_latency(total)
            metrics.turn_latency(total)

        def done() -> None:
            self.listener.robot_speaking = False
            self._quiet_since = time.monotonic()
            if asks:
                self.turns.question_finished(self.listener.stream_ms)

        self.speaker.start(spoken, audio, first_audio, done)
        if turn.ended:
            await self.speaker.finished()

    async def _finish_actions(self) -> None:
        result = self.manager.result()
        if result.transfer_to:
            try:
                await self.call.transfer(result.transfer_to, bridged=True)
            except Exception as e:  # a failed transfer still ends the call
                log.warning("transfer failed on call %s: %s", self.call.call_id, e)


def _text_turn(text: str, state: str) -> Turn:
    return Turn(replies=[Reply(text, "say", state)], state=state, ended=True)
