"""One call outcome from the signalling verdict and the audio verdict.

The call session asks the signalling first (:func:`~voicemail.signalling.classify_signalling`):
when it is final (busy, invalid number, carrier voicemail...) that is the outcome. Otherwise
the audio verdict decides: ``machine`` stays ``machine``; ``human`` and ``unknown`` become
``human`` because the robot must never stay silent on a person (the script can still hang up
later). An announcement heard in early media overrides a plain answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from robot.carriers.base import CallOutcome
from voicemail.detector import Verdict
from voicemail.early_media import Announcement
from voicemail.signalling import SignallingVerdict


@dataclass(frozen=True, slots=True)
class CallClassification:
    """What to store with the call: outcome, where it came from, and why."""

    outcome: CallOutcome
    source: str  # "signalling" | "early_media" | "audio"
    reason: str
    q850: int | None = None
    decision_ms: float | None = None


def combine_outcome(
    signalling: SignallingVerdict,
    audio: Verdict | None = None,
    early_media: Announcement | None = None,
) -> CallClassification:
    """Merge the evidence in order: final signalling, early-media announcement, audio."""
    if signalling.is_final:
        return CallClassification(
            CallOutcome(signalling.outcome), "signalling", signalling.reason, signalling.q850
        )
    if early_media is not None:
        outcome = early_media.outcome or CallOutcome.MACHINE
        return CallClassification(outcome, "early_media", early_media.reason, signalling.q850)
    if audio is None:
        return CallClassification(CallOutcome.HUMAN, "audio", "not analysed", signalling.q850)
    outcome = CallOutcome.MACHINE if audio.verdict == "machine" else CallOutcome.HUMAN
    return CallClassification(
        outcome, "audio", f"{audio.verdict}: {audio.reason}", signalling.q850, audio.decision_ms
    )
