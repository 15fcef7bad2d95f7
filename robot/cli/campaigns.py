"""Campaign and database commands: ``campaign create/start/pause/stop/stats``, ``db upgrade``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from robot.cli.output import emit_json, fail
from robot.errors import CallrobotError

campaign_app = typer.Typer(help="Create and control calling campaigns.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
DatabaseOption = Annotated[
    str | None, typer.Option("--database", help="Database URL (default: the configured one).")
]


def _engine(url: str | None) -> Any:
    from models.db import make_engine

    return make_engine(url)


def _json_option(text: str | None, name: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{name}: invalid JSON at column {e.colno}: {e.msg}", 2)
    if not isinstance(value, dict):
        fail(f"{name}: expected a JSON object", 2)
    return value


@campaign_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="Campaign name.")],
    tenant: Annotated[str, typer.Option(help="Tenant name (created if new).")] = "default",
    region: Annotated[str, typer.Option(help="Default region for local numbers.")] = "US",
    timezone: Annotated[str, typer.Option(help="Zone when a lead's is unknown.")] = "UTC",
    priority: Annotated[int, typer.Option(min=1, max=100, help="Fair-share weight.")] = 1,
    max_concurrent: Annotated[int, typer.Option(min=1, help="Calls at once.")] = 10,
    window: Annotated[
        str | None, typer.Option(help='Calling window JSON, e.g. {"hours": {"sun": null}}.')
    ] = None,
    retry: Annotated[str | None, typer.Option(help="Retry policy JSON.")] = None,
    script_id: Annotated[int | None, typer.Option(help="Script id.")] = None,
    script_version: Annotated[int | None, typer.Option(help="Script version.")] = None,
    caller_id: Annotated[str | None, typer.Option(help="Caller id to present.")] = None,
    database: DatabaseOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a draft campaign."""
    from models.campaign import CampaignCreate
    from robot.dialler.campaigns import create_campaign, get_or_create_tenant

    try:
        engine = _engine(database)
        tenant_id = get_or_create_tenant(engine, tenant)
        campaign = create_campaign(
            engine,
            tenant_id,
            CampaignCreate(
                name=name,
                default_region=region,
                default_timezone=timezone,
                priority=priority,
                max_concurrent_calls=max_concurrent,
                calling_window=_json_option(window, "--window"),
                retry_policy=_json_option(retry, "--retry"),
                script_id=script_id,
                script_version=script_version,
                caller_id=caller_id,
            ),
        )
    except CallrobotError as e:
        fail(str(e))
    if as_json:
        emit_json({"id": campaign.id, "name": campaign.name, "status": str(campaign.status)})
    else:
        typer.echo(f"campaign {campaign.id} created ({campaign.status})")


def _change(campaign_id: int, action: str, database: str | None, as_json: bool) -> None:
    from robot.dialler.campaigns import change_status

    try:
        status = change_status(_engine(database), campaign_id, action)
    except CallrobotError as e:
        fail(str(e))
    if as_json:
        emit_json({"id": campaign_id, "status": status.value})
    else:
        typer.echo(f"campaign {campaign_id} is {status.value}")


@campaign_app.command("start")
def start(campaign_id: int, database: DatabaseOption = None, as_json: JsonFlag = False) -> None:
    """Start (or resume) a campaign; it needs a script (--script-id at create)."""
    _change(campaign_id, "start", database, as_json)


@campaign_app.command("pause")
def pause(campaign_id: int, database: DatabaseOption = None, as_json: JsonFlag = False) -> None:
    """Pause a running campaign; calls in progress finish."""
    _change(campaign_id, "pause", database, as_json)


@campaign_app.command("stop")
def stop(campaign_id: int, database: DatabaseOption = None, as_json: JsonFlag = False) -> None:
    """Stop a campaign for good (queues the campaign.finished webhook)."""
    _change(campaign_id, "stop", database, as_json)


@campaign_app.command("stats")
def stats(campaign_id: int, database: DatabaseOption = None, as_json: JsonFlag = False) -> None:
    """Outcomes, dispositions, attempts, leads remaining and the next window opening."""
    from robot.dialler.campaigns import campaign_stats

    try:
        result = campaign_stats(_engine(database), campaign_id)
    except CallrobotError as e:
        fail(str(e))
    if as_json:
        emit_json(result.to_dict())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"campaign {campaign_id} ({result.status})", show_header=False)
    table.add_row("leads", str(result.leads))
    table.add_row("remaining", str(result.remaining))
    table.add_row("attempts", str(result.attempts))
    table.add_row("in flight", str(result.in_flight))
    for name, counts in (
        ("lead", result.leads_by_status),
        ("outcome", result.calls_by_outcome),
        ("disposition", result.calls_by_disposition),
    ):
        for key, count in sorted(counts.items()):
            table.add_row(f"{name}: {key}", str(count))
    opening = result.next_window_opening
    table.add_row("next window opening", opening.isoformat() if opening else "-")
    Console().print(table)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    database: DatabaseOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create or migrate the database schema; safe while workers of the previous release run
    (a migration that waits for their locks is retried, CALLROBOT_MIGRATIONS__*)."""
    from models.db import upgrade

    try:
        reached = upgrade(_engine(database), revision, allow_newer=False)
    except CallrobotError as e:
        fail(str(e))
    if as_json:
        emit_json({"revision": reached, "status": "ok"})
    else:
        typer.echo(f"database upgraded to {reached}")


def register(app: typer.Typer) -> None:
    app.add_typer(campaign_app, name="campaign")
    app.add_typer(db_app, name="db")
