"""Console webhooks page: endpoints, recent deliveries with status and attempts, a delivery's
body and attempt log, and redeliver (the API's own function) behind the session's CSRF token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from models.webhook import DeliveryStatus, WebhookDelivery
from robot.config import Settings

from fixtures.api_harness import ApiHarness
from fixtures.console import console_client, open_console_api, session_token, sign_in


@pytest.fixture
def api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    yield from open_console_api(tmp_path, isolated_settings)


def dead_delivery(api: ApiHarness) -> int:
    """A campaign.finished delivery to an endpoint, marked dead after its retries."""
    api.request("POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks"})
    campaign = api.request("POST", "/v1/campaigns", json={"name": "short"}).json()
    api.request("POST", f"/v1/campaigns/{campaign['id']}/stop")
    with Session(api.engine) as session:
        delivery = session.exec(select(WebhookDelivery)).one()
        session.exec(  # type: ignore[call-overload]
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id)
            .values(status=DeliveryStatus.DEAD, attempts=7, last_error="connection refused")
        )
        session.commit()
        assert delivery.id is not None
        return delivery.id


def test_the_page_lists_endpoints_and_deliveries_with_status_and_attempts(
    api: ApiHarness,
) -> None:
    delivery_id = dead_delivery(api)
    browser = console_client(api)
    sign_in(browser, api.tenants["acme"][1])
    html = browser.get("/webhooks").text
    assert "http://127.0.0.1:9/hooks" in html
    row = html.split(f'data-delivery="{delivery_id}"')[1].split("</tr>")[0]
    assert "campaign.finished" in row and ">dead<" in row and "<td>7</td>" in row
    assert "connection refused" in row
    detail = browser.get(f"/webhooks/deliveries/{delivery_id}").text
    assert "&#34;type&#34;: &#34;campaign.finished&#34;" in detail  # the body as sent
    assert 'id="delivery-status">dead<' in detail


def test_redeliver_needs_the_csrf_token_and_makes_the_delivery_pending_now(
    api: ApiHarness,
) -> None:
    delivery_id = dead_delivery(api)
    browser = console_client(api)
    sign_in(browser, api.tenants["acme"][1])
    url = f"/webhooks/deliveries/{delivery_id}/redeliver"
    assert browser.post(url).status_code == 403
    with Session(api.engine) as session:
        assert session.get(WebhookDelivery, delivery_id).status == "dead"  # type: ignore[union-attr]
    answer = browser.post(url, data={"csrf_token": session_token(browser)})
    assert answer.status_code == 200
    assert 'id="redelivered"' in answer.text
    assert 'id="delivery-status">pending<' in answer.text
    with Session(api.engine) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
    assert delivery is not None and delivery.status == "pending"
    assert delivery.next_attempt_at is not None


def test_another_tenant_cannot_see_or_redeliver(api: ApiHarness) -> None:
    delivery_id = dead_delivery(api)
    browser = console_client(api)
    sign_in(browser, api.tenants["globex"][1])
    assert "127.0.0.1:9" not in browser.get("/webhooks").text
    assert browser.get(f"/webhooks/deliveries/{delivery_id}").status_code == 404
    url = f"/webhooks/deliveries/{delivery_id}/redeliver"
    assert browser.post(url, data={"csrf_token": session_token(browser)}).status_code == 404
    with Session(api.engine) as session:
        assert session.get(WebhookDelivery, delivery_id).status == "dead"  # type: ignore[union-attr]
