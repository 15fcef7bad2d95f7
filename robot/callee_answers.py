"""What the callee said, taken as answers to the robot's questions.

The session queues what it hears (:class:`CalleeInput`: a transcript, a late decode, a DTMF
key, a hang-up, the start or end of speech). :class:`CalleeAnswers` takes the decoded
utterances: it applies the turn-taking rules (:mod:`robot.turn_taking`: not before the
question; a pause inside an answer keeps one answer), writes the callee's turns in the
report's transcript, and hands each answer to the dialogue manager; the session speaks the
manager's turn (``play_turn``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from dialogues.manager import DialogueManager, NotUnderstood, Turn, UserText
from robot.listening import Utterance
from robot.report import CallReport
from robot.speech.base import Transcript
from robot.turn_taking import Decision, TurnTaking, least_sure

log = logging.getLogger(__name__)


class PlaysTurn(Protocol):
    """Speaks the manager's turn that answers ``utterance``, with that turn's stages (ms)."""

    def __call__(
        self, turn: Turn, *, utterance: Utterance | None, stages: dict[str, float] | None
    ) -> Awaitable[None]: ...


@dataclass
class CalleeInput:
    """One thing the session heard, queued for the conversation."""

    kind: str  # "utterance" | "late" | "dtmf" | "hangup" | "speech_started" | "speech_ended"
    text: str = ""
    engine: str | None = None
    digit: str = ""
    utterance: Utterance | None = None
    transcript: Transcript | None = None

    @property
    def confidence(self) -> float | None:
        """The recognizer's confidence in ``text`` (0..1), when a recognizer produced it."""
        return self.transcript.confidence if self.transcript is not None else None

    #: When it was queued (``time.monotonic()``).
    queued_at: float = 0.0


class CalleeAnswers:
    """One call's callee utterances, taken as answers (or not) and handed to the manager."""

    def __init__(
        self,
        call_id: str,
        manager: DialogueManager,
        report: CallReport,
        turns: TurnTaking,
        play_turn: PlaysTurn,
    ) -> None:
        self.call_id = call_id
        self.manager = manager
        self.report = report
        self.turns = turns
        self._play_turn = play_turn

    async def on_utterance(self, item: CalleeInput) -> None:
        utterance = item.utterance
        assert utterance is not None
        late = item.kind == "late"
        if not late and not item.text:
            await self.answer_held()  # noise, or an empty recognition
            return
        span = utterance.call_start_ms, utterance.call_end_ms
        decision = self.turns.decide(utterance)
        if decision is Decision.BEFORE_QUESTION:
            # The pickup "hello?", or the end of an answer to the previous question.
            log.info(
                "call %s: utterance %d started before the question was finished: not an answer",
                self.call_id,
                utterance.seq,
            )
            if not late:
                self.log_callee(item.text, span, item.engine, "before_question")
            return
        if late:
            self.log_callee("", span, None, "late_decode")
            if self.turns.held is None:
                await self._respond(NotUnderstood(), utterance, item)
            else:
                await self.answer_held()
            return
        self.log_callee(item.text, span, item.engine)
        if decision is Decision.HOLD:
            self.report.transcript[-1].ignored = "joined"
            self.turns.hold(utterance, item.text, item.engine, item.confidence)
            return
        held = self.turns.take_held()
        text, confidence = item.text, item.confidence
        if held is not None:
            text, confidence = f"{held.text} {text}", least_sure(held.confidence, confidence)
        event = UserText(text, confidence=confidence, engine=item.engine)
        await self._respond(event, utterance, item)

    async def answer_held(self) -> None:
        """The start of an answer was held but nothing usable followed: answer with it."""
        held = self.turns.take_held()
        if held is not None:
            for turn in reversed(self.report.transcript):
                if turn.who == "callee" and turn.ignored == "joined":
                    turn.ignored = None  # answered on its own after all
                    break
            event = UserText(held.text, confidence=held.confidence, engine=held.engine)
            await self._respond(event, held.utterance, None)

    async def _respond(
        self, event: UserText | NotUnderstood, utterance: Utterance, item: CalleeInput | None
    ) -> None:
        stages = dict(utterance.stages)
        if item is not None:
            stages["queue"] = round((time.monotonic() - item.queued_at) * 1000, 1)
        started = time.monotonic()
        turn = self.manager.handle(event)
        stages["nlu"] = round((time.monotonic() - started) * 1000, 1)
        if turn.nlu is not None:
            callee = [t for t in self.report.transcript if t.who == "callee"]
            callee[-1].intent = turn.nlu.intent
            callee[-1].confidence = round(turn.nlu.confidence, 3)
        await self._play_turn(turn, utterance=utterance, stages=stages)

    def log_unanswered(self, inputs: asyncio.Queue[CalleeInput]) -> None:
        """Put what the callee said before the dialogue (never answered) in the transcript."""
        while not inputs.empty():
            item = inputs.get_nowait()
            if item.kind == "utterance" and item.text and item.utterance is not None:
                span = (item.utterance.call_start_ms, item.utterance.call_end_ms)
                self.log_callee(item.text, span, item.engine, "before_question")

    def log_callee(self, text: str, span: tuple[float, float], *args: str | None) -> None:
        self.report.log_callee(text, span, self.manager.state, *args)
