"""Lead commands: ``leads import FILE --campaign ID`` and ``leads dnc NUMBER...``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from robot.cli.output import emit_json, fail
from robot.errors import CallrobotError

leads_app = typer.Typer(help="Import leads and manage the do-not-call list.", no_args_is_help=True)

MAX_REJECTS_SHOWN = 20


def _count_lines(path: Path) -> int | None:
    try:
        with path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None


@leads_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV (header row) or JSON array of leads.")],
    campaign: Annotated[int, typer.Option("--campaign", help="Campaign id.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or json (default: from the suffix).")
    ] = None,
    database: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import leads; every good row goes in, every rejected row is reported with its reason."""
    from models.db import make_engine
    from robot.leads import import_leads

    try:
        engine = make_engine(database)
        if as_json:
            report = import_leads(engine, campaign, file, fmt=fmt)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            lines = _count_lines(file) if (fmt or file.suffix.lstrip(".")) != "json" else None
            total = max(0, lines - 1) if lines else None
            columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, transient=True) as progress:
                task = progress.add_task("import", total=total)
                report = import_leads(
                    engine,
                    campaign,
                    file,
                    fmt=fmt,
                    progress=lambda rows: progress.update(task, completed=rows),
                )
    except CallrobotError as e:
        fail(str(e))
    if as_json:
        emit_json(report.to_dict())
        return
    typer.echo(
        f"{file}: {report.imported} of {report.rows} rows imported, {len(report.rejected)} rejected"
    )
    for rejected in report.rejected[:MAX_REJECTS_SHOWN]:
        where = f"line {rejected.line}" if rejected.line else f"row {rejected.row}"
        typer.echo(f"  {file}:{where}: {rejected.reason}")
    if len(report.rejected) > MAX_REJECTS_SHOWN:
        typer.echo(f"  ... and {len(report.rejected) - MAX_REJECTS_SHOWN} more (use --json)")


@leads_app.command("dnc")
def dnc_command(
    numbers: Annotated[list[str], typer.Argument(help="Numbers never to call.")],
    tenant: Annotated[str, typer.Option(help="Tenant name.")] = "default",
    region: Annotated[str, typer.Option(help="Region for numbers without +CC.")] = "US",
    database: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Add numbers to the tenant's do-not-call list."""
    from models.db import make_engine
    from robot.dialler.campaigns import add_to_dnc, get_or_create_tenant
    from robot.leads import normalise_numbers

    normalised = normalise_numbers(list(numbers), region.upper())
    bad = [raw for raw, (e164, _) in zip(numbers, normalised, strict=True) if e164 is None]
    if bad:
        fail(f"invalid number(s): {', '.join(bad)}", 2)
    try:
        engine = make_engine(database)
        tenant_id = get_or_create_tenant(engine, tenant)
        for e164, _ in normalised:
            assert e164 is not None
            add_to_dnc(engine, tenant_id, e164, "added from the command line")
    except CallrobotError as e:
        fail(str(e))
    if as_json:
        emit_json({"tenant": tenant, "added": [e164 for e164, _ in normalised]})
    else:
        typer.echo(f"{len(normalised)} number(s) on the do-not-call list of {tenant}")


def register(app: typer.Typer) -> None:
    app.add_typer(leads_app, name="leads")
