"""Shared output helpers: ``--json`` prints one JSON object per line; errors go to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)
