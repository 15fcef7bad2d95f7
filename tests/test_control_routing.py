"""Routing requests of inbound calls against a real HTTP server: retry, fallback, defaults.

Budgets are short here so the tests are quick, and every "late" server is far later than the
budget (or never answers while the test runs): the tests assert which source was used and
how many requests were made, never how long anything took.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from models.number import PhoneNumber
from models.transactions import session_scope
from models.webhook import OutboxEvent
from robot.control.actions import Hangup, Say
from robot.control.routing import InboundCall, RoutingBudget, RoutingClient
from robot.dialler.campaigns import get_or_create_tenant

from fixtures.database import open_fresh_database
from fixtures.routing_receiver import OK_ACTIONS, RoutingReceiver, closed_port_url, serve_routing

SECRET = "rtsec_test_secret_0123456789"
#: Short for quick tests; a "late" server answers after 6 s or never (far past it).
BUDGET = RoutingBudget(connect_s=1.0, total_s=1.5)
DEFAULTS = [{"say": {"text": "Sorry, we cannot take your call."}}, {"hangup": {}}]
FALLBACK_ACTIONS = {"actions": [{"say": {"text": "Fallback."}}], "events": ["call.completed"]}
CALL = InboundCall(
    "call_1",
    "+12025550143",
    "+12025550100",
    {"X-Customer-Id": "c-77", "User-Agent": "softphone", "x-lang": "en"},
)
NOON_UTC = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


def add_number(engine: Engine, routing_url: str | None, fallback_url: str | None) -> Any:
    tenant_id = get_or_create_tenant(engine, "acme")
    with session_scope(engine) as session:
        number = PhoneNumber(
            tenant_id=tenant_id,
            number="+12025550100",
            time_zone="America/New_York",
            routing_url=routing_url,
            fallback_url=fallback_url,
            default_actions=DEFAULTS,
            routing_secret=SECRET,
        )
        session.add(number)
        session.flush()
        session.expunge(number)
    return number


async def route(
    engine: Engine, number: Any, call: InboundCall = CALL, *, allow_private: bool = True
) -> Any:
    async with httpx.AsyncClient() as client:
        router = RoutingClient(
            engine, client, budget=BUDGET, allow_private=allow_private, clock=lambda: NOON_UTC
        )
        return await router.route(number, call)


def fallback_events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        bodies = conn.execute(
            select(OutboxEvent.body)  # type: ignore[call-overload]
            .where(OutboxEvent.type == "routing.fallback_used")
            .order_by(OutboxEvent.id)
        ).scalars()
        return [json.loads(b) for b in bodies]


async def test_a_signed_request_with_the_call_and_the_local_time(engine: Engine) -> None:
    receiver = RoutingReceiver(SECRET, plan=[{**OK_ACTIONS, "events": ["call.answered"]}])
    with serve_routing(receiver) as url:
        routing = await route(engine, add_number(engine, url, None))
    assert routing.source == "routing_url" and routing.failures == ()
    assert [type(a) for a in routing.actions] == [Say, Hangup]
    assert routing.events == ("call.answered",)
    (request,) = receiver.requests
    assert request["type"] == "call.routing"
    assert receiver.headers[0]["callrobot-event-id"] == request["id"]
    data = request["data"]
    assert data["attempt"] == 1 and data["call_id"] == "call_1"
    assert (data["from"], data["to"]) == ("+12025550143", "+12025550100")
    assert data["time_zone"] == "America/New_York"
    assert data["local_time"] == "2026-12-07T12:00:00-05:00"
    assert data["sip_headers"] == {"X-Customer-Id": "c-77", "x-lang": "en"}
    assert fallback_events(engine) == []


async def test_a_late_answer_uses_the_fallback_once(engine: Engine) -> None:
    late = RoutingReceiver(SECRET, plan=["late"])
    fallback = RoutingReceiver(SECRET, plan=[FALLBACK_ACTIONS])
    with serve_routing(late) as url, serve_routing(fallback) as fallback_url:
        routing = await route(engine, add_number(engine, url, fallback_url))
    assert routing.source == "fallback_url"
    assert [type(a) for a in routing.actions] == [Say]
    assert routing.events == ("call.completed",)
    assert len(late.requests) == 1  # a timeout is not retried: the budget is spent
    (request,) = fallback.requests
    assert request["data"]["attempt"] == 2 and request["data"]["source"] == "fallback_url"
    assert request["id"] == late.requests[0]["id"]
    (event,) = fallback_events(engine)
    assert event["data"]["failed"] == "routing_url" and event["data"]["used"] == "fallback_url"
    assert "no complete answer within" in event["data"]["reason"]
    assert event["data"]["call_id"] == "call_1"


@pytest.mark.parametrize("status", [503, 429])
async def test_503_or_429_then_ok_is_retried(engine: Engine, status: int) -> None:
    receiver = RoutingReceiver(SECRET, plan=[status, OK_ACTIONS])
    fallback = RoutingReceiver(SECRET, plan=[FALLBACK_ACTIONS])
    with serve_routing(receiver) as url, serve_routing(fallback) as fallback_url:
        routing = await route(engine, add_number(engine, url, fallback_url))
    assert routing.source == "routing_url"
    assert [r["data"]["attempt"] for r in receiver.requests] == [1, 2]
    assert fallback.requests == [] and fallback_events(engine) == []


async def test_an_error_status_is_not_retried(engine: Engine) -> None:
    receiver = RoutingReceiver(SECRET, plan=[500, OK_ACTIONS])
    fallback = RoutingReceiver(SECRET, plan=[FALLBACK_ACTIONS])
    with serve_routing(receiver) as url, serve_routing(fallback) as fallback_url:
        routing = await route(engine, add_number(engine, url, fallback_url))
    assert routing.source == "fallback_url" and len(receiver.requests) == 1
    assert "HTTP 500" in routing.failures[0]


async def test_both_down_runs_the_default_actions(engine: Engine) -> None:
    number = add_number(engine, closed_port_url(), closed_port_url())
    routing = await route(engine, number)
    assert routing.source == "default_actions"
    assert [type(a) for a in routing.actions] == [Say, Hangup]
    assert [f.split(":")[0] for f in routing.failures] == ["routing_url", "fallback_url"]
    events = fallback_events(engine)
    assert [(e["data"]["failed"], e["data"]["used"]) for e in events] == [
        ("routing_url", "fallback_url"),
        ("fallback_url", "default_actions"),
    ]


async def test_a_refused_connection_is_retried_once(engine: Engine) -> None:
    routing = await route(engine, add_number(engine, closed_port_url(), None))
    assert routing.source == "default_actions"
    (event,) = fallback_events(engine)
    assert event["data"]["used"] == "default_actions"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b'[{"say": {"text": "hi"}}]', "expected a JSON object"),
        (b'{"actions": [{"dial": {"targets": ["555"]}}]}', "actions[0].dial.targets[0]"),
        (b'{"action": []}', "actions: Field required"),
        (b'{"actions": [], "events": ["call.exploded"]}', "events[0]: unknown event"),
        (b'{"actions": [], "status_callback": "ftp://x"}', "status_callback: only http"),
        (b"[" * 100 + b"]" * 100, "nested deeper than"),
    ],
)
async def test_an_invalid_answer_counts_as_a_failure(
    engine: Engine, answer: bytes, reason: str
) -> None:
    receiver = RoutingReceiver(SECRET, plan=[answer])
    fallback = RoutingReceiver(SECRET, plan=[FALLBACK_ACTIONS])
    with serve_routing(receiver) as url, serve_routing(fallback) as fallback_url:
        routing = await route(engine, add_number(engine, url, fallback_url))
    assert routing.source == "fallback_url"
    assert len(receiver.requests) == 1
    assert reason in routing.failures[0]
    (event,) = fallback_events(engine)
    assert reason in event["data"]["reason"]


async def test_no_routing_url_runs_the_default_actions_without_an_event(engine: Engine) -> None:
    routing = await route(engine, add_number(engine, None, None))
    assert routing.source == "default_actions" and routing.failures == ()
    assert fallback_events(engine) == []


async def test_a_private_address_is_refused_without_a_request(engine: Engine) -> None:
    receiver = RoutingReceiver(SECRET)
    with serve_routing(receiver) as url:
        routing = await route(engine, add_number(engine, url, None), allow_private=False)
    assert routing.source == "default_actions" and receiver.requests == []
    assert "private or loopback" in routing.failures[0]
