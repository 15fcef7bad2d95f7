"""``callrobot call``: place one call now and print how it ended."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from robot.cli.output import emit_json, fail
from robot.errors import CallrobotError

if TYPE_CHECKING:
    from dialogues.loader import LoadedScript
    from robot.session import CallReport


def call(
    target: Annotated[
        str,
        typer.Argument(
            help="Phone number (E.164), SIP URI, or local:// to talk through this machine's "
            "microphone and speaker."
        ),
    ],
    script: Annotated[
        str, typer.Option("--script", "-s", help="Script file or bundled script name.")
    ] = "lead_qualification",
    carrier: Annotated[
        str | None,
        typer.Option(help="Carrier URL: sim:// (default), sip://user:pass@host:port, local://."),
    ] = None,
    lead: Annotated[
        list[str], typer.Option("--lead", "-l", help="Lead variable NAME=VALUE (repeatable).")
    ] = [],  # noqa: B006 - Typer reads the default
    timezone: Annotated[str | None, typer.Option(help="Callee time zone (IANA).")] = None,
    record: Annotated[
        Path | None, typer.Option(help="Folder for the stereo recording (default: data dir).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Call one number with a script and wait until the call ends."""
    from robot.cli.scripts import load_script_arg, parse_lead
    from robot.config import get_settings

    if carrier is None and target.startswith("local:"):
        carrier = target  # the sound card is the carrier and the callee
    loaded = load_script_arg(script)
    variables = {"first_name": "there", **parse_lead(lead)}
    recording_dir = record or get_settings().recordings_root()
    try:
        report = asyncio.run(_call(target, loaded, carrier, variables, timezone, recording_dir))
    except CallrobotError as e:
        fail(str(e))
    summary = report.summary()
    if json_out:
        emit_json(summary)
        return
    typer.echo(
        f"{summary['call_id']}: {report.outcome}"
        + (f", {report.disposition}" if report.disposition else "")
        + (f", Q.850 cause {report.q850}" if report.q850 else "")
        + f", {report.duration_ms / 1000:.1f} s"
    )
    for turn in report.transcript:
        typer.echo(f"  {turn.who:>6}: {turn.text}")
    if report.recording_path:
        typer.echo(f"  recording: {report.recording_path}")


async def _call(
    target: str,
    loaded: LoadedScript,
    carrier_url: str | None,
    variables: dict[str, str],
    timezone: str | None,
    recording_dir: Path,
) -> CallReport:
    from robot.carriers.factory import create_carrier
    from robot.engine import CallEngine

    engine = CallEngine()
    carrier = create_carrier(carrier_url)
    try:
        return await engine.call(
            carrier,
            target,
            loaded,
            lead=variables,
            timezone=timezone,
            recording_dir=recording_dir,
        )
    finally:
        await carrier.close()


def register(app: typer.Typer) -> None:
    app.command("call")(call)
