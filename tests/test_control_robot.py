"""``robot`` and speech ``gather`` on inbound calls of the simulated network, with real engines.

A persona calls one of our numbers (:func:`robot.carriers.sim_inbound.ring_in`); the routing
answer (a real HTTP server) runs on the call. The ``robot`` action runs the bundled delivery
confirmation script with Piper and Whisper; the caller answers on the keypad, and knows what
the robot said from the prompts' own audio (:class:`~robot.carriers.sim_ears.PromptIndex`),
so neither side depends on a recogniser's luck. The speech gather hears a real recording
(Debian's Asterisk prompt "goodbye") and is checked by a keyword.
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

from models.call import Call
from models.number import PhoneNumber
from models.script import Script
from models.transactions import session_scope
from models.webhook import OutboxEvent
from robot.carriers.base import CallState
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_driver import wait_until
from robot.carriers.sim_ears import PromptIndex
from robot.config import Settings
from robot.control.inbound import InboundOutcome
from robot.control.routing import RoutingBudget, RoutingClient
from robot.control.service import CallControl
from robot.dialler.campaigns import get_or_create_tenant
from robot.engine import CallEngine
from tests.fakes import ToneTts

from fixtures.database import open_fresh_database
from fixtures.routing_receiver import RoutingReceiver, serve_routing

pytestmark = pytest.mark.slow

SECRET = "rtsec_test_secret_0123456789"
ALICE, SUPPORT = "+12025550170", "+12025550100"
SCRIPTS = Path(__file__).resolve().parents[1] / "dialogues" / "scripts"
SOUNDS = Path("/usr/share/asterisk/sounds/en")
SPEED = 1.5
PROMPTS = PromptIndex()
VARIABLES = {
    "first_name": "Ann",
    "order_id": "4 7 1",
    "delivery_day": "Friday",
    "address": "12 Oak Street",
}


@pytest.fixture(scope="module")
def call_engine(tmp_path_factory: pytest.TempPathFactory) -> CallEngine:
    settings = Settings(data_dir=tmp_path_factory.mktemp("engine"))
    engine = CallEngine(settings=settings, detect_voicemail=False)
    PROMPTS.attach(engine)
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


def setup_tenant(engine: Engine, routing_url: str) -> int:
    """The number called, and the delivery script stored as versions 1 and 2; the id of v1."""
    tenant_id = get_or_create_tenant(engine, "acme")
    text = (SCRIPTS / "delivery_confirmation.yaml").read_text()
    with session_scope(engine) as session:
        session.add(
            PhoneNumber(
                tenant_id=tenant_id, number=SUPPORT, routing_secret=SECRET, routing_url=routing_url
            )
        )
        first = Script(tenant_id=tenant_id, name="delivery", version=1, yaml_text=text)
        session.add(first)
        session.add(Script(tenant_id=tenant_id, name="delivery", version=2, yaml_text=text))
        session.flush()
        assert first.id is not None
        return first.id


async def ring(
    engine: Engine, call_engine: CallEngine, persona: Persona, tmp_path: Path, answer: Any
) -> tuple[InboundOutcome, Any, RoutingReceiver]:
    """``persona`` calls SUPPORT; the routing answer is ``answer(script_id)``."""
    receiver = RoutingReceiver(SECRET)
    carrier = SimCarrier([persona], speed=SPEED, listen=PROMPTS.listen)
    with serve_routing(receiver) as url:
        receiver.plan = [answer(setup_tenant(engine, url))]
        async with httpx.AsyncClient() as client:
            router = RoutingClient(
                engine, client, budget=RoutingBudget(1.0, 2.0), allow_private=True
            )
            control = CallControl(
                engine,
                carrier,
                ToneTts(),
                router=router,
                call_engine=call_engine,
                recording_dir=tmp_path,
            )
            caller = control.ring_in(persona.numbers[0], SUPPORT)
            await wait_until(lambda: caller.state == CallState.ENDED, timeout_s=300)
            await control.wait_idle()
            await control.close()
    (outcome,) = control.outcomes
    return outcome, caller, receiver


def outbox(engine: Engine, kind: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        bodies = conn.execute(
            select(OutboxEvent.body).where(OutboxEvent.type == kind)  # type: ignore[call-overload]
        ).scalars()
        return [json.loads(b)["data"] for b in bodies]


def caller(**fields: Any) -> Persona:
    base = {"name": "ann", "numbers": [ALICE], "kind": "human", "hello": None, "ring_ms": 0}
    return Persona.model_validate(base | fields)


async def test_say_then_robot_reaches_the_disposition_and_the_list_goes_on(
    engine: Engine, call_engine: CallEngine, tmp_path: Path
) -> None:
    # Ann presses 1 (someone is home), then 1 (the address is right): the script's
    # confirmed_end, qualified; an end state without hangup gives the call back to the list.
    ann = caller(
        lines=[
            {"dtmf": "1", "when": ["someone be home"], "think_ms": 300},
            {"dtmf": "1", "when": ["address we have"], "think_ms": 300},
        ]
    )

    def answer(script_id: int) -> dict[str, Any]:
        return {
            "actions": [
                {"say": {"text": "Please hold for our assistant."}},
                {"robot": {"script_id": script_id, "version": 2, "variables": VARIABLES}},
                {"say": {"text": "Thank you for calling."}},
                {"hangup": {}},
            ]
        }

    outcome, sim_call, _ = await ring(engine, call_engine, ann, tmp_path, answer)
    assert outcome.kind == "routed", outcome.error
    result = outcome.result
    assert result is not None and result.ended_by == "hangup" and result.last_index == 3
    (robot,) = result.robots
    assert robot.error is None and robot.outcome == "human"
    assert robot.disposition == "qualified" and robot.qualified
    assert robot.slots["someone_home"] is True and robot.slots["address_ok"] is True
    assert robot.version == 2 and not robot.hung_up
    said = [t["text"] for t in robot.transcript if t["who"] == "robot"]
    assert any("Ann" in text for text in said)
    assert sim_call.signalling.hangup_by == "local"  # the list's hangup, not the caller
    # Stored like a dialler call.
    with session_scope(engine) as session:
        row = session.get(Call, robot.record_id)
        assert row is not None
        assert (row.worker, row.number, row.disposition) == ("robot", ALICE, "qualified")
        assert row.slots["address_ok"] is True and row.transcript
        assert row.recording_path and Path(row.recording_path).is_file()
    (event,) = outbox(engine, "robot.completed")
    assert event["disposition"] == "qualified" and event["robot_call_id"] == robot.record_id
    assert event["answers"]["someone_home"] is True and event["hung_up"] is False


async def test_an_unknown_script_is_reported_and_the_list_goes_on(
    engine: Engine, call_engine: CallEngine, tmp_path: Path
) -> None:
    def answer(script_id: int) -> dict[str, Any]:
        return {
            "actions": [
                {"robot": {"script_id": script_id, "version": 9}},
                {"hangup": {}},
            ]
        }

    outcome, _, _ = await ring(engine, call_engine, caller(), tmp_path, answer)
    result = outcome.result
    assert result is not None and result.ended_by == "hangup"
    (robot,) = result.robots
    assert robot.outcome == "failed" and robot.record_id is None
    assert robot.error is not None and "actions[0].robot.version" in robot.error
    (event,) = outbox(engine, "robot.completed")
    assert event["outcome"] == "failed" and "has no version 9" in event["error"]


@pytest.mark.skipif(not (SOUNDS / "goodbye.wav").is_file(), reason="asterisk-core-sounds-en-wav")
async def test_a_speech_gather_sends_what_was_said_with_the_redirect(
    engine: Engine, call_engine: CallEngine, tmp_path: Path
) -> None:
    voice = {
        "engine": "recording",
        "folder": str(SOUNDS),
        "recordings": {"Goodbye.": "goodbye.wav"},
    }
    ann = caller(voice=voice, lines=[{"say": "Goodbye.", "think_ms": 300}])
    later = RoutingReceiver(SECRET, plan=[{"actions": [{"hangup": {}}]}])
    with serve_routing(later) as later_url:

        def answer(script_id: int) -> dict[str, Any]:
            gather = {"speech": {"hints": ["goodbye", "sales"]}, "timeout_s": 20}
            return {
                "actions": [
                    {"say": {"text": "Say sales or goodbye."}},
                    {"gather": gather},
                    {"redirect": {"url": later_url}},
                ]
            }

        outcome, _, _ = await ring(engine, call_engine, ann, tmp_path, answer)
    result = outcome.result
    assert result is not None and result.ended_by == "hangup"
    (gathered,) = result.gathers
    assert gathered.reason == "speech" and gathered.digits == ""
    assert gathered.speech is not None and "goodbye" in gathered.speech.lower()
    assert gathered.confidence is not None and 0.0 < gathered.confidence <= 1.0
    data = later.requests[0]["data"]
    assert "goodbye" in data["speech"].lower() and data["confidence"] == gathered.confidence
