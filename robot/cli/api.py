"""Service commands: ``serve`` (API + dialler + webhook delivery), ``keys``, ``crm-sink``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from robot.cli.output import emit_json, fail
from robot.errors import CallrobotError, NotFoundError

keys_app = typer.Typer(help="API keys for tenants.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        bool, typer.Option("--workers/--no-workers", help="Run the dialler and webhooks too.")
    ] = True,
) -> None:
    """Run the HTTP API (with the dialler and webhook delivery in the same process)."""
    import uvicorn

    from api.main import create_app
    from models.db import make_engine, upgrade
    from robot.config import get_settings
    from robot.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level or "INFO")
    try:
        engine = make_engine()
        upgrade(engine)
        app = create_app(engine=engine, run_workers=workers)
    except CallrobotError as e:
        fail(str(e))
    # uvicorn's own lines go through the same handler and format (log_config=None).
    uvicorn.run(app, host=host, port=port, log_level="info", log_config=None)


@keys_app.command("create")
def create_key(
    tenant: Annotated[str, typer.Option(help="Tenant name (created if new).")],
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    database: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create an API key for a tenant and print it once (only its hash is stored; audited)."""
    from models.apikey import create_api_key, token_prefix
    from models.db import make_engine, upgrade
    from models.transactions import session_scope
    from robot.dialler.campaigns import get_or_create_tenant

    try:
        engine = make_engine(database)
        upgrade(engine)
        tenant_id = get_or_create_tenant(engine, tenant)
        with session_scope(engine) as session:
            token = create_api_key(session, tenant_id, name, actor="cli")
    except CallrobotError as e:
        fail(str(e))
    if as_json:
        emit_json({"tenant": tenant, "tenant_id": tenant_id, "key": token})
        return
    typer.echo(token)
    typer.echo(
        f"key {token_prefix(token)}... for tenant {tenant!r}; it is not shown again", err=True
    )


def _tenant_id(engine: Any, tenant: str) -> int:
    from sqlmodel import Session, select

    from models.tenant import Tenant

    with Session(engine) as session:
        found = session.exec(select(Tenant.id).where(Tenant.name == tenant)).first()
    if found is None:
        raise NotFoundError(f"tenant {tenant!r} not found")
    return int(found)


@keys_app.command("list")
def list_keys(
    tenant: Annotated[str, typer.Option(help="Tenant name.")],
    database: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key.")] = False,
) -> None:
    """A tenant's keys: id, visible prefix, name, created and revoked times."""
    from sqlmodel import Session, select

    from models.apikey import ApiKey, ApiKeyPublic
    from models.db import make_engine, upgrade

    try:
        engine = make_engine(database)
        upgrade(engine)
        tenant_id = _tenant_id(engine, tenant)
        with Session(engine) as session:
            rows = session.exec(
                select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id)  # type: ignore[arg-type]
            ).all()
    except CallrobotError as e:
        fail(str(e))
    for row in rows:
        key = ApiKeyPublic.model_validate(row)
        if as_json:
            emit_json(key.model_dump(mode="json"))
        else:
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            typer.echo(f"{key.id}\t{key.prefix}...\t{key.name or ''}\t{state}")


@keys_app.command("revoke")
def revoke_key(
    key: Annotated[str, typer.Argument(help="The key's id, its prefix (cr_abcd1234) or itself.")],
    tenant: Annotated[str, typer.Option(help="Tenant name.")],
    database: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Revoke a key (audited); running API processes stop accepting it within 5 s."""
    from models.apikey import revoke_api_key
    from models.db import make_engine, upgrade
    from models.transactions import session_scope

    try:
        engine = make_engine(database)
        upgrade(engine)
        tenant_id = _tenant_id(engine, tenant)
        with session_scope(engine) as session:
            revoked = revoke_api_key(session, tenant_id, key, actor="cli")
    except CallrobotError as e:
        fail(str(e))
    if as_json:
        emit_json({"id": revoked.id, "prefix": revoked.prefix, "revoked": True})
        return
    typer.echo(f"key {revoked.id} ({revoked.prefix}...) of tenant {tenant!r} is revoked")


def crm_sink(
    secret: Annotated[str, typer.Option(help="The endpoint's signing secret.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any).")] = 8787,
    tolerance_s: Annotated[
        float, typer.Option(help="Refuse signatures older than this many seconds.")
    ] = 300.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON event per line.")] = False,
) -> None:
    """Receive webhooks: verify signatures, drop duplicates, print each event."""
    import json

    from robot.crm.sink import EventSink, SinkServer

    def show(event: dict[str, object]) -> None:
        if as_json:
            emit_json(event)
            return
        data = event.get("data")
        summary = json.dumps(data, ensure_ascii=False, default=str)
        typer.echo(f"{event.get('created_at')} {event.get('type')} {event.get('id')} {summary}")

    sink = EventSink(secret=secret, on_event=show, tolerance_s=tolerance_s)
    try:
        server = SinkServer((host, port), sink)
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}")
    typer.echo(f"listening on {server.url}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def dialler() -> None:
    """Run the dialler and webhook delivery without the API (start several for larger set-ups).

    Workers share the database (PostgreSQL for several hosts); leads are claimed with leases,
    so no lead is dialled twice. Stops cleanly on SIGINT/SIGTERM: calls in progress finish.
    """
    import asyncio
    import signal

    from api.placement import EngineCallPlacer, ScriptCallRunner
    from models.db import make_engine, upgrade
    from robot.config import get_settings
    from robot.control.service import CallControl, RegistryVoice
    from robot.crm.delivery import DeliveryWorker
    from robot.dialler.worker import Dialler, DiallerLimits
    from robot.engine import CallEngine
    from robot.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level or "INFO")
    try:
        engine = make_engine()
        upgrade(engine)
    except CallrobotError as e:
        fail(str(e))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        placer = EngineCallPlacer(settings)
        runner = ScriptCallRunner(engine, placer)
        limits = DiallerLimits.from_settings(settings.dialler)
        dialler = Dialler(engine, runner, limits=limits, admission=placer.load)
        # Inbound calls: a sip://...;listen=HOST:PORT carrier takes them here too.
        control = CallControl.from_url(
            engine,
            settings.carrier_url,
            RegistryVoice(),
            call_engine=CallEngine(settings=settings, detect_voicemail=False),
            recording_dir=settings.data_dir / "recordings",
        )
        await control.start()
        typer.echo("dialler and webhook delivery running; Ctrl-C to stop", err=True)
        if control.listen_address is not None:
            typer.echo("taking inbound calls on {}:{}".format(*control.listen_address), err=True)
        try:
            await asyncio.gather(
                DeliveryWorker(engine, settings.webhooks).run(stop), dialler.run(stop)
            )
        finally:
            await control.close()

    asyncio.run(run())
    engine.dispose()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("dialler")(dialler)
    app.command("crm-sink")(crm_sink)
    app.add_typer(keys_app, name="keys")
