"""Inbound calls end to end on the simulated network: routing answer run on the call, masked
calls bridged to the other participant, unknown numbers and unrunnable answers hung up.

The inbound leg is a sim call to a persona standing for the caller (the sim network only
places calls; the runner does not care which way a call was set up).
"""

from __future__ import annotations

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
from robot.carriers.sim_call import SimCall
from robot.carriers.sim_driver import wait_until
from robot.control.inbound import answer_inbound
from robot.control.masking import add_participant, create_session
from robot.control.routing import InboundCall, RoutingBudget, RoutingClient
from robot.dialler.campaigns import get_or_create_tenant
from tests.fakes import ToneTts

from fixtures.database import open_fresh_database
from fixtures.routing_receiver import RoutingReceiver, serve_routing

SECRET = "rtsec_test_secret_0123456789"
ALICE, BOB = "+12025550170", "+12025550171"
SUPPORT, PROXY = "+12025550100", "+12025550181"


class RecordingCarrier(SimCarrier):
    """The sim carrier, keeping what each dial asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dials: list[tuple[str, str | None]] = []

    async def dial(self, number: str, **options: Any) -> SimCall:
        self.dials.append((number, options.get("caller_id")))
        return await super().dial(number, **options)


def persona(number: str, **fields: Any) -> Persona:
    base = {"name": f"p{number[-2:]}", "numbers": [number], "kind": "human", "hello": None}
    return Persona.model_validate(base | {"ring_ms": 100, "answer_delay_ms": 0} | fields)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


def add_number(engine: Engine, number: str, **fields: Any) -> int:
    tenant_id = get_or_create_tenant(engine, "acme")
    with session_scope(engine) as session:
        session.add(
            PhoneNumber(tenant_id=tenant_id, number=number, routing_secret=SECRET, **fields)
        )
    return tenant_id


async def inbound(engine: Engine, carrier: SimCarrier, from_number: str, to_number: str) -> Any:
    leg = await carrier.dial(from_number)  # the caller's leg, answered
    await wait_until(lambda: leg.state == CallState.ANSWERED)
    call = InboundCall("call_in_1", from_number, to_number)
    async with httpx.AsyncClient() as client:
        router = RoutingClient(engine, client, budget=RoutingBudget(1.0, 2.0), allow_private=True)
        outcome = await answer_inbound(
            engine, leg, call, router=router, voice=ToneTts(), carrier=carrier
        )
    return outcome, leg


async def test_the_routing_answer_runs_on_the_call(engine: Engine) -> None:
    answer = {
        "actions": [
            {"say": {"text": "Press your account number"}},
            {"gather": {"max_digits": 3, "timeout_s": 20}},
            {"hangup": {}},
        ]
    }
    receiver = RoutingReceiver(SECRET, plan=[answer])
    carrier = SimCarrier([persona(ALICE, lines=[{"dtmf": "123"}])], prompt_end_silence_ms=300)
    with serve_routing(receiver) as url:
        add_number(engine, SUPPORT, routing_url=url)
        outcome, leg = await inbound(engine, carrier, ALICE, SUPPORT)
    assert outcome.kind == "routed" and outcome.routing.source == "routing_url"
    assert [(g.digits, g.reason) for g in outcome.result.gathers] == [("123", "max_digits")]
    assert outcome.result.ended_by == "hangup" and leg.state == CallState.ENDED
    assert receiver.requests[0]["data"]["from"] == ALICE
    await carrier.close()


async def test_a_masked_call_reaches_the_other_participant(engine: Engine) -> None:
    tenant_id = add_number(engine, PROXY, tags=["proxy"])
    with session_scope(engine) as session:
        masking = create_session(session, tenant_id, "order-1", 3600)
        assert masking.id is not None
        for number in (ALICE, BOB):
            add_participant(session, tenant_id, masking.id, number)
    # Bob hangs up on hearing Alice's line (her background noise) through the bridge.
    alice = persona(ALICE, noise={"color": "white", "snr_db": 20})
    bob = persona(BOB, lines=[{"hangup_after": True, "interrupt_after_ms": 200}])
    carrier = RecordingCarrier([alice, bob])
    outcome, leg = await inbound(engine, carrier, ALICE, PROXY)
    assert outcome.kind == "masked" and outcome.masked_session_id == masking.id
    (dial,) = outcome.result.dials
    assert dial.bridged_target == 0
    # Bob is rung from Alice's session proxy, never from her real number.
    assert carrier.dials[-1] == (BOB, PROXY)
    assert outcome.result.ended_by == "end_of_list" and leg.state == CallState.ENDED
    bob_leg = next(c for c in carrier.calls if c.persona is not None and c.persona.name == bob.name)
    assert bob_leg.signalling.hangup_by == "remote"
    await carrier.close()


async def test_an_unknown_number_is_hung_up(engine: Engine) -> None:
    carrier = SimCarrier([persona(ALICE)])
    outcome, leg = await inbound(engine, carrier, ALICE, "+12025550199")
    assert outcome.kind == "unknown_number" and leg.state == CallState.ENDED
    await carrier.close()


async def test_actions_that_cannot_run_hang_up(engine: Engine) -> None:
    add_number(engine, SUPPORT, default_actions=[{"conference": {"name": "room"}}])
    carrier = SimCarrier([persona(ALICE)])
    outcome, leg = await inbound(engine, carrier, ALICE, SUPPORT)
    assert outcome.kind == "failed" and "actions[0]: conference" in outcome.error
    assert leg.state == CallState.ENDED
    await carrier.close()
