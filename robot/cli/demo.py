"""``callrobot demo``: the main job on embedded defaults.

A small outbound campaign with the bundled lead-qualification script over the simulated
network: every bundled callee persona (interested, not interested, call me later, wrong
person, asks who is calling, stop calling me, interrupter, voicemail, busy, no answer,
invalid number, phone off...) is called with real speech synthesis and recognition. A
progress bar follows the calls; a table shows how each ended; recordings are written.
``--text`` runs the same script against scripted callers by text instead, in a second.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from robot.cli.output import emit_json

if TYPE_CHECKING:
    from dialogues.loader import LoadedScript
    from robot.session import CallReport

#: Lead names for the bundled personas, by persona name.
LEAD_NAMES = {
    "interested": "John",
    "interested_callback": "Maria",
    "not_interested": "David",
    "call_me_later": "Olga",
    "wrong_person": "Sarah",
    "asks_who": "Peter",
    "do_not_call": "Tom",
    "interrupter": "Kim",
}

#: Scripted callers for ``--text``: what each one says, turn by turn ("" = silence).
TEXT_CALLERS: list[tuple[dict[str, str], list[str]]] = [
    (
        {"first_name": "Maria", "phone": "+12025550143", "interest": "solar panels for your home"},
        [
            "yes this is maria",
            "yeah we are still interested",
            "sure that's fine",
            "um around fifteen thousand dollars",
            "within a month if possible",
            "yes we own the house",
            "can the specialist call me tomorrow at five",
        ],
    ),
    (
        {"first_name": "David", "phone": "+13125550178"},
        ["who is this", "yes speaking", "no we already got panels installed"],
    ),
    (
        {"first_name": "Olga", "phone": "+16175550111"},
        ["i'm driving right now can you call me back tomorrow morning"],
    ),
]


def demo(
    text: Annotated[bool, typer.Option("--text", help="Text conversations, no audio.")] = False,
    speed: Annotated[
        float, typer.Option(help="Simulated network speed (1.0 = real time).", min=0.25)
    ] = 1.0,
    concurrency: Annotated[int, typer.Option(help="Calls at once.", min=1)] = 16,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON record per call.")] = False,
) -> None:
    """Run the lead-qualification campaign over the simulated network and show the results."""
    from dialogues.loader import load_script
    from robot.cli.scripts import resolve_script

    loaded = load_script(resolve_script("lead_qualification"))
    if text:
        _text_demo(loaded, json_out)
        return
    asyncio.run(_voice_demo(loaded, speed, concurrency, json_out))


async def _voice_demo(loaded: LoadedScript, speed: float, concurrency: int, json_out: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from robot.carriers.sim import SimCarrier
    from robot.config import get_settings
    from robot.engine import CallEngine

    console = Console(stderr=json_out)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    recording_dir = get_settings().data_dir / "recordings" / f"demo-{stamp}"
    engine = CallEngine()
    carrier = SimCarrier(speed=speed)
    leads = [
        (persona.numbers[0], {"first_name": LEAD_NAMES.get(persona.name, "Alex")}, persona.name)
        for persona in carrier.personas
    ]
    with console.status("loading speech models and synthesizing the script's prompts..."):
        await asyncio.get_running_loop().run_in_executor(None, engine.warm, loaded)
    results: list[tuple[str, str, CallReport]] = []
    limit = asyncio.Semaphore(concurrency)
    columns = (
        TextColumn("[bold]calling[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("", total=len(leads))

            async def one(number: str, lead: dict[str, str], persona: str) -> None:
                async with limit:
                    report = await engine.call(
                        carrier,
                        number,
                        loaded,
                        lead=lead,
                        timezone="America/New_York",
                        recording_dir=recording_dir,
                    )
                results.append((number, persona, report))
                progress.update(task, advance=1, description=f"{persona}: {report.outcome}")

            await asyncio.gather(*(one(*lead) for lead in leads))
    finally:
        await carrier.close()
    results.sort(key=lambda r: r[0])
    if json_out:
        for number, persona, report in results:
            emit_json(_record(number, persona, report))
        return
    _print_table(console, results, recording_dir)


def _record(number: str, persona: str, report: CallReport) -> dict[str, Any]:
    return {
        **report.summary(),
        "number": number,
        "persona": persona,
        "answers": report.slots,
        "callback_at": report.callback_at.isoformat() if report.callback_at else None,
        "turns": len(report.transcript),
        "voicemail": report.voicemail_reason,
        "recording": report.recording_path,
    }


def _print_table(console: Any, results: list[tuple[str, str, CallReport]], folder: Path) -> None:
    from rich.table import Table

    table = Table(title="callrobot demo: lead qualification over the simulated network")
    for column in ("number", "persona", "outcome", "disposition", "answers", "turns", "duration"):
        table.add_column(column, overflow="fold")
    for number, persona, report in results:
        answers = ", ".join(f"{k}={v}" for k, v in report.slots.items())
        if report.callback_at:
            answers = (
                answers + ", " if answers else ""
            ) + f"callback {report.callback_at:%a %H:%M}"
        table.add_row(
            number,
            persona,
            report.outcome + (f" (Q.850 {report.q850})" if report.q850 else ""),
            report.disposition or "",
            answers,
            str(sum(1 for t in report.transcript if t.who == "callee")),
            f"{report.duration_ms / 1000:.1f} s",
        )
    console.print(table)
    console.print(f"recordings (stereo WAV: left = callee, right = robot): {folder}")


def _text_demo(loaded: LoadedScript, json_out: bool) -> None:
    from dialogues.manager import DialogueManager, NoInput, UserText, build_classifier

    classifier = build_classifier(loaded)
    now = datetime.now(UTC)
    for lead, lines in TEXT_CALLERS:
        manager = DialogueManager(
            loaded,
            classifier=classifier,
            lead=lead,
            timezone="America/New_York",
            clock=lambda: now,
        )
        if not json_out:
            typer.secho(f"\n=== calling {lead['first_name']} ===", bold=True)
        turn = manager.start()
        _show(json_out, "robot", turn.text)
        for line in lines:
            if manager.ended:
                break
            _show(json_out, "lead", line or "(silence)")
            turn = manager.handle(UserText(line) if line else NoInput())
            _show(json_out, "robot", turn.text)
        result = manager.result()
        record = {
            "lead": lead,
            "disposition": result.disposition,
            "answers": result.slots,
            "callback_at": result.callback_at.isoformat() if result.callback_at else None,
            "transfer_to": result.transfer_to,
            "do_not_call": result.do_not_call,
            "turns": len(result.transcript),
        }
        if json_out:
            emit_json(record)
        else:
            typer.echo("lead record: " + json.dumps(record, indent=2))


def _show(json_out: bool, who: str, text: str) -> None:
    if not json_out and text:
        color = typer.colors.GREEN if who == "robot" else typer.colors.CYAN
        typer.secho(f"{who:>5}: {text}", fg=color)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
