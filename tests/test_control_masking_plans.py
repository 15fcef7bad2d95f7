"""Every query of masking's call path and session changes is answered through an index.

SQLite's ``EXPLAIN QUERY PLAN`` of each statement the functions actually run (captured from
the engine) must search an index and scan no table: with a million proxy numbers and
participants (``bench/masking.py``) a scan would make each call or change read them all.
The plans are asserted, never timings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

import robot.control.masking as masking_module
from models.number import PhoneNumber
from models.transactions import session_scope
from models.types import utc_now
from robot.config import Settings
from robot.control.masking import (
    add_participant,
    create_session,
    delete_session,
    resolve_masked,
)
from robot.control.numbers import number_for_inbound
from robot.dialler.campaigns import get_or_create_tenant
from robot.errors import QuotaExceededError

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import open_fresh_database

ALICE, BOB, CAROL = "+12025550143", "+12025550144", "+12025550145"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


def add_pool(engine: Engine, tenant_id: int, count: int, *, first: int = 0) -> list[str]:
    numbers = [f"+1800{i:07d}" for i in range(first, first + count)]
    with session_scope(engine) as session:
        for number in numbers:
            session.add(
                PhoneNumber(
                    tenant_id=tenant_id, number=number, tags=["proxy"], routing_secret="s" * 16
                )
            )
    return numbers


def statements_of(engine: Engine, work: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The SELECT, UPDATE and DELETE statements ``work`` runs, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def keep(_conn: object, _cursor: object, sql: str, params: object, *_: object) -> None:
        if sql.lstrip().split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE"):
            seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return seen


def assert_indexed(engine: Engine, statements: list[tuple[str, Any]]) -> None:
    assert statements
    with engine.connect() as conn:
        for sql, params in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
            details = [str(row[-1]) for row in plan]
            reads = [d for d in details if d.startswith(("SEARCH", "SCAN"))]
            assert reads, (sql, details)
            for read in reads:
                assert read.startswith("SEARCH") and "USING" in read, (sql, details)


def test_the_call_path_lookups_search_indexes(engine: Engine) -> None:
    tenant_id = get_or_create_tenant(engine, "acme")
    pool = add_pool(engine, tenant_id, 3)
    with session_scope(engine) as session:
        masking = create_session(session, tenant_id, "order-1", 3600)
        assert masking.id is not None
        alice = add_participant(session, tenant_id, masking.id, ALICE)
        add_participant(session, tenant_id, masking.id, BOB)
        alice_proxy = alice.proxy_number

    def call_path() -> None:
        with engine.connect() as conn:
            # A participant reaches the other one.
            assert resolve_masked(conn, ALICE, alice_proxy) is not None
            # A stranger calling a proxy: no session, the number's own routing runs.
            assert resolve_masked(conn, CAROL, pool[2]) is None
            assert number_for_inbound(conn, pool[2]) is not None
            # A pair whose session has expired is not found either.
            later = utc_now() + timedelta(hours=2)
            assert resolve_masked(conn, ALICE, alice_proxy, now=later) is None

    statements = statements_of(engine, call_path)
    assert len(statements) == 5
    assert_indexed(engine, statements)


def test_opening_filling_and_ending_sessions_search_indexes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of one number: ALICE's second session reads past the page of her first proxy.
    monkeypatch.setattr(masking_module, "PROXY_PAGE", 1)
    tenant_id = get_or_create_tenant(engine, "acme")
    add_pool(engine, tenant_id, 3)
    with session_scope(engine) as session:
        first = create_session(session, tenant_id, "order-1", 3600)
        assert first.id is not None
        add_participant(session, tenant_id, first.id, ALICE)
    earlier = utc_now() - timedelta(hours=2)

    def changes() -> None:
        with session_scope(engine) as session:
            # An expired session of the same name is removed first.
            old = create_session(session, tenant_id, "order-2", 60, now=earlier)
            assert old.id is not None
            again = create_session(session, tenant_id, "order-2", 3600)
            assert again.id is not None
            add_participant(session, tenant_id, again.id, ALICE)
            add_participant(session, tenant_id, again.id, BOB)
            delete_session(session, tenant_id, first.id)  # type: ignore[arg-type]

    statements = statements_of(engine, changes)
    sql = " ".join(s for s, _ in statements)
    assert "phone_number.id >" in sql  # the pool was read by pages
    assert_indexed(engine, statements)


def test_the_paged_pool_gives_every_free_proxy_then_refuses(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search for a free proxy goes on past full pages, skips numbers of other pools,
    and finds none once the real number uses every proxy."""
    monkeypatch.setattr(masking_module, "PROXY_PAGE", 2)
    tenant_id = get_or_create_tenant(engine, "acme")
    pool = add_pool(engine, tenant_id, 2)
    with session_scope(engine) as session:
        session.add(
            PhoneNumber(
                tenant_id=tenant_id, number="+12025550190", tags=["sales"], routing_secret="s" * 16
            )
        )
    pool += add_pool(engine, tenant_id, 3, first=2)
    given = []
    with session_scope(engine) as session:
        for n in range(len(pool)):
            masking = create_session(session, tenant_id, f"order-{n}", 3600)
            assert masking.id is not None
            given.append(add_participant(session, tenant_id, masking.id, ALICE).proxy_number)
    assert given == pool
    with session_scope(engine) as session:
        masking = create_session(session, tenant_id, "one-too-many", 3600)
        assert masking.id is not None
        with pytest.raises(QuotaExceededError, match="no number tagged 'proxy' is free"):
            add_participant(session, tenant_id, masking.id, ALICE)


def delete_ok(api: ApiHarness, path: str) -> None:
    answer = api.request("DELETE", path)
    assert answer.status_code == 204, answer.text


def test_deleting_a_number_checks_its_proxy_use_through_an_index(
    engine: Engine, isolated_settings: Settings
) -> None:
    """``DELETE /v1/numbers/{id}``: the foreign key from participants to their proxy number
    is checked through an index, not a scan of every participant."""
    for api in open_api(engine, isolated_settings):
        made = api.request("POST", "/v1/numbers", json={"number": "+12025550181"})
        assert made.status_code == 201, made.text
        path = f"/v1/numbers/{made.json()['id']}"
        statements = statements_of(engine, partial(delete_ok, api, path))
        deletes = [s for s in statements if s[0].lstrip().upper().startswith("DELETE")]
        assert any("phone_number" in sql for sql, _ in deletes)
        assert_indexed(engine, deletes)
