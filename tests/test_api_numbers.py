"""/v1/numbers: CRUD with validated fields, one owner per number, and tenant isolation."""

from __future__ import annotations

import pytest

from robot.control.numbers import number_for_inbound

from fixtures.api_harness import ApiHarness

NUMBER = {
    "number": "+12025550100",
    "time_zone": "America/New_York",
    "routing_url": "http://127.0.0.1:9/route",
    "default_actions": [{"say": {"text": "We are closed."}}, {"hangup": {}}],
    "tags": ["sales", "proxy", "sales"],
}


def test_create_read_update_delete(api: ApiHarness) -> None:
    created = api.request("POST", "/v1/numbers", json=NUMBER)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["routing_secret"].startswith("rtsec_")
    assert body["tags"] == ["proxy", "sales"]
    assert body["default_actions"] == NUMBER["default_actions"]
    number_id = body["id"]

    read = api.request("GET", f"/v1/numbers/{number_id}").json()
    assert "routing_secret" not in read
    assert read["time_zone"] == "America/New_York" and read["fallback_url"] is None
    assert [n["id"] for n in api.request("GET", "/v1/numbers").json()["items"]] == [number_id]

    patched = api.request(
        "PATCH",
        f"/v1/numbers/{number_id}",
        json={"fallback_url": "http://127.0.0.1:9/fallback", "routing_url": None, "tags": []},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["fallback_url"] == "http://127.0.0.1:9/fallback"
    assert patched.json()["routing_url"] is None and patched.json()["tags"] == []
    assert patched.json()["time_zone"] == "America/New_York"

    with api.engine.connect() as conn:
        row = number_for_inbound(conn, "+12025550100")
    assert row is not None and row.id == number_id and row.routing_secret == body["routing_secret"]

    assert api.request("DELETE", f"/v1/numbers/{number_id}").status_code == 204
    assert api.request("GET", f"/v1/numbers/{number_id}").status_code == 404
    with api.engine.connect() as conn:
        assert number_for_inbound(conn, "+12025550100") is None


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"number": "2025550100"}, "number: not an E.164 number"),
        ({"number": "+1202555010"}, "number: not a valid phone number"),
        ({"time_zone": "Mars/Olympus"}, "time_zone: unknown time zone 'Mars/Olympus'"),
        ({"routing_url": "ftp://crm.example.com/"}, "routing_url: only http:// and https://"),
        ({"fallback_url": "http://user:pw@crm.example.com/"}, "fallback_url: credentials"),
        (
            {"default_actions": [{"say": {"text": "hi"}}, {"dial": {"targets": ["123"]}}]},
            "default_actions[1].dial.targets[0]: not an E.164 number or SIP URI",
        ),
        ({"tags": ["Proxy Pool"]}, "tags[0]: 'Proxy Pool' is not a tag"),
    ],
)
def test_invalid_fields_are_named(api: ApiHarness, change: dict, detail: str) -> None:
    answer = api.request("POST", "/v1/numbers", json={**NUMBER, **change})
    assert answer.status_code == 422, answer.text
    assert detail in answer.json()["detail"]
    assert api.request("GET", "/v1/numbers").json()["items"] == []


def test_update_validates_like_create(api: ApiHarness) -> None:
    number_id = api.request("POST", "/v1/numbers", json=NUMBER).json()["id"]
    answer = api.request(
        "PATCH", f"/v1/numbers/{number_id}", json={"default_actions": [{"pause": {"ms": 0}}]}
    )
    assert answer.status_code == 422
    assert "default_actions[0].pause.ms" in answer.json()["detail"]
    read = api.request("GET", f"/v1/numbers/{number_id}").json()
    assert read["default_actions"] == NUMBER["default_actions"]


def test_private_routing_urls_are_refused_by_default(api: ApiHarness) -> None:
    api.client.app.state.settings = api.settings.model_copy(  # type: ignore[attr-defined]
        update={"webhooks_allow_private": False}
    )
    answer = api.request("POST", "/v1/numbers", json=NUMBER)
    assert answer.status_code == 422
    assert "routing_url: 127.0.0.1 resolves to 127.0.0.1" in answer.json()["detail"]


def test_a_number_has_one_owner(api: ApiHarness) -> None:
    assert api.request("POST", "/v1/numbers", json=NUMBER).status_code == 201
    again = api.request("POST", "/v1/numbers", json=NUMBER, tenant="globex")
    assert again.status_code == 409
    assert api.request("GET", "/v1/numbers", tenant="globex").json()["items"] == []


def test_numbers_are_invisible_to_another_tenant(api: ApiHarness) -> None:
    number_id = api.request("POST", "/v1/numbers", json=NUMBER).json()["id"]
    for method, body in (("GET", None), ("PATCH", {"tags": ["stolen"]}), ("DELETE", None)):
        answer = api.request(method, f"/v1/numbers/{number_id}", tenant="globex", json=body)
        assert answer.status_code == 404, (method, answer.text)
    assert api.request("GET", "/v1/numbers", tenant="globex").json()["items"] == []
    read = api.request("GET", f"/v1/numbers/{number_id}").json()
    assert read["tags"] == ["proxy", "sales"]
