"""Console campaigns: the list, the form that creates one, a campaign's page (stats, charts,
lead import with its per-row report) and its start/pause/stop buttons.

Every rule and every write is the API's own: the form's checks (:mod:`campaign_forms`),
:func:`create_campaign`, the lead importer behind ``POST /v1/campaigns/{id}/leads``
(:func:`import_leads_text`) and the status change behind ``POST /v1/campaigns/{id}/start``
(:func:`apply_action`, which calls :func:`robot.dialler.campaigns.change_status`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import Session
from sqlmodel import select as sqlmodel_select

from api.bodies import read_upload
from api.console.campaign_forms import DELAY_KEYS, CampaignForm, read_campaign_form
from api.console.charts import stacked_bars
from api.console.pages import tenant_of
from api.console.render import not_found, render
from api.console.session import CheckedUserDep, ConsoleUser, UserDep
from api.deps import MAX_ID, IdPath
from api.routes.calls import list_calls
from api.routes.campaigns import apply_action, get_owned_campaign
from api.routes.leads import CSV_TYPES, JSON_TYPES, MAX_LEADS_BYTES, import_leads_text
from api.routes.scripts import get_owned_script
from dialogues.schema import DISPOSITIONS
from models.apikey import ApiKey
from models.call import Call
from models.campaign import Campaign
from models.script import Script
from robot.config import Settings
from robot.dialler.campaigns import TRANSITIONS, campaign_stats, create_campaign
from robot.errors import CallrobotError, NotFoundError, ValidationError
from robot.windows import WEEKDAYS

router = APIRouter(include_in_schema=False)

#: The answer that stops htmx polling (the panels of a campaign that no longer runs).
STOP_POLLING = 286
#: Campaigns on the list page (the newest ones when there are more).
CAMPAIGNS_LISTED = 200
#: Calls read for a campaign's charts (the newest ones when there are more).
CHART_CALLS = 20_000


def _scripts(session: Session, tenant_id: int) -> list[Any]:
    return list(
        session.execute(
            select(Script.id, Script.name, Script.version)  # type: ignore[call-overload]
            .where(Script.tenant_id == tenant_id)
            .order_by(Script.name, Script.version.desc())  # type: ignore[attr-defined]
        ).all()
    )


@router.get("/campaigns", response_class=HTMLResponse)
async def campaigns_page(request: Request, user: UserDep) -> Response:
    def load() -> list[dict[str, Any]]:
        engine = request.app.state.engine
        with Session(engine) as session:
            items = session.exec(
                sqlmodel_select(Campaign)
                .where(Campaign.tenant_id == user.tenant_id)
                .order_by(Campaign.id.desc())  # type: ignore[union-attr]
                .limit(CAMPAIGNS_LISTED)
            ).all()
        rows = []
        for campaign in items:
            assert campaign.id is not None
            stats = campaign_stats(engine, campaign.id, user.tenant_id)
            rows.append({"campaign": campaign, "stats": stats})
        return rows

    rows = await run_in_threadpool(load)
    return render(request, "campaigns.html", {"user": user, "page": "campaigns", "rows": rows})


def _form_page(
    request: Request, user: ConsoleUser, form: CampaignForm, scripts: list[Any], status: int = 200
) -> Response:
    context = {
        "user": user,
        "page": "campaigns",
        "form": form,
        "scripts": scripts,
        "weekdays": WEEKDAYS,
        "delay_keys": DELAY_KEYS,
        "dispositions": sorted(DISPOSITIONS),
    }
    return render(request, "campaign_new.html", context, status_code=status)


@router.get("/campaigns/new", response_class=HTMLResponse)
async def new_campaign(request: Request, user: UserDep, script_id: int | None = None) -> Response:
    def load() -> list[Any]:
        with Session(request.app.state.engine) as session:
            return _scripts(session, user.tenant_id)

    form = CampaignForm.blank()
    if script_id is not None:
        form.values["script_id"] = str(script_id)
    return _form_page(request, user, form, await run_in_threadpool(load))


@router.post("/campaigns/new", response_class=HTMLResponse)
async def create_from_form(request: Request, user: CheckedUserDep) -> Response:
    submitted = await request.form()
    fields = {k: v for k, v in submitted.items() if isinstance(v, str) and len(v) <= 2000}
    dispositions = [v for v in submitted.getlist("final_dispositions") if isinstance(v, str)]
    engine = request.app.state.engine

    def store() -> tuple[CampaignForm, list[Any], int | None]:
        with Session(engine) as session:
            scripts = _scripts(session, user.tenant_id)
            version = None
            script_error = None
            chosen = fields.get("script_id", "").strip()
            if chosen and not (chosen.isdigit() and int(chosen) <= MAX_ID):
                script_error = f"script_id: script {chosen[:20]!r} not found"
            elif chosen:
                try:
                    version = get_owned_script(session, user.tenant_id, int(chosen)).version
                except NotFoundError as e:
                    script_error = f"script_id: {e}"
        form = read_campaign_form(fields, dispositions, version)
        if script_error:
            form.errors["script_id"] = script_error
            form.data = None
        if form.data is None:
            return form, scripts, None
        try:
            campaign = create_campaign(engine, user.tenant_id, form.data)
        except CallrobotError as e:
            form.errors["form"] = str(e)
            return form, scripts, None
        return form, scripts, campaign.id

    form, scripts, campaign_id = await run_in_threadpool(store)
    if campaign_id is None:
        return _form_page(request, user, form, scripts, 422)
    return RedirectResponse(f"/campaigns/{campaign_id}?created=1", status_code=303)


def _chart_points(session: Session, campaign_id: int, column: str) -> list[Any]:
    calls = Call.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(
        select(calls.ended_at, calls[column])
        .where(calls.campaign_id == campaign_id, calls[column].is_not(None))
        .order_by(calls.id.desc())
        .limit(CHART_CALLS)
    ).all()
    return [(ended, value) for ended, value in rows if ended is not None]


def campaign_context(request: Request, user: ConsoleUser, campaign_id: int) -> dict[str, Any]:
    """Everything a campaign's page shows (raises NotFoundError for another tenant's)."""
    engine = request.app.state.engine
    with Session(engine) as session:
        campaign = get_owned_campaign(session, user.tenant_id, campaign_id)
        script = session.get(Script, campaign.script_id) if campaign.script_id else None
        outcomes = _chart_points(session, campaign_id, "outcome")
        dispositions = _chart_points(session, campaign_id, "disposition")
        recent = list_calls(session, tenant_of(user), campaign_id=campaign_id, limit=20)
    stats = campaign_stats(engine, campaign_id, user.tenant_id)
    actions = [a for a, (allowed, _) in TRANSITIONS.items() if campaign.status in allowed]
    return {
        "user": user,
        "page": "campaigns",
        "campaign": campaign,
        "script": script,
        "stats": stats,
        "actions": actions,
        "outcome_chart": stacked_bars(outcomes),
        "disposition_chart": stacked_bars(dispositions),
        "calls": recent.items,
        "report": None,
        "message": None,
    }


async def _campaign_page(
    request: Request, user: ConsoleUser, campaign_id: int, status: int = 200, **extra: Any
) -> Response:
    try:
        context = await run_in_threadpool(campaign_context, request, user, campaign_id)
    except NotFoundError as e:
        return not_found(request, user, str(e))
    context.update(extra)
    return render(request, "campaign.html", context, status_code=status)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
async def campaign_page(request: Request, user: UserDep, campaign_id: IdPath) -> Response:
    return await _campaign_page(request, user, campaign_id)


@router.get("/campaigns/{campaign_id}/panels", response_class=HTMLResponse)
async def campaign_panels(request: Request, user: UserDep, campaign_id: IdPath) -> Response:
    """The stats, charts and calls again (the page polls them while the campaign runs), and
    the status in the page's title; once the campaign no longer runs, the answer is 286,
    which tells htmx to stop polling."""
    try:
        context = await run_in_threadpool(campaign_context, request, user, campaign_id)
    except NotFoundError as e:
        return not_found(request, user, str(e))
    status = 200 if context["stats"].status == "running" else STOP_POLLING
    return render(request, "_campaign_panels.html", {**context, "oob": True}, status_code=status)


@router.post("/campaigns/{campaign_id}/leads", response_class=HTMLResponse)
async def import_leads(request: Request, user: CheckedUserDep, campaign_id: IdPath) -> Response:
    """Import an uploaded CSV (or JSON) file and show the per-row report on the page."""
    settings: Settings = request.app.state.settings
    engine = request.app.state.engine

    def owned() -> Campaign:
        with Session(engine) as session:
            return get_owned_campaign(session, user.tenant_id, campaign_id)

    try:
        await run_in_threadpool(owned)
    except NotFoundError as e:
        return not_found(request, user, str(e))
    try:
        upload = await read_upload(
            request,
            accepted=(*CSV_TYPES, *JSON_TYPES),
            default_filename="leads.csv",
            max_bytes=MAX_LEADS_BYTES,
        )
        if not upload.text.strip():
            raise ValidationError("file: choose a CSV file with a header row")
        report = await run_in_threadpool(
            lambda: import_leads_text(
                engine,
                user.tenant_id,
                campaign_id,
                upload.text,
                upload.filename,
                settings.quotas.max_queued_calls,
                is_json=upload.media_type in JSON_TYPES,
            )
        )
    except CallrobotError as e:
        return await _campaign_page(request, user, campaign_id, 422, message=str(e))
    return await _campaign_page(request, user, campaign_id, report=report)


def _actor(request: Request, key_id: int) -> str:
    keys = ApiKey.__table__.c  # type: ignore[attr-defined]
    with request.app.state.engine.connect() as conn:
        prefix = conn.execute(select(keys.prefix).where(keys.id == key_id)).scalar_one_or_none()
    return f"key:{prefix}" if prefix else "console"


@router.post("/campaigns/{campaign_id}/{action}", response_class=HTMLResponse)
async def campaign_action(
    request: Request, user: CheckedUserDep, campaign_id: IdPath, action: str
) -> Response:
    """Start, pause or stop: the same transition (and checks) as the API's routes."""
    if action not in TRANSITIONS:
        return not_found(request, user, f"no campaign action {action!r}")
    settings: Settings = request.app.state.settings

    def act() -> None:
        engine = request.app.state.engine
        with Session(engine) as session:
            campaign = get_owned_campaign(session, user.tenant_id, campaign_id)
        apply_action(engine, campaign, action, _actor(request, user.key_id), settings.quotas)

    try:
        await run_in_threadpool(act)
    except NotFoundError as e:
        return not_found(request, user, str(e))
    except CallrobotError as e:
        return await _campaign_page(request, user, campaign_id, 409, message=str(e))
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)
