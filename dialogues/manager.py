"""The dialogue manager: a pure, deterministic state machine over conversation events.

Events in (what the callee said, silence, a DTMF key, an interruption, a hang-up), a
:class:`Turn` out (what to say, what to do). No I/O: understanding uses the classifier it was
given (the built-in one computes in memory; a Rasa server is consulted by the caller, who
passes the result in ``UserText.nlu``), and time comes from an injected clock.

How an utterance is resolved in a state, first match wins:

1. an intent the state handles itself (``on``), confident enough (``nlu_threshold``);
2. in a state that fills a slot, one of the ``interrupt_intents`` confident enough to
   interrupt (``interrupt_threshold``), so "stop calling me" is never taken for an answer;
3. the state's slot, when the extractor finds a value (``next`` follows);
4. a global intent (``global.on``) above ``nlu_threshold``;
5. a free-text slot takes the whole utterance;
6. otherwise the state's (or the global) ``no_match`` handler: reprompt, then ``then``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dialogues.loader import TEMPLATE_FIELD, LoadedScript
from dialogues.nlu import FALLBACK_INTENT, BuiltinClassifier, IntentClassifier, NluResult
from dialogues.schema import Action, RetryHandler, State, Transition
from dialogues.slots import extract_slot, slot_value_to_json

log = logging.getLogger(__name__)

DEFAULT_NO_INPUT = "Sorry, I didn't hear anything."
DEFAULT_NO_MATCH = "Sorry, I didn't quite get that."
_MAX_CHAIN = 50
_DOUBLE_STOP = re.compile(r"(?<=[A-Za-z])\.\.(?!\.)")


@dataclass(frozen=True, slots=True)
class UserText:
    text: str
    nlu: NluResult | None = None


@dataclass(frozen=True, slots=True)
class NoInput:
    pass


@dataclass(frozen=True, slots=True)
class NotUnderstood:
    """The callee spoke but no transcript came in time: handled like an answer nothing
    matched (the state's ``no_match`` reprompt)."""


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


class DialogueManager:
    def __init__(
        self,
        loaded: LoadedScript,
        *,
        classifier: IntentClassifier | None = None,
        lead: Mapping[str, Any] | None = None,
        timezone: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.loaded = loaded
        self.script = loaded.script
        self.settings = self.script.settings
        self.classifier = classifier or build_classifier(loaded)
        self.lead = dict(lead or {})
        self.tz = ZoneInfo(timezone or self.settings.timezone or "UTC")
        self._clock = clock or (lambda: datetime.now(UTC))
        self.state = ""
        self.slots: dict[str, Any] = {}
        self.disposition = "incomplete"
        self.ended = False
        self.transcript: list[TranscriptEntry] = []
        self.callback_at: datetime | None = None
        self.transfer_to: str | None = None
        self.do_not_call = False
        self._visits: dict[str, int] = {}
        self._retries: dict[tuple[str, str], int] = {}
        self._last_replies: list[Reply] = []

    # -- public API -------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock().astimezone(self.tz)

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
        if isinstance(event, UserText):
            self._on_text(event, turn)
        elif isinstance(event, NoInput):
            self._record("event", "(no input)")
            self._retry("no_input", turn)
        elif isinstance(event, NotUnderstood):
            self._record("event", "(not understood in time)")
            self._retry("no_match", turn)
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

    def result(self) -> DialogueResult:
        return DialogueResult(
            disposition=self.disposition,
            state=self.state,
            ended=self.ended,
            slots={k: slot_value_to_json(v) for k, v in self.slots.items()},
            transcript=[t.to_json() for t in self.transcript],
            callback_at=self.callback_at,
            transfer_to=self.transfer_to,
            do_not_call=self.do_not_call,
        )

    # -- resolution -------------------------------------------------------------------------

    def _on_text(self, event: UserText, turn: Turn) -> None:
        text = event.text.strip()
        if not text:
            self._retry("no_input", turn)
            return
        nlu = event.nlu or self.classifier.parse(text)
        turn.nlu = nlu
        self._record("callee", text, nlu.intent, nlu.confidence)
        state = self._current()
        intent, conf = nlu.intent, nlu.confidence
        understood = intent != FALLBACK_INTENT and conf >= self.settings.nlu_threshold
        global_on = self.script.global_.on
        slot_def = self.script.slots.get(state.slot) if state.slot else None

        if understood and intent in state.on and self._branch(state.on[intent], text, nlu, turn):
            return
        if (
            slot_def is not None
            and intent in global_on
            and intent in self.settings.interrupt_intents
            and conf >= self.settings.interrupt_threshold
            and self._branch(global_on[intent], text, nlu, turn)
        ):
            return
        if slot_def is not None and slot_def.type != "free_text" and state.slot:
            value = self._extract(state.slot, text, intent if understood else None)
            if value is not None:
                self._fill(state.slot, value, turn)
                self._follow_next(state, turn)
                return
        if understood and intent in global_on and self._branch(global_on[intent], text, nlu, turn):
            return
        if slot_def is not None and slot_def.type == "free_text" and state.slot:
            self._fill(state.slot, text, turn)
            self._follow_next(state, turn)
            return
        self._retry("no_match", turn)

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

    def _holds(self, condition: str) -> bool:
        negate = condition.startswith("not ")
        slot = condition.removeprefix("not ").strip()
        value = self.slots.get(slot)
        truthy = value is not None and value is not False and value != ""
        return truthy != negate

    def _follow_next(self, state: State, turn: Turn, depth: int = 0) -> None:
        for tr in state.next or []:
            if tr.if_ and not self._holds(tr.if_):
                continue
            self._apply(tr, turn, depth)
            return
        # No branch holds: stay and ask again.
        self._ask(state, turn)

    def _retry(self, kind: Literal["no_input", "no_match"], turn: Turn) -> None:
        state = self._current()
        handler: RetryHandler | None = getattr(state, kind) or getattr(self.script.global_, kind)
        retries = self.settings.max_retries
        if handler is not None and handler.retries is not None:
            retries = handler.retries
        key = (self.state, kind)
        self._retries[key] = self._retries.get(key, 0) + 1
        count = self._retries[key]
        if count <= retries:
            texts = handler.say if handler and handler.say else []
            default = DEFAULT_NO_INPUT if kind == "no_input" else DEFAULT_NO_MATCH
            text = texts[(count - 1) % len(texts)] if texts else default
            self._say(text, "reprompt", turn)
            self._ask(state, turn)
            return
        if handler is not None and handler.then is not None:
            self._apply(handler.then, turn)
            return
        # Out of retries and nowhere to go: end the call politely.
        self._say("Sorry, this doesn't seem to be a good moment. Goodbye.", "say", turn)
        self._end(turn, "incomplete")

    # -- effects ----------------------------------------------------------------------------

    def _apply(self, tr: Transition, turn: Turn, depth: int = 0) -> None:
        for slot, value in tr.set.items():
            self._fill(slot, value, turn)
        for text in tr.say:
            self._say(text, "say", turn)
        self._run_actions(tr.actions, turn)
        if self.ended:
            return
        if tr.repeat:
            for reply in self._last_replies or []:
                turn.replies.append(Reply(reply.text, "repeat", self.state))
            return
        if tr.goto is not None:
            self._enter(tr.goto, turn, depth + 1)
        else:
            self._ask(self._current(), turn)

    def _enter(self, name: str, turn: Turn, depth: int = 0) -> None:
        if depth > _MAX_CHAIN:
            raise RuntimeError(f"state chain longer than {_MAX_CHAIN} without a question at {name}")
        self.state = name
        state = self._current()
        visit = self._visits.get(name, 0)
        self._visits[name] = visit + 1
        self._retries.pop((name, "no_input"), None)
        self._retries.pop((name, "no_match"), None)
        if state.say:
            self._say(state.say[visit % len(state.say)], "say", turn)
        if state.disposition is not None:
            self.disposition = state.disposition
        self._run_actions(state.actions, turn)
        if self.ended:
            return
        if state.end:
            self._end(turn, state.disposition or self.disposition)
        elif state.is_question:
            self._ask(state, turn)
        elif state.next is not None:
            self._follow_next(state, turn, depth + 1)

    def _ask(self, state: State, turn: Turn) -> None:
        if state.ask:
            visit = max(0, self._visits.get(self.state, 1) - 1)
            self._say(state.ask[visit % len(state.ask)], "ask", turn)

    def _end(self, turn: Turn, disposition: str) -> None:
        self.disposition = disposition
        self.ended = True
        if not any(a.kind == "transfer" for a in turn.actions):
            turn.actions.append(ActionCall("hangup"))

    def _run_actions(self, actions: list[Action], turn: Turn) -> None:
        for action in actions:
            if action.kind == "set":
                for slot, value in action.values.items():
                    self._fill(slot, value, turn)
            elif action.kind == "transfer":
                target = self.render(action.to or "")
                self.transfer_to = target
                turn.actions.append(ActionCall("transfer", to=target, mode=action.mode))
                self.disposition = "transferred"
                self.ended = True
            elif action.kind == "callback":
                at = self.slots.get(action.slot or "")
                self.callback_at = _as_datetime(at, self.now())
                turn.actions.append(ActionCall("callback", at=self.callback_at))
            elif action.kind == "do_not_call":
                self.do_not_call = True
                turn.actions.append(ActionCall("do_not_call"))
            elif action.kind == "hangup":
                self._end(turn, self._current().disposition or self.disposition)

    def _say(self, template: str, kind: Literal["say", "ask", "reprompt"], turn: Turn) -> None:
        text = self.render(template)
        turn.replies.append(Reply(text, kind, self.state))

    def _fill(self, slot: str, value: Any, turn: Turn) -> None:
        self.slots[slot] = value
        turn.slots_filled[slot] = value

    def _extract(self, slot: str, text: str, intent: str | None) -> Any:
        slot_def = self.script.slots[slot]
        if slot_def.type == "free_text":
            return text
        return extract_slot(
            slot_def.type, text, now=self.now(), intent=intent, options=slot_def.options
        )

    def _current(self) -> State:
        return self.script.states[self.state]

    def _record(
        self,
        who: Literal["robot", "callee", "event"],
        text: str,
        intent: str | None = None,
        confidence: float | None = None,
    ) -> None:
        self.transcript.append(TranscriptEntry(who, text, self.state, intent, confidence))

    def _finish(self, turn: Turn) -> Turn:
        if turn.replies:
            self._last_replies = [r for r in turn.replies if r.kind != "repeat"] or turn.replies
            self._record("robot", turn.text)
        turn.state = self.state
        turn.ended = self.ended
        turn.disposition = self.disposition
        return turn

    # -- rendering --------------------------------------------------------------------------

    def render(self, template: str) -> str:
        def field_value(match: Any) -> str:
            name = match.group(1).strip()
            if name.startswith("lead."):
                var = name.removeprefix("lead.")
                value = self.lead.get(var)
                if value in (None, "") and var in self.script.variables:
                    value = self.script.variables[var].default
                return "" if value is None else str(value)
            if name.startswith("slot."):
                return spoken(self.slots.get(name.removeprefix("slot.")), self.now())
            return self.script.constants.get(name, "")

        text = TEMPLATE_FIELD.sub(field_value, template)
        text = text.replace("{{", "{").replace("}}", "}")
        # "between 9 a.m. and 1 p.m." + "." -> one full stop.
        text = _DOUBLE_STOP.sub(".", text)
        return " ".join(text.split())


def build_classifier(loaded: LoadedScript) -> IntentClassifier:
    """The classifier a script asks for: built-in (trained now) or a Rasa server."""
    settings = loaded.script.settings
    if settings.nlu == "rasa":
        from dialogues.rasa import RasaHttpClassifier
        from robot.config import get_settings

        url = settings.rasa_url or get_settings().nlu.rasa_url
        if not url:
            from robot.errors import ConfigError

            raise ConfigError("script asks for nlu: rasa but no rasa_url is set")
        return RasaHttpClassifier(url, threshold=settings.nlu_threshold)
    return BuiltinClassifier.train(
        loaded.examples, threshold=settings.nlu_threshold, synonyms=loaded.synonyms
    )


def spoken(value: Any, now: datetime) -> str:
    """How a slot value is read out to the callee."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    amount = getattr(value, "amount", None)
    if isinstance(amount, Decimal):
        currency = {"USD": "dollars", "EUR": "euros", "GBP": "pounds", "RUB": "rubles"}
        number = f"{amount:,.2f}".removesuffix(".00")
        unit = currency.get(getattr(value, "currency", None) or "", "")
        return f"{number} {unit}".strip()
    if isinstance(value, datetime):
        local = value.astimezone(now.tzinfo)
        if local.date() == now.date():
            day = "today"
        elif (local.date() - now.date()).days == 1:
            day = "tomorrow"
        else:
            day = f"{local:%A, %B} {local.day}"
        return f"{day} at {_clock_time(local.time())}"
    if isinstance(value, date):
        return f"{value:%A, %B} {value.day}"
    if isinstance(value, time):
        return _clock_time(value)
    return str(value)


def _clock_time(t: time) -> str:
    hour = t.hour % 12 or 12
    suffix = "AM" if t.hour < 12 else "PM"
    return f"{hour}:{t.minute:02d} {suffix}" if t.minute else f"{hour} {suffix}"


def _as_datetime(value: Any, now: datetime) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(10, 0), now.tzinfo)
    if isinstance(value, time):
        return datetime.combine(now.date(), value, now.tzinfo)
    return None
