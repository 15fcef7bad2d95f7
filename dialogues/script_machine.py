"""A dialogue script's state machine, walked: what entering a state, taking a transition,
running an action or running out of retries does, and what the conversation has left so far.

:class:`ScriptMachine` holds the conversation's record (state, slots, disposition, transcript,
callback, transfer, do-not-call) and the effects that change it; it understands nothing.
:class:`dialogues.manager.DialogueManager` adds understanding: it turns each event (what the
callee said, silence, a DTMF key...) into the transition to take.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dialogues.loader import LoadedScript
from dialogues.readback import spoken
from dialogues.schema import Action, State, Transition
from dialogues.slots import as_datetime, slot_value_to_json
from dialogues.templates import (
    DEFAULT_NO_INPUT,
    DEFAULT_NO_MATCH,
    OUT_OF_RETRIES,
    render_for_call,
    retry_handler,
)
from dialogues.turns import ActionCall, DialogueResult, Reply, TranscriptEntry, Turn

_MAX_CHAIN = 50
#: A decode that came too late is the platform's fault, not the callee's: the question is asked
#: again this many times per state before a late decode counts against the state's retries.
LATE_DECODE_REPEATS = 2


class ScriptMachine:
    """One conversation's walk through a script (the base of the dialogue manager)."""

    def __init__(
        self,
        loaded: LoadedScript,
        *,
        lead: Mapping[str, Any] | None = None,
        timezone: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.loaded = loaded
        self.script = loaded.script
        self.settings = self.script.settings
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

    # -- where to go ------------------------------------------------------------------------

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

    def _late(self, turn: Turn) -> None:
        """The callee spoke but the words came too late: ask again (in the words of the state's
        ``no_match`` reprompt) without using up its retries, up to ``LATE_DECODE_REPEATS``."""
        key = (self.state, "late")
        count = self._retries[key] = self._retries.get(key, 0) + 1
        if count > LATE_DECODE_REPEATS:
            self._retry("no_match", turn)
            return
        state = self._current()
        handler, _ = retry_handler(self.script, state, "no_match")
        self._say(handler.say[0] if handler and handler.say else DEFAULT_NO_MATCH, "reprompt", turn)
        self._ask(state, turn)

    def _retry(self, kind: Literal["no_input", "no_match"], turn: Turn) -> None:
        state = self._current()
        handler, retries = retry_handler(self.script, state, kind)
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
        self._say(OUT_OF_RETRIES, "say", turn)
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
        self._retries.pop((name, "late"), None)
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
                self.callback_at = as_datetime(at, self.now())
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
        def slot_text(slot: str) -> str:
            return spoken(self.slots.get(slot), self.now())

        return render_for_call(template, self.script, self.lead, slot_text)
