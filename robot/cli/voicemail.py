"""Voicemail commands: ``voicemail classify`` (signalling) and ``voicemail detect`` (audio)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from robot.cli.output import emit_json, fail
from robot.errors import CallrobotError

voicemail_app = typer.Typer(
    help="Tell answering machines, voicemail and dead numbers from people.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(voicemail_app, name="voicemail")


@voicemail_app.command("classify")
def classify(
    status: Annotated[int, typer.Option("--status", help="Final SIP status code, e.g. 486.")],
    reason: Annotated[
        list[str] | None,
        typer.Option("--reason", help='Reason header value, e.g. "Q.850;cause=17" (repeatable).'),
    ] = None,
    diversion: Annotated[
        list[str] | None, typer.Option("--diversion", help="Diversion header value (repeatable).")
    ] = None,
    history_info: Annotated[
        list[str] | None,
        typer.Option("--history-info", help="History-Info header value (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Classify a call outcome from its SIP status and headers."""
    from voicemail.signalling import classify_signalling, signalling_from_headers

    if not 100 <= status <= 699:
        fail(f"--status: {status} is not a SIP status code (100-699)", code=2)
    verdict = classify_signalling(
        signalling_from_headers(
            status,
            reason=reason or [],
            diversion=diversion or [],
            history_info=history_info or [],
        )
    )
    if as_json:
        emit_json({"outcome": verdict.outcome, "q850": verdict.q850, "reason": verdict.reason})
    else:
        cause = f" (Q.850 cause {verdict.q850})" if verdict.q850 is not None else ""
        typer.echo(f"{verdict.outcome}{cause}: {verdict.reason}")


@voicemail_app.command("detect")
def detect(
    files: Annotated[list[Path], typer.Argument(help="WAV files of callee audio after answer.")],
    vad: Annotated[str, typer.Option("--vad", help="VAD engine: silero or webrtc.")] = "silero",
    phrases: Annotated[
        bool, typer.Option("--phrases/--no-phrases", help="Also spot voicemail phrases (ASR).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Also print the evidence timeline (speech, tones, words read, cadence) that "
            'led to each verdict (with --json: an "evidence" list).',
        ),
    ] = False,
) -> None:
    """Decide human / machine / unknown for each recording, one line per file."""
    from voicemail.detector import DetectorSettings, VoicemailDetector
    from voicemail.recordings import detect_with, read_callee_audio

    try:
        detector = VoicemailDetector(DetectorSettings(vad_engine=vad, phrases=phrases))
    except CallrobotError as e:
        fail(str(e), code=2)
    failed = 0
    for path in files:
        try:
            verdict = detect_with(detector, read_callee_audio(path))
        except CallrobotError as e:
            failed += 1
            typer.echo(str(e), err=True)
            if as_json:
                emit_json({"file": str(path), "verdict": None, "error": str(e)})
            continue
        if as_json:
            record = {
                "file": str(path),
                "verdict": verdict.verdict,
                "decision_ms": round(verdict.decision_ms),
                "reason": verdict.reason,
            }
            if explain:
                record["evidence"] = [
                    {"at_ms": round(e.at_ms), "source": e.source, "text": e.text}
                    for e in detector.timeline.entries
                ]
            emit_json(record)
        else:
            seconds = verdict.decision_ms / 1000
            typer.echo(f"{path}: {verdict.verdict} at {seconds:.2f} s ({verdict.reason})")
            if explain:
                for line in detector.timeline.lines():
                    typer.echo(f"  {line}")
    if failed:
        fail(f"{failed} of {len(files)} file(s) could not be analysed", code=1)


@voicemail_app.command("devset")
def devset(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the WAV files and labels.csv.")],
    per_category: Annotated[
        int, typer.Option("--per-category", min=1, help="Cases per category and split.")
    ] = 30,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same set.")] = 4,
) -> None:
    """Write the labelled development set (Debian recordings + synthesized voices)."""
    from voicemail.devset import build_devset, write_devset

    try:
        labels = write_devset(build_devset(per_category, seed=seed), out_dir)
    except CallrobotError as e:
        fail(str(e))
    typer.echo(str(labels))
