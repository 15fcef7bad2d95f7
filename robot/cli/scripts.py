"""Script commands: ``script validate``, ``script test``, ``chat``, ``nlu``."""

from __future__ import annotations

import typer

script_app = typer.Typer(help="Validate and test dialogue scripts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(script_app, name="script")
