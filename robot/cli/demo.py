"""``callrobot demo``: the main job on embedded defaults.

A small outbound campaign with the bundled lead-qualification script over the simulated
network, through the real product path: a SQLite database under the data directory holds the
script, the campaign and its leads; the dialler claims them; every bundled callee persona
(interested, not interested, call me later, wrong person, asks who is calling, stop calling
me, interrupter, voicemail, busy, no answer, invalid number, phone off...) is called with real
speech synthesis and recognition; finished calls queue signed CRM webhooks, delivered to a
local receiver that verifies them. A progress bar follows the calls; a table shows how each
ended; recordings are written. Everything is stored in ``data_dir/demo.db`` under the tenant
``demo`` (each run adds its campaign), and the demo ends by printing how to serve that
database (``CALLROBOT_DATABASE_URL=... callrobot serve``) and a new API key of the tenant to
sign in to the web console at http://127.0.0.1:8000/ with.
``--text`` runs the same script against scripted callers by text instead, in a second.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
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
    concurrency: Annotated[int, typer.Option(help="Calls at once.", min=1)] = 6,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON record per call.")] = False,
    call_control: Annotated[
        bool,
        typer.Option(
            "--call-control", help="Instead: a masked call and a callback, with their events."
        ),
    ] = False,
) -> None:
    """Run the lead-qualification campaign over the simulated network and show the results."""
    from dialogues.loader import load_script
    from robot.cli.scripts import resolve_script

    if call_control:
        _call_control_demo(speed, json_out)
        return

    loaded = load_script(resolve_script("lead_qualification"))
    if text:
        _text_demo(loaded, json_out)
        return
    asyncio.run(_voice_demo(loaded, speed, concurrency, json_out))


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Where `callrobot serve` (default host and port) serves the web console.
CONSOLE_URL = "http://127.0.0.1:8000/"
#: The demo's database under the data directory (every run adds its campaign to it).
DEMO_DATABASE = "demo.db"


async def _voice_demo(loaded: LoadedScript, speed: float, concurrency: int, json_out: bool) -> None:
    """A real campaign: database, dialler, call engine, simulated network, CRM webhooks."""
    import secrets
    import threading

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlmodel import select

    from models.apikey import create_api_key
    from models.campaign import CampaignCreate
    from models.db import make_engine, upgrade
    from models.script import Script
    from models.transactions import session_scope
    from models.webhook import WebhookEndpoint
    from robot.carriers.sim import SimCarrier
    from robot.cli.demo_report import show_results
    from robot.config import get_settings
    from robot.crm.delivery import DeliveryWorker
    from robot.crm.sink import EventSink, SinkServer
    from robot.dialler import (
        Dialler,
        DiallerLimits,
        change_status,
        create_campaign,
        get_or_create_tenant,
    )
    from robot.dialler.campaigns import remove_from_dnc
    from robot.engine import CallEngine
    from robot.leads import import_rows, rows_from_records
    from robot.runner import EngineCallRunner

    console = Console(stderr=json_out)
    if not console.is_terminal:
        console.width = max(console.width, 140)
    settings = get_settings()
    data_dir = settings.data_dir
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    recording_dir = settings.recordings_root() / f"demo-{stamp}"
    data_dir.mkdir(parents=True, exist_ok=True)
    # One demo database for every demo run (never the service's own: the demo's dialler and
    # delivery worker must not act for anyone else); `callrobot serve` opens it by URL.
    database_url = f"sqlite:///{data_dir / DEMO_DATABASE}"
    db = make_engine(database_url)
    upgrade(db)

    # The CRM: a local receiver that checks every signature.
    events: list[dict[str, Any]] = []
    secret = secrets.token_hex(16)
    sink = EventSink(secret=secret, on_event=events.append)
    server = SinkServer(("127.0.0.1", 0), sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    tenant_id = get_or_create_tenant(db, "demo")
    campaign_name = f"demo {stamp}: lead qualification"
    with session_scope(db) as session:
        version = 1 + max(
            session.exec(
                select(Script.version).where(
                    Script.tenant_id == tenant_id, Script.name == loaded.name
                )
            ).all(),
            default=0,
        )
        script = Script(
            tenant_id=tenant_id, name=loaded.name, version=version, yaml_text=loaded.source
        )
        session.add(script)
        endpoint = WebhookEndpoint(
            tenant_id=tenant_id,
            url=server.url,
            secret=secret,
            description=f"the receiver of the demo of {stamp} (closed when it ended)",
        )
        session.add(endpoint)
        session.flush()
        script_id, endpoint_id = script.id, endpoint.id
        console_key = create_api_key(session, tenant_id, f"demo {stamp}")
    campaign = create_campaign(
        db,
        tenant_id,
        CampaignCreate(
            name=campaign_name,
            script_id=script_id,
            script_version=version,
            default_timezone="America/New_York",
            # The demo runs at any hour; real campaigns keep the 09:00-20:00 default.
            calling_window={"hours": dict.fromkeys(DAYS, "00:00-24:00")},
            retry_policy={"max_attempts": 1},
            max_concurrent_calls=concurrency,
        ),
    )
    assert campaign.id is not None
    carrier = SimCarrier(speed=speed)
    # The do_not_call persona asks to be taken off the list in every run: the demo tenant's
    # list would refuse that lead from the second run on, so each run starts it clean.
    lifted = remove_from_dnc(db, tenant_id, [p.numbers[0] for p in carrier.personas])
    if lifted:
        console.print(
            f"do-not-call: {', '.join(lifted)} (asked in an earlier demo run) taken off the demo "
            "tenant's list, so every persona is called again"
        )
    leads = [
        {
            "phone": persona.numbers[0],
            "first_name": LEAD_NAMES.get(persona.name, "Alex"),
            "timezone": "America/New_York",
        }
        for persona in carrier.personas
    ]
    import_rows(db, campaign.id, rows_from_records(leads))
    change_status(db, campaign.id, "start")

    engine = CallEngine()
    with console.status("loading speech models and synthesizing the script's prompts..."):
        await asyncio.get_running_loop().run_in_executor(None, engine.warm, loaded)
    personas = {p.numbers[0]: p.name for p in carrier.personas}
    results: list[tuple[str, str, CallReport]] = []
    columns = (
        TextColumn("[bold]calling[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    runner = EngineCallRunner(db, carrier, engine, recording_dir=recording_dir)
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("", total=len(leads))

            def done(number: str, report: CallReport) -> None:
                persona = personas.get(number, "?")
                results.append((number, persona, report))
                progress.update(task, advance=1, description=f"{persona}: {report.outcome}")

            runner.on_report = done
            limits = DiallerLimits(
                max_concurrent_calls=concurrency, calls_per_second=10, poll_interval_s=0.2
            )
            # Admission control: calls start only while the engine answers in time.
            only = frozenset({campaign.id})  # never the other campaigns of this database
            dialler = Dialler(db, runner, limits=limits, campaign_ids=only, admission=engine.load)
            await dialler.run(until_idle=True)
        with console.status("delivering CRM webhooks..."):
            await asyncio.wait_for(DeliveryWorker(db, allow_private=True).run(until_idle=True), 60)
    finally:
        await carrier.close()
        server.shutdown()
        server.server_close()
        _close_endpoint(db, endpoint_id)
        db.dispose()
    console_hint = {
        "database": database_url,
        "url": CONSOLE_URL,
        "tenant": "demo",
        "key": console_key,
    }
    results.sort(key=lambda r: r[0])
    show_results(
        console,
        results,
        json_out=json_out,
        recording_dir=recording_dir,
        engine=engine,
        events=events,
        receiver_url=server.url,
        console_hint=console_hint,
        campaign_name=campaign_name,
    )


def _close_endpoint(db: Any, endpoint_id: int | None) -> None:
    """The demo's receiver stops with it: a served process must not retry deliveries to it."""
    from sqlalchemy import update

    from models.transactions import write_transaction
    from models.webhook import WebhookEndpoint

    with write_transaction(db) as conn:
        conn.execute(
            update(WebhookEndpoint.__table__)  # type: ignore[attr-defined]
            .where(WebhookEndpoint.__table__.c.id == endpoint_id)  # type: ignore[attr-defined]
            .values(enabled=False)
        )


def _call_control_demo(speed: float, json_out: bool) -> None:
    from robot.cli.demo_control import event_line, run_call_control_demo

    if not json_out:
        typer.echo("a rider calls a driver through a masked number, then an agent calls a")
        typer.echo("customer back; their events as the CRM receives them (signatures verified):")
    events = asyncio.run(run_call_control_demo(speed))
    # The scenes' events arrive interleaved; each scene's in its own order.
    events.sort(key=lambda event: "callback_id" in event.get("data", {}))
    for event in events:
        if json_out:
            emit_json(event)
        else:
            typer.echo(event_line(event))


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
