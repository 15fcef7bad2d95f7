"""Load and validate dialogue scripts, reporting every problem with FILE:LINE:COL.

Loading happens in three passes, each collecting all of its problems before giving up:
YAML syntax (ruamel.yaml, which keeps positions), the typed model (:mod:`dialogues.schema`,
whose error paths are mapped back to YAML positions), and cross-references (states, intents,
slots, variables, reachability: :mod:`dialogues.checks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from dialogues.checks import Broken, check_references
from dialogues.schema import Script
from dialogues.templates import TextPath
from robot.errors import ScriptError, SourceProblem
from robot.yaml_limits import limited_yaml, read_yaml_source


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

    def find(self, path: TextPath, *, key: bool = False) -> tuple[int, int]:
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
    broken = Broken()
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

    def problem(path: TextPath, message: str, key: bool = False) -> SourceProblem:
        line, col = pos.find(path, key=key)
        return SourceProblem(filename, line, col, message)

    problems += list(check_references(script, examples, problem, broken))
    if problems:
        raise ScriptError(problems)
    return LoadedScript(script, Path(filename) if base_dir else None, text, examples, synonyms)


_SECTIONS = {"states": "states", "slots": "slots", "intents": "intents"}


def _validate_without_broken(
    plain: dict[str, Any], error: pydantic.ValidationError, broken: Broken
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


def _describe(loc: TextPath) -> str:
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
