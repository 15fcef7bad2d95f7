"""Callbacks A -> B on the simulated network: A first, the announcement, ringback, B's
whisper, the bridge; a busy or unanswered party ends the callback with its outcome.

What each party heard is read from the personas' own recordings of the robot side (8 kHz):
the runner's speech is a 440 Hz tone (:class:`fakes.ToneTts`), ringback is 440 + 480 Hz and
each party's line carries its own white noise, so every stretch can be told apart. Nothing
waits on a clock: every wait has a generous guard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from models.callback import Callback
from models.transactions import session_scope
from models.webhook import OutboxEvent
from robot.audio import AudioChunk
from robot.carriers.base import CallState
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_call import SimCall
from robot.control.callback import run_callback
from robot.dialler.campaigns import get_or_create_tenant
from tests.fakes import ToneTts

from fixtures.database import open_fresh_database

A, B = "+12025550170", "+12025550171"
SHOWN_TO_A, SHOWN_TO_B = "+12025550100", "+12025550101"
ANNOUNCEMENT = "Connecting you to your agent"
WHISPER = "Customer callback, press one"


def persona(number: str, **fields: Any) -> Persona:
    base = {"name": f"p{number[-2:]}", "numbers": [number], "kind": "human", "hello": None}
    return Persona.model_validate(base | {"ring_ms": 100, "answer_delay_ms": 0} | fields)


class RecordingCarrier(SimCarrier):
    """The sim carrier, noting for each dial what A had heard by then."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dials: list[dict[str, Any]] = []

    async def dial(self, number: str, **options: Any) -> SimCall:
        a_leg = next((c for c in self.calls if c.number == A), None)
        self.dials.append(
            {
                "number": number,
                "caller_id": options.get("caller_id"),
                "a_state": a_leg.state if a_leg else None,
                "a_heard": labels(a_leg.heard_robot_audio) if a_leg else [],
            }
        )
        return await super().dial(number, **options)

    def leg(self, number: str) -> SimCall:
        return next(c for c in self.calls if c.number == number)


def labels(audio: AudioChunk, window_ms: int = 100) -> list[str]:
    """``quiet``, ``speech`` (440 Hz), ``ringback`` (440 + 480 Hz) or ``noise`` per window."""
    samples = np.frombuffer(audio.pcm, "<i2").astype(np.float64)
    size = audio.rate * window_ms // 1000
    out = []
    for start in range(0, len(samples) - size + 1, size):
        window = samples[start : start + size]
        if np.sqrt(np.mean(window**2)) < 100:
            out.append("quiet")
            continue
        power = np.abs(np.fft.rfft(window)) ** 2
        hz = np.fft.rfftfreq(size, 1 / audio.rate)
        total = power.sum()
        at_440 = power[(hz >= 430) & (hz <= 450)].sum() / total
        at_480 = power[(hz >= 470) & (hz <= 490)].sum() / total
        if at_440 + at_480 < 0.6:
            out.append("noise")
        else:
            out.append("ringback" if at_480 > 0.2 else "speech")
    return out


def heard(audio_labels: list[str]) -> list[str]:
    """What was heard, in order, each stretch once (quiet left out)."""
    return [kind for kind, _ in groupby(x for x in audio_labels if x != "quiet")]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


def order(engine: Engine, **fields: Any) -> Callback:
    tenant_id = get_or_create_tenant(engine, "acme")
    values = {
        "a": A,
        "b": B,
        "caller_id_a": SHOWN_TO_A,
        "caller_id_b": SHOWN_TO_B,
        "announce_a": ANNOUNCEMENT,
        "whisper_b": WHISPER,
        "confirm_digit": "1",
        "ring_timeout_s": 20,
    }
    with session_scope(engine) as session:
        row = Callback(tenant_id=tenant_id, **(values | fields))
        session.add(row)
        session.flush()
        return Callback.model_validate(row.model_dump())


def stored(engine: Engine, callback_id: int) -> Callback:
    with session_scope(engine) as session:
        row = session.get(Callback, callback_id)
        assert row is not None
        return Callback.model_validate(row.model_dump())


def events(engine: Engine, callback_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        table = OutboxEvent.__table__  # type: ignore[attr-defined]
        rows = conn.execute(
            select(table.c.body)
            .where(table.c.ordering_key == f"callback:{callback_id}")
            .order_by(table.c.id)
        ).all()
    return [json.loads(r.body) for r in rows]


async def test_a_then_announcement_then_b_with_whisper_then_bridge(engine: Engine) -> None:
    a = persona(A, noise={"color": "white", "snr_db": 20})
    # B presses 1 after the whisper, then hangs up once it hears A's line through the bridge.
    b = persona(
        B,
        noise={"color": "white", "snr_db": 20},
        lines=[{"dtmf": "1", "think_ms": 100}, {"hangup_after": True, "interrupt_after_ms": 600}],
    )
    carrier = RecordingCarrier([a, b], prompt_end_silence_ms=300)
    tts = ToneTts()
    callback = order(engine)
    final = await run_callback(engine, callback, carrier=carrier, voice=tts)
    await carrier.close()

    assert final["status"] == "completed", final
    assert (final["outcome_a"], final["outcome_b"]) == ("completed", "completed")
    # A is dialled first; B only once A answered and heard the whole announcement.
    first, second = carrier.dials
    assert (first["number"], first["caller_id"]) == (A, SHOWN_TO_A)
    assert (second["number"], second["caller_id"]) == (B, SHOWN_TO_B)
    assert second["a_state"] == CallState.ANSWERED
    assert heard(second["a_heard"]) == ["speech"]
    assert tts.texts == [ANNOUNCEMENT, WHISPER]
    # A: the announcement, ringback while B rang and heard its whisper, then B's line.
    a_heard = heard(labels(carrier.leg(A).heard_robot_audio))
    assert a_heard[:3] == ["speech", "ringback", "noise"], a_heard
    assert "speech" not in a_heard[1:]
    # B: the whisper, then A's line; never the announcement or ringback.
    b_heard = heard(labels(carrier.leg(B).heard_robot_audio))
    assert b_heard[:2] == ["speech", "noise"], b_heard
    assert "ringback" not in b_heard
    assert carrier.leg(B).signalling.hangup_by == "remote"
    assert carrier.leg(A).signalling.hangup_by == "local"

    row = stored(engine, callback.id or 0)
    assert row.status == "completed" and row.outcome_b == "completed"
    assert row.answered_a_at and row.bridged_at and row.ended_at
    assert row.answered_a_at <= row.bridged_at <= row.ended_at
    sent = events(engine, callback.id or 0)
    a_types = [e["type"] for e in sent if e["data"]["call_id"] == row.call_id_a]
    b_types = [e["type"] for e in sent if e["data"]["call_id"] == row.call_id_b]
    assert a_types == [
        "call.initiated",
        "call.ringing",
        "call.answered",
        "call.bridged",
        "dial.completed",
        "call.completed",
    ]
    assert b_types == [
        "call.initiated",
        "call.ringing",
        "call.answered",
        "dtmf.received",
        "call.bridged",
        "call.completed",
    ]
    assert all(e["data"]["callback_id"] == callback.id for e in sent)
    b_events = [e["data"] for e in sent if e["data"]["call_id"] == row.call_id_b]
    assert {d["leg"] for d in b_events} == {"b"} and b_events[0]["parent_call_id"] == row.call_id_a


async def test_a_busy_b_ends_a_with_the_outcome(engine: Engine) -> None:
    a = persona(A)
    b = persona(B, kind="busy")
    carrier = RecordingCarrier([a, b], prompt_end_silence_ms=300)
    callback = order(engine)
    final = await run_callback(engine, callback, carrier=carrier, voice=ToneTts())
    await carrier.close()

    assert (final["status"], final["outcome_a"], final["outcome_b"]) == (
        "failed",
        "completed",
        "busy",
    )
    a_leg = carrier.leg(A)
    assert a_leg.state == CallState.ENDED and a_leg.signalling.hangup_by == "local"
    # A heard the announcement then ringback, never silence alone, until B was found busy.
    assert heard(labels(a_leg.heard_robot_audio))[:2] == ["speech", "ringback"]
    row = stored(engine, callback.id or 0)
    assert (row.status, row.outcome_b, row.bridged_at) == ("failed", "busy", None)
    sent = events(engine, callback.id or 0)
    completed = {e["data"]["call_id"]: e["data"] for e in sent if e["type"] == "call.completed"}
    assert completed[row.call_id_b]["outcome"] == "busy"
    assert completed[row.call_id_a]["outcome"] == "completed"
    assert completed[row.call_id_a]["outcome_b"] == "busy"
    dial = next(e["data"] for e in sent if e["type"] == "dial.completed")
    assert [t["outcome"] for t in dial["targets"]] == ["busy"]


async def test_b_is_never_dialled_when_a_does_not_answer(engine: Engine) -> None:
    a = persona(A, kind="no_answer")
    carrier = RecordingCarrier([a, persona(B)])
    callback = order(engine)
    final = await run_callback(engine, callback, carrier=carrier, voice=ToneTts())
    await carrier.close()

    assert [d["number"] for d in carrier.dials] == [A]
    assert (final["status"], final["outcome_a"], final["outcome_b"]) == (
        "failed",
        "no_answer",
        "not_called",
    )
    row = stored(engine, callback.id or 0)
    assert row.answered_a_at is None and row.call_id_b is None
    sent = events(engine, callback.id or 0)
    assert [e["type"] for e in sent] == ["call.initiated", "call.ringing", "call.completed"]
    assert sent[-1]["data"]["outcome"] == "no_answer"
    assert [e["data"]["seq"] for e in sent] == [1, 2, 3]
