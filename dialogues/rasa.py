"""Rasa interoperability: the Rasa NLU YAML training format, and a Rasa server as classifier.

:func:`load_rasa_nlu` / :func:`parse_rasa_nlu` read ``version: "3.1"`` / ``nlu:`` files
(``intent``, ``synonym``, ``regex`` and ``lookup`` items) into plain examples, stripping the
entity annotations ``[text](entity)`` and ``[text]{"entity": ..., "value": ...}`` while keeping
their spans. Every problem is reported as ``FILE:LINE:COL: message`` in one
:class:`~robot.errors.ScriptError`.

:class:`RasaHttpClassifier` asks a running Rasa server (``POST /model/parse``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from robot.errors import ScriptError, SourceProblem
from robot.yaml_limits import limited_yaml

if TYPE_CHECKING:
    from dialogues.rasa_http import RasaHttpClassifier

__all__ = [
    "EntityAnnotation",
    "RasaHttpClassifier",
    "RasaNluData",
    "TrainingExample",
    "load_rasa_nlu",
    "parse_rasa_nlu",
    "strip_entity_annotations",
]

log = logging.getLogger(__name__)

_ITEM_KINDS = ("intent", "synonym", "regex", "lookup")
_ALLOWED_KEYS = {*_ITEM_KINDS, "examples", "metadata"}
_ANNOTATION = re.compile(r"\[(?P<text>[^\[\]]+)\](?:\((?P<short>[^()]*)\)|(?P<json>\{[^{}]*\}))")


@dataclass(frozen=True, slots=True)
class EntityAnnotation:
    """An entity marked in a training example; ``start``/``end`` index the plain text."""

    entity: str
    value: str
    text: str
    start: int
    end: int
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class TrainingExample:
    intent: str
    text: str
    entities: tuple[EntityAnnotation, ...]
    line: int


@dataclass
class RasaNluData:
    """Everything an NLU file teaches."""

    examples: dict[str, list[str]] = field(default_factory=dict)
    annotated: list[TrainingExample] = field(default_factory=list)
    #: variant (lower case) -> canonical value
    synonyms: dict[str, str] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)

    def merge(self, other: RasaNluData) -> RasaNluData:
        """A new set holding both (this one's examples first)."""
        merged = RasaNluData(
            examples={k: list(v) for k, v in self.examples.items()},
            annotated=[*self.annotated, *other.annotated],
            synonyms={**self.synonyms, **other.synonyms},
            lookups={k: list(v) for k, v in self.lookups.items()},
            regexes={k: list(v) for k, v in self.regexes.items()},
        )
        for target, source in (
            (merged.examples, other.examples),
            (merged.lookups, other.lookups),
            (merged.regexes, other.regexes),
        ):
            for name, values in source.items():
                target.setdefault(name, []).extend(values)
        return merged


def strip_entity_annotations(text: str) -> tuple[str, tuple[EntityAnnotation, ...]]:
    """``"fly to [Paris](city)"`` -> ``("fly to Paris", (EntityAnnotation("city", ...),))``.

    Raises ``ValueError("offset N: ...")`` for a malformed ``{...}`` annotation.
    """
    plain: list[str] = []
    entities: list[EntityAnnotation] = []
    cursor = 0
    length = 0
    for match in _ANNOTATION.finditer(text):
        before = text[cursor : match.start()]
        plain.append(before)
        length += len(before)
        shown = match.group("text")
        entity, value, role, group = _annotation_fields(match)
        entities.append(
            EntityAnnotation(
                entity, value or shown, shown, length, length + len(shown), role, group
            )
        )
        plain.append(shown)
        length += len(shown)
        cursor = match.end()
    plain.append(text[cursor:])
    return "".join(plain), tuple(entities)


def _annotation_fields(match: re.Match[str]) -> tuple[str, str | None, str | None, str | None]:
    short = match.group("short")
    if short is not None:
        entity, _, value = short.partition(":")
        if not entity.strip():
            raise ValueError(f"offset {match.start()}: entity annotation has no entity name")
        return entity.strip(), value.strip() or None, None, None
    try:
        spec = json.loads(match.group("json"))
    except json.JSONDecodeError as e:
        raise ValueError(
            f"offset {match.start('json')}: entity annotation is not JSON: {e.msg}"
        ) from e
    if not isinstance(spec, dict) or not isinstance(spec.get("entity"), str) or not spec["entity"]:
        raise ValueError(f'offset {match.start("json")}: entity annotation needs an "entity" name')

    def optional(key: str) -> str | None:
        value = spec.get(key)
        return None if value is None else str(value)

    return spec["entity"], optional("value"), optional("role"), optional("group")


def load_rasa_nlu(path: str | Path) -> RasaNluData:
    """Read a Rasa NLU YAML file; raises ScriptError naming ``FILE:LINE:COL``."""
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScriptError([SourceProblem(str(path), 1, 1, f"cannot read NLU file: {e}")]) from e
    return parse_rasa_nlu(source, filename=str(path))


def parse_rasa_nlu(source: str, *, filename: str = "<string>") -> RasaNluData:
    """Parse Rasa NLU YAML text; all problems are raised together in one ScriptError."""
    reader = _Reader(source, filename)
    reader.read()
    if reader.problems:
        raise ScriptError(reader.problems)
    return reader.data


def __getattr__(name: str) -> Any:
    # The server client pulls in the classifier (numpy); reading files does not need it.
    if name == "RasaHttpClassifier":
        from dialogues.rasa_http import RasaHttpClassifier

        return RasaHttpClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Reader:
    def __init__(self, source: str, filename: str) -> None:
        self.source_lines = source.splitlines()
        self.source = source
        self.filename = filename
        self.problems: list[SourceProblem] = []
        self.data = RasaNluData()
        self.first_seen: dict[str, tuple[str, int]] = {}  # example -> (intent, line)

    def problem(self, line0: int, col0: int, message: str) -> None:
        self.problems.append(SourceProblem(self.filename, line0 + 1, col0 + 1, message))

    def read(self) -> None:
        try:
            document = limited_yaml().load(self.source)
        except MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line, col = (mark.line, mark.column) if mark else (0, 0)
            self.problem(line, col, f"YAML syntax error: {e.problem or e.context}")
            return
        except Exception as e:  # ruamel raises several unrelated types on bad input
            self.problem(0, 0, f"YAML syntax error: {e}")
            return
        if not isinstance(document, CommentedMap):
            self.problem(0, 0, "expected a mapping with an 'nlu:' list (Rasa NLU format)")
            return
        if "version" in document and not isinstance(document["version"], str):
            line, col = document.lc.value("version")
            self.problem(line, col, 'version must be a quoted string, like "3.1"')
        items = document.get("nlu")
        if items is None:
            self.problem(document.lc.line, document.lc.col, "no 'nlu:' section")
            return
        if not isinstance(items, CommentedSeq):
            line, col = document.lc.value("nlu")
            self.problem(line, col, "'nlu:' must be a list of intent/synonym/regex/lookup items")
            return
        for index, item in enumerate(items):
            line, col = items.lc.item(index)
            if not isinstance(item, CommentedMap):
                self.problem(line, col, "each 'nlu:' item must be a mapping like '- intent: NAME'")
                continue
            self.read_item(item, line, col)

    def read_item(self, item: CommentedMap, line: int, col: int) -> None:
        kinds = [kind for kind in _ITEM_KINDS if kind in item]
        for key in item:
            if key not in _ALLOWED_KEYS:
                key_line, key_col = item.lc.key(key)
                self.problem(key_line, key_col, f"unknown key '{key}' in an 'nlu:' item")
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            self.problem(
                line, col, f"item needs exactly one of intent/synonym/regex/lookup ({found})"
            )
            return
        kind = kinds[0]
        name = item[kind]
        name_line, name_col = item.lc.value(kind) if name is not None else item.lc.key(kind)
        if not isinstance(name, str) or not name.strip():
            self.problem(name_line, name_col, f"{kind} name must be a non-empty string")
            return
        name = name.strip()
        if "examples" not in item:
            self.problem(line, col, f"{kind} '{name}' has no 'examples:'")
            return
        lines = list(self.example_lines(item, kind, name))
        if not lines:
            self.problem(name_line, name_col, f"{kind} '{name}' has no examples")
        for text, text_line, text_col in lines:
            self.add(kind, name, text, text_line, text_col)

    def example_lines(
        self, item: CommentedMap, kind: str, name: str
    ) -> Iterator[tuple[str, int, int]]:
        """(text, line0, col0) of each example, positioned on its own source line."""
        value = item["examples"]
        line, col = item.lc.value("examples")
        if isinstance(value, CommentedSeq):  # examples: [- text: ...] or a plain list
            for index, entry in enumerate(value):
                entry_line, entry_col = value.lc.item(index)
                text = entry.get("text") if isinstance(entry, CommentedMap) else entry
                if not isinstance(text, str):
                    self.problem(entry_line, entry_col, f"{kind} '{name}': example must be text")
                    continue
                yield text.strip(), entry_line, entry_col
            return
        if not isinstance(value, str):
            self.problem(
                line, col, f"{kind} '{name}': 'examples:' must be a '|' block of '- ' lines"
            )
            return
        literal = isinstance(value, LiteralScalarString)
        for offset, raw in enumerate(value.splitlines()):
            if not raw.strip():
                continue
            source_line = line + 1 + offset if literal else line
            source_text = (
                self.source_lines[source_line] if source_line < len(self.source_lines) else ""
            )
            indent = len(source_text) - len(source_text.lstrip()) if literal else col
            stripped = raw.strip()
            if not stripped.startswith("-"):
                self.problem(source_line, indent, f"{kind} '{name}': example lines start with '- '")
                continue
            text = stripped[1:].strip()
            yield text, source_line, indent + (len(stripped) - len(stripped[1:].lstrip()))

    def add(self, kind: str, name: str, text: str, line: int, col: int) -> None:
        if not text:
            self.problem(line, col, f"{kind} '{name}': empty example")
            return
        if kind == "regex":
            try:
                re.compile(text)
            except re.error as e:
                self.problem(line, col + (e.pos or 0), f"regex '{name}': invalid pattern: {e.msg}")
                return
            self.data.regexes.setdefault(name, []).append(text)
            return
        if kind == "lookup":
            self.data.lookups.setdefault(name, []).append(text)
            return
        if kind == "synonym":
            self.data.synonyms[text.lower()] = name
            return
        try:
            plain, entities = strip_entity_annotations(text)
        except ValueError as e:
            offset_text, _, message = str(e).partition(": ")
            offset = int(offset_text.removeprefix("offset ") or 0)
            self.problem(line, col + offset, f"intent '{name}': {message}")
            return
        key = " ".join(plain.lower().split())
        earlier = self.first_seen.get(key)
        if earlier is not None and earlier[0] != name:
            self.problem(
                line,
                col,
                f"example '{plain}' of intent '{name}' is already an example of "
                f"intent '{earlier[0]}' (line {earlier[1] + 1})",
            )
            return
        self.first_seen.setdefault(key, (name, line))
        for entity in entities:
            if entity.value != entity.text:
                self.data.synonyms[entity.text.lower()] = entity.value
        self.data.examples.setdefault(name, []).append(plain)
        self.data.annotated.append(TrainingExample(name, plain, entities, line + 1))
