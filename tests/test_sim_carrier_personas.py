"""Persona files (bundled ones and positioned errors) and the persona's turn-taking rules.

The turn-taking tests drive :class:`PersonaConversation` frame by frame with synthetic robot
audio and pre-made persona audio: they check the rules, not the engines (the real engines and
timing are in test_sim_carrier.py).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import phonenumbers
import pydantic
import pytest

from robot.audio import AudioChunk
from robot.carriers.persona_loader import (
    BUNDLED_PERSONA_DIR,
    PersonaError,
    load_personas,
    parse_persona,
)
from robot.carriers.personas import Persona, PersonaKind
from robot.carriers.sim_audio import FRAME_BYTES, SILENCE_FRAME, frame_rms, tone
from robot.carriers.sim_conversation import PersonaConversation

ROBOT_FRAME = tone(440.0, 20, -12.0)


# --- bundled personas -----------------------------------------------------------------------


def test_bundled_personas_cover_every_kind_on_fictional_numbers() -> None:
    personas = load_personas()
    assert {p.kind for p in personas} == set(PersonaKind)
    numbers = [n for p in personas for n in p.numbers]
    assert len(numbers) == len(set(numbers))
    # 555-01xx: the range reserved for fiction, valid numbers for the lead importer.
    assert all(n.startswith("+120255501") and len(n) == 12 for n in numbers)
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(n)) for n in numbers)
    names = {p.name for p in personas}
    for wanted in (
        "interested", "interested_callback", "not_interested", "call_me_later", "wrong_person",
        "asks_who", "do_not_call", "interrupter", "voicemail", "carrier_voicemail", "busy",
        "no_answer", "invalid_number", "phone_off",
    ):  # fmt: skip
        assert wanted in names
    by_name = {p.name: p for p in personas}
    assert any(line.interrupt_after_ms for line in by_name["interrupter"].lines)
    assert by_name["carrier_voicemail"].voicemail.diversion  # type: ignore[union-attr]
    assert not by_name["voicemail"].voicemail.diversion  # type: ignore[union-attr]
    assert all(p.voice.pitch != 1.0 for p in personas if p.kind == PersonaKind.HUMAN)


def test_load_personas_reads_a_folder_and_single_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text('name: a\nnumber: "+12025550180"\nkind: busy\n')
    (tmp_path / "b.yml").write_text(
        'name: b\nnumbers: ["+12025550181", "+12025550182"]\nkind: busy\n'
    )
    assert [p.name for p in load_personas(tmp_path)] == ["a", "b"]
    assert [p.numbers for p in load_personas(tmp_path / "b.yml")] == [
        ("+12025550181", "+12025550182")
    ]


# --- errors with FILE:LINE:COL ------------------------------------------------------------

BROKEN = """\
name: Not An Identifier
numbers: ["+12025550101", 15550102]
kind: human
voice: {engine: espeak}
ring_ms: -5
lines:
  - say: Yes.
  - think_ms: 100
  - say: Hi.
    dtmf: "12x"
    colour: red
"""


def test_every_problem_is_reported_with_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    with pytest.raises(PersonaError) as info:
        load_personas(path)
    found = [(p.line, p.column, p.message) for p in info.value.problems]
    assert all(p.file == str(path) for p in info.value.problems)
    assert [(line, col) for line, col, _ in found] == [
        (1, 7), (2, 27), (4, 8), (5, 10), (8, 5), (10, 11), (11, 5)
    ]  # fmt: skip
    messages = "\n".join(m for _, _, m in found)
    assert "lower_snake_case" in messages
    assert "quote it in YAML" in messages
    assert "needs a variant" in messages
    assert "greater than or equal to 0" in messages
    assert "a line needs 'say', 'dtmf' or 'hangup_after'" in messages
    assert "DTMF digits" in messages
    assert "unknown field 'colour' in lines[2]" in messages
    assert str(info.value).splitlines()[0].startswith(f"{path}:1:7: name:")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("name: x\nkind: voicemail\nnumber: '+12025550101'\n", 2, "needs a 'voicemail' section"),
        ("name: x\nnumber: '+12025550101'\nkind: busy\nlines:\n  - say: hi\n", 4, "'lines' only"),
        ("name: x\nkind: human\n", 1, "missing required field 'numbers'"),
        ("name: x\nnumber: '+12025550101'\nkind: sleepy\n", 3, "kind"),
        ("name: x\n  bad: [\n", 2, "YAML"),
        ("- a list\n", 1, "a persona is a YAML mapping"),
        ("name: x\nname: y\n", 2, "YAML"),
    ],
)
def test_rule_errors_point_at_the_right_line(text: str, line: int, needle: str) -> None:
    with pytest.raises(PersonaError) as info:
        parse_persona(text, "qa/p.yaml")
    problem = info.value.problems[0]
    assert problem.file == "qa/p.yaml" and problem.line == line
    assert needle in problem.message


def test_a_number_claimed_twice_is_an_error_on_the_second_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text('name: a\nnumber: "+12025550180"\nkind: busy\n')
    (tmp_path / "b.yaml").write_text('name: b\nkind: busy\n\nnumber: "+12025550180"\n')
    with pytest.raises(PersonaError) as info:
        load_personas(tmp_path)
    (problem,) = info.value.problems
    assert problem.file.endswith("b.yaml") and problem.line == 4
    assert "already used by persona 'a'" in problem.message


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match="persona folder not found"):
        load_personas(tmp_path / "nope")


def test_bundled_folder_holds_only_valid_yaml() -> None:
    for path in sorted(BUNDLED_PERSONA_DIR.glob("*.yaml")):
        assert parse_persona(path.read_text(), str(path)).name == path.stem


# --- turn taking, frame by frame --------------------------------------------------------------


def ready(pcm: bytes) -> Future[AudioChunk]:
    future: Future[AudioChunk] = Future()
    future.set_result(AudioChunk(pcm))
    return future


def voice_pcm(ms: int) -> bytes:
    return tone(300.0, ms, -15.0)


def human(**fields: Any) -> Persona:
    base = {"name": "t", "number": "+12025550190", "kind": "human", "answer_delay_ms": 100}
    return Persona.model_validate(base | fields)


class Simulation:
    """Runs a conversation on a 20 ms clock with a scripted robot."""

    def __init__(
        self,
        persona: Persona,
        speech: dict[str, bytes],
        listen: Callable[[bytes], Future[str]] | None = None,
    ) -> None:
        self.dtmf: list[str] = []
        self.conversation = PersonaConversation(
            persona,
            {text: ready(pcm) for text, pcm in speech.items()},
            answered_ms=0.0,
            prompt_end_silence_ms=400.0,
            on_dtmf=self.dtmf.append,
            listen=listen,
        )
        self.now_ms = 0.0
        self.sent: list[bytes] = []
        self.hung_up_at: float | None = None

    def run(self, ms: float, robot: bytes | None = None) -> None:
        """Advance ``ms``; the robot sends ``robot`` frames all along (None: nothing)."""
        end = self.now_ms + ms
        while self.now_ms < end and self.hung_up_at is None:
            frame = self.conversation.step(self.now_ms, robot)
            if frame is None:
                self.hung_up_at = self.now_ms
            else:
                assert len(frame) == FRAME_BYTES
                self.sent.append(frame)
            self.now_ms += 20

    def speaking_at(self, ms: float) -> bool:
        return frame_rms(self.sent[int(ms // 20)]) > 100


def test_hello_after_the_answer_delay_then_a_line_after_each_prompt() -> None:
    persona = human(hello="Hello?", lines=[{"say": "Yes.", "think_ms": 600}])
    sim = Simulation(persona, {"Hello?": voice_pcm(400), "Yes.": voice_pcm(300)})
    sim.run(1000)
    assert not sim.speaking_at(60) and sim.speaking_at(120) and not sim.speaking_at(540)
    sim.run(1000, ROBOT_FRAME)  # robot prompt 1000..2000 ms
    sim.run(300)
    assert sim.conversation.prompts[0].end_ms is None  # 300 ms of silence: not over yet
    sim.run(1700)
    prompt = sim.conversation.prompts[0]
    assert (prompt.start_ms, prompt.end_ms) == (1000, 2000)
    said = sim.conversation.spoken[1]
    assert (said.turn, said.start_ms, said.end_ms) == (1, 2600, 2900)
    assert sim.speaking_at(2600) and not sim.speaking_at(2580) and not sim.speaking_at(2900)


def test_short_pauses_inside_a_prompt_do_not_end_it() -> None:
    persona = human(hello=None, lines=[{"say": "Yes."}, {"say": "No."}])
    sim = Simulation(persona, {"Yes.": voice_pcm(200), "No.": voice_pcm(200)})
    sim.run(500, ROBOT_FRAME)
    sim.run(300, SILENCE_FRAME)  # a sentence gap, robot audio still flowing
    sim.run(500, ROBOT_FRAME)
    sim.run(2000)
    assert len(sim.conversation.prompts) == 1
    assert [s.text for s in sim.conversation.spoken] == ["Yes."]


def test_robot_going_on_before_the_answer_starts_is_the_same_prompt() -> None:
    persona = human(hello=None, lines=[{"say": "Yes.", "think_ms": 600}, {"say": "No."}])
    sim = Simulation(persona, {"Yes.": voice_pcm(200), "No.": voice_pcm(200)})
    conversation = sim.conversation
    sim.run(1000, ROBOT_FRAME)  # a reply ...
    sim.run(500)  # ... a 500 ms gap: the prompt ends at 1000 ms, the answer is due at 1600 ms
    assert conversation.prompts[0].end_ms == 1000
    sim.run(500, ROBOT_FRAME)  # ... then the question, from 1500 ms
    sim.run(3000)
    assert [(p.start_ms, p.end_ms) for p in conversation.prompts] == [(0, 2000)]
    assert [(s.text, s.start_ms) for s in conversation.spoken] == [("Yes.", 2600)]


def test_after_a_very_short_prompt_the_persona_waits_for_the_question() -> None:
    persona = human(hello=None, lines=[{"say": "Yes.", "think_ms": 600}, {"say": "No."}])
    sim = Simulation(persona, {"Yes.": voice_pcm(200), "No.": voice_pcm(200)})
    conversation = sim.conversation
    sim.run(300, ROBOT_FRAME)  # "Great." ...
    sim.run(2000)  # ... a robot slow to go on ...
    assert conversation.prompts[0].end_ms is None and not conversation.spoken
    sim.run(1500, ROBOT_FRAME)  # ... "Are you still interested?"
    sim.run(3000)
    assert [(p.start_ms, p.end_ms) for p in conversation.prompts] == [(0, 3800)]
    assert [s.start_ms for s in conversation.spoken] == [4400]
    sim.run(300, ROBOT_FRAME)  # a short prompt from 6800 ms that really is the whole turn ...
    sim.run(4000)
    assert conversation.prompts[1].end_ms == 7100
    assert conversation.spoken[1].start_ms == 7080 + 3000  # ... answered after the wait


def test_a_robot_that_talks_on_over_a_barge_in() -> None:
    persona = human(hello=None, lines=[{"say": "Stop.", "interrupt_after_ms": 500}])
    sim = Simulation(persona, {"Stop.": voice_pcm(600)})
    sim.run(700, ROBOT_FRAME)  # the persona starts at 500 ms; the robot goes on to 680 ms
    sim.run(2000)
    conversation = sim.conversation
    assert conversation.spoken[0].barge_in and sim.speaking_at(520)
    (barge_in,) = conversation.barge_ins
    assert (barge_in.start_ms, barge_in.end_ms, barge_in.robot_stopped_ms) == (500, 1100, None)
    assert barge_in.talkover_ms == 180


def test_a_robot_that_stops_for_a_barge_in_and_one_that_leaks_audio_after() -> None:
    persona = human(hello=None, lines=[{"say": "Stop.", "interrupt_after_ms": 500}])
    sim = Simulation(persona, {"Stop.": voice_pcm(1000)})
    sim.run(800, ROBOT_FRAME)  # the robot hears the persona and stops at 780 ms ...
    sim.conversation.robot_stopped()
    sim.run(200, ROBOT_FRAME)  # ... but sends another 200 ms of speech
    sim.run(2000)
    sim.conversation.robot_stopped()  # a later stop is not a reaction to this barge-in
    (barge_in,) = sim.conversation.barge_ins
    assert (barge_in.start_ms, barge_in.robot_stopped_ms, barge_in.end_ms) == (500, 780, 1500)
    assert barge_in.talkover_ms == 280
    assert barge_in.after_stop_ms == 200


def test_dtmf_and_hangup_after_a_line() -> None:
    persona = human(hello=None, lines=[{"dtmf": "1#", "hangup_after": True}])
    sim = Simulation(persona, {})
    sim.run(1000, ROBOT_FRAME)
    sim.run(3000)
    assert sim.dtmf == ["1", "#"]
    assert sim.hung_up_at == 1000 + 600 + 300  # prompt end + think + pause before the BYE


def test_dead_air_after_pickup_brings_the_hello_again_twice_at_most() -> None:
    persona = human(hello="Hello?", hello_repeat_ms=1000, lines=[{"say": "Yes."}])
    sim = Simulation(persona, {"Hello?": voice_pcm(400), "Yes.": voice_pcm(200)})
    sim.run(5000)
    starts = [s.start_ms for s in sim.conversation.spoken]
    assert starts == [100, 1500, 2900]  # each 1 s after the previous hello ended
    sim.run(500, ROBOT_FRAME)
    sim.run(3000)
    assert [s.text for s in sim.conversation.spoken] == ["Hello?"] * 3 + ["Yes."]


def test_persona_hangs_up_when_nobody_talks() -> None:
    persona = human(hello="Hi.", patience_ms=2000)
    sim = Simulation(persona, {"Hi.": voice_pcm(200)})
    sim.run(10_000)
    assert sim.hung_up_at == 100 + 200 + 2000  # hello ends at 300 ms


def test_voicemail_plays_greeting_beep_then_records_until_its_limit() -> None:
    persona = Persona.model_validate(
        {
            "name": "vm",
            "number": "+12025550190",
            "kind": "voicemail",
            "answer_delay_ms": 0,
            "voicemail": {"greeting": "Leave a message.", "record_max_ms": 1000},
        }
    )
    sim = Simulation(persona, {"Leave a message.": voice_pcm(1000)})
    sim.run(500, ROBOT_FRAME)  # a robot talking over the greeting changes nothing
    sim.run(5000)
    assert sim.speaking_at(900)  # greeting
    beep = np.frombuffer(b"".join(sim.sent[65:90]), dtype="<i2")  # 1300..1800 ms
    spectrum = np.abs(np.fft.rfft(beep))
    assert np.argmax(spectrum) * 8000 / len(beep) == pytest.approx(1000, abs=20)
    assert sim.hung_up_at == 1000 + 300 + 500 + 1000


# --- the bundled personas fit the demo script ---------------------------------------------

EXPECTED_DISPOSITIONS = {
    "interested": "transferred",
    "interested_callback": "qualified",
    "not_interested": "not_interested",
    "call_me_later": "callback",
    "wrong_person": "wrong_person",
    "asks_who": "qualified",
    "do_not_call": "do_not_call",
    "interrupter": "transferred",
}


@pytest.fixture(scope="module")
def lead_qualification() -> Any:
    from dialogues.loader import load_script

    root = Path(__file__).resolve().parents[1]
    return load_script(root / "dialogues" / "scripts" / "lead_qualification.yaml")


@pytest.mark.parametrize(("name", "disposition"), sorted(EXPECTED_DISPOSITIONS.items()))
def test_human_personas_lead_the_demo_script_to_their_disposition(
    lead_qualification: Any, name: str, disposition: str
) -> None:
    """Each line, as text, answers the question the robot asks at that turn."""
    from datetime import UTC, datetime

    from dialogues.manager import DialogueManager, UserText

    persona = {p.name: p for p in load_personas()}[name]
    manager = DialogueManager(
        lead_qualification,
        lead={"first_name": "Sarah"},
        clock=lambda: datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
    )
    manager.start()
    said = 0
    for line in persona.lines:
        if manager.ended:
            break
        manager.handle(UserText(line.say))
        said += 1
    assert manager.ended
    assert manager.disposition == disposition
    assert all(not line.interrupt_after_ms for line in persona.lines[said:])


# --- the personas commands ------------------------------------------------------------------


def test_personas_validate_command_prints_positioned_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from robot.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["personas", "validate", str(BUNDLED_PERSONA_DIR)])
    assert ok.exit_code == 0 and "16 persona(s) OK" in ok.output
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    bad = runner.invoke(app, ["personas", "validate", str(broken)])
    assert bad.exit_code == 1
    assert f"{broken}:2:27: numbers[1]:" in bad.output


def test_personas_list_and_speak_commands(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from robot.audio import read_wav
    from robot.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["personas", "list", "--json"])
    assert listed.exit_code == 0
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    busy = next(r for r in records if r["name"] == "busy")
    assert busy["numbers"] == ["+12025550111"] and busy["kind"] == "busy"
    (tmp_path / "p.yaml").write_text(
        'name: shorty\nnumber: "+12025550180"\nkind: human\nhello: Hi.\nlines: [{say: "Yes."}]\n'
    )
    out = tmp_path / "shorty.wav"
    spoken = runner.invoke(
        app, ["personas", "speak", "shorty", "--dir", str(tmp_path), "--out", str(out)]
    )
    assert spoken.exit_code == 0, spoken.output
    audio = read_wav(out)
    assert audio.rate == 8000 and audio.duration_ms > 1000
    assert frame_rms(audio.pcm) > 100
    unknown = runner.invoke(app, ["personas", "speak", "nobody", "--out", str(out)])
    assert unknown.exit_code == 2 and "no persona named 'nobody'" in unknown.output


class ScriptedEar:
    """Hears each robot prompt as the next of ``texts`` (and keeps the audio it was given)."""

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.audio: list[bytes] = []

    def __call__(self, pcm: bytes) -> Future[str]:
        self.audio.append(pcm)
        future: Future[str] = Future()
        future.set_result(self.texts.pop(0))
        return future


def test_a_listening_persona_answers_by_what_the_robot_asked() -> None:
    persona = human(
        hello=None,
        lines=[
            {"when": ["call you back"], "say": "No thanks."},
            {"when": ["own your home", "homeowner"], "say": "Yes, I do."},
            {"say": "Pardon?"},
        ],
    )
    assert persona.listens
    ear = ScriptedEar(
        "Do you own your home?",
        "Sorry, I didn't get that. Are you the homeowner?",
        "Can we call you back tomorrow?",
        "What colour is the sky?",
        "What colour is the sky?",
    )
    speech = {"No thanks.": voice_pcm(300), "Yes, I do.": voice_pcm(300), "Pardon?": voice_pcm(300)}
    sim = Simulation(persona, speech, listen=ear)
    for _ in range(5):
        sim.run(1000, ROBOT_FRAME)
        sim.run(2000)
    said = [(line.turn, line.text) for line in sim.conversation.spoken]
    assert said == [
        (1, "Yes, I do."),
        (2, "Yes, I do."),  # asked again: the same answer again
        (3, "No thanks."),
        (4, "Pardon?"),  # nothing matches: the next line without 'when'
    ]  # and the fifth prompt finds nothing left to say
    assert sim.conversation.heard[1] == "Do you own your home?"
    assert all(len(pcm) >= 50 * FRAME_BYTES for pcm in ear.audio)  # the whole 1 s prompt


def test_a_listening_persona_waits_for_the_whole_prompt() -> None:
    persona = human(hello=None, lines=[{"when": "callback", "say": "Yes."}])
    ear = ScriptedEar("Would you like a callback?")
    sim = Simulation(persona, {"Yes.": voice_pcm(300)}, listen=ear)
    sim.run(600, ROBOT_FRAME)
    sim.run(420)  # the prompt seems over: the persona starts working it out ...
    sim.run(600, ROBOT_FRAME)  # ... but the robot goes on: the same prompt
    sim.run(1500)
    assert len(ear.audio) == 1 and len(ear.audio[0]) >= 60 * FRAME_BYTES
    assert [line.text for line in sim.conversation.spoken] == ["Yes."]


def test_listening_personas_cannot_barge_in_by_count() -> None:
    with pytest.raises(pydantic.ValidationError, match="cannot use interrupt_after_ms"):
        human(lines=[{"when": "x", "say": "Yes."}, {"say": "No.", "interrupt_after_ms": 500}])


def test_a_counting_persona_answers_a_read_back_without_losing_its_place() -> None:
    persona = human(
        hello=None,
        lines=[
            {"say": "Yes.", "interrupt_after_ms": 400},
            {"say": "About fifteen thousand."},
            {"say": "Within a month."},
        ],
        confirm={"when": ["is that right"], "say": "That's right."},
    )
    assert not persona.listens and "That's right." in persona.texts()
    ear = ScriptedEar(  # the first prompt is answered by a barge-in: never transcribed
        "What budget do you have in mind?",
        "Fifteen thousand dollars, is that right?",
        "Fifteen thousand dollars, is that right?",  # asked again: confirmed again
        "And when would you like it installed?",
    )
    speech = {
        text: voice_pcm(300)
        for text in ("Yes.", "About fifteen thousand.", "That's right.", "Within a month.")
    }
    sim = Simulation(persona, speech, listen=ear)
    for _ in range(5):
        sim.run(1000, ROBOT_FRAME)
        sim.run(2000)
    said = [(line.turn, line.text) for line in sim.conversation.spoken]
    assert said == [
        (1, "Yes."),  # the first line, barging in as scripted
        (2, "About fifteen thousand."),
        (3, "That's right."),
        (4, "That's right."),
        (5, "Within a month."),  # the third line: the read-backs took no turn of the lines
    ]
    assert len(ear.audio) == 4


def test_a_confirm_answer_needs_when_phrases() -> None:
    with pytest.raises(pydantic.ValidationError, match="'confirm' needs 'when'"):
        human(lines=[{"say": "Yes."}], confirm={"say": "Yes."})


def test_a_counting_persona_asked_again_says_its_last_line_again() -> None:
    persona = human(
        hello=None,
        lines=[{"say": "Yes."}, {"say": "Within a month."}, {"say": "Connect me."}],
        repeat_when=["sorry"],
    )
    ear = ScriptedEar(
        "Am I speaking with John?",
        "When would you like it installed?",
        "Sorry, would that be within a month or later?",  # the answer was not understood
        "Shall I connect you?",
    )
    speech = {text: voice_pcm(300) for text in ("Yes.", "Within a month.", "Connect me.")}
    sim = Simulation(persona, speech, listen=ear)
    for _ in range(4):
        sim.run(1000, ROBOT_FRAME)
        sim.run(2000)
    said = [(line.turn, line.text) for line in sim.conversation.spoken]
    assert said == [(1, "Yes."), (2, "Within a month."), (3, "Within a month."), (4, "Connect me.")]


def test_repeat_when_is_for_personas_that_count_prompts() -> None:
    with pytest.raises(pydantic.ValidationError, match="'repeat_when' applies"):
        human(lines=[{"when": "x", "say": "Yes."}], repeat_when=["sorry"])
