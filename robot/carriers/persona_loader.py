"""Reading persona YAML files: one file, a folder, or the bundled personas.

Loading reports every problem as ``FILE:LINE:COL: message`` (:class:`PersonaError`): YAML
syntax, fields the :class:`~robot.carriers.personas.Persona` model refuses (pointed at the
key or value in the file), and a number claimed by two personas.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pydantic
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from robot.carriers.personas import Persona
from robot.errors import CallrobotError, SourceProblem
from robot.yaml_limits import limited_yaml

#: The folder of personas shipped with callrobot.
BUNDLED_PERSONA_DIR = Path(__file__).with_name("personas")


class PersonaError(CallrobotError):
    """Persona files are invalid; carries every problem found, each with FILE:LINE:COL."""

    def __init__(self, problems: list[SourceProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))


def _position(root: Any, loc: tuple[Any, ...], *, key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the node at ``loc`` (the deepest one that exists)."""
    node, line, col = root, 0, 0
    for i, part in enumerate(loc):
        if part == "numbers" and isinstance(node, CommentedMap) and part not in node:
            part = "number"
        if isinstance(node, CommentedMap) and part in node:
            want_key = key and i == len(loc) - 1
            line, col = node.lc.key(part) if want_key else node.lc.value(part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line, col = node.lc.item(part)
            node = node[part]
        else:
            break
    return line + 1, col + 1


def _describe(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems(error: pydantic.ValidationError, root: Any, filename: str) -> list[SourceProblem]:
    problems: list[SourceProblem] = []
    for err in error.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        if err["type"] == "extra_forbidden":
            line, col = _position(root, loc, key=True)
            where = _describe(loc[:-1])
            message = f"unknown field '{loc[-1]}'" + (f" in {where}" if where else "")
        elif err["type"] == "missing":
            line, col = _position(root, loc[:-1], key=True)
            where = _describe(loc[:-1])
            message = f"missing required field '{loc[-1]}'" + (f" in {where}" if where else "")
        else:
            text = str(err["msg"]).removeprefix("Value error, ")
            if not loc:  # a whole-persona rule: point at the field it names, else at 'kind'
                named = [w for w in re.findall(r"'(\w+)'", text) if w in root]
                loc = (named[0] if named else "kind",)
            line, col = _position(root, loc, key=not err["loc"])
            message = f"{_describe(loc) or 'persona'}: {text}"
        problem = SourceProblem(filename, line, col, message)
        if problem not in problems:
            problems.append(problem)
    return problems


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def parse_persona(text: str, filename: str = "<persona>") -> Persona:
    """Parse and validate one persona from YAML text."""
    yaml = limited_yaml()
    try:
        root = yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(str(part) for part in (e.context, e.problem) if part)
        raise PersonaError([SourceProblem(filename, line, col, f"YAML: {message}")]) from e
    except Exception as e:  # ruamel raises a few unmarked errors
        raise PersonaError([SourceProblem(filename, 1, 1, f"YAML: {e}")]) from e
    if not isinstance(root, CommentedMap):
        raise PersonaError([SourceProblem(filename, 1, 1, "a persona is a YAML mapping")])
    try:
        base_dir = Path(filename).parent if not filename.startswith("<") else None
        return Persona.model_validate(_plain(root), context={"base_dir": base_dir})
    except pydantic.ValidationError as e:
        raise PersonaError(_problems(e, root, filename)) from e


def load_persona(path: str | Path) -> Persona:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PersonaError([SourceProblem(str(path), 1, 1, f"cannot read file: {e}")]) from e
    return parse_persona(text, str(path))


def load_personas(*folders: str | Path) -> list[Persona]:
    """Every ``*.yaml`` persona in ``folders`` (bundled ones when none is given).

    All files are checked before anything is raised; a number claimed by two personas is an
    error on the second one.
    """
    paths: list[Path] = []
    for folder in folders or (BUNDLED_PERSONA_DIR,):
        folder = Path(folder)
        if folder.is_file():
            paths.append(folder)
        elif folder.is_dir():
            paths.extend(sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]))
        else:
            raise PersonaError([SourceProblem(str(folder), 1, 1, "persona folder not found")])
    personas: list[Persona] = []
    problems: list[SourceProblem] = []
    owner: dict[str, tuple[str, str]] = {}
    for path in paths:
        try:
            persona = load_persona(path)
        except PersonaError as e:
            problems.extend(e.problems)
            continue
        for number in persona.numbers:
            if number in owner:
                other, other_file = owner[number]
                line = _line_of(path, number)
                problems.append(
                    SourceProblem(
                        str(path),
                        line,
                        1,
                        f"number {number} already used by persona '{other}' ({other_file})",
                    )
                )
            owner[number] = (persona.name, str(path))
        personas.append(persona)
    if problems:
        raise PersonaError(problems)
    return personas


def _line_of(path: Path, needle: str) -> int:
    for index, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return index
    return 1
