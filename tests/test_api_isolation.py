"""Tenant isolation: another tenant's resources answer 404 (never 403) on every route."""

from __future__ import annotations

import time

from sqlalchemy import select

from models.webhook import WebhookDelivery

from fixtures.api_harness import ApiHarness
from fixtures.database import VALID_SCRIPT


def acme_world(api: ApiHarness) -> dict[str, int]:
    """One of everything, owned by tenant acme."""
    endpoint = api.request("POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/"}).json()
    script = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    campaign = api.request(
        "POST", "/v1/campaigns", json={"name": "acme", "script_id": script["id"]}
    ).json()
    api.request("POST", f"/v1/campaigns/{campaign['id']}/leads", json=[{"phone": "+12025550143"}])
    lead = api.request("GET", f"/v1/campaigns/{campaign['id']}/leads").json()["items"][0]
    api.request("POST", "/v1/dnc", json={"number": "+12025550199"})
    call = api.request(
        "POST", "/v1/calls", json={"number": "+12025550143", "script_id": script["id"]}
    ).json()
    for _ in range(600):
        if api.request("GET", f"/v1/calls/{call['id']}").json()["ended_at"]:
            break
        time.sleep(0.05)
    with api.engine.connect() as conn:
        delivery_id = (
            conn.execute(
                select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint["id"])  # type: ignore[call-overload]
            )
            .scalars()
            .first()
        )
    assert delivery_id is not None
    return {
        "script": script["id"],
        "campaign": campaign["id"],
        "lead": lead["id"],
        "call": call["id"],
        "endpoint": endpoint["id"],
        "delivery": delivery_id,
    }


def test_every_resource_is_invisible_to_another_tenant(api: ApiHarness) -> None:
    ids = acme_world(api)
    s, c, le, ca, e, d = (
        ids[k] for k in ("script", "campaign", "lead", "call", "endpoint", "delivery")
    )
    forbidden = [
        ("GET", f"/v1/scripts/{s}", None),
        ("GET", f"/v1/campaigns/{c}", None),
        ("PATCH", f"/v1/campaigns/{c}", {"priority": 3}),
        ("POST", f"/v1/campaigns/{c}/start", None),
        ("POST", f"/v1/campaigns/{c}/pause", None),
        ("POST", f"/v1/campaigns/{c}/stop", None),
        ("GET", f"/v1/campaigns/{c}/stats", None),
        ("GET", f"/v1/campaigns/{c}/leads", None),
        ("POST", f"/v1/campaigns/{c}/leads", [{"phone": "+12025550100"}]),
        ("GET", f"/v1/leads/{le}", None),
        ("GET", f"/v1/calls/{ca}", None),
        ("GET", f"/v1/calls/{ca}/recording", None),
        ("GET", f"/v1/webhooks/{e}", None),
        ("PATCH", f"/v1/webhooks/{e}", {"enabled": False}),
        ("DELETE", f"/v1/webhooks/{e}", None),
        ("GET", f"/v1/webhooks/{e}/deliveries", None),
        ("GET", f"/v1/webhooks/deliveries/{d}", None),
        ("POST", f"/v1/webhooks/deliveries/{d}/redeliver", None),
        ("DELETE", "/v1/dnc/+12025550199", None),
        ("POST", "/v1/calls", {"number": "+12025550143", "script_id": s}),
        ("POST", "/v1/campaigns", {"name": "theirs", "script_id": s}),
    ]
    for method, url, body in forbidden:
        response = api.request(method, url, "globex", json=body)
        assert response.status_code == 404, (method, url, response.status_code, response.text)
        # The owner still sees it (the 404 is about the tenant, not a broken route).
        if method == "GET":
            assert api.request(method, url, "acme").status_code == 200, url
    # Lists show nothing of acme's.
    for url in ("/v1/scripts", "/v1/campaigns", "/v1/calls", "/v1/webhooks", "/v1/dnc"):
        assert api.request("GET", url, "globex").json()["items"] == [], url
        assert api.request("GET", url, "acme").json()["items"], url
    # Nothing changed for acme.
    campaign = api.request("GET", f"/v1/campaigns/{c}").json()
    assert (campaign["status"], campaign["priority"]) == ("draft", 1)
    assert api.request("GET", f"/v1/webhooks/{e}").json()["enabled"] is True
    assert [x["number"] for x in api.request("GET", "/v1/dnc").json()["items"]] == ["+12025550199"]
    assert len(api.request("GET", f"/v1/campaigns/{c}/leads").json()["items"]) == 1
    assert len(api.placer.placed) == 1
