"""Speech commands: ``asr`` (transcribe recordings) and ``tts`` (synthesize a prompt to WAV)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from robot.cli.output import emit_json, fail
from robot.errors import CallrobotError

LanguageOpt = Annotated[str, typer.Option("--language", "-l", help="Language code (en, ru...).")]
EngineOpt = Annotated[
    str | None, typer.Option("--engine", help="Engine name; default: from settings per language.")
]
ModelOpt = Annotated[
    Path | None, typer.Option("--model", help="Model file or folder instead of the packaged one.")
]


def asr(
    files: Annotated[list[Path], typer.Argument(help="Audio files (WAV or any soundfile format).")],
    language: LanguageOpt = "en",
    engine: EngineOpt = None,
    model: ModelOpt = None,
    hints: Annotated[
        str | None, typer.Option("--hints", help="Expected phrases, separated by '|'.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Transcribe audio files with one engine loaded once; exit 1 if any file failed."""
    from robot.audio import read_wav
    from robot.config import get_settings
    from robot.speech.registry import SpeechRegistry, create_recognizer

    settings = get_settings()
    try:
        if model is not None or engine is not None:
            registry = SpeechRegistry(settings.speech, settings.cache_dir)
            name = engine or registry.asr_engine_name(language)
            recognizer = create_recognizer(
                name,
                language,
                model_path=model,
                settings=settings.speech,
                cache_dir=settings.cache_dir / "models",
            )
        else:
            recognizer = SpeechRegistry(settings.speech, settings.cache_dir).recognizer(language)
    except CallrobotError as e:
        fail(f"cannot start speech recognition: {e}")
    expected = [h.strip() for h in hints.split("|")] if hints else []
    failed = 0
    for path in files:
        try:
            audio = read_wav(path)
        except CallrobotError as e:  # checked on opening: the message starts with the file
            failed += 1
            reason = str(e).removeprefix(f"{path}: ")
            typer.echo(f"{path}: cannot read audio: {reason}", err=True)
            continue
        except Exception as e:  # soundfile raises its own error types for unreadable files
            failed += 1
            typer.echo(f"{path}: cannot read audio: {e}", err=True)
            continue
        try:
            transcript = recognizer.transcribe(audio, hints=expected)
        except CallrobotError as e:
            failed += 1
            typer.echo(f"{path}: recognition failed: {e}", err=True)
            continue
        if json_out:
            emit_json({"file": str(path), "text": transcript.text})
        else:
            typer.echo(f"{path}: {transcript.text}")
    raise typer.Exit(1 if failed else 0)


def tts(
    text: Annotated[str, typer.Argument(help="Text to speak.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="WAV file to write (8 kHz).")],
    language: LanguageOpt = "en",
    engine: EngineOpt = None,
    model: ModelOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Synthesize text to an 8 kHz 16-bit mono WAV, as the robot would say it on a call."""
    from robot.audio import write_wav
    from robot.config import get_settings
    from robot.speech.registry import SpeechRegistry, create_synthesizer

    settings = get_settings()
    if not text.strip():
        fail("tts: the text is empty")
    try:
        registry = SpeechRegistry(settings.speech, settings.cache_dir)
        name = engine or registry.tts_engine_name(language)
        if model is not None or engine is not None:
            synthesizer = create_synthesizer(
                name, language, model_path=model, settings=settings.speech
            )
        else:
            synthesizer = registry.synthesizer(language)
        audio = synthesizer.synthesize(text)
    except CallrobotError as e:
        fail(f"tts failed: {e}")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_wav(output, audio)
    except OSError as e:
        fail(f"{output}: cannot write WAV: {e}")
    summary = {
        "file": str(output),
        "engine": synthesizer.name,
        "rate": audio.rate,
        "duration_ms": round(audio.duration_ms),
    }
    if json_out:
        emit_json(summary)
    else:
        typer.echo(f"{output}: {summary['duration_ms']} ms at {audio.rate} Hz ({synthesizer.name})")


def register(app: typer.Typer) -> None:
    app.command("asr")(asr)
    app.command("tts")(tts)
