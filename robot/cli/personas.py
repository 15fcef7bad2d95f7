"""Persona commands for the simulated network: ``personas list``, ``validate`` and ``speak``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from robot.cli.output import emit_json, fail
from robot.errors import CallrobotError

personas_app = typer.Typer(
    help="Callee personas of the simulated network (sim carrier).", no_args_is_help=True
)

FolderOption = Annotated[
    list[Path] | None,
    typer.Option("--dir", help="Persona folder or file (repeatable; default: bundled)."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(personas_app, name="personas")


@personas_app.command("list")
def list_personas(
    folders: FolderOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per persona.")] = False,
) -> None:
    """Show who answers which number, and how."""
    from robot.carriers.persona_loader import PersonaError, load_personas

    try:
        personas = load_personas(*(folders or []))
    except PersonaError as e:
        fail(str(e))
    for persona in personas:
        voice = persona.voice
        variant = voice.variant or f"pitch {voice.pitch:g} speed {voice.speed:g}"
        record = {
            "name": persona.name,
            "numbers": list(persona.numbers),
            "kind": persona.kind.value,
            "voice": f"{voice.engine} {variant}",
            "lines": len(persona.lines),
        }
        if as_json:
            emit_json(record)
        else:
            numbers = ",".join(persona.numbers)
            typer.echo(
                f"{numbers:<14} {persona.kind.value:<15} {persona.name:<22} {record['voice']}"
            )


@personas_app.command("validate")
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Persona files or folders.")],
) -> None:
    """Check persona files: exit 0, or exit 1 printing FILE:LINE:COL: message."""
    from robot.carriers.persona_loader import PersonaError, load_personas

    try:
        personas = load_personas(*paths)
    except PersonaError as e:
        fail(str(e))
    typer.echo(f"{len(personas)} persona(s) OK")


@personas_app.command("speak")
def speak(
    name: Annotated[str, typer.Argument(help="Persona name.")],
    out: Annotated[Path, typer.Option("--out", help="WAV file to write (8 kHz).")],
    folders: FolderOption = None,
) -> None:
    """Synthesize everything a persona says (hello, lines, greeting) into one WAV to listen to."""
    from robot.audio import AudioChunk, silence, write_wav
    from robot.carriers.persona_loader import PersonaError, load_personas
    from robot.carriers.sim_audio import synthesize_persona_speech

    try:
        found = {p.name: p for p in load_personas(*(folders or []))}
    except PersonaError as e:
        fail(str(e))
    if name not in found:
        fail(f"no persona named {name!r}; known: {', '.join(sorted(found))}", code=2)
    persona = found[name]
    pieces: list[bytes] = []
    try:
        for text in persona.texts():
            pieces += [synthesize_persona_speech(persona.voice, text).pcm, silence(500).pcm]
    except CallrobotError as e:
        fail(str(e))
    write_wav(out, AudioChunk(b"".join(pieces)))
    typer.echo(f"{out}: {len(persona.texts())} utterance(s)")
