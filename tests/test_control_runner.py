"""Running actions on calls of the simulated network: prompts, keys, hang-ups, dial and bridge.

The personas press keys and hang up in answer to the runner's prompts (a loud tone from
:class:`fakes.ToneTts`), so nothing here waits on a clock: every wait has a generous guard.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from robot.carriers.base import CallState
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_driver import wait_until
from robot.control.actions import parse_actions
from robot.control.runner import ActionRunner, UnsupportedActionError
from tests.fakes import ToneTts

CALLER, AGENT, REFUSER = "+12025550170", "+12025550171", "+12025550172"


def persona(number: str, **fields: Any) -> Persona:
    base: dict[str, Any] = {
        "name": f"p{number[-2:]}",
        "numbers": [number],
        "kind": "human",
        "hello": None,
        "ring_ms": 100,
        "answer_delay_ms": 0,
    }
    return Persona.model_validate(base | fields)


async def answered_call(carrier: SimCarrier, number: str = CALLER) -> Any:
    call = await carrier.dial(number)
    await wait_until(lambda: call.state == CallState.ANSWERED)
    return call


def loud_ms(audio: Any) -> float:
    frames = [np.abs(np.frombuffer(f.pcm, "<i2")).max() for f in audio.frames()]
    return 20.0 * sum(1 for peak in frames if peak > 1000)


async def test_prompt_keys_and_hangup() -> None:
    caller = persona(CALLER, lines=[{"dtmf": "42#", "think_ms": 100}])
    carrier = SimCarrier([caller], speed=2.0, prompt_end_silence_ms=300)
    call = await answered_call(carrier)
    tts = ToneTts()
    actions = parse_actions(
        [
            {"say": {"text": "Please enter your code"}},
            {"gather": {"max_digits": 4, "timeout_s": 20}},
            {"pause": {"ms": 100}},
            {"say": {"text": "Thanks"}},
            {"hangup": {}},
        ]
    )
    result = await ActionRunner(call, tts).run(actions)
    assert [(g.digits, g.reason) for g in result.gathers] == [("42", "finish_key")]
    assert result.ended_by == "hangup" and result.last_index == 4
    assert tts.texts == ["Please enter your code", "Thanks"]
    assert call.state == CallState.ENDED and call.signalling.hangup_by == "local"
    assert loud_ms(call.heard_robot_audio) >= 500
    await carrier.close()


async def test_gather_times_out_and_the_list_ends_with_a_hangup() -> None:
    carrier = SimCarrier([persona(CALLER)], speed=2.0)
    call = await answered_call(carrier)
    actions = parse_actions([{"gather": {"max_digits": 2, "timeout_s": 0.2}}])
    result = await ActionRunner(call, ToneTts()).run(actions)
    assert [(g.digits, g.reason) for g in result.gathers] == [("", "timeout")]
    assert result.ended_by == "end_of_list" and call.state == CallState.ENDED
    await carrier.close()


async def test_a_caller_hanging_up_stops_the_list() -> None:
    quitter = persona(CALLER, lines=[{"hangup_after": True, "interrupt_after_ms": 200}])
    carrier = SimCarrier([quitter], speed=2.0)
    call = await answered_call(carrier)
    tts = ToneTts(max_ms=20_000)
    actions = parse_actions(
        [{"say": {"text": "x" * 500}}, {"gather": {"timeout_s": 30}}, {"say": {"text": "late"}}]
    )
    result = await ActionRunner(call, tts).run(actions)
    assert result.ended_by == "remote" and result.last_index <= 1
    assert "late" not in tts.texts
    assert call.signalling.hangup_by == "remote"
    await carrier.close()


async def test_dial_whispers_confirms_and_bridges() -> None:
    caller = persona(CALLER, noise={"color": "white", "snr_db": 40})
    agent = persona(AGENT, lines=[{"dtmf": "1", "think_ms": 100}])
    refuser = persona(REFUSER, ring_ms=50, lines=[{"dtmf": "9", "think_ms": 0}])
    carrier = SimCarrier([caller, agent, refuser], speed=2.0, prompt_end_silence_ms=300)
    call = await answered_call(carrier)
    actions = parse_actions(
        [
            {
                "dial": {
                    "targets": [
                        {"to": REFUSER, "whisper": "Press one", "confirm": "1"},
                        {"to": AGENT, "whisper": "Press one", "confirm": "1"},
                    ],
                    "caller_id": "+12025550100",
                    "timeout_s": 20,
                    "time_limit_s": 2,
                }
            },
            {"say": {"text": "Goodbye"}},
        ]
    )
    tts = ToneTts()
    result = await ActionRunner(call, tts, carrier=carrier).run(actions)
    (dial,) = result.dials
    assert dial.bridged_target == 1
    assert dial.outcomes == ("not_confirmed", "bridged")
    assert tts.texts == ["Press one", "Press one", "Goodbye"]
    legs = {c.persona.numbers[0]: c for c in carrier.calls if c.persona is not None}
    agent_leg = legs[AGENT]
    assert agent_leg.state == CallState.ENDED and agent_leg.signalling.hangup_by == "local"
    # The agent heard the whisper, then the caller's line (its noise) through the bridge.
    heard = agent_leg.heard_robot_audio
    assert loud_ms(heard) > 0
    quiet = [f for f in heard.frames() if 0 < np.abs(np.frombuffer(f.pcm, "<i2")).max() < 1000]
    assert len(quiet) * 20.0 > 200
    assert result.ended_by == "end_of_list" and call.state == CallState.ENDED
    await carrier.close()


async def test_unsupported_actions_are_refused_before_anything_plays() -> None:
    carrier = SimCarrier([persona(CALLER)], speed=2.0)
    call = await answered_call(carrier)
    tts = ToneTts()
    actions = parse_actions([{"say": {"text": "hi"}}, {"conference": {"name": "room"}}])
    with pytest.raises(UnsupportedActionError, match=r"actions\[1\]: conference"):
        await ActionRunner(call, tts).run(actions)
    assert tts.texts == []
    await carrier.close()
