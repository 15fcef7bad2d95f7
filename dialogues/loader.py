"""Load and validate dialogue scripts, reporting every problem with FILE:LINE:COL.

Loading happens in three passes, each collecting all of its problems before giving up:
YAML syntax (ruamel.yaml, which keeps positions), the typed model (:mod:`dialogues.schema`,
whose error paths are mapped back to YAML positions), and cross-references (states, intents,
slots, variables, reachability).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from dialogues.schema import DISPOSITIONS, Script, State, Transition
from dialogues.templates import TEMPLATE_FIELD, script_texts, script_transitions
from robot.errors import ScriptError, SourceProblem
from robot.yaml_limits import limited_yaml, read_yaml_source

#: Slot types the extractors understand.
SLOT_TYPES = frozenset(
    {"yes_no", "integer", "money", "datetime", "date", "time", "free_text", "digits", "choice"}
)

_FIELD_NAME = re.compile(r"^(lead\.|slot\.)?[A-Za-z_][A-Za-z0-9_]*$")

Path_ = tuple[str | int, ...]


@dataclass
class LoadedScript:
    """A validated script with everything needed to run it."""

    script: Script
    path: Path | None
    source: str
    #: Intent -> training examples, from the script and its Rasa NLU files.
    examples: dict[str, list[str]] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.script.script


class _Positions:
    """Maps a path of keys/indexes in the YAML document to a 1-based (line, column)."""

    def __init__(self, root: Any) -> None:
        self.root = root

    def find(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Position of the value at ``path`` (or of its key); the deepest existing node wins."""
        node = self.root
        line, col = 0, 0
        for i, part in enumerate(path):
            want_key = key and i == len(path) - 1
            if isinstance(node, CommentedMap):
                found = part if part in node else _int_key(part, node)
                if found is None:
                    if isinstance(part, str) and part.startswith(("function-", "tagged-")):
                        continue
                    break
                line, col = node.lc.key(found) if want_key else node.lc.value(found)
                node = node[found]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line, col = node.lc.item(part)
                node = node[part]
            elif isinstance(part, str) and part.startswith(("function-", "tagged-")):
                continue
            else:
                break
        return line + 1, col + 1


def _int_key(part: str | int, node: CommentedMap) -> int | None:
    """DTMF keys are written as numbers in YAML but validated as strings."""
    if isinstance(part, str) and part.isdigit() and int(part) in node:
        return int(part)
    return None


def load_script(path: str | Path) -> LoadedScript:
    """Load a script file; raise :class:`ScriptError` with every problem found."""
    path = Path(path)
    text = read_yaml_source(path)
    return load_script_text(text, filename=str(path), base_dir=path.parent)


def load_script_text(
    text: str, *, filename: str = "<script>", base_dir: Path | None = None
) -> LoadedScript:
    """Load a script from YAML text; ``base_dir`` resolves its ``nlu:`` files."""
    root = _parse_yaml(text, filename)
    pos = _Positions(root)
    if not isinstance(root, CommentedMap):
        raise ScriptError([SourceProblem(filename, 1, 1, "a script is a YAML mapping")])
    plain = _plain(root)
    broken = _Broken()
    problems: list[SourceProblem] = []
    try:
        script = Script.model_validate(plain)
    except pydantic.ValidationError as e:
        problems = _model_problems(e, pos, filename)
        # Set the broken parts aside and check the rest, so one run reports everything.
        script_or_none = _validate_without_broken(plain, e, broken)
        if script_or_none is None:
            raise ScriptError(problems) from e
        script = script_or_none

    examples, synonyms, nlu_problems = _collect_examples(script, pos, filename, base_dir)
    problems += nlu_problems
    problems += list(_check_references(script, examples, pos, filename, broken))
    if problems:
        raise ScriptError(problems)
    return LoadedScript(script, Path(filename) if base_dir else None, text, examples, synonyms)


@dataclass
class _Broken:
    """Names whose definitions failed validation: references to them are not errors."""

    states: set[str] = field(default_factory=set)
    slots: set[str] = field(default_factory=set)
    intents: set[str] = field(default_factory=set)


_SECTIONS = {"states": "states", "slots": "slots", "intents": "intents"}


def _validate_without_broken(
    plain: dict[str, Any], error: pydantic.ValidationError, broken: _Broken
) -> Script | None:
    """Validate again with every failing entry removed; None when that still fails."""
    trimmed = dict(plain)
    for err in error.errors():
        loc = err["loc"]
        if not loc:
            return None
        section = loc[0]
        if section in _SECTIONS and len(loc) >= 2 and isinstance(trimmed.get(section), dict):
            entries = dict(trimmed[section])
            entries.pop(str(loc[1]), None)
            trimmed[section] = entries
            getattr(broken, _SECTIONS[str(section)]).add(str(loc[1]))
        else:
            trimmed.pop(str(section), None)
    try:
        return Script.model_validate(trimmed)
    except pydantic.ValidationError:
        return None


def validate_file(path: str | Path) -> list[SourceProblem]:
    """Every problem in a script file (empty when it is valid)."""
    try:
        load_script(path)
    except ScriptError as e:
        return e.problems
    return []


def _parse_yaml(text: str, filename: str) -> Any:
    yaml = limited_yaml()  # caps size, alias expansion, depth, scalars and time
    try:
        return yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(str(part) for part in (e.context, e.problem) if part)
        raise ScriptError([SourceProblem(filename, line, col, f"YAML: {message}")]) from e
    except Exception as e:  # ruamel raises a few unmarked errors (e.g. duplicate keys)
        raise ScriptError([SourceProblem(filename, 1, 1, f"YAML: {e}")]) from e


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _model_problems(
    error: pydantic.ValidationError, pos: _Positions, filename: str
) -> list[SourceProblem]:
    problems = []
    seen = set()
    for err in error.errors():
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            line, col = pos.find(loc, key=True)
            message = f"unknown field '{loc[-1]}'"
            parent = _describe(loc[:-1])
            if parent:
                message += f" in {parent}"
        elif kind == "missing":
            line, col = pos.find(loc[:-1], key=True)
            message = f"missing required field '{loc[-1]}'"
            parent = _describe(loc[:-1])
            if parent:
                message += f" in {parent}"
        else:
            line, col = pos.find(loc)
            msg = str(err["msg"]).removeprefix("Value error, ")
            message = f"{_describe(loc) or 'script'}: {msg}"
        key = (line, col, message)
        if key not in seen:
            seen.add(key)
            problems.append(SourceProblem(filename, line, col, message))
    return problems


def _describe(loc: Path_) -> str:
    parts = [p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "tagged")))]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _collect_examples(
    script: Script, pos: _Positions, filename: str, base_dir: Path | None
) -> tuple[dict[str, list[str]], dict[str, str], list[SourceProblem]]:
    examples: dict[str, list[str]] = {}
    synonyms: dict[str, str] = {}
    problems: list[SourceProblem] = []
    for index, rel in enumerate(script.nlu):
        nlu_path = (base_dir or Path.cwd()) / rel
        line, col = pos.find(("nlu", index))
        if not nlu_path.is_file():
            problems.append(SourceProblem(filename, line, col, f"NLU file not found: {rel}"))
            continue
        from dialogues.rasa import load_rasa_nlu

        try:
            data = load_rasa_nlu(nlu_path)
        except ScriptError as e:
            problems.extend(e.problems)
            continue
        for intent, texts in data.examples.items():
            examples.setdefault(intent, []).extend(texts)
        synonyms.update(data.synonyms)
    for name, definition in script.intents.items():
        examples.setdefault(name, []).extend(definition.examples)
        if not examples[name]:
            line, col = pos.find(("intents", name), key=True)
            problems.append(SourceProblem(filename, line, col, f"intent '{name}' has no examples"))
    return examples, synonyms, problems


def _check_references(
    script: Script,
    examples: dict[str, list[str]],
    pos: _Positions,
    filename: str,
    broken: _Broken | None = None,
) -> Iterator[SourceProblem]:
    broken = broken or _Broken()
    seen_intents: set[tuple[str | int, ...]] = set()

    def problem(path: Path_, message: str, key: bool = False) -> SourceProblem:
        line, col = pos.find(path, key=key)
        return SourceProblem(filename, line, col, message)

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
        base: Path_ = ("states", name)
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
        for name in sorted(set(states) - _reachable(script)):
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
    script: Script, path: Path_, tr: Transition, problem: Any
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
    script: Script, path: Path_, action: Any, problem: Any
) -> Iterator[SourceProblem]:
    for slot in action.values:
        if slot not in script.slots:
            yield problem(path, f"set of unknown slot '{slot}'")
    if action.slot and action.slot not in script.slots:
        yield problem(path, f"callback refers to unknown slot '{action.slot}'")


def _check_field(script: Script, path: Path_, name: str, problem: Any) -> Iterator[SourceProblem]:
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
    script: Script, examples: dict[str, list[str]], problem: Any
) -> Iterator[SourceProblem]:
    """Intents named for confirmation exist; read-back is asked of slots that can be said."""
    settings = script.settings
    lists: list[tuple[Path_, list[str]]] = []
    if "confirm_intents" in settings.model_fields_set:  # the default names intents a script
        lists.append((("settings", "confirm_intents"), settings.confirm_intents))  # may lack
    for name, state in script.states.items():
        if state.confirm_intents is not None:
            lists.append((("states", name, "confirm_intents"), state.confirm_intents))
    for path, intents in lists:
        for i, intent in enumerate(intents):
            if intent not in examples:
                yield problem((*path, i), f"unknown intent '{intent}'{_hint(intent, examples)}")
    prompts: list[tuple[Path_, dict[str, str]]] = [
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
    script: Script, examples: dict[str, list[str]], problem: Any
) -> Iterator[SourceProblem]:
    for t, test in enumerate(script.tests):
        base: Path_ = ("tests", t)
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


def _reachable(script: Script) -> set[str]:
    def targets(state: State) -> Iterator[str]:
        trs: list[Transition] = [b for items in state.on.values() for b in items]
        trs += list(state.dtmf.values())
        trs += state.next or []
        for handler in (state.no_input, state.no_match):
            if handler and handler.then:
                trs.append(handler.then)
        yield from (t.goto for t in trs if t.goto)

    global_targets = [b.goto for items in script.global_.on.values() for b in items if b.goto]
    for handler in (script.global_.no_input, script.global_.no_match):
        if handler and handler.then and handler.then.goto:
            global_targets.append(handler.then.goto)
    seen: set[str] = set()
    todo = [script.start] if script.start else []
    while todo:
        name = todo.pop()
        if name in seen or name not in script.states:
            continue
        seen.add(name)
        state = script.states[name]
        todo.extend(targets(state))
        if not state.end:
            todo.extend(global_targets)
    return seen


def _bad_disposition(value: str) -> str:
    return f"unknown disposition '{value}' (one of: {', '.join(sorted(DISPOSITIONS))})"


def _hint(name: str, known: Any) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
