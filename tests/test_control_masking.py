"""Masking sessions: proxy numbers from the tenant's pool, lookup by (from, to), isolation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from models.number import PhoneNumber
from models.transactions import session_scope
from models.types import utc_now
from robot.control.masking import add_participant, create_session, resolve_masked
from robot.control.numbers import number_for_inbound
from robot.dialler.campaigns import get_or_create_tenant

from fixtures.api_harness import ApiHarness
from fixtures.database import open_fresh_database

ALICE, BOB, CAROL = "+12025550143", "+12025550144", "+12025550145"
PROXIES = ["+12025550181", "+12025550182"]


def add_numbers(api: ApiHarness, tenant: str = "acme") -> None:
    for number in PROXIES:
        body = {"number": number, "tags": ["proxy"]}
        assert api.request("POST", "/v1/numbers", tenant=tenant, json=body).status_code == 201
    body = {"number": "+12025550190", "tags": ["sales"]}
    assert api.request("POST", "/v1/numbers", tenant=tenant, json=body).status_code == 201


def resolve(api: ApiHarness, from_number: str, to_number: str) -> tuple[str, str] | None:
    with api.engine.connect() as conn:
        route = resolve_masked(conn, from_number, to_number)
    return None if route is None else (route.dial, route.caller_id)


def open_session(api: ApiHarness, name: str, *numbers: str, tenant: str = "acme") -> dict:
    body = {"name": name, "ttl_s": 3600, "participants": [{"number": n} for n in numbers]}
    answer = api.request("POST", "/v1/masking/sessions", tenant=tenant, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_each_side_reaches_the_other_through_proxies(
    api: ApiHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add_numbers(api)
    first = open_session(api, "order-1", ALICE, BOB)
    proxy = {p["number"]: p["proxy_number"] for p in first["participants"]}
    assert set(proxy.values()) <= set(PROXIES)
    assert resolve(api, ALICE, proxy[ALICE]) == (BOB, proxy[BOB])
    assert resolve(api, BOB, proxy[BOB]) == (ALICE, proxy[ALICE])
    assert resolve(api, CAROL, proxy[ALICE]) is None

    # Alice in a second session gets another proxy, so each pair finds its own session.
    second = open_session(api, "order-2", ALICE)
    other = api.request(
        "POST", f"/v1/masking/sessions/{second['id']}/participants", json={"number": CAROL}
    ).json()
    alice_2 = second["participants"][0]["proxy_number"]
    assert alice_2 != proxy[ALICE]
    assert resolve(api, ALICE, alice_2) == (CAROL, other["proxy_number"])
    assert resolve(api, ALICE, proxy[ALICE]) == (BOB, proxy[BOB])
    assert resolve(api, CAROL, other["proxy_number"]) == (ALICE, alice_2)

    # Both proxies are taken for Alice: a third session cannot mask her.
    third = open_session(api, "order-3")
    full = api.request(
        "POST", f"/v1/masking/sessions/{third['id']}/participants", json={"number": ALICE}
    )
    assert full.status_code == 409 and "no number tagged 'proxy'" in full.json()["detail"]

    # Closing a session frees its proxies and ends its routes.
    assert api.request("DELETE", f"/v1/masking/sessions/{first['id']}").status_code == 204
    assert resolve(api, ALICE, proxy[ALICE]) is None
    again = api.request(
        "POST", f"/v1/masking/sessions/{third['id']}/participants", json={"number": ALICE}
    )
    assert again.status_code == 201 and again.json()["proxy_number"] == proxy[ALICE]

    logged = "\n".join(r.getMessage() for r in caplog.records)
    for number in (ALICE, BOB, CAROL):
        assert number not in logged


def test_session_rules(api: ApiHarness) -> None:
    add_numbers(api)
    session = open_session(api, "ride-9", ALICE, BOB)
    url = f"/v1/masking/sessions/{session['id']}/participants"
    third = api.request("POST", url, json={"number": CAROL})
    assert third.status_code == 422 and "at most 2" in third.json()["detail"]
    bad = api.request("POST", url, json={"number": "555"})
    assert bad.status_code == 422 and "number: not an E.164 number" in bad.json()["detail"]
    twice = api.request("POST", "/v1/masking/sessions", json={"name": "ride-9", "ttl_s": 600})
    assert twice.status_code == 409
    short = api.request("POST", "/v1/masking/sessions", json={"name": "x", "ttl_s": 5})
    assert short.status_code == 422 and "ttl_s" in short.text
    numbers = api.request("GET", "/v1/numbers").json()["items"]
    in_use = next(n["id"] for n in numbers if n["number"] == PROXIES[0])
    assert api.request("DELETE", f"/v1/numbers/{in_use}").status_code == 409
    listed = api.request("GET", "/v1/masking/sessions").json()["items"]
    assert [s["name"] for s in listed] == ["ride-9"]
    bob = next(p for p in session["participants"] if p["number"] == BOB)
    assert api.request("DELETE", f"{url}/{bob['id']}").status_code == 204
    assert resolve(api, ALICE, session["participants"][0]["proxy_number"]) is None


def test_expired_sessions_route_nowhere_and_free_their_name(api: ApiHarness) -> None:
    add_numbers(api)
    tenant_id = api.tenants["acme"][0]
    past = utc_now() - timedelta(hours=2)
    with session_scope(api.engine) as session:
        old = create_session(session, tenant_id, "order-7", 3600, now=past)
        assert old.id is not None
        for number in (ALICE, BOB):
            add_participant(session, tenant_id, old.id, number, now=past)
    proxy = PROXIES[0]
    with api.engine.connect() as conn:
        assert resolve_masked(conn, ALICE, proxy, now=past + timedelta(minutes=1)) is not None
    assert resolve(api, ALICE, proxy) is None
    fresh = open_session(api, "order-7", ALICE, BOB)
    assert [s["name"] for s in api.request("GET", "/v1/masking/sessions").json()["items"]] == [
        "order-7"
    ]
    assert len(fresh["participants"]) == 2
    assert resolve(api, ALICE, fresh["participants"][0]["proxy_number"]) is not None


def test_sessions_are_invisible_to_another_tenant(api: ApiHarness) -> None:
    add_numbers(api)
    session = open_session(api, "order-1", ALICE)
    sid = session["id"]
    for method, path, body in (
        ("GET", f"/v1/masking/sessions/{sid}", None),
        ("DELETE", f"/v1/masking/sessions/{sid}", None),
        ("POST", f"/v1/masking/sessions/{sid}/participants", {"number": BOB}),
        ("DELETE", f"/v1/masking/sessions/{sid}/participants/1", None),
    ):
        answer = api.request(method, path, tenant="globex", json=body)
        assert answer.status_code == 404, (method, path, answer.text)
    assert api.request("GET", "/v1/masking/sessions", tenant="globex").json()["items"] == []
    # globex has no proxy numbers of its own: acme's pool is not lent to it.
    other = open_session(api, "order-1", tenant="globex")
    denied = api.request(
        "POST",
        f"/v1/masking/sessions/{other['id']}/participants",
        tenant="globex",
        json={"number": BOB},
    )
    assert denied.status_code == 409
    assert len(api.request("GET", f"/v1/masking/sessions/{sid}").json()["participants"]) == 1


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


def test_lookups_use_indexes(sqlite_engine: Engine) -> None:
    """The inbound lookups are answered through indexes, never by scanning the tables."""
    engine = sqlite_engine
    tenant_id = get_or_create_tenant(engine, "acme")
    with session_scope(engine) as session:
        for number in PROXIES:
            session.add(
                PhoneNumber(
                    tenant_id=tenant_id, number=number, tags=["proxy"], routing_secret="s" * 16
                )
            )
        session.flush()
        masking = create_session(session, tenant_id, "order-1", 3600)
        assert masking.id is not None
        for number in (ALICE, BOB):
            add_participant(session, tenant_id, masking.id, number)
    selects: list[tuple[str, object]] = []

    def keep(_conn: object, _cursor: object, sql: str, params: object, *_: object) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            selects.append((sql, params))

    event.listen(engine, "before_cursor_execute", keep)
    with engine.connect() as conn:
        assert resolve_masked(conn, ALICE, PROXIES[0]) is not None
        assert number_for_inbound(conn, PROXIES[0]) is not None
    event.remove(engine, "before_cursor_execute", keep)
    assert len(selects) == 3
    with engine.connect() as conn:
        for sql, params in selects:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()  # type: ignore[arg-type]
            details = " ".join(str(row[-1]) for row in plan)
            assert "USING INDEX" in details and "SCAN" not in details, (sql, details)
