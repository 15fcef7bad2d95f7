"""The dialogue manager: a pure, deterministic state machine over conversation events.

Events in (what the callee said, silence, a DTMF key, an interruption, a hang-up), a
:class:`Turn` out (what to say, what to do); both are defined in :mod:`dialogues.turns` and
imported from here too. No I/O: understanding uses the classifier it was
given (the built-in one computes in memory; a Rasa server is consulted by the caller, who
passes the result in ``UserText.nlu``), and time comes from an injected clock. What taking a
transition does (entering states, actions, retries, the conversation's record) is
:class:`dialogues.script_machine.ScriptMachine`, which the manager extends.

How an utterance is resolved in a state, first match wins:

1. an intent the state handles itself (``on``), confident enough (``nlu_threshold``);
2. in a state that fills a slot, one of the ``interrupt_intents`` confident enough to
   interrupt (``interrupt_threshold``), so "stop calling me" is never taken for an answer;
3. the state's slot, when the extractor finds a value (``next`` follows);
4. a global intent (``global.on``) above ``nlu_threshold``;
5. a free-text slot takes the whole utterance;
6. otherwise the state's (or the global) ``no_match`` handler: reprompt, then ``then``.

What was heard unsure is asked about before it counts: an intent of ``confirm_intents`` gets a
yes/no question before its branch is taken (:mod:`dialogues.confirm`), and a slot with
``read_back`` hears its value said back before it is stored (:mod:`dialogues.readback`).
The answer to that question is read first on the next utterance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from dialogues.confirm import Confirmations, Pending, PendingIntent, PendingValue, decide
from dialogues.loader import LoadedScript
from dialogues.nlu import FALLBACK_INTENT, IntentClassifier, NluResult, build_classifier
from dialogues.schema import State, Transition
from dialogues.script_machine import ScriptMachine
from dialogues.slots import extract_slot
from dialogues.templates import taken_back
from dialogues.turns import (
    BargeIn,
    Dtmf,
    Event,
    HangUp,
    NoInput,
    NotUnderstood,
    Reply,
    Turn,
    UserText,
)

log = logging.getLogger(__name__)


class DialogueManager(ScriptMachine):
    def __init__(
        self,
        loaded: LoadedScript,
        *,
        classifier: IntentClassifier | None = None,
        lead: Mapping[str, Any] | None = None,
        timezone: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.classifier = classifier or build_classifier(loaded)
        super().__init__(loaded, lead=lead, timezone=timezone, clock=clock)
        #: A question the robot asked to confirm an intent or a slot value, awaiting yes/no.
        self._confirm = Confirmations(self.settings, self.script.language)

    # -- public API -------------------------------------------------------------------------

    @property
    def confirming(self) -> str | None:
        """What the robot is waiting for a yes/no about ("intent not_interested", "slot
        budget"), or None: the next answer is then expected to be a yes or a no."""
        return self._confirm.confirming

    def start(self) -> Turn:
        turn = Turn()
        if self.script.start is None:  # the loader refuses such scripts
            raise ValueError("script has no start state")
        self._enter(self.script.start, turn)
        return self._finish(turn)

    def handle(self, event: Event) -> Turn:
        turn = Turn()
        if self.ended:
            return self._finish(turn)
        if not isinstance(event, UserText | BargeIn):
            self._confirm.pending = None  # silence or a key press answers no confirmation
        if isinstance(event, UserText):
            waiting = self._confirm.pending
            self._on_text(event, turn)
            repeated = all(r.kind == "repeat" for r in turn.replies)
            if waiting and not self._confirm.pending and repeated:
                self._confirm.pending = waiting  # "sorry, what?" had the question said again
        elif isinstance(event, NoInput):
            self._record("event", "(no input)")
            self._retry("no_input", turn)
        elif isinstance(event, NotUnderstood):
            self._record("event", "(not understood in time)")
            self._late(turn)
        elif isinstance(event, Dtmf):
            self._record("event", f"(dtmf {event.digit})")
            self._on_dtmf(event.digit, turn)
        elif isinstance(event, BargeIn):
            heard = 0.0 if event.total_ms <= 0 else min(1.0, event.heard_ms / event.total_ms)
            self._record("event", f"(interrupted after {heard:.0%} of the reply)")
        elif isinstance(event, HangUp):
            self._record("event", "(callee hung up)")
            self.ended = True
        return self._finish(turn)

    # -- resolution -------------------------------------------------------------------------

    def _on_text(self, event: UserText, turn: Turn) -> None:
        text = event.text.strip()
        if not text:
            self._retry("no_input", turn)
            return
        nlu = event.nlu or self.classifier.parse(text)
        turn.nlu = nlu
        self._record("callee", text, nlu.intent, nlu.confidence)
        unknown = getattr(self.classifier, "unknown_share", None)
        pending = self._confirm.hear(nlu, event.confidence, unknown(text) if unknown else None)
        if pending is not None and self._answer_pending(pending, text, nlu, turn):
            return
        state = self._current()
        intent, conf = nlu.intent, nlu.confidence
        understood = intent != FALLBACK_INTENT and conf >= self.settings.nlu_threshold
        global_on = self.script.global_.on
        slot_def = self.script.slots.get(state.slot) if state.slot else None

        if understood and intent in state.on and self._take(state.on[intent], text, nlu, turn):
            return
        if (
            slot_def is not None
            and intent in global_on
            and intent in self.settings.interrupt_intents
            and conf >= self.settings.interrupt_threshold
            and self._take(global_on[intent], text, nlu, turn)
        ):
            return
        if slot_def is not None and slot_def.type != "free_text" and state.slot:
            value = self._extract(state.slot, text, intent if understood else None)
            if value is not None:
                self._fill_or_read_back(state, value, turn)
                return
        if understood and intent in global_on and self._take(global_on[intent], text, nlu, turn):
            return
        if slot_def is not None and slot_def.type == "free_text" and state.slot:
            self._fill(state.slot, text, turn)
            self._follow_next(state, turn)
            return
        self._retry("no_match", turn)

    # -- confirmation and read-back (rules in dialogues.confirm and dialogues.readback) -----

    def _take(self, branches: list[Transition], text: str, nlu: NluResult, turn: Turn) -> bool:
        """Branch on an intent, or first ask to confirm it when it was heard unsure."""
        prompt = self._confirm.ask_intent(self._current(), text, nlu, branches)
        if prompt is not None:
            self._confirming(f"intent {nlu.intent}", self.render(prompt), turn)
            return True
        return self._branch(branches, text, nlu, turn)

    def _fill_or_read_back(self, state: State, value: Any, turn: Turn) -> None:
        """Store an answer and move on, or first say it back when the slot asks for that."""
        slot = state.slot or ""
        prompt = self._confirm.ask_value(slot, self.script.slots[slot], value, self.now())
        if prompt is not None:
            self._confirming(f"slot {slot}", prompt, turn)
            return
        self._fill(slot, value, turn)
        self._follow_next(state, turn)

    def _confirming(self, what: str, prompt: str, turn: Turn) -> None:
        turn.confirming = what
        self._record("event", self._confirm.note(what))
        turn.replies.append(Reply(prompt, "ask", self.state))

    def _answer_pending(self, pending: Pending, text: str, nlu: NluResult, turn: Turn) -> bool:
        """Act on the answer to a confirmation; False when it is a new utterance instead."""
        state = self._current()
        heard = None
        if isinstance(pending, PendingValue):
            heard = self._extract(pending.slot, text, None)
        decision = decide(pending, text, nlu, heard)
        if decision.kind == "other":
            return False
        self._record("event", f"({decision.note})")
        if decision.kind == "correct":
            self._fill_or_read_back(state, decision.value, turn)
        elif decision.kind == "store" and isinstance(pending, PendingValue):
            self._fill(pending.slot, pending.value, turn)
            self._follow_next(state, turn)
        elif decision.kind == "proceed" and isinstance(pending, PendingIntent):
            if not self._branch(pending.branches, pending.text, pending.nlu, turn):
                self._ask(state, turn)
        else:
            self._say(taken_back(self.script.language), "say", turn)
            self._ask(state, turn)
        return True

    def _on_dtmf(self, digit: str, turn: Turn) -> None:
        state = self._current()
        if digit in state.dtmf:
            self._apply(state.dtmf[digit], turn)
            return
        slot_def = self.script.slots.get(state.slot) if state.slot else None
        if slot_def is not None and state.slot and slot_def.type in ("digits", "integer"):
            self._fill(state.slot, digit if slot_def.type == "digits" else int(digit), turn)
            self._follow_next(state, turn)
            return
        self._retry("no_match", turn)

    def _branch(self, branches: list[Transition], text: str, nlu: NluResult, turn: Turn) -> bool:
        """Take the first branch whose condition holds; False when none does."""
        for tr in branches:
            if tr.capture and tr.capture not in self.slots:
                value = self._extract(tr.capture, text, nlu.intent)
                if value is not None:
                    self._fill(tr.capture, value, turn)
            if tr.if_ and not self._holds(tr.if_):
                continue
            self._apply(tr, turn)
            return True
        return False

    def _extract(self, slot: str, text: str, intent: str | None) -> Any:
        slot_def = self.script.slots[slot]
        if slot_def.type == "free_text":
            return text
        return extract_slot(
            slot_def.type, text, now=self.now(), intent=intent, options=slot_def.options
        )
