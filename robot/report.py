"""What a call leaves behind: its :class:`CallReport`, the transcript turns in it, and the
turn log stored beside its recording (written here, read by ``callrobot replay``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robot.carriers.base import CallOutcome, Signalling

if TYPE_CHECKING:
    from dialogues.manager import DialogueManager
    from dialogues.turns import DialogueResult


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
    #: Why a callee turn was not taken as an answer (``before_question``, ``late_decode``,
    #: ``joined``: the start of an answer continued in the next turn).
    ignored: str | None = None

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
    #: The same turns split into stages (ms): ``endpoint`` (silence until the endpoint),
    #: ``decode_queue`` / ``decode_run`` (waiting for a decoding thread / decoding),
    #: ``decode_wait`` (endpoint -> transcript in hand; early decoding makes it shorter than
    #: queue + run), ``queue`` (transcript -> the session took it up), ``nlu`` (dialogue
    #: manager), ``synthesis`` (reply -> first audio ready) and ``total``.
    turn_stages: list[dict[str, float]] = field(default_factory=list)
    #: Utterances whose decoding missed ``decode_timeout_ms`` (handled as not understood).
    late_decodes: int = 0
    #: Other waits that missed their deadline, by kind (``verdict``, ``synthesis``,
    #: ``playback``).
    late_waits: dict[str, int] = field(default_factory=dict)
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

    def log_callee(
        self,
        text: str,
        span_ms: tuple[float, float],
        state: str,
        engine: str | None = None,
        ignored: str | None = None,
    ) -> TranscriptTurn:
        """Add a callee turn (``span_ms``: its start and end on the call's clock)."""
        start, end = span_ms
        turn = TranscriptTurn("callee", text, round(start), round(end), state, engine=engine)
        turn.ignored = ignored
        self.transcript.append(turn)
        return turn

    def robot_interrupted(self, at_ms: float) -> None:
        """The callee barged in: the robot's last turn was cut short at ``at_ms``."""
        robot_turns = [t for t in self.transcript if t.who == "robot"]
        if robot_turns:
            robot_turns[-1].interrupted = True
            robot_turns[-1].end_ms = at_ms

    def record_turn(self, total_ms: float, stages: dict[str, float]) -> None:
        """One answered turn: its latency and its stages (see ``turn_stages``)."""
        self.turn_latencies_ms.append(total_ms)
        self.turn_stages.append({**stages, "total": round(total_ms, 1)})

    def record_result(self, result: DialogueResult) -> None:
        """What the conversation settled (for a call a person answered)."""
        self.disposition = result.disposition
        self.slots = result.slots
        self.callback_at = result.callback_at
        self.transfer_to = result.transfer_to
        self.do_not_call = result.do_not_call

    def record_signalling(self, sig: Signalling) -> None:
        self.signalling = signalling_fields(sig, self.signalling_reason)


def signalling_fields(sig: Signalling, classified_as: str | None) -> dict[str, Any]:
    """What a call row keeps of its signalling (``GET /v1/calls/{id}``'s ``signalling``)."""
    return {
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
        "classified_as": classified_as,
    }


def write_turn_log(path: Path, report: CallReport, manager: DialogueManager) -> None:
    """The turn log stored beside a recording: what was said, when, understood as what.

    ``callrobot replay`` reads it to compare a recorded call with what the current script
    and engines make of the same callee audio."""
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
        "hangup_by": report.signalling.get("hangup_by"),
        "turns": [turn.to_json() for turn in report.transcript],
    }
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
