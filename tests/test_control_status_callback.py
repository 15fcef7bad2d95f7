"""A routing answer's ``status_callback``: a persona calls one of our numbers on the simulated
network, and the call's events reach a real receiver on 127.0.0.1 through the outbox and the
delivery worker, signed with the number's routing secret, at least once, in ``seq`` order;
the tenant's own endpoints still get every event, and another call's events never reach it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from models.number import PhoneNumber
from models.transactions import session_scope
from models.webhook import WebhookEndpoint
from robot.carriers.base import CallState
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_driver import wait_until
from robot.control.routing import RoutingBudget, RoutingClient
from robot.control.service import CallControl
from robot.crm.delivery import DeliveryWorker
from robot.crm.status_callback import check_status_callback
from robot.errors import ValidationError
from tests.fakes import ToneTts

from fixtures.database import BACKENDS, open_fresh_database
from fixtures.routing_receiver import RoutingReceiver, serve_routing
from fixtures.webhook_receiver import FAST, FlakyReceiver, add_endpoint, serve_receiver

ROUTING_SECRET = "rtsec_test_secret_0123456789"
ALICE, CAROL, SUPPORT = "+12025550170", "+12025550172", "+12025550100"
ACTIONS = [
    {"say": {"text": "Press a key"}},
    {"gather": {"max_digits": 1, "timeout_s": 20}},
    {"hangup": {}},
]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database(request.param, tmp_path):
        yield db.engine


def persona(name: str, number: str) -> Persona:
    fields = {"name": name, "numbers": [number], "kind": "human", "hello": None}
    extra = {"answer_delay_ms": 0, "lines": [{"dtmf": "5", "think_ms": 100}]}
    return Persona.model_validate(fields | extra)


async def two_calls(engine: Engine, answers: list[Any], hook_url: str) -> list[Any]:
    """ALICE then CAROL call SUPPORT (one after the other); the routing answers ``answers``."""
    routing = RoutingReceiver(ROUTING_SECRET, plan=answers)
    carrier = SimCarrier(
        [persona("alice", ALICE), persona("carol", CAROL)], prompt_end_silence_ms=300
    )
    with serve_routing(routing) as route_url:
        tenant_id, _ = add_endpoint(engine, hook_url)
        with session_scope(engine) as session:
            session.add(
                PhoneNumber(
                    tenant_id=tenant_id,
                    number=SUPPORT,
                    routing_secret=ROUTING_SECRET,
                    routing_url=route_url,
                )
            )
        async with httpx.AsyncClient() as client:
            router = RoutingClient(
                engine, client, budget=RoutingBudget(1.0, 2.0), allow_private=True
            )
            control = CallControl(engine, carrier, ToneTts(), router=router)
            for caller_number in (ALICE, CAROL):
                caller = control.ring_in(caller_number, SUPPORT)
                await wait_until(lambda c=caller: c.state == CallState.ENDED, timeout_s=60)
                await control.wait_idle()
            worker = DeliveryWorker(engine, FAST, allow_private=True)
            await asyncio.wait_for(worker.run(until_idle=True), 60)
            await control.close()
    return [r["data"]["call_id"] for r in routing.requests]


async def test_status_callback_gets_the_events_asked_for_signed_and_in_order(
    engine: Engine,
) -> None:
    # Every first try at the status callback fails: each event is sent again, none overtakes.
    status = FlakyReceiver(
        plan=lambda _event_id, attempt: "fail" if attempt == 1 else "ok", secret=ROUTING_SECRET
    )
    crm = FlakyReceiver()
    with serve_receiver(status) as status_url, serve_receiver(crm) as crm_url:
        answer = {
            "actions": ACTIONS,
            "status_callback": f"{status_url}/status",
            "events": ["call.answered", "call.completed"],
        }
        first, second = await two_calls(engine, [answer, {"actions": ACTIONS}], crm_url)

    received = [status.events[event_id] for event_id in status.accepted]
    assert status.sink.rejected == 0  # signed with the number's routing secret
    assert [(e["type"], e["data"]["call_id"]) for e in received] == [
        ("call.answered", first),
        ("call.completed", first),
    ]
    assert [e["data"]["seq"] for e in received] == [3, 5]
    assert received[1]["data"]["outcome"] == "completed"
    assert all(status.tries[event_id] == 2 for event_id in status.accepted)
    # The tenant's endpoint got every event of both calls, the same ones (same ids).
    crm_events = [crm.events[event_id] for event_id in crm.accepted]
    assert crm.sink.rejected == 0
    assert [e["data"]["call_id"] for e in crm_events].count(second) == 5
    assert set(status.accepted) < set(crm.accepted)


async def test_without_events_every_progress_event_goes_even_those_before_the_answer(
    engine: Engine,
) -> None:
    status = FlakyReceiver(secret=ROUTING_SECRET)
    crm = FlakyReceiver()
    with serve_receiver(status) as status_url, serve_receiver(crm) as crm_url:
        answer = {"actions": ACTIONS, "status_callback": status_url}
        first, _ = await two_calls(engine, [answer, {"actions": ACTIONS}], crm_url)

    received = [status.events[event_id] for event_id in status.accepted]
    # call.initiated and call.ringing were written before the routing answer named the URL;
    # dtmf.received is not a progress event.
    assert [e["type"] for e in received] == [
        "call.initiated",
        "call.ringing",
        "call.answered",
        "call.completed",
    ]
    assert {e["data"]["call_id"] for e in received} == {first}
    assert [e["data"]["seq"] for e in received] == [1, 2, 3, 5]
    # The status callback is no endpoint of the tenant's: the API does not list it.
    with engine.connect() as conn:
        table = WebhookEndpoint.__table__  # type: ignore[attr-defined]
        rows = conn.execute(select(table.c.scope, table.c.enabled, table.c.url)).all()
    scoped = [r for r in rows if r.scope is not None]
    assert [(r.scope, r.enabled, r.url) for r in scoped] == [(f"call:{first}", False, status_url)]


def test_a_private_status_callback_is_refused_unless_allowed() -> None:
    with pytest.raises(ValidationError, match=r"^status_callback: .*private or loopback"):
        check_status_callback("http://127.0.0.1:9/status", allow_private=False)
    with pytest.raises(ValidationError, match=r"^status_callback: only http"):
        check_status_callback("ftp://example.com/status", allow_private=True)
    assert check_status_callback("http://127.0.0.1:9/s", allow_private=True).endswith("/s")
