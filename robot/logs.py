"""Log lines that say which call they belong to: a context of ids and two formats.

The dialler and the API bind a call's ids (``call_id``, ``lead_id``, ``campaign_id``) with
:func:`bind_call` in the task that runs the call; every task and decoding thread started from
there inherits them, and :class:`CallContextFilter` puts them on each record. With
``CALLROBOT_LOG_FORMAT=json`` each line is one JSON object (:class:`JsonFormatter`): time,
level, logger, message, worker and the three ids. Only those fields are written — never a
record's arguments or extras, so audio or other payloads cannot reach a log line — and
anything shaped like a secret (``whsec_...``, ``cr_...`` keys, ``Bearer ...``) is masked.
Phone numbers and transcripts stay at DEBUG (house rule), below the default level.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from robot.metrics import worker_name

#: The ids put on every log record of a call.
CALL_FIELDS = ("call_id", "lead_id", "campaign_id")

_call_context: ContextVar[Mapping[str, int | str] | None] = ContextVar(
    "call_log_context", default=None
)

_SECRETS = re.compile(r"(whsec_|cr_|(?i:bearer)\s+)[A-Za-z0-9+/=_.\-]{4,}")


def bind_call(**ids: int | str | None) -> None:
    """Add ids (``call_id=7``) to the log context of the current task and what it starts."""
    current = dict(_call_context.get() or {})
    current.update({k: v for k, v in ids.items() if v is not None and k in CALL_FIELDS})
    _call_context.set(current)


@contextmanager
def call_context(**ids: int | str | None) -> Iterator[None]:
    """:func:`bind_call` for a block; the previous context comes back after it."""
    token = _call_context.set(dict(_call_context.get() or {}))
    try:
        bind_call(**ids)
        yield
    finally:
        _call_context.reset(token)


def current_call_ids() -> dict[str, int | str]:
    return dict(_call_context.get() or {})


def redact(text: str) -> str:
    """``text`` with secret-shaped words masked (``whsec_***``, ``cr_***``, ``Bearer ***``)."""
    return _SECRETS.sub(lambda m: m.group(1) + "***", text)


class CallContextFilter(logging.Filter):
    """Puts the bound ids on each record (``record.call_id`` ...; ``None`` when unbound)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _call_context.get() or {}
        for name in CALL_FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, ids.get(name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, ``worker``,
    ``call_id``, ``lead_id``, ``campaign_id`` and ``exc`` when there is a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "worker": worker_name(),
        }
        for name in CALL_FIELDS:
            line[name] = getattr(record, name, None)
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL logger [call=7 lead=3 campaign=1] message`` (ids only when bound)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(call_ids)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{name.removesuffix('_id')}={value}"
            for name in CALL_FIELDS
            if (value := getattr(record, name, None)) is not None
        )
        record.call_ids = f" [{ids}]" if ids else ""
        return redact(super().format(record))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(log_format: str = "text", level: str | int = "INFO") -> logging.Handler:
    """Send every logger's records to stderr in ``log_format`` (``text`` or ``json``).

    Replaces the handler a previous call installed, so calling it twice is harmless."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_callrobot", False):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler._callrobot = True  # type: ignore[attr-defined]
    handler.addFilter(CallContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    return handler
