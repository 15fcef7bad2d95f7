"""Turn-taking rules: which callee utterance answers which robot question.

Pure bookkeeping on the listener's stream timeline (ms of callee audio heard), no I/O:

* **Not before the question.** Speech that started before the robot finished asking its
  current question is not an answer to it (it answers the previous one, or is the pickup
  "hello?"), unless it started as a barge-in the script allows: the robot stopped for it.
* **A pause inside an answer keeps one answer.** An utterance followed by more speech that
  starts within ``candidate_gap_ms`` of its endpoint, before the robot has replied, is held
  and joined with what follows ("Yes. ... speaking." is one answer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from robot.listening import Utterance


class Decision(StrEnum):
    ANSWER = "answer"  # take it (with any held start) as the answer now
    HOLD = "hold"  # more speech follows at once: wait and join
    BEFORE_QUESTION = "before_question"  # started before the question was finished


@dataclass
class HeldAnswer:
    utterance: Utterance
    text: str
    engine: str | None
    #: The recognizer's confidence in ``text``: the lowest of the joined pieces (None: sure).
    confidence: float | None = None


class TurnTaking:
    def __init__(self, candidate_gap_ms: float) -> None:
        self.candidate_gap_ms = candidate_gap_ms
        #: When the robot finished asking its current question (stream ms); infinite while
        #: it is still asking (or before the dialogue has started).
        self.question_done_ms = math.inf
        #: Start of the latest confirmed speech (stream ms).
        self.last_speech_start_ms = -math.inf
        self.held: HeldAnswer | None = None

    # -- what the robot and the callee do ---------------------------------------------------

    def robot_asks(self) -> None:
        """The robot starts a reply that asks something: earlier speech cannot answer it."""
        self.question_done_ms = math.inf
        self.held = None

    def question_finished(self, stream_ms: float) -> None:
        """The reply has been played (or cut short) by ``stream_ms``."""
        if self.question_done_ms == math.inf:
            self.question_done_ms = stream_ms

    def speech_started(self, start_ms: float, barge_in: bool) -> None:
        self.last_speech_start_ms = max(self.last_speech_start_ms, start_ms)
        if barge_in:  # the robot stops for it: the question ends where the callee came in
            self.question_done_ms = min(self.question_done_ms, start_ms)

    # -- decisions --------------------------------------------------------------------------

    def decide(self, utterance: Utterance) -> Decision:
        """What to do with a decoded, non-empty utterance."""
        if utterance.start_ms < self.question_done_ms and not utterance.barged_in:
            return Decision.BEFORE_QUESTION
        resumed = self.last_speech_start_ms
        if resumed > utterance.end_ms and resumed - utterance.endpoint_ms <= self.candidate_gap_ms:
            return Decision.HOLD
        return Decision.ANSWER

    def hold(
        self, utterance: Utterance, text: str, engine: str | None, confidence: float | None = None
    ) -> None:
        """Keep the start of an answer until the rest of it is decoded."""
        if self.held is not None:
            text = f"{self.held.text} {text}"
            confidence = least_sure(self.held.confidence, confidence)
        self.held = HeldAnswer(utterance, text, engine, confidence)

    def take_held(self) -> HeldAnswer | None:
        held, self.held = self.held, None
        return held


def least_sure(*confidences: float | None) -> float | None:
    """The lowest of the known confidences (None when none is known)."""
    known = [c for c in confidences if c is not None]
    return min(known) if known else None
