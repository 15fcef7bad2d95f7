"""``redirect`` and a gather's ``action_url`` on inbound calls of the simulated network, asking
real HTTP servers on 127.0.0.1: the request (signed, the call's fields, what was gathered),
the answer replacing the rest of the list, and every failure ending in ``redirect.failed``
and a hang-up (a server trickling one byte a second, an invalid answer, a redirect loop).

Budgets are short; a slow server is far slower than the budget. The tests assert what the
call did and what was sent, never how long anything took.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from models.number import PhoneNumber
from models.transactions import session_scope
from models.webhook import OutboxEvent
from robot.carriers.base import CallState
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_driver import wait_until
from robot.control.actions import ActionError, Redirect, RobotScript, parse_actions
from robot.control.inbound import answer_inbound
from robot.control.redirect import MAX_REDIRECTS
from robot.control.routing import InboundCall, RoutingBudget, RoutingClient
from robot.control.runner import ActionRunner, UnsupportedActionError
from robot.dialler.campaigns import get_or_create_tenant
from tests.fakes import ToneTts

from fixtures.database import open_fresh_database
from fixtures.routing_receiver import RoutingReceiver, serve_routing

SECRET = "rtsec_test_secret_0123456789"
ALICE, SUPPORT = "+12025550170", "+12025550100"
BYE = {"actions": [{"say": {"text": "Thank you, goodbye."}}, {"hangup": {}}]}


def persona(number: str, **fields: Any) -> Persona:
    base = {"name": f"p{number[-2:]}", "numbers": [number], "kind": "human", "hello": None}
    return Persona.model_validate(base | {"ring_ms": 100, "answer_delay_ms": 0} | fields)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


def add_number(engine: Engine, routing_url: str) -> None:
    tenant_id = get_or_create_tenant(engine, "acme")
    with session_scope(engine) as session:
        session.add(
            PhoneNumber(
                tenant_id=tenant_id,
                number=SUPPORT,
                routing_secret=SECRET,
                routing_url=routing_url,
                time_zone="America/New_York",
            )
        )


async def call_in(engine: Engine, carrier: SimCarrier) -> tuple[Any, Any]:
    leg = await carrier.dial(ALICE)  # the caller's leg, answered
    await wait_until(lambda: leg.state == CallState.ANSWERED)
    call = InboundCall("call_in_1", ALICE, SUPPORT, {"X-Ticket": "T-9"})
    async with httpx.AsyncClient() as client:
        router = RoutingClient(engine, client, budget=RoutingBudget(1.0, 1.5), allow_private=True)
        outcome = await answer_inbound(
            engine, leg, call, router=router, voice=ToneTts(), carrier=carrier
        )
    await carrier.close()
    return outcome, leg


def events(engine: Engine, kind: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        bodies = conn.execute(
            select(OutboxEvent.body)  # type: ignore[call-overload]
            .where(OutboxEvent.type == kind)
            .order_by(OutboxEvent.id)
        ).scalars()
        return [json.loads(b)["data"] for b in bodies]


def routing_answer(*actions: dict[str, Any]) -> dict[str, Any]:
    return {"actions": list(actions)}


async def test_a_redirect_sends_what_was_gathered_and_runs_the_answer(engine: Engine) -> None:
    later = RoutingReceiver(SECRET, plan=[BYE])
    with serve_routing(later) as later_url:
        first = routing_answer(
            {"say": {"text": "Enter your account number"}},
            {"gather": {"max_digits": 2, "timeout_s": 20}},
            {"redirect": {"url": later_url}},
        )
        routing = RoutingReceiver(SECRET, plan=[first])
        with serve_routing(routing) as url:
            add_number(engine, url)
            carrier = SimCarrier([persona(ALICE, lines=[{"dtmf": "42"}])])
            outcome, leg = await call_in(engine, carrier)
    assert outcome.kind == "routed"
    result = outcome.result
    assert result.ended_by == "hangup" and leg.state == CallState.ENDED
    assert [g.digits for g in result.gathers] == ["42"]
    (request,) = later.requests  # signed with the number's routing secret (checked there)
    assert request["type"] == "call.redirect"
    data = request["data"]
    assert data["call_id"] == "call_in_1" and data["source"] == "redirect"
    assert (data["from"], data["to"]) == (ALICE, SUPPORT)
    assert data["sip_headers"] == {"X-Ticket": "T-9"}
    assert data["digits"] == "42" and data["speech"] is None and data["redirect"] == 1
    assert data["gathers"] == [
        {"digits": "42", "reason": "max_digits", "speech": None, "confidence": None}
    ]
    assert events(engine, "redirect.failed") == []


async def test_a_gather_action_url_replaces_the_rest_of_the_list(engine: Engine) -> None:
    menu = RoutingReceiver(SECRET, plan=[BYE])
    with serve_routing(menu) as menu_url:
        first = routing_answer(
            {"say": {"text": "Press one for sales"}},
            {"gather": {"max_digits": 1, "timeout_s": 20, "action_url": menu_url}},
            {"say": {"text": "Never said: the action URL's answer replaces this."}},
            {"pause": {"ms": 60000}},
        )
        routing = RoutingReceiver(SECRET, plan=[first])
        with serve_routing(routing) as url:
            add_number(engine, url)
            carrier = SimCarrier([persona(ALICE, lines=[{"dtmf": "7"}])])
            outcome, _ = await call_in(engine, carrier)
    assert outcome.result.ended_by == "hangup"
    assert outcome.result.last_index == 1  # the hangup of the action URL's answer
    assert menu.requests[0]["data"]["digits"] == "7"


async def test_a_get_redirect_signs_its_query(engine: Engine) -> None:
    later = RoutingReceiver(SECRET, plan=[BYE])
    with serve_routing(later) as later_url:
        first = routing_answer({"redirect": {"url": f"{later_url}?menu=2", "method": "GET"}})
        routing = RoutingReceiver(SECRET, plan=[first])
        with serve_routing(routing) as url:
            add_number(engine, url)
            outcome, _ = await call_in(engine, SimCarrier([persona(ALICE)]))
    assert outcome.result.ended_by == "hangup"
    (request,) = later.requests  # the query string's signature was checked there
    assert request["method"] == "GET" and request["type"] == "call.redirect"
    assert request["data"]["menu"] == "2" and request["data"]["call_id"] == "call_in_1"
    assert json.loads(request["data"]["gathers"]) == []


async def test_a_server_sending_one_byte_a_second_is_cut_and_the_call_hung_up(
    engine: Engine,
) -> None:
    slow = RoutingReceiver(SECRET, plan=["trickle"])
    with serve_routing(slow) as slow_url:
        first = routing_answer({"say": {"text": "One moment"}}, {"redirect": {"url": slow_url}})
        with serve_routing(RoutingReceiver(SECRET, plan=[first])) as url:
            add_number(engine, url)
            outcome, leg = await call_in(engine, SimCarrier([persona(ALICE)]))
    assert outcome.result.ended_by == "redirect_failed" and leg.state == CallState.ENDED
    assert len(slow.requests) == 1  # a timeout is not retried: the budget is spent
    (failed,) = events(engine, "redirect.failed")
    assert failed["url"] == slow_url and failed["action_index"] == 1
    assert "no complete answer within 1.5 s" in failed["error"]
    assert failed["call_id"] == "call_in_1"


async def test_an_invalid_answer_names_the_action_and_field(engine: Engine) -> None:
    bad = routing_answer({"say": {"text": "fine"}}, {"gather": {"timeout_s": -1}})
    later = RoutingReceiver(SECRET, plan=[bad])
    with serve_routing(later) as later_url:
        first = routing_answer({"redirect": {"url": later_url}})
        with serve_routing(RoutingReceiver(SECRET, plan=[first])) as url:
            add_number(engine, url)
            outcome, _ = await call_in(engine, SimCarrier([persona(ALICE)]))
    assert outcome.result.ended_by == "redirect_failed"
    (failed,) = events(engine, "redirect.failed")
    assert "invalid answer: actions[1].gather.timeout_s" in failed["error"]
    assert failed["action_index"] == 0


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b'{"actions": ' + b"[" * 100 + b"]" * 100 + b"}", "nested deeper than"),
        (b'{"actions": [{"say": {}}]}', "actions[0].say.text: Field required"),
    ],
)
async def test_unusable_answers_fail_the_same_way(
    engine: Engine, answer: bytes, reason: str
) -> None:
    later = RoutingReceiver(SECRET, plan=[answer])
    with serve_routing(later) as later_url:
        first = routing_answer({"redirect": {"url": later_url}})
        with serve_routing(RoutingReceiver(SECRET, plan=[first])) as url:
            add_number(engine, url)
            outcome, _ = await call_in(engine, SimCarrier([persona(ALICE)]))
    assert outcome.result.ended_by == "redirect_failed"
    (failed,) = events(engine, "redirect.failed")
    assert reason in failed["error"]


async def test_a_redirect_loop_ends_with_a_clear_event(engine: Engine) -> None:
    loop = RoutingReceiver(SECRET)
    with serve_routing(loop) as loop_url:
        loop.plan = [routing_answer({"pause": {"ms": 20}}, {"redirect": {"url": loop_url}})]
        with serve_routing(RoutingReceiver(SECRET, plan=loop.plan)) as url:
            add_number(engine, url)
            outcome, leg = await call_in(engine, SimCarrier([persona(ALICE)]))
    assert outcome.result.ended_by == "redirect_failed" and leg.state == CallState.ENDED
    assert len(loop.requests) == MAX_REDIRECTS
    assert [r["data"]["redirect"] for r in loop.requests] == list(range(1, MAX_REDIRECTS + 1))
    (failed,) = events(engine, "redirect.failed")
    assert f"more than {MAX_REDIRECTS} redirects" in failed["error"]
    assert failed["redirect"] == MAX_REDIRECTS + 1


def test_redirect_and_robot_fields_are_checked() -> None:
    redirect, robot = parse_actions(
        [
            {"robot": {"script_id": 3, "version": 2, "variables": {"first_name": "Ann"}}},
            {"redirect": {"url": "https://crm.example/next", "method": "GET"}},
        ]
    )
    assert isinstance(redirect, RobotScript) and redirect.variables == {"first_name": "Ann"}
    assert isinstance(robot, Redirect) and robot.method == "GET"
    with pytest.raises(ActionError) as caught:
        parse_actions(
            [
                {"robot": {"script_id": 3, "version": 0}},
                {"redirect": {"url": "ftp://x", "method": "PUT"}},
            ]
        )
    paths = [path for path, _ in caught.value.problems]
    assert paths == [
        "actions[0].robot.version",
        "actions[1].redirect.url",
        "actions[1].redirect.method",
    ]


async def test_a_runner_without_a_source_of_actions_refuses_redirect() -> None:
    carrier = SimCarrier([persona(ALICE)])
    leg = await carrier.dial(ALICE)
    await wait_until(lambda: leg.state == CallState.ANSWERED)
    actions = parse_actions([{"say": {"text": "hi"}}, {"gather": {"speech": {"hints": ["sales"]}}}])
    with pytest.raises(UnsupportedActionError, match=r"actions\[1\]: gather with speech needs"):
        await ActionRunner(leg, ToneTts()).run(actions)
    leg2 = await carrier.dial(ALICE)
    await wait_until(lambda: leg2.state == CallState.ANSWERED)
    redirect = parse_actions([{"redirect": {"url": "https://crm.example/next"}}])
    with pytest.raises(UnsupportedActionError, match=r"actions\[0\]: redirect needs"):
        await ActionRunner(leg2, ToneTts()).run(redirect)
    await carrier.close()
