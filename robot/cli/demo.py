"""``callrobot demo``: the main job on embedded defaults.

Runs the bundled lead-qualification script against a few scripted callers (text in, text
out) and prints each conversation and the resulting lead records.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from robot.cli.output import emit_json

#: Scripted callers: what each one says, turn by turn ("" = silence).
DEMO_CALLERS: list[tuple[dict[str, str], list[str]]] = [
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
    json_out: Annotated[bool, typer.Option("--json", help="One JSON lead record per line.")] = False,
) -> None:
    """Run the lead-qualification script against scripted callers and print the leads."""
    from dialogues.loader import load_script
    from dialogues.manager import DialogueManager, NoInput, UserText, build_classifier
    from robot.cli.scripts import resolve_script

    loaded = load_script(resolve_script("lead_qualification"))
    classifier = build_classifier(loaded)
    now = datetime.now(UTC)
    for lead, lines in DEMO_CALLERS:
        manager = DialogueManager(
            loaded, classifier=classifier, lead=lead, timezone="America/New_York",
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
