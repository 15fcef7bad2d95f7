"""Console campaigns: the form (every problem next to its field, in the API validators' own
words), lead import with its per-row report, start/pause/stop through the one owner of the
transitions, stats with charts, and another tenant's campaign not found."""

from __future__ import annotations

import html as html_text
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from models.apikey import token_prefix
from models.audit import AuditEntry
from models.call import Call
from models.campaign import Campaign
from models.types import utc_now
from models.webhook import OutboxEvent
from robot.config import Settings
from robot.dialler.retry import RetryPolicy
from robot.errors import ValidationError
from robot.windows import CallingWindow, zone_info

from fixtures.api_harness import ApiHarness
from fixtures.console import console_client, open_console_api, session_token, sign_in
from fixtures.database import BACKENDS, VALID_SCRIPT

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture(params=BACKENDS)
def api(
    request: pytest.FixtureRequest, tmp_path: Path, isolated_settings: Settings
) -> Iterator[ApiHarness]:
    yield from open_console_api(tmp_path, isolated_settings, request.param)


def signed_in(api: ApiHarness, tenant: str = "acme") -> TestClient:
    browser = console_client(api)
    assert sign_in(browser, api.tenants[tenant][1]).status_code == 200
    return browser


def store_script(api: ApiHarness) -> int:
    answer = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    )
    return int(answer.json()["id"])


def form(script_id: int | str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Solar spring",
        "script_id": str(script_id),
        "default_region": "US",
        "default_timezone": "America/New_York",
        "priority": "2",
        "max_concurrent_calls": "3",
        "caller_id": "",
        "excluded_dates": "2026-12-25",
        "max_attempts": "2",
        "extra_callback_attempts": "1",
        "delay_busy": "300",
        "final_dispositions": ["qualified", "do_not_call"],
        **{f"hours_{day}": "10:00-18:00" for day in DAYS},
    }
    data["hours_sun"] = ""
    data.update(changes)
    return data


def error_of(html: str, field: str) -> str | None:
    match = re.search(rf'id="{field}-error" role="alert">([^<]*)<', html)
    return None if match is None else html_text.unescape(match.group(1))


def message_of(rule: Any) -> str:
    try:
        rule()
    except ValidationError as e:
        return str(e)
    raise AssertionError("the rule accepted the value")


def test_the_form_creates_a_campaign_with_its_window_and_retry_policy(api: ApiHarness) -> None:
    script_id = store_script(api)
    browser = signed_in(api)
    data = {**form(script_id), "csrf_token": session_token(browser)}
    answer = browser.post("/campaigns/new", data=data, follow_redirects=False)
    assert answer.status_code == 303
    campaign_id = int(answer.headers["location"].split("/")[2].split("?")[0])
    with Session(api.engine) as session:
        campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    assert (campaign.name, campaign.script_id, campaign.script_version) == (
        "Solar spring",
        script_id,
        1,
    )
    window = CallingWindow.from_dict(campaign.calling_window)
    assert window.hours[0] == (600, 1080) and window.hours[6] is None
    assert {d.isoformat() for d in window.excluded_dates} == {"2026-12-25"}
    policy = RetryPolicy.from_dict(campaign.retry_policy)
    assert (policy.max_attempts, policy.extra_callback_attempts) == (2, 1)
    assert policy.delays_s["busy"] == 300
    assert policy.final_dispositions == {"qualified", "do_not_call"}
    page = browser.get(f"/campaigns/{campaign_id}")
    assert "Solar spring" in page.text and "draft" in page.text
    assert f'href="/campaigns/{campaign_id}"' in browser.get("/campaigns").text


def test_the_form_shows_every_problem_next_to_its_field_in_the_validators_words(
    api: ApiHarness,
) -> None:
    script_id = store_script(api)
    browser = signed_in(api)
    bad = form(
        script_id,
        name=" ",
        hours_mon="25:00-26:00",
        hours_tue="18:00-10:00",
        excluded_dates="2026-13-01",
        default_timezone="Mars/Olympus",
        default_region="ZZ",
        max_attempts="many",
        delay_busy="-5",
        priority="500",
    )
    answer = browser.post("/campaigns/new", data={**bad, "csrf_token": session_token(browser)})
    assert answer.status_code == 422
    html = answer.text
    # One home per rule: each message is the one the API's validator gives for that value.
    one_day = lambda day, spec: lambda: CallingWindow.from_dict({"hours": {day: spec}})  # noqa: E731
    assert error_of(html, "hours_mon") == message_of(one_day("mon", "25:00-26:00"))
    assert error_of(html, "hours_tue") == message_of(one_day("tue", "18:00-10:00"))
    assert error_of(html, "excluded_dates") == message_of(
        lambda: CallingWindow.from_dict({"excluded_dates": ["2026-13-01"]})
    )
    assert error_of(html, "default_timezone") == message_of(lambda: zone_info("Mars/Olympus"))
    assert error_of(html, "max_attempts") == message_of(
        lambda: RetryPolicy.from_dict({"max_attempts": "many"})
    )
    assert error_of(html, "delay_busy") == message_of(
        lambda: RetryPolicy.from_dict({"delays_s": {"busy": -5}})
    )
    assert error_of(html, "default_region") == "default_region: unknown region 'ZZ'"
    assert error_of(html, "name") == "name: must not be empty"
    assert error_of(html, "priority") is not None and "100" in error_of(html, "priority")
    assert error_of(html, "hours_wed") is None  # good fields have no error...
    assert 'value="25:00-26:00"' in html  # ...and every field keeps what was typed
    with Session(api.engine) as session:
        assert session.exec(select(Campaign)).first() is None


def test_another_tenants_script_cannot_be_pinned(api: ApiHarness) -> None:
    script_id = store_script(api)
    browser = signed_in(api, "globex")
    data = {**form(script_id), "csrf_token": session_token(browser)}
    answer = browser.post("/campaigns/new", data=data)
    assert answer.status_code == 422
    assert error_of(answer.text, "script_id") == f"script_id: script {script_id} not found"


def create(api: ApiHarness, script: bool = True) -> int:
    body: dict[str, Any] = {"name": "Solar spring"}
    if script:
        body["script_id"] = store_script(api)
    return int(api.request("POST", "/v1/campaigns", json=body).json()["id"])


def test_leads_import_from_an_uploaded_csv_shows_the_per_row_report(api: ApiHarness) -> None:
    campaign_id = create(api)
    browser = signed_in(api)
    csv = "phone,first_name\n+12025550143,Ann\nnot a number,Bob\n+12025550143,Ann again\n"
    answer = browser.post(
        f"/campaigns/{campaign_id}/leads",
        data={"csrf_token": session_token(browser)},
        files={"file": ("spring.csv", csv.encode(), "text/csv")},
    )
    assert answer.status_code == 200
    html = answer.text
    assert "<b>1</b> of 3 rows imported from spring.csv; 2 rejected." in html
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\d*)</td>", html)
    assert rows == [("2", "3"), ("3", "4")]  # data rows 2 and 3, on lines 3 and 4
    assert "duplicate" in html
    assert 'id="stats-leads">1<' in html


def test_an_upload_without_the_session_token_is_refused(api: ApiHarness) -> None:
    campaign_id = create(api)
    browser = signed_in(api)
    answer = browser.post(
        f"/campaigns/{campaign_id}/leads",
        files={"file": ("a.csv", b"phone\n+12025550143\n", "text/csv")},
    )
    assert answer.status_code == 403


def test_start_pause_stop_change_status_through_the_one_owner(api: ApiHarness) -> None:
    campaign_id = create(api)
    browser = signed_in(api)
    token = session_token(browser)
    assert browser.post(f"/campaigns/{campaign_id}/start").status_code == 403  # no CSRF
    for action, status in (("start", "running"), ("pause", "paused"), ("stop", "stopped")):
        answer = browser.post(
            f"/campaigns/{campaign_id}/{action}", data={"csrf_token": token}, follow_redirects=False
        )
        assert answer.status_code == 303, answer.text
        with Session(api.engine) as session:
            assert session.get(Campaign, campaign_id).status == status  # type: ignore[union-attr]
    # A transition that makes no sense is refused with change_status's own words.
    again = browser.post(f"/campaigns/{campaign_id}/start", data={"csrf_token": token})
    assert again.status_code == 409
    assert f"campaign {campaign_id} is stopped; cannot start it" in again.text
    with Session(api.engine) as session:
        audit = session.exec(
            select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.target_type == "campaign")
        ).all()
        finished = session.exec(
            select(OutboxEvent.type).where(OutboxEvent.type == "campaign.finished")
        ).all()
    key_prefix = token_prefix(api.tenants["acme"][1])
    assert [a for a, _ in audit] == ["campaign.started", "campaign.paused", "campaign.stopped"]
    assert {actor for _, actor in audit} == {f"key:{key_prefix}"}
    assert [row[0] for row in finished] == ["campaign.finished"]


def test_a_campaign_without_a_script_cannot_start(api: ApiHarness) -> None:
    campaign_id = create(api, script=False)
    browser = signed_in(api)
    answer = browser.post(
        f"/campaigns/{campaign_id}/start", data={"csrf_token": session_token(browser)}
    )
    assert answer.status_code == 409
    assert "the campaign needs a script before it can start" in answer.text


def test_stats_chart_outcomes_and_dispositions_over_time(api: ApiHarness) -> None:
    campaign_id = create(api)
    tenant_id = api.tenants["acme"][0]
    now = utc_now()
    rows = [
        ("human", "qualified", 50),
        ("human", "not_interested", 40),
        ("busy", None, 40),
        ("human", "qualified", 5),
    ]
    with Session(api.engine) as session:
        for outcome, disposition, minutes_ago in rows:
            ended = now - timedelta(minutes=minutes_ago)
            session.add(
                Call(
                    tenant_id=tenant_id,
                    number="+12025550143",
                    campaign_id=campaign_id,
                    started_at=ended,
                    ended_at=ended,
                    outcome=outcome,
                    disposition=disposition,
                )
            )
        session.commit()
    browser = signed_in(api)
    html = browser.get(f"/campaigns/{campaign_id}").text
    outcome_chart = html.split('id="outcome-chart"')[1].split("</figure>")[0]
    disposition_chart = html.split('id="disposition-chart"')[1].split("</figure>")[0]
    assert "human 3" in outcome_chart and "busy 1" in outcome_chart
    assert "qualified 2" in disposition_chart and "not_interested 1" in disposition_chart
    assert "busy" not in disposition_chart  # a call without a disposition is not drawn there
    # Three buckets hold calls (50, 40 and 5 minutes ago), one bar each with a rectangle per
    # category in it: human; human and busy; human.
    assert outcome_chart.count("<rect") == 4
    assert 'id="stats-attempts">4<' in html
    # The panels alone, as the page polls them while the campaign runs.
    panels = browser.get(f"/campaigns/{campaign_id}/panels")
    assert "<html" not in panels.text and 'id="outcome-chart"' in panels.text
    assert panels.status_code == 286  # a draft: htmx stops polling
    assert '<small id="campaign-status" hx-swap-oob="true">draft</small>' in panels.text


def test_another_tenants_campaign_is_not_found(api: ApiHarness) -> None:
    campaign_id = create(api)
    browser = signed_in(api, "globex")
    token = session_token(browser)
    assert browser.get(f"/campaigns/{campaign_id}").status_code == 404
    assert "Solar spring" not in browser.get("/campaigns").text
    start = browser.post(f"/campaigns/{campaign_id}/start", data={"csrf_token": token})
    assert start.status_code == 404
    upload = browser.post(
        f"/campaigns/{campaign_id}/leads",
        data={"csrf_token": token},
        files={"file": ("a.csv", b"phone\n+12025550143\n", "text/csv")},
    )
    assert upload.status_code == 404
    with Session(api.engine) as session:
        assert session.get(Campaign, campaign_id).status == "draft"  # type: ignore[union-attr]
