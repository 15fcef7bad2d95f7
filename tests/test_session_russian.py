"""A whole call in Russian: the script's language picks the engines.

espeak-ng speaks the bundled Russian script, the multilingual Whisper base (joined from the
``speech-ru`` packages) hears the callee, and the built-in NLU understands Russian. The callee
speaks with real Russian recordings (Debian's Asterisk prompts) through a recording persona.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dialogues.loader import load_script
from robot.audio import silence, write_wav
from robot.carriers.persona_loader import PersonaError, load_personas, parse_persona
from robot.carriers.sim import SimCarrier
from robot.config import Settings
from robot.engine import CallEngine
from robot.recording import read_recording
from robot.speech.espeak import EspeakSynthesizer
from robot.speech.whisper import WhisperRecognizer

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "dialogues" / "scripts" / "courier_notice_ru.yaml"
PERSONAS = ROOT / "tests" / "data" / "personas_ru"


@pytest.mark.slow
async def test_a_russian_callee_who_cannot_talk_now_gets_a_callback(tmp_path: Path) -> None:
    engine = CallEngine(settings=Settings(data_dir=tmp_path / "data"))
    loaded = load_script(SCRIPT)
    assert isinstance(engine.registry.synthesizer("ru"), EspeakSynthesizer)
    assert isinstance(engine.registry.recognizer("ru"), WhisperRecognizer)
    carrier = SimCarrier(load_personas(PERSONAS), speed=1.5)
    try:
        report = await engine.call(
            carrier,
            "+74955550117",
            loaded,
            lead={"first_name": "Анна"},
            timezone="Europe/Moscow",
            recording_dir=tmp_path,
        )
    finally:
        await carrier.close()
    assert report.error is None, report.error
    assert (report.outcome, report.disposition) == ("human", "callback")
    robot = " ".join(t.text for t in report.transcript if t.who == "robot")
    assert "Вам удобно сейчас говорить?" in robot
    assert "мы перезвоним вам позже" in robot
    answers = [t for t in report.transcript if t.who == "callee" and t.intent]
    assert answers and answers[-1].intent == "deny"
    assert "нет" in answers[-1].text.lower()
    assert report.recording_path is not None
    callee, robot_side = read_recording(report.recording_path)
    assert callee.to_array().std() > 100 and robot_side.to_array().std() > 100


def test_a_recording_voice_needs_a_file_for_everything_the_persona_says(
    tmp_path: Path,
) -> None:
    write_wav(tmp_path / "hello.wav", silence(300))
    text = """\
name: ru_test
number: "+74955550199"
kind: human
voice:
  engine: recording
  folder: .
  recordings:
    "Здравствуйте!": hello.wav
hello: Здравствуйте!
lines:
  - say: Нет.
"""
    with pytest.raises(PersonaError) as info:
        parse_persona(text, str(tmp_path / "p.yaml"))
    [problem] = info.value.problems
    assert "no recording for 'Нет.'" in problem.message
    missing = text.replace("hello.wav", "absent.wav")
    with pytest.raises(PersonaError, match=r"'absent.wav' is not a file in"):
        parse_persona(missing, str(tmp_path / "p.yaml"))
    fine = text.replace("  - say: Нет.\n", "  - dtmf: '1'\n")
    persona = parse_persona(fine, str(tmp_path / "p.yaml"))
    assert persona.voice.recording_files("Здравствуйте!") == [tmp_path / "hello.wav"]
