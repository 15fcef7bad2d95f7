"""Run a script's test conversations (the ``tests:`` section) and report like pytest.

Each conversation starts a fresh :class:`DialogueManager` with the test's lead and clock,
feeds its turns, and checks after every turn what the turn asks for (state, words the robot
must say, intent, slots, actions) and at the end the expectation (disposition, slots...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dialogues.conversation_schema import TestConversation, TestTurn
from dialogues.loader import LoadedScript
from dialogues.manager import DialogueManager
from dialogues.nlu import IntentClassifier, build_classifier
from dialogues.slots import slot_value_to_json
from dialogues.turns import Dtmf, Event, HangUp, NoInput, Turn, UserText


@dataclass
class ConversationReport:
    name: str
    failures: list[str] = field(default_factory=list)
    #: Lines of the conversation as it went: "robot: ...", "callee: ...".
    lines: list[str] = field(default_factory=list)
    disposition: str = "incomplete"

    @property
    def passed(self) -> bool:
        return not self.failures


def run_tests(
    loaded: LoadedScript,
    *,
    classifier: IntentClassifier | None = None,
    select: str | None = None,
) -> list[ConversationReport]:
    """Run every test conversation (or those whose name contains ``select``)."""
    classifier = classifier or build_classifier(loaded)
    reports = []
    for test in loaded.script.tests:
        if select and select.lower() not in test.name.lower():
            continue
        reports.append(run_conversation(loaded, test, classifier))
    return reports


def run_conversation(
    loaded: LoadedScript, test: TestConversation, classifier: IntentClassifier
) -> ConversationReport:
    now = datetime.fromisoformat(test.now) if test.now else datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    manager = DialogueManager(
        loaded,
        classifier=classifier,
        lead=test.lead,
        timezone=test.timezone or loaded.script.settings.timezone,
        clock=lambda: now,
    )
    report = ConversationReport(test.name)
    turn = manager.start()
    all_actions = list(turn.action_kinds)
    report.lines.append(f"robot: {turn.text}")
    for expected in test.greeting:
        if expected.lower() not in turn.text.lower():
            report.failures.append(f"greeting: expected the robot to say {expected!r}")
    for index, step in enumerate(test.turns, start=1):
        if manager.ended:
            report.failures.append(f"turn {index}: the call had already ended")
            break
        event = _event(step)
        report.lines.append(f"callee: {_describe(step)}")
        turn = manager.handle(event)
        all_actions += turn.action_kinds
        if turn.nlu is not None:
            report.lines[-1] += f"   [{turn.nlu.intent} {turn.nlu.confidence:.2f}]"
        if turn.replies:
            report.lines.append(f"robot: {turn.text}")
        report.failures += [f"turn {index}: {f}" for f in _check_turn(step, turn, manager)]
    expect = test.expect
    result = manager.result()
    report.disposition = result.disposition
    if expect.disposition and result.disposition != expect.disposition:
        report.failures.append(
            f"end: expected disposition {expect.disposition!r}, got {result.disposition!r}"
        )
    if expect.state and manager.state != expect.state:
        report.failures.append(f"end: expected state {expect.state!r}, got {manager.state!r}")
    if expect.ended is not None and manager.ended != expect.ended:
        report.failures.append(f"end: expected ended={expect.ended}, got {manager.ended}")
    report.failures += [f"end: {f}" for f in _check_slots(expect.slots, manager.slots)]
    for action in expect.actions:
        if action not in all_actions:
            report.failures.append(f"end: expected action {action!r}, got {all_actions}")
    return report


def _event(step: TestTurn) -> Event:
    if step.user is not None:
        return UserText(step.user, confidence=step.confidence)
    if step.dtmf is not None:
        return Dtmf(step.dtmf)
    if step.hangup:
        return HangUp()
    return NoInput()


def _describe(step: TestTurn) -> str:
    if step.user is not None:
        sureness = "" if step.confidence is None else f" (heard at {step.confidence:.2f})"
        return step.user + sureness
    if step.dtmf is not None:
        return f"(presses {step.dtmf})"
    return "(hangs up)" if step.hangup else "(silence)"


def _check_turn(step: TestTurn, turn: Turn, manager: DialogueManager) -> list[str]:
    failures = []
    if step.state and turn.state != step.state:
        failures.append(f"expected state {step.state!r}, got {turn.state!r}")
    for words in step.says:
        if words.lower() not in turn.text.lower():
            failures.append(f"expected the robot to say {words!r}, it said {turn.text!r}")
    if step.intent and (turn.nlu is None or turn.nlu.intent != step.intent):
        got = None if turn.nlu is None else f"{turn.nlu.intent} ({turn.nlu.confidence:.2f})"
        failures.append(f"expected intent {step.intent!r}, got {got}")
    for action in step.actions:
        if action not in turn.action_kinds:
            failures.append(f"expected action {action!r}, got {turn.action_kinds}")
    failures += _check_slots(step.slots, manager.slots)
    return failures


def _check_slots(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    failures = []
    for name, want in expected.items():
        if name not in actual:
            failures.append(f"expected slot {name!r} = {want!r}, it is not filled")
            continue
        got = slot_value_to_json(actual[name])
        if not values_match(want, got):
            failures.append(f"expected slot {name!r} = {want!r}, got {got!r}")
    return failures


def values_match(want: Any, got: Any) -> bool:
    """Compare a test's expected slot value with the JSON form of the real one.

    Money matches a plain number; a datetime matches any ISO prefix ("2026-03-06T17:00")."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(values_match(v, got.get(k)) for k, v in want.items())
    if isinstance(got, dict) and "amount" in got and isinstance(want, int | float | str):
        try:
            return Decimal(str(got["amount"])) == Decimal(str(want))
        except InvalidOperation:
            return False
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    if isinstance(want, int | float) and isinstance(got, int | float | str):
        try:
            return Decimal(str(got)) == Decimal(str(want))
        except InvalidOperation:
            return False
    if isinstance(got, str) and want is not None:
        return got.lower().startswith(str(want).lower())
    return bool(want == got)
