"""YAML parsing with caps, for every YAML file callrobot reads (scripts, Rasa NLU, personas).

An attacker's YAML must fail fast and clearly, before anything is built from it:

- the text is at most ``script_max_bytes`` (checked before parsing);
- aliases are counted as what they expand to: once the expanded document would exceed
  ``script_max_nodes`` nodes the parse stops ("billion laughs"), and an alias to a collection
  it sits inside (a cycle) is refused;
- nesting beyond ``script_max_depth`` and scalars longer than ``script_max_scalar_chars`` stop
  the parse at the node that broke the cap;
- the whole parse stops after ``script_parse_timeout_s``.

The checks sit in the parser's event stream, so they run before the composer and constructor
see an event: nothing is expanded or built past a limit. Every refusal is a
:class:`YamlLimitError`, a ``MarkedYAMLError`` carrying the line and column, so callers that
already report ruamel's syntax errors as ``FILE:LINE:COL: message`` report these the same way.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, StreamMark
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)
from ruamel.yaml.parser import RoundTripParser
from ruamel.yaml.reader import ReaderError

from robot.errors import ScriptError, SourceProblem
from robot.input_limits import InputLimits, setting_name

__all__ = ["YamlLimitError", "limited_yaml", "read_yaml_source"]


class YamlLimitError(MarkedYAMLError):
    """The YAML broke a cap (or holds a character YAML refuses); ``problem_mark`` says where."""

    def __init__(self, problem: str, line0: int, col0: int) -> None:
        super().__init__(problem=problem, problem_mark=StreamMark("<yaml>", 0, line0, col0))


def _current_limits() -> InputLimits:
    from robot.config import get_settings

    return get_settings().input_limits


class _Budget:
    """The running counts of one parse, fed every event the parser produces."""

    def __init__(self, limits: InputLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.script_parse_timeout_s
        self.nodes = 0
        #: One entry per open collection: (node count when it opened, its anchor).
        self.open: list[tuple[int, str | None]] = []
        #: Anchor -> how many nodes the anchored node stands for, fully expanded.
        self.sizes: dict[str, int] = {}

    def observe(self, event: Any) -> None:
        limits = self.limits
        mark = event.start_mark
        if time.monotonic() > self.deadline:
            self._refuse(
                f"parsing took longer than {limits.script_parse_timeout_s:g} s",
                "script_parse_timeout_s",
                mark,
            )
        if isinstance(event, ScalarEvent):
            if len(event.value) > limits.script_max_scalar_chars:
                self._refuse(
                    f"a value of {len(event.value)} characters is longer than "
                    f"{limits.script_max_scalar_chars}",
                    "script_max_scalar_chars",
                    mark,
                )
            self._add(1, mark, None)
            if event.anchor is not None:
                self.sizes[event.anchor] = 1
        elif isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            if len(self.open) + 1 > limits.script_max_depth:
                self._refuse(
                    f"nested deeper than {limits.script_max_depth} levels",
                    "script_max_depth",
                    mark,
                )
            self.open.append((self.nodes, event.anchor))
            self._add(1, mark, None)
        elif isinstance(event, CollectionEndEvent) and self.open:
            started, anchor = self.open.pop()
            if anchor is not None:
                self.sizes[anchor] = self.nodes - started
        elif isinstance(event, AliasEvent):
            name = event.anchor
            if any(anchor == name for _, anchor in self.open):
                raise YamlLimitError(
                    f"alias '*{name}' refers to a collection that contains it (a recursive alias)",
                    mark.line,
                    mark.column,
                )
            self._add(self.sizes.get(name, 0), mark, name)

    def _add(self, count: int, mark: Any, alias: str | None) -> None:
        self.nodes += count
        if self.nodes > self.limits.script_max_nodes:
            what = f"alias '*{alias}' expands to {count} nodes: " if alias else ""
            self._refuse(
                f"{what}the document has more than {self.limits.script_max_nodes} nodes"
                + (" with its aliases expanded" if alias else ""),
                "script_max_nodes",
                mark,
            )

    @staticmethod
    def _refuse(message: str, field: str, mark: Any) -> None:
        raise YamlLimitError(f"{message} (limit {setting_name(field)})", mark.line, mark.column)


class _LimitedParser(RoundTripParser):
    """ruamel's round-trip parser, with every event counted against the loader's budget."""

    def get_event(self) -> Any:
        event = super().get_event()
        self.loader.budget.observe(event)
        return event


class _LimitedYAML(YAML):
    """A round-trip ``YAML`` whose ``load`` enforces :class:`InputLimits`."""

    def __init__(self, limits: InputLimits) -> None:
        super().__init__(typ="rt")
        self.Parser = _LimitedParser
        self.allow_duplicate_keys = False
        self.limits = limits
        self.budget = _Budget(limits)

    def load(self, stream: Any) -> Any:
        if not isinstance(stream, str):
            raise TypeError("limited YAML loads text only")
        size = len(stream.encode("utf-8", "surrogatepass"))
        if size > self.limits.script_max_bytes:
            raise YamlLimitError(
                f"the text is {size} bytes, more than {self.limits.script_max_bytes} "
                f"(limit {setting_name('script_max_bytes')})",
                0,
                0,
            )
        self.budget = _Budget(self.limits)
        try:
            return super().load(stream)
        except ReaderError as e:
            line0, col0 = _line_col(stream, e.position)
            raise YamlLimitError(
                f"character {_char_name(e.character)} is not allowed in YAML", line0, col0
            ) from e
        except RecursionError as e:  # only with a depth cap above what Python can nest
            raise YamlLimitError(
                f"nested too deeply to read (limit {setting_name('script_max_depth')})", 0, 0
            ) from e


def limited_yaml(limits: InputLimits | None = None) -> YAML:
    """A round-trip YAML loader (duplicate keys refused) that enforces the input limits."""
    return _LimitedYAML(limits or _current_limits())


def read_yaml_source(path: Path, limits: InputLimits | None = None) -> str:
    """A YAML file's text, refusing a file over the byte cap or not UTF-8, with its position."""
    limits = limits or _current_limits()
    cap = limits.script_max_bytes
    name = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(cap + 1)
    except FileNotFoundError as e:
        raise ScriptError([SourceProblem(name, 1, 1, "file not found")]) from e
    except OSError as e:
        raise ScriptError([SourceProblem(name, 1, 1, f"cannot read file: {e}")]) from e
    if len(data) > cap:
        message = f"the file is larger than {cap} bytes (limit {setting_name('script_max_bytes')})"
        raise ScriptError([SourceProblem(name, 1, 1, message)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = len(data[data.rfind(b"\n", 0, e.start) + 1 : e.start].decode("utf-8", "replace"))
        message = f"not UTF-8 text: byte 0x{data[e.start]:02x} cannot be decoded"
        raise ScriptError([SourceProblem(name, line, column + 1, message)]) from e


def _line_col(text: str, index: int) -> tuple[int, int]:
    """0-based line and column of the character at ``index``."""
    index = max(0, min(index, len(text)))
    line0 = text.count("\n", 0, index)
    return line0, index - (text.rfind("\n", 0, index) + 1)


def _char_name(character: Any) -> str:
    if isinstance(character, int):
        return f"U+{character:04X}"
    if isinstance(character, str) and len(character) == 1:
        return f"U+{ord(character):04X}"
    return repr(character)
