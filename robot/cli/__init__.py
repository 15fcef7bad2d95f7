"""The ``callrobot`` command line (Typer).

Each command family lives in its own module with a ``register(app)`` function; this module
only assembles them. Heavy engines are imported inside the commands that use them, so
``callrobot --help`` stays instant.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="callrobot",
    help="Outbound conversational voice robot and lead-qualification service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: Command modules under robot.cli, registered in this order.
COMMAND_MODULES = [
    "api",
    "calls",
    "campaigns",
    "demo",
    "leads",
    "personas",
    "replay",
    "scripts",
    "speech",
    "voicemail",
]


@app.callback()
def _setup() -> None:
    """Log to stderr as the settings say (CALLROBOT_LOG_FORMAT, CALLROBOT_LOG_LEVEL)."""
    from robot.config import get_settings
    from robot.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level or "WARNING")


for _name in COMMAND_MODULES:
    importlib.import_module(f"robot.cli.{_name}").register(app)


def main() -> None:  # pragma: no cover - console entry point
    app()
