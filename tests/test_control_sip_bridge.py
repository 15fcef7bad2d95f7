"""``dial`` on the SIP carrier against real SIP peers (SIPp): ``answer_on_bridge`` keeps a SIP
caller ringing and refuses it with the target's 486 (SIPp's scenario fails on any 200 OK),
and a target's early media (183 with SDP and RTP) reaches the caller instead of ringback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sipp.peers import SIPP, free_port, sipp_uac, sipp_uas, tone, wait_listening, write_ulaw_wav
from sqlalchemy.engine import Engine

from models.number import PhoneNumber
from models.transactions import session_scope
from robot.audio import AudioChunk
from robot.carriers.base import CallState
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_driver import wait_until
from robot.carriers.sip import SipCarrier
from robot.control.actions import parse_actions
from robot.control.routing import RoutingClient
from robot.control.runner import ActionRunner
from robot.control.service import CallControl
from robot.dialler.campaigns import get_or_create_tenant
from tests.fakes import ToneTts
from tests.test_control_media import frame_tones, frames_near

from fixtures.database import open_fresh_database

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")

SECRET = "rtsec_test_secret_0123456789"
SUPPORT, AGENT, CALLER = "+12025550100", "+15551230001", "+12025550170"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


def add_support(engine: Engine, actions: list[dict[str, Any]]) -> None:
    tenant_id = get_or_create_tenant(engine, "acme")
    with session_scope(engine) as session:
        session.add(
            PhoneNumber(
                tenant_id=tenant_id, number=SUPPORT, routing_secret=SECRET, default_actions=actions
            )
        )


async def test_answer_on_bridge_relays_a_targets_early_media_to_a_ringing_sip_caller(
    engine: Engine, tmp_path: Path
) -> None:
    """The caller (SIPp) gets 180, then a 183 with our SDP once the target (SIPp) sends early
    media, whose audio we then send it; the target's 480 becomes the caller's 480."""
    add_support(engine, [{"dial": {"targets": [AGENT], "answer_on_bridge": True}}])
    (tmp_path / "uas").mkdir()
    (tmp_path / "uac").mkdir()
    write_ulaw_wav(tmp_path / "uas" / "announcement.wav", tone(1000, 1000))
    listen_port = free_port()
    with sipp_uas("early_media_480.xml", tmp_path / "uas") as target:
        await wait_listening(target.port)
        url = f"sip://127.0.0.1:{target.port};local_host=127.0.0.1;listen=127.0.0.1:{listen_port}"
        async with httpx.AsyncClient() as client:
            router = RoutingClient(engine, client, allow_private=True)
            control = CallControl.from_url(engine, url, ToneTts(), router=router)
            taken: list[Any] = []
            accept = control.accept

            async def keep(call: Any) -> Any:
                taken.append(call)
                return await accept(call)

            control.accept = keep  # type: ignore[method-assign]
            await control.start()
            try:
                with sipp_uac(
                    "uac_early_media_unanswered.xml", tmp_path / "uac", listen_port, service=SUPPORT
                ) as caller:
                    code = await asyncio.to_thread(caller.wait, 30)
                await asyncio.wait_for(control.wait_idle(), 30)
            finally:
                await control.close()
        target_code = await asyncio.to_thread(target.wait, 30)
    assert code == 0, caller.errors()
    assert target_code == 0, target.errors()
    (outcome,) = control.outcomes
    assert outcome.result is not None
    assert outcome.result.dials[0].outcomes == ("unavailable",)
    (call,) = taken
    assert call.signalling.answer_ms is None
    assert call.rtp.sent_packets > 0  # the relayed announcement went to the ringing caller


async def test_answer_on_bridge_refuses_a_sip_caller_with_the_targets_busy(
    engine: Engine, tmp_path: Path
) -> None:
    tenant_id = get_or_create_tenant(engine, "acme")
    dial = {"dial": {"targets": [AGENT], "answer_on_bridge": True, "timeout_s": 10}}
    with session_scope(engine) as session:
        session.add(
            PhoneNumber(
                tenant_id=tenant_id, number=SUPPORT, routing_secret=SECRET, default_actions=[dial]
            )
        )
    (tmp_path / "uas").mkdir()
    (tmp_path / "uac").mkdir()
    listen_port = free_port()
    with sipp_uas("busy_486_q850.xml", tmp_path / "uas") as target:
        await wait_listening(target.port)
        url = f"sip://127.0.0.1:{target.port};local_host=127.0.0.1;listen=127.0.0.1:{listen_port}"
        async with httpx.AsyncClient() as client:
            router = RoutingClient(engine, client, allow_private=True)
            control = CallControl.from_url(engine, url, ToneTts(), router=router)
            await control.start()
            try:
                with sipp_uac(
                    "uac_busy_unanswered.xml", tmp_path / "uac", listen_port, service=SUPPORT
                ) as caller:
                    code = await asyncio.to_thread(caller.wait, 30)
                await asyncio.wait_for(control.wait_idle(), 30)
            finally:
                await control.close()
        target_code = await asyncio.to_thread(target.wait, 30)
    assert code == 0, caller.errors()
    assert target_code == 0, target.errors()
    (outcome,) = control.outcomes
    assert outcome.kind == "routed" and outcome.result is not None
    assert outcome.result.dials[0].outcomes == ("busy",)


async def test_a_sip_targets_early_media_reaches_the_caller(tmp_path: Path) -> None:
    write_ulaw_wav(tmp_path / "announcement.wav", tone(1000, 1000))
    persona = Persona.model_validate(
        {"name": "caller", "numbers": [CALLER], "kind": "human", "hello": None, "ring_ms": 100}
    )
    sim = SimCarrier([persona])
    caller: Any = await sim.dial(CALLER)
    await wait_until(lambda: caller.state == CallState.ANSWERED)
    actions = parse_actions(
        [{"dial": {"targets": [AGENT], "timeout_s": 10}}, {"say": {"text": "Sorry"}}]
    )
    with sipp_uas("early_media_480.xml", tmp_path) as target:
        await wait_listening(target.port)
        carrier = SipCarrier.from_url(f"sip://127.0.0.1:{target.port};local_host=127.0.0.1")
        try:
            result = await ActionRunner(caller, ToneTts(), carrier=carrier).run(actions)
        finally:
            await carrier.close()
        target_code = await asyncio.to_thread(target.wait, 30)
    assert target_code == 0, target.errors()
    assert result.dials[0].outcomes == ("unavailable",)
    tones = frame_tones(caller.heard_robot_audio)
    relayed = frames_near(tones, 1000.0)
    assert len(relayed) >= 40  # most of SIPp's one-second 1 kHz announcement
    ringback = frames_near(tones, 480.0)
    assert [i for i in ringback if min(relayed) <= i <= max(relayed)] == []
    await sim.close()


async def test_the_relayed_early_media_is_the_targets_audio(engine: Engine, tmp_path: Path) -> None:
    """The same call with the SIP carrier's own user agent as the caller, which keeps what it
    receives: the target's 1 kHz announcement arrives before the final 480, never answered."""
    add_support(engine, [{"dial": {"targets": [AGENT], "answer_on_bridge": True}}])
    write_ulaw_wav(tmp_path / "announcement.wav", tone(1000, 1000))
    listen_port = free_port()
    with sipp_uas("early_media_480.xml", tmp_path) as target:
        await wait_listening(target.port)
        url = f"sip://127.0.0.1:{target.port};local_host=127.0.0.1;listen=127.0.0.1:{listen_port}"
        async with httpx.AsyncClient() as client:
            router = RoutingClient(engine, client, allow_private=True)
            control = CallControl.from_url(engine, url, ToneTts(), router=router)
            await control.start()
            phone = SipCarrier.from_url(f"sip://127.0.0.1:{listen_port};local_host=127.0.0.1")
            try:
                call = await phone.dial(SUPPORT, ring_timeout_s=20)
                frames = []
                async with asyncio.timeout(30):
                    async for frame in call.audio():
                        frames.append(frame)
                await asyncio.wait_for(control.wait_idle(), 30)
            finally:
                await phone.close()
                await control.close()
        target_code = await asyncio.to_thread(target.wait, 30)
    assert target_code == 0, target.errors()
    s = call.signalling
    assert s.provisional[:1] == [180] and 183 in s.provisional and s.early_media
    assert (s.final_status, s.answer_ms) == (480, None)
    audio = AudioChunk(b"".join(f.pcm for f in frames), 8000)
    assert len(frames_near(frame_tones(audio), 1000.0)) >= 40
