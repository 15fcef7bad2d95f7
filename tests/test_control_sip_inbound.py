"""Inbound calls from a real SIP peer: SIPp calls one of our numbers on the service's
``listen=`` address; the routing request goes to a real HTTP receiver whose answer
(``say`` + ``hangup``) runs on the call. SIPp's scenario (tests/sipp/uac_inbound.xml) fails
unless it gets 180 Ringing, then 200 OK, then our BYE, in that order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sipp.peers import SIPP, free_port, sipp_uac
from sqlalchemy.engine import Engine

from models.number import PhoneNumber
from models.transactions import session_scope
from robot.control.routing import RoutingClient
from robot.control.service import CallControl
from robot.dialler.campaigns import get_or_create_tenant
from tests.fakes import ToneTts

from fixtures.api_harness import start_serve_process
from fixtures.database import open_fresh_database
from fixtures.routing_receiver import RoutingReceiver, serve_routing

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")

SECRET = "rtsec_test_secret_0123456789"
SUPPORT = "+12025550100"
ANSWER = {"actions": [{"say": {"text": "Welcome to support"}}, {"hangup": {}}]}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


async def test_a_sip_call_to_our_number_rings_is_routed_and_runs_the_answer(
    engine: Engine, tmp_path: Path
) -> None:
    receiver = RoutingReceiver(SECRET, plan=[ANSWER])
    listen_port = free_port()
    trunk = f"127.0.0.1:{free_port()}"  # outbound calls would go there; none are placed
    url = f"sip://{trunk};local_host=127.0.0.1;listen=127.0.0.1:{listen_port}"
    tts = ToneTts()
    with serve_routing(receiver) as route_url:
        tenant_id = get_or_create_tenant(engine, "acme")
        with session_scope(engine) as session:
            session.add(
                PhoneNumber(
                    tenant_id=tenant_id,
                    number=SUPPORT,
                    routing_secret=SECRET,
                    routing_url=route_url,
                )
            )
        async with httpx.AsyncClient() as client:
            router = RoutingClient(engine, client, allow_private=True)
            control = CallControl.from_url(engine, url, tts, router=router)
            await control.start()
            assert control.listen_address == ("127.0.0.1", listen_port)
            try:
                with sipp_uac("uac_inbound.xml", tmp_path, listen_port, service=SUPPORT) as peer:
                    code = await asyncio.to_thread(peer.wait, 30)
                await asyncio.wait_for(control.wait_idle(), 30)
            finally:
                await control.close()

    assert code == 0, peer.errors()
    # The routing request reached the receiver with a valid signature (it refuses others).
    (request,) = receiver.requests
    assert (request["type"], request["data"]["to"]) == ("call.routing", SUPPORT)
    assert request["data"]["from"] == "+12025550170"
    assert request["data"]["sip_headers"] == {"x-customer-id": "c-77"}
    (outcome,) = control.outcomes
    assert outcome.kind == "routed" and outcome.routing is not None
    assert outcome.routing.source == "routing_url"
    assert outcome.result is not None and outcome.result.ended_by == "hangup"
    assert tts.texts == ["Welcome to support"]


async def test_a_call_to_a_number_nobody_has_is_refused(engine: Engine, tmp_path: Path) -> None:
    listen_port = free_port()
    url = f"sip://127.0.0.1:{free_port()};local_host=127.0.0.1;listen=127.0.0.1:{listen_port}"
    async with httpx.AsyncClient() as client:
        router = RoutingClient(engine, client, allow_private=True)
        control = CallControl.from_url(engine, url, ToneTts(), router=router)
        await control.start()
        try:
            with sipp_uac("uac_refused.xml", tmp_path, listen_port, service="+12025550199") as peer:
                code = await asyncio.to_thread(peer.wait, 30)
            await asyncio.wait_for(control.wait_idle(), 30)
        finally:
            await control.close()
    assert code == 0, peer.errors()
    assert [o.kind for o in control.outcomes] == ["unknown_number"]


@pytest.mark.slow
def test_callrobot_serve_takes_calls_on_its_listen_address(tmp_path: Path) -> None:
    """The whole service: ``callrobot serve`` with a ``listen=`` carrier URL answers SIPp's
    call to a number registered in its database with the routing answer (real TTS)."""
    from models.db import make_engine

    receiver = RoutingReceiver(SECRET, plan=[ANSWER])
    listen_port = free_port()
    carrier = f"sip://127.0.0.1:{free_port()};local_host=127.0.0.1;listen=127.0.0.1:{listen_port}"
    database = f"sqlite:///{tmp_path / 'serve.db'}"
    env = {"CALLROBOT_CARRIER_URL": carrier, "CALLROBOT_WEBHOOKS_ALLOW_PRIVATE": "true"}
    with serve_routing(receiver) as route_url:
        process, _ = start_serve_process(database, str(tmp_path / "var"), env, workers=True)
        try:
            engine = make_engine(database)
            tenant_id = get_or_create_tenant(engine, "acme")
            with session_scope(engine) as session:
                session.add(
                    PhoneNumber(
                        tenant_id=tenant_id,
                        number=SUPPORT,
                        routing_secret=SECRET,
                        routing_url=route_url,
                    )
                )
            with sipp_uac("uac_inbound.xml", tmp_path, listen_port, service=SUPPORT) as peer:
                code = peer.wait(60)
            engine.dispose()
        finally:
            process.terminate()
            process.wait(20)
    assert code == 0, peer.errors()
    (request,) = receiver.requests
    assert request["data"]["to"] == SUPPORT and request["data"]["from"] == "+12025550170"
