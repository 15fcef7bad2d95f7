"""Asking before acting on what the robot is unsure of.

A call-ending intent (``not_interested``, ``do_not_call``, ``wrong_person``...) heard from an
unsure transcript is confirmed with a short yes/no question before the call ends, and a slot
value heard with low confidence is read back before it is stored (:mod:`dialogues.readback`).

*Unsure* (:func:`doubts`) is any of: the recognizer's confidence below
``settings.unsure.asr_below``, the top intent beating the runner-up by less than
``margin_below``, more than ``oov_above`` of the words unknown to the classifier, or a
recognized utterance of fewer than ``words_below`` words taken for a call-ending intent (a
fragment: "was calling." is what remained of "Wait, who is calling?").

The answer to either question is read by :func:`read_answer`: the same intent again or a yes
confirms; a no takes it back; anything else is a new utterance, handled as usual
(:func:`decide`). :class:`Confirmations` holds one dialogue's question in waiting; the
dialogue manager asks it and acts on the answer. The questions' wording and which intents a
state confirms live in :mod:`dialogues.templates`, beside the script's other sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from dialogues.nlu import FALLBACK_INTENT, NluResult
from dialogues.readback import corrected, needs_read_back, read_back_prompt, spoken, value_words
from dialogues.schema import (
    CALL_ENDING_INTENTS,
    ScriptSettings,
    SlotDef,
    State,
    Transition,
    UnsureLimits,
)
from dialogues.slots import extract_yes_no
from dialogues.templates import confirm_intents, confirm_prompt
from dialogues.text import normalize

Answer = Literal["yes", "no", "other"]

#: Words a bare yes or no is made of. An answer with other words says something new
#: ("yes, I'm still interested") and is handled as an utterance of its own.
_BARE_WORDS = frozenset({
    "yes", "yeah", "yep", "yup", "ya", "yah", "yea", "no", "nope", "nah", "na", "not", "that",
    "thats", "is", "it", "right", "correct", "sure", "exactly", "please", "sorry", "i", "am",
    "you", "are", "ok", "okay", "alright", "absolutely", "definitely", "of", "course", "uh",
    "um", "well", "true", "wrong", "mistake", "indeed", "certainly", "affirmative", "negative",
    "mhm", "hmm", "oh", "so",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class PendingIntent:
    """An intent waiting for the callee's yes: the branches it would take, and why it waits."""

    intent: str
    text: str
    nlu: NluResult
    branches: list[Transition]
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PendingValue:
    """A slot value read back and waiting for the callee's yes before it is stored."""

    slot: str
    value: Any
    reasons: tuple[str, ...] = field(default=())


Pending = PendingIntent | PendingValue


@dataclass(slots=True)
class Confirmations:
    """One dialogue's confirmations: how unsure the last utterance was, and the question
    waiting for the callee's yes or no (``pending``), if any."""

    settings: ScriptSettings
    language: str
    pending: Pending | None = None
    #: Why the last utterance was unsure (:func:`doubts`); empty when it was not.
    doubts: tuple[str, ...] = ()
    asr_confidence: float | None = None

    @property
    def confirming(self) -> str | None:
        """What the robot waits for a yes/no about ("intent not_interested", "slot budget")."""
        if isinstance(self.pending, PendingIntent):
            return f"intent {self.pending.intent}"
        return None if self.pending is None else f"slot {self.pending.slot}"

    def hear(
        self, nlu: NluResult, asr_confidence: float | None, unknown_share: float | None
    ) -> Pending | None:
        """Note how unsure an utterance is; return the question it may answer, which no
        longer waits."""
        self.doubts = doubts(nlu, asr_confidence, self.settings.unsure, unknown_share)
        self.asr_confidence = asr_confidence
        pending, self.pending = self.pending, None
        return pending

    def ask_intent(
        self, state: State, text: str, nlu: NluResult, branches: list[Transition]
    ) -> str | None:
        """The question (a template) to ask before ``nlu.intent`` takes ``branches``, which
        then wait for a yes; None when the intent is not in doubt and acts now."""
        if not self.doubts or nlu.intent not in confirm_intents(self.settings, state):
            return None
        self.pending = PendingIntent(nlu.intent, text, nlu, branches, self.doubts)
        return confirm_prompt(self.settings, state, self.language, nlu.intent)

    def ask_value(self, slot: str, slot_def: SlotDef, value: Any, now: datetime) -> str | None:
        """The read-back of ``value`` to ask before it is stored in ``slot``, which then waits
        for a yes; None when the slot stores it now."""
        if not needs_read_back(slot_def, self.asr_confidence, self.settings.unsure.asr_below):
            return None
        self.pending = PendingValue(slot, value, self.doubts)
        words = value_words(slot_def.type, value, spoken(value, now))
        return read_back_prompt(self.language, words)

    def note(self, what: str) -> str:
        """The transcript's event line for a question asked about ``what``."""
        reasons = "; ".join(self.doubts)
        return f"(confirming {what}" + (f": {reasons})" if reasons else ")")


@dataclass(frozen=True, slots=True)
class Decision:
    """What an answer to a confirmation means: ``proceed`` with the intent, ``store`` the
    value, ``correct`` it to ``value``, ``take_back`` (ask the question again) or ``other``
    (not an answer: handle the utterance as usual)."""

    kind: Literal["proceed", "store", "correct", "take_back", "other"]
    value: Any = None
    note: str = ""


def decide(pending: Pending, text: str, nlu: NluResult, heard: Any = None) -> Decision:
    """The meaning of ``text`` said to the question ``pending`` asked; ``heard`` is the slot
    value found in it (read-backs only)."""
    if isinstance(pending, PendingValue):
        if heard is not None and heard != pending.value:
            value = corrected(pending.value, heard)
            return Decision("correct", value, f"corrected {pending.slot}")
        answer = read_answer(text, nlu)
        if answer == "yes" or heard is not None:
            return Decision("store", pending.value, f"confirmed {pending.slot}")
    else:
        answer = read_answer(text, nlu, pending.intent)
        if answer == "yes":
            return Decision("proceed", note=f"confirmed {pending.intent}")
    if answer == "no":
        return Decision("take_back", note="taken back")
    return Decision("other")


def doubts(
    nlu: NluResult | None,
    asr_confidence: float | None,
    limits: UnsureLimits,
    unknown_share: float | None = None,
) -> tuple[str, ...]:
    """Why what was heard is unsure (empty when it is not): one reason per limit crossed."""
    reasons: list[str] = []
    if asr_confidence is not None and asr_confidence < limits.asr_below:
        reasons.append(f"asr {asr_confidence:.2f} < {limits.asr_below:g}")
    if nlu is not None and not nlu.is_fallback and nlu.ranking:
        top = nlu.ranking[0][1]
        runner_up = nlu.ranking[1][1] if len(nlu.ranking) > 1 else 0.0
        if top - runner_up < limits.margin_below:
            reasons.append(f"margin {top - runner_up:.2f} < {limits.margin_below:g}")
    if unknown_share is not None and unknown_share > limits.oov_above:
        reasons.append(f"unknown words {unknown_share:.0%} > {limits.oov_above:.0%}")
    words = len(nlu.text.split()) if nlu is not None else 0
    ending = nlu is not None and nlu.intent in CALL_ENDING_INTENTS  # a bare "no" is an answer
    if asr_confidence is not None and ending and 0 < words < limits.words_below:
        reasons.append(f"{words} word{'s' if words > 1 else ''} < {limits.words_below}")
    return tuple(reasons)


def read_answer(text: str, nlu: NluResult, confirming: str | None = None) -> Answer:
    """Yes, no, or something else, said to a confirmation question.

    A bare yes or no (only words of :data:`_BARE_WORDS`) is read as such. Otherwise saying
    the intent being confirmed again (``confirming``: "no, I'm not interested") confirms
    it, although its words sound like a no; anything else is a new utterance."""
    if all(word in _BARE_WORDS for word in normalize(text).split()):
        said = extract_yes_no(text)
        return "other" if said is None else ("yes" if said else "no")
    understood = nlu.intent if nlu.intent != FALLBACK_INTENT else None
    if confirming is not None and understood == confirming:
        return "yes"
    return "other"
