"""Callees that know what the robot said: sentences the robot's voice synthesized (real Piper)
found again in the audio a simulated callee heard, with Whisper only for what was never seen."""

from __future__ import annotations

import asyncio

import pytest

from robot.audio import FRAME_MS, TELEPHONY_RATE_HZ, AudioChunk, silence
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_driver import RobotDriver, wait_until
from robot.carriers.sim_ears import PromptIndex
from robot.speech.piper import PiperSynthesizer

READ_BACK = "Your favourite colour is blue, is that right?"
NEXT = "And when would you like it installed?"


@pytest.fixture(scope="module")
def piper() -> PiperSynthesizer:
    return PiperSynthesizer()


def as_heard(*chunks: AudioChunk) -> bytes:
    """What a callee of the simulated network hears: each chunk at 8 kHz in 20 ms frames."""
    return b"".join(f.pcm for c in chunks for f in c.resampled(TELEPHONY_RATE_HZ).frames(FRAME_MS))


def test_sentences_are_found_in_the_order_heard_and_unknown_audio_is_not(
    piper: PiperSynthesizer,
) -> None:
    index = PromptIndex()
    voice = index.voice(piper)
    first, second = voice.synthesize(READ_BACK), voice.synthesize(NEXT)
    pause = silence(300)
    assert index.find(as_heard(first, pause, second)) == f"{READ_BACK} {NEXT}"
    assert index.find(as_heard(second, pause, first)) == f"{NEXT} {READ_BACK}"
    assert index.find(as_heard(second)) == NEXT
    # A sentence the voice never gave out, and a prompt cut before its first words: unknown.
    assert index.find(as_heard(piper.synthesize("Thank you for your time."))) is None
    assert index.find(as_heard(first)[: 2 * 800]) is None


def test_a_prompt_never_seen_is_transcribed_and_counted(piper: PiperSynthesizer) -> None:
    index = PromptIndex()
    said = index.voice(piper).synthesize(NEXT)
    assert index.listen(as_heard(said)).result() == NEXT
    other = index.listen(as_heard(piper.synthesize("Thank you for your time.")))
    assert "thank" in other.result(timeout=120).lower()
    assert (index.by_text, index.transcribed) == (1, 1)


async def test_a_callee_of_the_simulated_network_answers_a_read_back_it_never_transcribed(
    piper: PiperSynthesizer,
) -> None:
    persona = Persona.model_validate(
        {
            "name": "t",
            "number": "+12025550190",
            "kind": "human",
            "answer_delay_ms": 100,
            "hello": None,
            "lines": [{"say": "Blue."}],
            "confirm": {"when": ["is that right"], "say": "Yes."},
        }
    )
    index = PromptIndex()
    carrier = SimCarrier([persona], speed=4.0, listen=index.listen)
    try:
        call = await carrier.dial("+12025550190")
        driver = RobotDriver(call)
        await driver.answered()
        await driver.say(index.voice(piper).synthesize(READ_BACK))
        conversation = call.conversation
        assert conversation is not None
        await wait_until(lambda: bool(conversation.spoken), 60)
        assert [line.text for line in conversation.spoken] == ["Yes."]  # the confirm answer
        assert (index.by_text, index.transcribed) == (1, 0)
        await call.hangup()
        await driver.ended()
    finally:
        await carrier.close()
    await asyncio.sleep(0)
