"""Whole calls through the simulated network with the real engines.

Piper speaks for the robot and (with other voices) for the callee personas, Whisper listens,
Silero VAD finds speech, the voicemail detector decides who answered, and the dialogue
manager runs the bundled lead-qualification script. Each test asserts how calls end, what
was understood, barge-in behaviour and what the recordings contain.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dialogues.loader import LoadedScript, load_script
from robot.audio import AudioChunk
from robot.carriers.persona_loader import parse_persona
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_call import SimCall
from robot.carriers.sim_ears import PromptIndex
from robot.config import Settings
from robot.engine import CallEngine
from robot.recording import read_recording
from robot.session import CallReport

SCRIPT = Path(__file__).resolve().parents[1] / "dialogues" / "scripts" / "lead_qualification.yaml"
SPEED = 1.5

pytestmark = pytest.mark.slow

#: What the robot said, so that the simulated callees need not transcribe it: whether the
#: robot understands them is under test here, not how well they hear.
PROMPTS = PromptIndex()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> CallEngine:
    settings = Settings(data_dir=tmp_path_factory.mktemp("engine"))
    engine = CallEngine(settings=settings)
    PROMPTS.attach(engine)
    engine.warm(loaded_script())
    return engine


@functools.cache
def loaded_script() -> LoadedScript:
    return load_script(SCRIPT)


INTERRUPTER = """\
name: greeting_interrupter
number: "+12025550190"
kind: human
voice: {engine: piper, pitch: 1.18}
ring_ms: 2000
hello: Hello?
lines:
  - say: Sorry, who is calling?
    interrupt_after_ms: 2000
  - say: Stop calling me. Take me off your list.
"""


async def call_all(
    engine: CallEngine,
    numbers: list[str],
    tmp_path: Path,
    *,
    concurrency: int = 3,
    personas: list[Persona] | None = None,
) -> tuple[dict[str, CallReport], list[SimCall]]:
    carrier = SimCarrier(personas, speed=SPEED, listen=PROMPTS.listen)
    calls: list[SimCall] = []
    dial = carrier.dial

    async def recording_dial(number: str, **options: Any) -> SimCall:
        call = await dial(number, **options)
        calls.append(call)
        return call

    carrier.dial = recording_dial  # type: ignore[method-assign]
    limit = asyncio.Semaphore(concurrency)
    reports: dict[str, CallReport] = {}

    async def one(number: str) -> None:
        async with limit:
            reports[number] = await engine.call(
                carrier,
                number,
                loaded_script(),
                lead={"first_name": "John"},
                timezone="America/New_York",
                recording_dir=tmp_path,
            )

    try:
        await asyncio.gather(*(one(n) for n in numbers))
    finally:
        await carrier.close()
    return reports, calls


async def test_dead_numbers_end_with_signalling_outcomes(
    engine: CallEngine, tmp_path: Path
) -> None:
    expected = {
        "+12025550111": ("busy", 17),
        "+12025550112": ("no_answer", 19),
        "+12025550113": ("invalid_number", 1),
        "+12025550114": ("unavailable", 20),
        "+12025550115": ("rejected", 21),
        "+12025550116": ("network_error", 38),
    }
    reports, _ = await call_all(engine, list(expected), tmp_path, concurrency=6)
    for number, (outcome, q850) in expected.items():
        report = reports[number]
        assert (report.outcome, report.q850) == (outcome, q850), number
        assert report.disposition is None and report.transcript == []
        assert report.recording_path is None  # nothing answered, nothing recorded
    assert reports["+12025550111"].signalling["final_status"] == 486
    assert reports["+12025550113"].signalling["early_media"] is True


async def test_answering_machines_are_not_talked_to(engine: CallEngine, tmp_path: Path) -> None:
    reports, _ = await call_all(engine, ["+12025550109", "+12025550110"], tmp_path)
    greeting_machine, carrier_voicemail = reports["+12025550109"], reports["+12025550110"]
    assert greeting_machine.outcome == "machine"
    assert greeting_machine.voicemail_verdict == "machine"
    assert greeting_machine.voicemail_reason
    assert carrier_voicemail.outcome == "machine"
    assert "diversion" in (carrier_voicemail.voicemail_reason or "").lower()
    for report in reports.values():
        assert not any(turn.who == "robot" for turn in report.transcript)


async def test_conversations_reach_the_right_disposition(
    engine: CallEngine, tmp_path: Path
) -> None:
    expected = {
        "+12025550101": "transferred",  # interested, asks to be connected now
        "+12025550103": "not_interested",
        "+12025550104": "callback",  # driving, call me back tomorrow morning
        "+12025550105": "wrong_person",
        "+12025550107": "do_not_call",
    }
    reports, _ = await call_all(engine, list(expected), tmp_path)
    for number, disposition in expected.items():
        report = reports[number]
        said = [t.text for t in report.transcript if t.who == "callee"]
        assert report.outcome == "human", (number, report.voicemail_reason)
        assert report.disposition == disposition, (number, said)
    interested = reports["+12025550101"]
    assert interested.slots["consent"] is True
    # "About fifteen thousand dollars": the amount was understood as an amount of thousands
    # (a busy machine's Whisper has heard "fifteen" as "fifty"; the slot is what is tested).
    budget = interested.slots["budget"]
    assert 10_000 <= float(budget["amount"]) < 100_000, budget
    assert interested.slots["timeframe"] == "within_month"
    assert interested.transfer_to == "+12025550100"
    later = reports["+12025550104"]
    assert later.callback_at is not None and later.callback_at.hour in (9, 10)
    assert reports["+12025550107"].do_not_call
    # The callees knew the prompts they heard from what the robot's voice said.
    assert PROMPTS.by_text > 0


async def test_barge_in_stops_the_robot_and_recording_is_aligned(
    engine: CallEngine, tmp_path: Path
) -> None:
    # The greeting is always the first prompt, so the interruption lands on it every time.
    interrupter = parse_persona(INTERRUPTER, filename="interrupter.yaml")
    reports, calls = await call_all(engine, ["+12025550190"], tmp_path, personas=[interrupter])
    report = reports["+12025550190"]
    assert report.outcome == "human"
    assert report.barge_ins >= 1
    assert any(t.interrupted for t in report.transcript if t.who == "robot")
    [sim_call] = calls
    # The robot stopped talking over the callee, and nothing it had queued leaked out after.
    spoken = [(round(t.start_ms), t.who, t.text, t.interrupted) for t in report.transcript]
    detail = "\n".join(map(str, [*spoken, *sim_call.spoken, *sim_call.robot_prompts]))
    assert len(sim_call.barge_ins) == 1, detail
    [barge_in] = sim_call.barge_ins
    assert barge_in.robot_stopped_ms is not None, barge_in
    assert barge_in.after_stop_ms <= 20.0
    assert sim_call.stop_playback_log and sim_call.stop_playback_log[0][1] > 0

    assert report.recording_path is not None
    callee, robot = read_recording(report.recording_path)
    assert callee.rate == robot.rate == 8000
    assert abs(callee.duration_ms - robot.duration_ms) < 1.0
    left, right = callee.to_float(), robot.to_float()
    assert np.sqrt(np.mean(left**2)) > 0.005 and np.sqrt(np.mean(right**2)) > 0.005
    # The robot's greeting comes first on the robot channel; the callee's hello on the left.
    first_robot = int(np.argmax(np.abs(right) > 0.05))
    first_callee = int(np.argmax(np.abs(left) > 0.05))
    assert first_callee < first_robot
    greeting = AudioChunk(robot.pcm[first_robot * 2 : (first_robot + 8 * 8000) * 2], robot.rate)
    heard = engine.registry.recognizer("en").transcribe(greeting).text.lower()
    # The greeting was cut where the callee interrupted: its end never reached the line.
    # (The cut falls near "assistant", so only the words before it are certain.)
    assert "anna" in heard and "automated" in heard
    assert "recorded line" not in heard


async def test_voicemail_message_is_left_after_the_beep(engine: CallEngine, tmp_path: Path) -> None:
    text = SCRIPT.read_text().replace(
        "  max_retries: 2\n",
        "  max_retries: 2\n  on_machine: leave_message\n"
        '  voicemail_message: "Hi {lead.first_name}, this is BrightHome Solar. Please call us."\n',
        1,
    )
    (tmp_path / "common_intents.yml").write_text((SCRIPT.parent / "common_intents.yml").read_text())
    script_path = tmp_path / "lead_qualification.yaml"
    script_path.write_text(text)
    loaded = load_script(script_path)
    carrier = SimCarrier(speed=SPEED)
    try:
        report = await engine.call(
            carrier, "+12025550109", loaded, lead={"first_name": "John"}, recording_dir=tmp_path
        )
    finally:
        await carrier.close()
    assert report.outcome == "machine"
    [message] = [t for t in report.transcript if t.who == "robot"]
    assert message.text == "Hi John, this is BrightHome Solar. Please call us."
    [call] = [c for c in carrier.calls if c.number == "+12025550109"]
    heard, callee = call.heard_robot_audio.to_float(), call.callee_audio.to_float()
    assert heard.size > 0 and float(np.abs(heard).max()) > 0.05
    onset = int(np.argmax(np.abs(heard) > 0.05))

    # Before the robot spoke: the greeting and its beep; from then on the machine records.
    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(x**2))) if x.size else 0.0

    assert rms(callee[:onset]) > 4 * rms(callee[onset : onset + 8000])
