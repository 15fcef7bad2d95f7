"""Script commands: ``script validate``, ``script test``, ``chat`` and ``nlu``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from robot.cli.output import emit_json, fail

if TYPE_CHECKING:
    from dialogues.loader import LoadedScript
    from dialogues.manager import Turn
from robot.errors import CallrobotError, ScriptError

script_app = typer.Typer(help="Validate and test dialogue scripts.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


def bundled_scripts_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "dialogues" / "scripts"


def resolve_script(arg: str) -> Path:
    """A script path, or the name of a bundled script (``lead_qualification``)."""
    path = Path(arg)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    bundled = bundled_scripts_dir() / f"{arg}.yaml"
    return bundled if bundled.exists() else path


def load_script_arg(arg: str) -> LoadedScript:
    """Load a script file or bundled script; on errors, print them and exit 1."""
    from dialogues.loader import load_script

    try:
        return load_script(resolve_script(arg))
    except ScriptError as e:
        fail(str(e))


@script_app.command("validate")
def validate(
    files: Annotated[list[str], typer.Argument(help="Script files (or bundled script names).")],
    json_out: JsonOpt = False,
) -> None:
    """Check scripts; print every problem as FILE:LINE:COL: message. Exit 1 if any."""
    from dialogues.loader import validate_file

    bad = 0
    for arg in files:
        problems = validate_file(resolve_script(arg))
        bad += bool(problems)
        for p in problems:
            if json_out:
                emit_json(
                    {"file": p.file, "line": p.line, "column": p.column, "message": p.message}
                )
            else:
                typer.echo(str(p))
        if not problems:
            if json_out:
                emit_json({"file": str(resolve_script(arg)), "ok": True})
            else:
                typer.echo(f"{resolve_script(arg)}: ok")
    raise typer.Exit(1 if bad else 0)


@script_app.command("test")
def test(
    files: Annotated[list[str], typer.Argument(help="Script files with a tests: section.")],
    select: Annotated[
        str | None, typer.Option("-k", help="Only conversations whose name contains this.")
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show each dialogue.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run the scripts' test conversations and report like pytest."""
    from dialogues.script_tests import run_tests

    passed = failed = 0
    for arg in files:
        loaded = load_script_arg(arg)
        path = resolve_script(arg)
        for report in run_tests(loaded, select=select):
            if report.passed:
                passed += 1
            else:
                failed += 1
            if json_out:
                emit_json(
                    {
                        "file": str(path),
                        "name": report.name,
                        "passed": report.passed,
                        "failures": report.failures,
                        "disposition": report.disposition,
                    }
                )
                continue
            status = "PASSED" if report.passed else "FAILED"
            typer.echo(f"{path.name}::{report.name} {status}")
            if verbose or not report.passed:
                for line in report.lines:
                    typer.echo(f"    {line}")
            for failure in report.failures:
                typer.echo(f"    E {failure}")
    if not json_out:
        typer.echo(f"{passed} passed, {failed} failed")
    raise typer.Exit(1 if failed or not passed else 0)


def parse_lead(values: list[str]) -> dict[str, str]:
    """Lead variables from ``--lead NAME=VALUE`` options; exits 1 on a malformed one."""
    lead = {}
    for item in values:
        if "=" not in item:
            fail(f"--lead takes NAME=VALUE, got {item!r}")
        key, _, value = item.partition("=")
        lead[key.strip()] = value.strip()
    return lead


def chat(
    script: Annotated[str, typer.Argument(help="Script file or bundled script name.")],
    lead: Annotated[
        list[str], typer.Option("--lead", "-l", help="Lead variable NAME=VALUE (repeatable).")
    ] = [],  # noqa: B006 - Typer reads the default
    debug: Annotated[bool, typer.Option("--debug", help="Show intents, slots and states.")] = False,
    timezone: Annotated[str | None, typer.Option(help="Lead time zone (IANA).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Talk to a script by text. Empty line = silence, /1 = DTMF key 1, /bye = hang up."""
    from dialogues.manager import DialogueManager
    from dialogues.turns import typed_event

    loaded = load_script_arg(script)
    lead_vars = {"first_name": "Alex", **parse_lead(lead)}
    manager = DialogueManager(loaded, lead=lead_vars, timezone=timezone)
    interactive = sys.stdin.isatty() and not json_out

    def show(turn: Turn) -> None:
        if json_out:
            emit_json(
                {
                    "robot": turn.text,
                    "state": turn.state,
                    "intent": turn.nlu.intent if turn.nlu else None,
                    "confidence": round(turn.nlu.confidence, 3) if turn.nlu else None,
                    "slots": {k: str(v) for k, v in turn.slots_filled.items()},
                    "actions": turn.action_kinds,
                    "ended": turn.ended,
                }
            )
            return
        if debug and turn.nlu is not None:
            typer.secho(
                f"  [intent {turn.nlu.intent} {turn.nlu.confidence:.2f}]", fg=typer.colors.BLUE
            )
        if debug and turn.slots_filled:
            typer.secho(f"  [slots {turn.slots_filled}]", fg=typer.colors.BLUE)
        if turn.text:
            typer.secho(f"robot: {turn.text}", fg=typer.colors.GREEN)
        if debug:
            extra = f" actions={turn.action_kinds}" if turn.actions else ""
            typer.secho(f"  [state {turn.state}{extra}]", fg=typer.colors.BLUE)

    show(manager.start())
    while not manager.ended:
        try:
            line = input("you: ") if interactive else sys.stdin.readline()
        except EOFError:
            line = ""
            break
        if not interactive and line == "":
            break  # end of input
        show(manager.handle(typed_event(line)))
    result = manager.result()
    summary = {
        "disposition": result.disposition,
        "state": result.state,
        "slots": result.slots,
        "callback_at": result.callback_at.isoformat() if result.callback_at else None,
        "transfer_to": result.transfer_to,
        "do_not_call": result.do_not_call,
    }
    if json_out:
        emit_json({"result": summary})
    else:
        typer.echo(f"-- {summary}")


def nlu(
    script: Annotated[str, typer.Argument(help="Script file or bundled script name.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts (default: stdin lines).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Classify texts with a script's NLU: intent, confidence and entities."""
    from dialogues.manager import build_classifier

    loaded = load_script_arg(script)
    try:
        classifier = build_classifier(loaded)
    except CallrobotError as e:
        fail(str(e))
    lines = texts if texts else [line.rstrip("\n") for line in sys.stdin]
    for text in lines:
        if not text.strip():
            continue
        try:
            result = classifier.parse(text)
        except CallrobotError as e:
            fail(str(e))
        if json_out:
            emit_json(result.to_json())
        else:
            ents = ", ".join(f"{e.entity}={e.value}" for e in result.entities)
            typer.echo(f"{result.intent:<16} {result.confidence:.2f}  {text}  {ents}".rstrip())


def register(app: typer.Typer) -> None:
    app.add_typer(script_app, name="script")
    app.command("chat")(chat)
    app.command("nlu")(nlu)
