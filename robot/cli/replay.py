"""``callrobot replay``: re-run recorded calls through the current script and engines.

Exit codes: 0 when every call replayed the same, 1 when something differs, 2 when an input
was bad (missing turn log, unreadable recording, unknown call id or script). Bad input wins
over differences: a regression run that could not read all its calls is not a pass, and the
exit code says so even if other calls differ; every good call is still replayed and reported.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from robot.cli.output import emit_json
from robot.errors import CallrobotError

if TYPE_CHECKING:
    from dialogues.loader import LoadedScript
    from robot.replay import RecordedCall
    from robot.replay_compare import ReplayResult

EXIT_SAME, EXIT_DIFFERENT, EXIT_BAD_INPUT = 0, 1, 2


class _BadInput(CallrobotError):
    """One input of the command cannot be used; the message names it."""


def find_recordings(target: str, recordings_dir: Path) -> list[Path]:
    """WAV files named by ``target``: a file, a folder (every ``*.wav`` in it) or a call id."""
    path = Path(target)
    if path.is_dir():
        return sorted(path.rglob("*.wav"))
    if path.exists() or path.suffix.lower() == ".wav":
        return [path]
    found = sorted(recordings_dir.rglob(f"{target}.wav")) if recordings_dir.is_dir() else []
    if not found:
        raise _BadInput(f"{target}: no such recording file, folder or call id in {recordings_dir}")
    return found[:1]


def _script_for(recorded: RecordedCall, script_arg: str | None) -> Path:
    from robot.cli.scripts import bundled_scripts_dir, resolve_script

    if script_arg is not None:
        return resolve_script(script_arg)
    bundled = bundled_scripts_dir() / f"{recorded.script_name}.yaml"
    if recorded.script_name and bundled.exists():
        return bundled
    raise _BadInput(
        f"{recorded.log_path}: script {recorded.script_name!r} is not bundled; give --script FILE"
    )


def replay(
    target: Annotated[
        str, typer.Argument(help="Recording (.wav), call id, or a folder of recordings (batch).")
    ],
    script: Annotated[
        str | None,
        typer.Option(
            "--script", "-s", help="Script file or bundled name (default: the recorded one)."
        ),
    ] = None,
    speed: Annotated[
        float, typer.Option(help="Replay speed: 1.0 = the original timing, 2.0 = twice as fast.")
    ] = 1.0,
    max_wer: Annotated[
        float, typer.Option(help="Word error rate up to which two transcripts count as the same.")
    ] = 0.25,
    record: Annotated[
        Path | None, typer.Option(help="Folder for the replayed calls' recordings and turn logs.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per call.")] = False,
) -> None:
    """Replay recorded calls against the current script; show where the dialogue differs."""
    from robot.config import get_settings

    if not speed > 0:
        typer.echo(f"--speed must be positive, got {speed}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        files = find_recordings(target, get_settings().recordings_root())
    except _BadInput as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from e
    if not files:
        typer.echo(f"{target}: no recordings (*.wav) found", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    code = asyncio.run(_replay_all(files, script, speed, max_wer, record, json_out))
    raise typer.Exit(code)


async def _replay_all(
    files: list[Path],
    script_arg: str | None,
    speed: float,
    max_wer: float,
    record: Path | None,
    json_out: bool,
) -> int:
    from robot.engine import CallEngine
    from robot.replay import load_recorded_call, replay_call

    engine = CallEngine()
    scripts: dict[Path, LoadedScript] = {}
    bad = different = 0
    for wav in files:
        try:
            recorded = load_recorded_call(wav)
            loaded = _loaded(_script_for(recorded, script_arg), scripts)
            result = await replay_call(
                recorded, loaded, engine, speed=speed, record_dir=record, max_wer=max_wer
            )
        except CallrobotError as e:
            bad += 1
            _report_bad(wav, str(e), json_out)
            continue
        different += not result.same
        if json_out:
            emit_json(result.to_json())
        else:
            _print_result(result)
    if bad:
        return EXIT_BAD_INPUT
    return EXIT_DIFFERENT if different else EXIT_SAME


def _loaded(path: Path, cache: dict[Path, LoadedScript]) -> LoadedScript:
    from dialogues.loader import load_script

    if path not in cache:
        cache[path] = load_script(path)
    return cache[path]


def _report_bad(wav: Path, message: str, json_out: bool) -> None:
    if json_out:
        emit_json({"file": str(wav), "call_id": wav.stem, "same": False, "error": message})
    typer.echo(f"error: {message}", err=True)


def _print_result(result: ReplayResult) -> None:
    from rich.console import Console
    from rich.table import Table

    verdict = "same" if result.same else f"{len(result.differences)} difference(s)"
    table = Table(title=f"{result.file} ({result.call_id}): {verdict}", title_justify="left")
    for column in ("", "turn", "at s", "said before", "said now", "intent", "state after"):
        table.add_column(column)
    for n, turn in enumerate(result.turns, 1):
        old, new = turn.before, turn.after
        table.add_row(
            "*" if turn.kinds else "",
            str(n),
            f"{turn.at_ms / 1000:.1f}",
            old.text if old else "-",
            (new.text if new else "-") + (f"  (WER {turn.wer:.2f})" if turn.wer else ""),
            _change(old.intent if old else None, new.intent if new else None),
            _change(old.state_after if old else None, new.state_after if new else None),
        )
    console = Console(width=160)
    console.print(table)
    for diff in result.differences:
        if "turn" in diff:
            continue
        name = diff.get("slot", diff["kind"])
        console.print(f"* {name}: {diff.get('before')} -> {diff.get('after')}", markup=False)
    if not any(d["kind"] == "disposition" for d in result.differences):
        console.print(f"  disposition: {result.disposition_after} (unchanged)", markup=False)


def _change(before: str | None, after: str | None) -> str:
    return str(before or "-") if before == after else f"{before or '-'} -> {after or '-'}"


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
