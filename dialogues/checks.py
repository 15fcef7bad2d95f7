"""What a script's parts refer to, checked once the script has parsed.

The loader (:mod:`dialogues.loader`) parses the YAML and validates each part's shape; these
checks then look across parts: goto targets and the start state exist, intents are defined,
slots, lead variables and constants named in placeholders are declared, every state is
reachable, confirmations name known intents, test conversations expect known states. Each
problem is reported through ``problem(path, message, key)``, which the loader turns into a
``FILE:LINE:COL`` position.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from dialogues.schema import DISPOSITIONS, Action, Script, State, Transition
from dialogues.slots import SLOT_TYPES
from dialogues.templates import TEMPLATE_FIELD, TextPath, script_texts, script_transitions
from robot.errors import SourceProblem

_FIELD_NAME = re.compile(r"^(lead\.|slot\.)?[A-Za-z_][A-Za-z0-9_]*$")


class ProblemAt(Protocol):
    """Makes a problem found at ``path`` in the YAML (at its key when ``key``)."""

    def __call__(self, path: TextPath, message: str, key: bool = False) -> SourceProblem: ...


@dataclass
class Broken:
    """Names whose definitions failed validation: references to them are not errors."""

    states: set[str] = field(default_factory=set)
    slots: set[str] = field(default_factory=set)
    intents: set[str] = field(default_factory=set)


def check_references(
    script: Script,
    examples: dict[str, list[str]],
    problem: ProblemAt,
    broken: Broken | None = None,
) -> Iterator[SourceProblem]:
    """Every problem with what the script's parts name: states, intents, slots, variables,
    constants, dispositions, reachability, confirmation and test conversations."""
    broken = broken or Broken()
    seen_intents: set[tuple[str | int, ...]] = set()

    states = script.states
    if not states:
        yield problem((), "the script has no states")
        return
    if script.start is None:
        yield problem((), "missing 'start': name the state the call begins in")
    elif script.start not in states and script.start not in broken.states:
        yield problem(
            ("start",), f"start state '{script.start}' is not defined{_hint(script.start, states)}"
        )

    for name, slot in script.slots.items():
        if slot.type not in SLOT_TYPES:
            yield problem(
                ("slots", name, "type"),
                f"slot '{name}' has unknown type '{slot.type}' "
                f"(known: {', '.join(sorted(SLOT_TYPES))})",
            )
        elif slot.type == "choice" and not slot.options:
            yield problem(("slots", name), f"choice slot '{name}' needs options", key=True)

    for path, tr in script_transitions(script):
        if tr.goto is not None and tr.goto not in states and tr.goto not in broken.states:
            yield problem(
                (*path, "goto"), f"transition to unknown state '{tr.goto}'{_hint(tr.goto, states)}"
            )
        yield from _check_slot_refs(script, path, tr, problem)
        if len(path) >= 3 and path[-3] == "on":
            intent = str(path[-2])
            if path[:-1] in seen_intents:
                continue
            seen_intents.add(path[:-1])
            if intent not in examples and intent not in broken.intents:
                yield problem(
                    path[:-1],
                    f"intent '{intent}' is used but never defined{_hint(intent, examples)}",
                    key=True,
                )

    for name, state in states.items():
        base: TextPath = ("states", name)
        if state.slot and state.slot not in script.slots and state.slot not in broken.slots:
            yield problem((*base, "slot"), f"state '{name}' fills unknown slot '{state.slot}'")
        for i, action in enumerate(state.actions):
            yield from _check_action(script, (*base, "actions", i), action, problem)
        if state.disposition is not None and state.disposition not in DISPOSITIONS:
            yield problem((*base, "disposition"), _bad_disposition(state.disposition))
        if state.end and state.disposition is None:
            yield problem(base, f"end state '{name}' needs a disposition", key=True)
        if not state.end and not state.is_question and state.next is None:
            yield problem(
                base,
                f"state '{name}' has no way forward: give it 'next', 'on', 'ask', or 'end: true'",
                key=True,
            )
        if state.slot and state.next is None:
            yield problem(
                base, f"state '{name}' fills slot '{state.slot}' but has no 'next'", key=True
            )
        for digit in state.dtmf:
            if digit not in "0123456789*#" or len(digit) != 1:
                yield problem((*base, "dtmf", digit), f"'{digit}' is not a DTMF key", key=True)

    for item in script_texts(script):
        for match in TEMPLATE_FIELD.finditer(item.text):
            yield from _check_field(script, item.path, match.group(1), problem)

    if script.start in states:
        for name in sorted(set(states) - reachable_states(script)):
            if broken.states:
                break  # a broken state may be the only way in: don't guess
            yield problem(
                ("states", name), f"state '{name}' is unreachable from '{script.start}'", key=True
            )

    for i, intent in enumerate(script.settings.interrupt_intents):
        if intent not in examples and intent in script.global_.on:
            yield problem(("settings", "interrupt_intents", i), f"unknown intent '{intent}'")
    for i, disposition in enumerate(script.settings.qualified_dispositions):
        if disposition not in DISPOSITIONS:
            yield problem(("settings", "qualified_dispositions", i), _bad_disposition(disposition))
    yield from _check_confirmation(script, examples, problem)
    yield from _check_tests(script, examples, problem)


def _check_slot_refs(
    script: Script, path: TextPath, tr: Transition, problem: ProblemAt
) -> Iterator[SourceProblem]:
    if tr.capture and tr.capture not in script.slots:
        yield problem((*path, "capture"), f"capture of unknown slot '{tr.capture}'")
    if tr.if_:
        slot = tr.if_.removeprefix("not ").strip()
        if slot not in script.slots:
            yield problem((*path, "if"), f"condition on unknown slot '{slot}'")
    for slot in tr.set:
        if slot not in script.slots:
            yield problem((*path, "set", slot), f"set of unknown slot '{slot}'", key=True)
    for i, action in enumerate(tr.actions):
        yield from _check_action(script, (*path, "actions", i), action, problem)


def _check_action(
    script: Script, path: TextPath, action: Action, problem: ProblemAt
) -> Iterator[SourceProblem]:
    for slot in action.values:
        if slot not in script.slots:
            yield problem(path, f"set of unknown slot '{slot}'")
    if action.slot and action.slot not in script.slots:
        yield problem(path, f"callback refers to unknown slot '{action.slot}'")


def _check_field(
    script: Script, path: TextPath, name: str, problem: ProblemAt
) -> Iterator[SourceProblem]:
    name = name.strip()
    if not _FIELD_NAME.match(name):
        yield problem(
            path, f"bad placeholder '{{{name}}}': use {{lead.NAME}}, {{slot.NAME}} or {{NAME}}"
        )
    elif name.startswith("lead."):
        var = name.removeprefix("lead.")
        if var not in script.variables and var not in ("phone", "number"):
            yield problem(path, f"lead variable '{var}' is used but not declared in 'variables'")
    elif name.startswith("slot."):
        if name.removeprefix("slot.") not in script.slots:
            yield problem(path, f"unknown slot '{name.removeprefix('slot.')}' in placeholder")
    elif name not in script.constants:
        yield problem(path, f"unknown constant '{{{name}}}': declare it under 'constants'")


#: Slot types whose values can be said back ("fifteen thousand dollars, is that right?").
READ_BACK_TYPES = frozenset({"money", "integer", "digits", "date", "time", "datetime"})


def _check_confirmation(
    script: Script, examples: dict[str, list[str]], problem: ProblemAt
) -> Iterator[SourceProblem]:
    """Intents named for confirmation exist; read-back is asked of slots that can be said."""
    settings = script.settings
    lists: list[tuple[TextPath, list[str]]] = []
    if "confirm_intents" in settings.model_fields_set:  # the default names intents a script
        lists.append((("settings", "confirm_intents"), settings.confirm_intents))  # may lack
    for name, state in script.states.items():
        if state.confirm_intents is not None:
            lists.append((("states", name, "confirm_intents"), state.confirm_intents))
    for path, intents in lists:
        for i, intent in enumerate(intents):
            if intent not in examples:
                yield problem((*path, i), f"unknown intent '{intent}'{_hint(intent, examples)}")
    prompts: list[tuple[TextPath, dict[str, str]]] = [
        (("settings", "confirm_prompts"), settings.confirm_prompts)
    ]
    prompts += [
        (("states", n, "confirm_prompts"), s.confirm_prompts) for n, s in script.states.items()
    ]
    for path, texts in prompts:
        for intent in texts:
            if intent not in examples:
                yield problem(
                    (*path, intent),
                    f"confirmation prompt for unknown intent '{intent}'{_hint(intent, examples)}",
                    key=True,
                )
    for name, slot in script.slots.items():
        if slot.read_back != "never" and slot.type not in READ_BACK_TYPES:
            yield problem(
                ("slots", name, "read_back"),
                f"slot '{name}' of type '{slot.type}' cannot be read back "
                f"(types that can: {', '.join(sorted(READ_BACK_TYPES))})",
            )


def _check_tests(
    script: Script, examples: dict[str, list[str]], problem: ProblemAt
) -> Iterator[SourceProblem]:
    for t, test in enumerate(script.tests):
        base: TextPath = ("tests", t)
        for i, turn in enumerate(test.turns):
            if turn.state and turn.state not in script.states:
                yield problem(
                    (*base, "turns", i, "state"), f"test expects unknown state '{turn.state}'"
                )
            if turn.intent and turn.intent not in examples and turn.intent != "nlu_fallback":
                yield problem(
                    (*base, "turns", i, "intent"), f"test expects unknown intent '{turn.intent}'"
                )
        exp = test.expect
        if exp.disposition and exp.disposition not in DISPOSITIONS:
            yield problem((*base, "expect", "disposition"), _bad_disposition(exp.disposition))
        if exp.state and exp.state not in script.states:
            yield problem((*base, "expect", "state"), f"test expects unknown state '{exp.state}'")
        for var in script.variables:
            spec = script.variables[var]
            if spec.required and spec.default is None and var not in test.lead:
                yield problem(
                    (*base, "lead"), f"test '{test.name}' lacks required lead variable '{var}'"
                )


def state_exits(state: State) -> Iterator[tuple[str, str]]:
    """Where a state's own transitions go: (label, target state) in YAML order."""
    for branch in state.next or []:
        if branch.goto:
            yield "next", branch.goto
    for intent, items in state.on.items():
        yield from ((intent, b.goto) for b in items if b.goto)
    for digit, tr in state.dtmf.items():
        if tr.goto:
            yield f"dtmf {digit}", tr.goto
    for kind, handler in (("no_input", state.no_input), ("no_match", state.no_match)):
        if handler and handler.then and handler.then.goto:
            yield kind, handler.then.goto


def global_exits(script: Script) -> Iterator[tuple[str, str]]:
    """Where the ``global`` handlers go (from any state that does not end the call)."""
    for intent, items in script.global_.on.items():
        yield from ((intent, b.goto) for b in items if b.goto)
    for kind in ("no_input", "no_match"):
        handler = getattr(script.global_, kind)
        if handler and handler.then and handler.then.goto:
            yield kind, handler.then.goto


def reachable_states(script: Script) -> set[str]:
    """The states a call can reach from ``start``."""
    global_targets = [target for _, target in global_exits(script)]
    seen: set[str] = set()
    todo = [script.start] if script.start else []
    while todo:
        name = todo.pop()
        if name in seen or name not in script.states:
            continue
        seen.add(name)
        state = script.states[name]
        todo.extend(target for _, target in state_exits(state))
        if not state.end:
            todo.extend(global_targets)
    return seen


def _bad_disposition(value: str) -> str:
    return f"unknown disposition '{value}' (one of: {', '.join(sorted(DISPOSITIONS))})"


def _hint(name: str, known: Any) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
