"""Uploaded media played by ``play``, ``dial.answer_on_bridge`` and early media relayed to the
caller, on the simulated network with a real database (SQLite).

What a caller heard is the sim persona's record of our audio, so the checks are about which
tones reached it and in which order, never about how long anything took.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from sqlalchemy.engine import Engine
from sqlmodel import select

from models.number import PhoneNumber
from models.transactions import session_scope
from robot.audio import AudioChunk
from robot.carriers.base import CallState
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_driver import wait_until
from robot.carriers.sim_inbound import ring_in
from robot.control.inbound import answer_inbound
from robot.control.media_store import store_media
from robot.control.routing import InboundCall, RoutingClient
from robot.control.service import CallControl
from robot.dialler.campaigns import get_or_create_tenant
from robot.input_limits import InputLimits
from tests.fakes import ToneTts

from fixtures.database import open_fresh_database

SECRET = "rtsec_test_secret_0123456789"
ALICE, BOB = "+12025550170", "+12025550171"
SUPPORT = "+12025550100"
ANNOUNCEMENT = "The number you have called is not in service"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


def persona(number: str, **fields: Any) -> Persona:
    base = {"name": f"p{number[-2:]}", "numbers": [number], "kind": "human", "hello": None}
    return Persona.model_validate(base | {"ring_ms": 100, "answer_delay_ms": 0} | fields)


def add_number(engine: Engine, actions: list[dict[str, Any]], tenant: str = "acme") -> int:
    tenant_id = get_or_create_tenant(engine, tenant)
    with session_scope(engine) as session:
        session.add(
            PhoneNumber(
                tenant_id=tenant_id,
                number=SUPPORT,
                routing_secret=SECRET,
                default_actions=actions,
            )
        )
    return tenant_id


def tone_wav(hz: float, seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    out = io.BytesIO()
    sf.write(out, (0.4 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2"), rate, format="WAV")
    return out.getvalue()


def upload(engine: Engine, root: Path, tenant: str, hz: float, seconds: float) -> str:
    tenant_id = get_or_create_tenant(engine, tenant)
    stored = store_media(
        engine,
        root,
        tenant_id,
        tone_wav(hz, seconds),
        "tone.wav",
        limits=InputLimits(),
        max_stored=10,
    )
    return stored.media_id


def frame_tones(audio: AudioChunk) -> list[float | None]:
    """Per 20 ms frame: its dominant frequency in Hz (5 Hz steps), or None when quiet."""
    tones: list[float | None] = []
    for frame in audio.frames():
        samples = frame.to_array().astype(np.float64)
        if np.abs(samples).max() < 1000:
            tones.append(None)
            continue
        spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)), 1600))
        tones.append(float(np.argmax(spectrum) * 8000 / 1600))
    return tones


def frames_near(tones: list[float | None], hz: float) -> list[int]:
    return [i for i, f in enumerate(tones) if f is not None and abs(f - hz) <= 15]


async def run_inbound(
    engine: Engine, carrier: SimCarrier, root: Path, from_number: str = ALICE
) -> tuple[Any, Any]:
    """The caller's leg answered (a sim call to the persona), then the number's actions."""
    leg = await carrier.dial(from_number)
    await wait_until(lambda: leg.state == CallState.ANSWERED)
    async with httpx.AsyncClient() as client:
        router = RoutingClient(engine, client, allow_private=True)
        outcome = await answer_inbound(
            engine,
            leg,
            InboundCall("call_in_1", from_number, SUPPORT),
            router=router,
            voice=ToneTts(),
            carrier=carrier,
            recording_dir=root,
        )
    return outcome, leg


async def test_play_media_id_plays_the_tenants_upload(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    media_id = upload(engine, root, "acme", 1000.0, 0.6)
    add_number(engine, [{"play": {"media_id": media_id, "loop": 2}}, {"hangup": {}}])
    carrier = SimCarrier([persona(ALICE)])
    outcome, leg = await run_inbound(engine, carrier, root)
    assert outcome.kind == "routed" and outcome.result.ended_by == "hangup"
    tones = frame_tones(leg.heard_robot_audio)
    # Twice 600 ms of the uploaded 1 kHz tone (resampled from 16 kHz), nothing else loud.
    assert 55 <= len(frames_near(tones, 1000.0)) <= 61
    assert all(f is None or abs(f - 1000.0) <= 15 for f in tones)
    await carrier.close()


@pytest.mark.parametrize("whose", ["unknown", "other_tenant"])
async def test_a_media_id_the_tenant_has_not_uploaded_is_refused_before_anything_plays(
    engine: Engine, tmp_path: Path, whose: str
) -> None:
    root = tmp_path / "recordings"
    add_number(engine, [])
    mine = upload(engine, root, "acme", 1000.0, 0.3)
    wanted = "med_" + "0" * 24 if whose == "unknown" else upload(engine, root, "globex", 700, 0.3)
    actions = [
        {"say": {"text": "Welcome"}},
        {"play": {"media_id": mine}},
        {"play": {"media_id": wanted}},
    ]
    with session_scope(engine) as session:
        number = session.exec(select(PhoneNumber)).one()
        number.default_actions = actions
    carrier = SimCarrier([persona(ALICE)])
    outcome, leg = await run_inbound(engine, carrier, root)
    assert outcome.kind == "failed"
    assert f"actions[2].play.media_id: no uploaded media '{wanted}'" in outcome.error
    assert "actions[1]" not in outcome.error
    assert frame_tones(leg.heard_robot_audio).count(None) == len(frame_tones(leg.heard_robot_audio))
    assert leg.state == CallState.ENDED
    await carrier.close()


async def ring_through_control(
    engine: Engine, carrier: SimCarrier, on_answer: Any = None
) -> tuple[Any, Any]:
    """Alice calls our number; it rings until the call control answers it (or refuses it)."""
    async with httpx.AsyncClient() as client:
        router = RoutingClient(engine, client, allow_private=True)
        control = CallControl(engine, carrier, ToneTts(), router=router)
        call = ring_in(carrier, ALICE, SUPPORT)
        if on_answer is not None:
            answer = call.answer

            async def watched() -> None:
                on_answer(call)
                await answer()

            call.answer = watched  # type: ignore[method-assign]
        outcome = await asyncio.create_task(control.accept(call))
        await control.close()
    return outcome, call


@pytest.mark.parametrize(
    ("kind", "status", "outcome_word"),
    [("busy", 486, "busy"), ("rejected", 603, "rejected")],
)
async def test_answer_on_bridge_refuses_the_caller_without_answering(
    engine: Engine, kind: str, status: int, outcome_word: str
) -> None:
    add_number(engine, [{"dial": {"targets": [BOB], "answer_on_bridge": True, "timeout_s": 20}}])
    carrier = SimCarrier([persona(ALICE), persona(BOB, kind=kind)])
    answers: list[Any] = []
    outcome, call = await ring_through_control(engine, carrier, answers.append)
    assert outcome.kind == "routed"
    (dial,) = outcome.result.dials
    assert dial.outcomes == (outcome_word,)
    assert answers == []  # never answered: no 200 OK, no BYE
    s = call.signalling
    assert s.final_status == status and s.answer_ms is None
    assert call.state == CallState.ENDED
    await carrier.close()


async def test_answer_on_bridge_answers_the_caller_once_the_target_answered(
    engine: Engine,
) -> None:
    actions = [{"dial": {"targets": [BOB], "answer_on_bridge": True, "timeout_s": 20}}]
    add_number(engine, actions)
    alice = persona(ALICE, noise={"color": "white", "snr_db": 20})
    bob = persona(BOB, lines=[{"hangup_after": True, "interrupt_after_ms": 200}])
    carrier = SimCarrier([alice, bob])
    target_states: list[list[CallState]] = []

    def on_answer(call: Any) -> None:
        target_states.append([c.state for c in carrier.calls if c is not call])

    outcome, call = await ring_through_control(engine, carrier, on_answer)
    (dial,) = outcome.result.dials
    assert dial.bridged_target == 0 and dial.outcomes == ("bridged",)
    # The caller was answered once, when Bob's leg had already answered.
    assert target_states == [[CallState.ANSWERED]]
    assert call.signalling.final_status == 200
    # While it rang the caller was played nothing (no ringback from us: its network rings).
    bob_leg = next(c for c in carrier.calls if c is not call)
    assert bob_leg.signalling.hangup_by == "remote"
    await carrier.close()


async def test_a_dial_without_answer_on_bridge_answers_first(engine: Engine) -> None:
    add_number(engine, [{"dial": {"targets": [BOB], "timeout_s": 20}}])
    carrier = SimCarrier([persona(ALICE), persona(BOB, kind="busy")])
    outcome, call = await ring_through_control(engine, carrier)
    assert outcome.result.dials[0].outcomes == ("busy",)
    assert call.signalling.final_status == 200  # answered, then hung up after the dial
    assert call.signalling.hangup_by == "local"
    await carrier.close()


async def test_a_targets_early_media_replaces_the_ringback(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "voice"
    folder.mkdir()
    (folder / "announcement.wav").write_bytes(tone_wav(1000.0, 0.6, rate=8000))
    voice = {"engine": "recording", "folder": str(folder)}
    voice["recordings"] = {ANNOUNCEMENT: "announcement.wav"}  # type: ignore[assignment]
    missing = persona(BOB, kind="invalid_number", announcement=ANNOUNCEMENT, voice=voice)
    add_number(engine, [{"dial": {"targets": [BOB], "timeout_s": 20}}, {"say": {"text": "Sorry"}}])
    carrier = SimCarrier([persona(ALICE), missing])
    outcome, leg = await run_inbound(engine, carrier, tmp_path / "recordings")
    (dial,) = outcome.result.dials
    assert dial.outcomes == ("invalid_number",)
    tones = frame_tones(leg.heard_robot_audio)
    sit = frames_near(tones, 913.8) + frames_near(tones, 1370.6) + frames_near(tones, 1776.7)
    announcement = frames_near(tones, 1000.0)
    # The caller heard the target's SIT tones and announcement, relayed from its 183...
    assert len(sit) >= 40 and len(announcement) >= 25
    # ...and no ringback (440 + 480 Hz) from the first SIT tone to the announcement's end.
    ringback = frames_near(tones, 440.0) + frames_near(tones, 480.0)
    first, last = min(sit), max(announcement)
    assert [i for i in ringback if first <= i <= last] == []
    # The list went on after the failed dial (the prompt is a 440 Hz tone, after the relay).
    assert [i for i in frames_near(tones, 440.0) if i > last]
    await carrier.close()
