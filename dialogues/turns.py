"""What goes into the dialogue manager and what comes out of it, as small frozen dataclasses.

In: an :data:`Event` (what the callee said, silence, a DTMF key, an interruption, a hang-up).
Out: a :class:`Turn` per event (the replies to say and the actions to take), the transcript
lines (:class:`TranscriptEntry`) and, when the call ends, a :class:`DialogueResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from dialogues.nlu import NluResult


@dataclass(frozen=True, slots=True)
class UserText:
    text: str
    nlu: NluResult | None = None
    #: How sure the recognizer was (0..1); None for typed text, which is sure.
    confidence: float | None = None
    engine: str | None = None


@dataclass(frozen=True, slots=True)
class NoInput:
    pass


@dataclass(frozen=True, slots=True)
class NotUnderstood:
    """The callee spoke but no transcript came in time: the question is asked again with the
    state's ``no_match`` reprompt; only after ``LATE_DECODE_REPEATS`` such repeats in one state
    does it count against the state's ``no_match`` retries (the platform was slow, not the
    callee unclear)."""


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class BargeIn:
    """The callee spoke over the robot after ``heard_ms`` of a reply lasting ``total_ms``."""

    heard_ms: float
    total_ms: float


@dataclass(frozen=True, slots=True)
class HangUp:
    pass


Event = UserText | NoInput | NotUnderstood | Dtmf | BargeIn | HangUp

#: Typed words that stand for a hang-up in a text chat with a script.
HANG_UP_WORDS = ("/bye", "/quit", "/hangup")


def typed_event(line: str) -> Event:
    """A line typed in a text chat with a script (``callrobot chat``, the console's chat):
    empty = silence, ``/1`` = DTMF key 1, ``/bye`` = hang up, anything else = words said."""
    text = line.strip()
    if text in HANG_UP_WORDS:
        return HangUp()
    if text.startswith("/") and len(text) == 2:
        return Dtmf(text[1])
    if not text:
        return NoInput()
    return UserText(text)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    kind: Literal["say", "ask", "reprompt", "repeat"]
    state: str


@dataclass(frozen=True, slots=True)
class ActionCall:
    kind: str  # "transfer" | "hangup" | "callback" | "do_not_call"
    to: str | None = None
    mode: str | None = None
    at: datetime | None = None


@dataclass(slots=True)
class Turn:
    replies: list[Reply] = field(default_factory=list)
    actions: list[ActionCall] = field(default_factory=list)
    state: str = ""
    ended: bool = False
    disposition: str = "incomplete"
    nlu: NluResult | None = None
    slots_filled: dict[str, Any] = field(default_factory=dict)
    #: What the robot asked the callee to confirm ("intent not_interested", "slot budget").
    confirming: str | None = None

    @property
    def text(self) -> str:
        return " ".join(r.text for r in self.replies)

    @property
    def action_kinds(self) -> list[str]:
        return [a.kind for a in self.actions]


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    who: Literal["robot", "callee", "event"]
    text: str
    state: str
    intent: str | None = None
    confidence: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"who": self.who, "text": self.text, "state": self.state}
        if self.intent is not None:
            out["intent"] = self.intent
            out["confidence"] = round(self.confidence or 0.0, 3)
        return out


@dataclass(frozen=True, slots=True)
class DialogueResult:
    disposition: str
    state: str
    ended: bool
    slots: dict[str, Any]
    transcript: list[dict[str, Any]]
    callback_at: datetime | None
    transfer_to: str | None
    do_not_call: bool
