"""A whole call with a persona that listens: it transcribes the robot's prompts (Whisper
tiny.en) and answers each by its meaning. Its lines are written in the opposite order to the
robot's questions, so a persona answering by prompt count would end the call differently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dialogues.loader import load_script_text
from robot.carriers.persona_loader import parse_persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_call import SimCall
from robot.config import Settings
from robot.engine import CallEngine

SCRIPT = """\
script: two_questions
start: home
intents:
  affirm: [yes, yes I do, yeah, sure, of course, I do]
  deny: [no, no thanks, nope, not really, no I don't]
states:
  home:
    ask: Do you own your home?
    on:
      affirm: callback
      deny: renter_end
  callback:
    ask: Thank you. Would you like our specialist to call you back tomorrow?
    on:
      affirm: qualified_end
      deny: no_callback_end
  qualified_end:
    say: Great, talk to you tomorrow. Goodbye.
    disposition: qualified
    end: true
  no_callback_end:
    say: All right, thank you for your time. Goodbye.
    disposition: not_interested
    end: true
  renter_end:
    say: I see, this offer is for homeowners only. Goodbye.
    disposition: wrong_person
    end: true
"""

PERSONA = """\
name: listener
number: "+12025550150"
kind: human
voice: {engine: piper, pitch: 1.2}
ring_ms: 1000
answer_delay_ms: 300
hello: Hello?
lines:
  - when: [call you back, callback, tomorrow]
    say: No thanks.
  - when: [home, homeowner]
    say: Yes, I do.
"""


@pytest.mark.slow
async def test_a_listening_persona_answers_questions_by_meaning(tmp_path: Path) -> None:
    engine = CallEngine(settings=Settings(data_dir=tmp_path / "data"))
    loaded = load_script_text(SCRIPT, filename="two_questions.yaml")
    carrier = SimCarrier([parse_persona(PERSONA)], speed=1.5)
    calls: list[SimCall] = []
    dial = carrier.dial

    async def keep(number: str, **options: Any) -> SimCall:
        call = await dial(number, **options)
        calls.append(call)
        return call

    carrier.dial = keep  # type: ignore[method-assign]
    try:
        report = await engine.call(carrier, "+12025550150", loaded, recording_dir=tmp_path)
    finally:
        await carrier.close()
    assert report.error is None, report.error
    assert (report.outcome, report.disposition) == ("human", "not_interested")
    conversation = calls[0].conversation
    assert conversation is not None
    heard = " | ".join(conversation.heard.values()).lower()
    assert "home" in heard and "call you back" in heard, heard
    assert [line.text for line in conversation.spoken[1:]] == ["Yes, I do.", "No thanks."]
