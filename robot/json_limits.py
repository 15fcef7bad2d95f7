"""JSON decoding with a nesting cap, for JSON that comes from outside (lead files, answers).

``json.loads`` on a document nested 100,000 deep raises ``RecursionError`` from deep inside
the decoder; code that catches ``JSONDecodeError`` lets it through as a crash. Here nesting is
counted first, without recursion, and a document deeper than the cap is refused with the line
and column of the bracket that broke it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from robot.errors import ValidationError

__all__ = ["JsonDepthError", "json_depth_error", "loads_bounded"]

#: Strings (skipped whole, escapes included) and the brackets that open or close a level.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}]', re.DOTALL)


class JsonDepthError(ValidationError):
    """A JSON document is nested deeper than allowed; the message names line and column."""


def json_depth_error(text: str, max_depth: int) -> tuple[int, int] | None:
    """``(line, column)`` (1-based) of the first bracket past ``max_depth``, or None."""
    depth = 0
    for match in _TOKENS.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                start = match.start()
                line = text.count("\n", 0, start) + 1
                return line, start - (text.rfind("\n", 0, start) + 1) + 1
        elif char in "]}":
            depth -= 1
    return None


def loads_bounded(text: str | bytes, *, max_depth: int, source: str, setting: str = "") -> Any:
    """``json.loads`` refusing nesting deeper than ``max_depth`` and malformed JSON.

    Raises :class:`JsonDepthError` or :class:`~robot.errors.ValidationError` whose message
    starts ``SOURCE:LINE:COL:``; ``setting`` (an environment variable) is named at the cap.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ValidationError(f"{source}: not UTF-8 text (byte {e.start})") from e
    found = json_depth_error(text, max_depth)
    if found is not None:
        line, col = found
        limit = f" (limit {setting})" if setting else ""
        raise JsonDepthError(
            f"{source}:{line}:{col}: JSON nested deeper than {max_depth} levels{limit}"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(f"{source}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
    except RecursionError as e:  # the scan above counts levels; this is a second guard
        raise JsonDepthError(f"{source}:1:1: JSON nested too deeply to read") from e
