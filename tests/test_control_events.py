"""Call-control events end to end: a persona calls one of our numbers on the simulated
network, the routing answer runs, and the leg's events reach a real webhook receiver on
127.0.0.1 through the outbox, signed, at least once and in ``seq`` order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from models.number import PhoneNumber
from models.transactions import session_scope
from robot.carriers.base import CallState
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_driver import wait_until
from robot.control.routing import RoutingBudget, RoutingClient
from robot.control.service import CallControl
from robot.crm.delivery import DeliveryWorker
from tests.fakes import ToneTts

from fixtures.database import open_fresh_database
from fixtures.routing_receiver import RoutingReceiver, serve_routing
from fixtures.webhook_receiver import FAST, FlakyReceiver, add_endpoint, serve_receiver

ROUTING_SECRET = "rtsec_test_secret_0123456789"
ALICE, SUPPORT = "+12025550170", "+12025550100"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


def alice(**fields: Any) -> Persona:
    base = {"name": "alice", "numbers": [ALICE], "kind": "human", "hello": None}
    return Persona.model_validate(base | {"answer_delay_ms": 0} | fields)


async def test_inbound_leg_events_arrive_signed_and_in_order(engine: Engine) -> None:
    # Every event's first try fails: each is sent again, and none overtakes another.
    flaky = FlakyReceiver(plan=lambda _event_id, attempt: "fail" if attempt == 1 else "ok")
    answer = {
        "actions": [
            {"say": {"text": "Press a key"}},
            {"gather": {"max_digits": 1, "timeout_s": 20}},
            {"hangup": {}},
        ]
    }
    routing = RoutingReceiver(ROUTING_SECRET, plan=[answer])
    carrier = SimCarrier([alice(lines=[{"dtmf": "5", "think_ms": 100}])], prompt_end_silence_ms=300)
    with serve_receiver(flaky) as hook_url, serve_routing(routing) as route_url:
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
            caller = control.ring_in(ALICE, SUPPORT, sip_headers={"X-Customer-Id": "c-77"})
            await wait_until(lambda: caller.state == CallState.ENDED, timeout_s=60)
            await control.wait_idle()
            (outcome,) = control.outcomes
            worker = DeliveryWorker(engine, FAST, allow_private=True)
            await asyncio.wait_for(worker.run(until_idle=True), 60)
            await control.close()

    assert outcome.kind == "routed" and outcome.result is not None
    assert [g.digits for g in outcome.result.gathers] == ["5"]
    # The routing request was signed (the receiver checks) and carried the call's X- header.
    request = routing.requests[0]["data"]
    assert (request["from"], request["to"]) == (ALICE, SUPPORT)
    assert request["sip_headers"] == {"X-Customer-Id": "c-77"}
    # The caller rang, was answered (after the routing answer), and was hung up by us.
    assert caller.signalling.hangup_by == "local"
    received = [flaky.events[event_id] for event_id in flaky.accepted]
    assert flaky.sink.rejected == 0  # every signature was valid
    assert [e["type"] for e in received] == [
        "call.initiated",
        "call.ringing",
        "call.answered",
        "dtmf.received",
        "call.completed",
    ]
    data = [e["data"] for e in received]
    assert [d["seq"] for d in data] == [1, 2, 3, 4, 5]
    assert {d["call_id"] for d in data} == {request["call_id"]}
    assert [d["occurred_at"] for d in data] == sorted(d["occurred_at"] for d in data)
    assert all(d["direction"] == "inbound" and d["to"] == SUPPORT for d in data)
    assert data[3]["digit"] == "5"
    assert (data[4]["outcome"], data[4]["hangup_by"]) == ("completed", "local")
    assert all(flaky.tries[event_id] == 2 for event_id in flaky.accepted)


async def test_an_unknown_number_is_refused_and_queues_nothing(engine: Engine) -> None:
    carrier = SimCarrier([alice()])
    async with httpx.AsyncClient() as client:
        router = RoutingClient(engine, client, allow_private=True)
        control = CallControl(engine, carrier, ToneTts(), router=router)
        caller = control.ring_in(ALICE, "+12025550199")
        await control.wait_idle()
        await control.close()
    assert control.outcomes[0].kind == "unknown_number"
    assert caller.state == CallState.ENDED and caller.signalling.answer_ms is None
    with engine.connect() as conn:
        from sqlalchemy import func, select

        from models.webhook import OutboxEvent

        table = OutboxEvent.__table__  # type: ignore[attr-defined]
        assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
