"""Answered sim calls with real Piper speech and real timing: 20 ms frames, turn taking,
barge-in and stop_playback, hang-up from either side, noise, voices, transfers and DTMF.

:class:`~robot.carriers.sim_driver.RobotDriver` plays canned Piper prompts the way a call
session would, so these tests do not depend on the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import numpy as np
import pytest

from robot.audio import AudioChunk
from robot.carriers.base import CallState
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_audio import frame_rms, persona_speech
from robot.carriers.sim_call import SimCall
from robot.carriers.sim_conversation import ROBOT_SPEECH_RMS
from robot.carriers.sim_driver import RobotDriver, message_sequence, wait_until
from robot.errors import CarrierError

pytestmark = pytest.mark.slow

SPEECH_RMS = 300.0


@pytest.fixture(scope="module")
def robot_voice() -> Any:
    from robot.speech.piper import PiperSynthesizer

    return PiperSynthesizer()


@pytest.fixture(scope="module")
def whisper() -> Any:
    from robot.speech.whisper import WhisperRecognizer

    return WhisperRecognizer()


@pytest.fixture(scope="module")
def prompts(robot_voice: Any) -> dict[str, AudioChunk]:
    texts = {
        "greeting": "Hi, this is Anna from BrightHome Solar. Am I speaking with Sarah?",
        "still": "Great. Are you still interested in getting a quote?",
        "consent": (
            "Wonderful. I have three quick questions, and I'll pass your answers to one of our "
            "specialists. Is it okay that this call is recorded and your details are shared?"
        ),
    }
    return {name: robot_voice.synthesize(text) for name, text in texts.items()}


def persona(**fields: Any) -> Persona:
    base: dict[str, Any] = {
        "name": "tester",
        "numbers": ["+12025550190"],
        "kind": "human",
        "voice": {"pitch": 1.2},
        "ring_ms": 400,
        "answer_delay_ms": 200,
    }
    return Persona.model_validate(base | fields)


def statuses(call: SimCall) -> list[int | str | None]:
    return message_sequence(call.signalling)


def speech_frames(frames: list[AudioChunk], threshold: float = SPEECH_RMS) -> list[bool]:
    return [frame_rms(f.pcm) > threshold for f in frames]


def voiced_span_ms(prompt: AudioChunk) -> tuple[float, float]:
    """(start of the first, end of the last) frame the persona counts as robot speech."""
    voiced = [i for i, v in enumerate(speech_frames(prompt.frames(), ROBOT_SPEECH_RMS)) if v]
    return 20.0 * voiced[0], 20.0 * (voiced[-1] + 1)


def no_other_tasks() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


# --- the answered call ----------------------------------------------------------------------


async def test_human_persona_speaks_in_20ms_frames(whisper: Any) -> None:
    who = persona(hello="Hello, this is Maria.", lines=[{"say": "Yes, I am still interested."}])
    carrier = SimCarrier([who], speed=2.0)
    call = await carrier.dial("+12025550190")
    driver = RobotDriver(call)
    await driver.answered()
    await wait_until(lambda: len(call.spoken) == 1 and call.spoken[0].end_ms is not None)
    await call.hangup()
    await driver.ended()
    frames = driver.frames
    assert all(len(f.pcm) == 320 and f.rate == 8000 for f in frames)
    steps = {round(b.timestamp_ms - a.timestamp_ms) for a, b in itertools.pairwise(frames)}
    assert steps == {20}
    answer_ms = call.signalling.answer_ms
    assert answer_ms is not None
    hello = call.spoken[0]
    assert hello.start_ms >= answer_ms + who.answer_delay_ms
    before = [f for f in frames if f.timestamp_ms < hello.start_ms]
    during = [f for f in frames if hello.start_ms <= f.timestamp_ms < (hello.end_ms or 0)]
    assert before and not any(speech_frames(before))
    synthesized = await asyncio.wrap_future(persona_speech(who.voice, "Hello, this is Maria."))
    assert b"".join(f.pcm for f in during).rstrip(b"\x00") == synthesized.pcm.rstrip(b"\x00")
    assert "maria" in whisper.transcribe(call.callee_audio).text.lower()


async def test_persona_answers_each_prompt_after_it_ends(
    prompts: dict[str, AudioChunk], whisper: Any
) -> None:
    who = persona(
        hello=None,
        lines=[{"say": "Yes, speaking.", "think_ms": 700}, {"say": "No, I'm not interested."}],
    )
    carrier = SimCarrier([who], speed=2.0)
    call = await carrier.dial("+12025550190")
    driver = RobotDriver(call)
    await driver.answered()
    for n, name in enumerate(("greeting", "still"), start=1):
        await driver.say(prompts[name])
        await wait_until(lambda n=n: len(call.spoken) == n and call.spoken[-1].end_ms is not None)
    await call.hangup()
    await driver.ended()
    assert [s.turn for s in call.spoken] == [1, 2]
    assert len(call.robot_prompts) == 2
    for said, prompt, line in zip(call.spoken, call.robot_prompts, who.lines, strict=True):
        assert prompt.end_ms is not None
        assert said.start_ms >= prompt.end_ms + line.think_ms
        assert not said.barge_in
    first_ms, last_ms = voiced_span_ms(prompts["greeting"])
    assert call.robot_prompts[0].end_ms - call.robot_prompts[0].start_ms == last_ms - first_ms
    heard = call.heard_robot_audio
    assert heard.duration_ms == pytest.approx(call.callee_audio.duration_ms, abs=20)
    first = heard.pcm[int(call.robot_prompts[0].start_ms - (heard.timestamp_ms or 0)) * 16 :]
    assert "speaking with sarah" in whisper.transcribe(AudioChunk(first[: 16 * 5000])).text.lower()
    assert "not interested" in whisper.transcribe(call.callee_audio).text.lower()


@pytest.mark.parametrize("robot_stops", [True, False])
async def test_barge_in_starts_during_the_prompt(
    prompts: dict[str, AudioChunk], robot_stops: bool
) -> None:
    who = persona(hello=None, lines=[{"say": "Yes, yes, go ahead.", "interrupt_after_ms": 1500}])
    carrier = SimCarrier([who], speed=2.0)
    call = await carrier.dial("+12025550190")
    driver = RobotDriver(call, stop_on_speech=robot_stops)
    await driver.answered()
    consent = prompts["consent"]
    await driver.say(consent)
    await wait_until(lambda: bool(call.spoken) and call.spoken[0].end_ms is not None)
    await call.hangup()
    await driver.ended()
    prompt = call.robot_prompts[0]
    assert call.spoken[0].barge_in
    (barge_in,) = call.barge_ins
    assert barge_in.start_ms == call.barge_in_at_ms
    assert barge_in.start_ms == pytest.approx(prompt.start_ms + 1500, abs=40)
    first_ms, last_ms = voiced_span_ms(consent)
    remaining_ms = last_ms - first_ms - (barge_in.start_ms - prompt.start_ms)
    barge_frame = int(first_ms + barge_in.start_ms - prompt.start_ms) // 20
    voiced_after_ms = 20 * sum(speech_frames(consent.frames()[barge_frame:], ROBOT_SPEECH_RMS))
    if robot_stops:
        (dropped,) = driver.dropped_ms
        assert dropped > 0.5 * remaining_ms
        assert call.stop_playback_log[0][1] == dropped
        assert barge_in.robot_stopped_ms is not None
        assert barge_in.robot_stopped_ms > barge_in.start_ms
        # 0 when the frames before the stop fell in a pause of the prompt
        assert 0 <= barge_in.talkover_ms < voiced_after_ms - 0.5 * remaining_ms
        assert call.robot_audio_ms_after_barge_in == 0  # nothing leaked after the stop
        assert prompt.end_ms < prompt.start_ms + last_ms - first_ms - 1000
    else:  # the robot talked on: the persona heard every remaining word
        assert call.robot_audio_ms_after_barge_in is None
        assert barge_in.robot_stopped_ms is None
        assert barge_in.talkover_ms == pytest.approx(voiced_after_ms, abs=40)
        assert call.stop_playback_log == []


async def test_persona_hangup_ends_both_streams_and_sends_dtmf() -> None:
    who = persona(hello="Hello?", lines=[{"say": "Bye.", "dtmf": "42", "hangup_after": True}])
    carrier = SimCarrier([who], speed=2.0)
    call = await carrier.dial("+12025550190")
    driver = RobotDriver(call)
    await driver.answered()
    silence_then_tone = np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 8000
    await driver.say(AudioChunk.from_array(silence_then_tone.astype("<i2"), 8000))
    await driver.ended()
    assert [e.kind for e in driver.events] == ["ringing", "answered", "dtmf", "dtmf", "hangup"]
    assert [e.digit for e in driver.events if e.kind == "dtmf"] == ["4", "2"]
    assert driver.events[-1].by == "remote"
    assert call.signalling.hangup_by == "remote" and statuses(call)[-1] == "BYE"
    assert call.signalling.ended_ms is not None
    await call.play(AudioChunk(b"\x01\x00" * 800))  # after the end: ignored, never blocks
    await asyncio.wait_for(call.playback_done(), 1.0)
    assert [f async for f in call.audio()] == []
    assert [e async for e in call.events()] == []
    assert no_other_tasks()


async def test_robot_hangup_ends_both_streams(prompts: dict[str, AudioChunk]) -> None:
    who = persona(lines=[{"say": "Yes."}])
    carrier = SimCarrier([who], speed=2.0)
    call = await carrier.dial("+12025550190")
    driver = RobotDriver(call)
    await driver.answered()
    await call.play(prompts["consent"])
    await wait_until(lambda: bool(call.robot_prompts))
    await call.hangup("done")
    await driver.ended()
    await call.hangup()  # a second hang-up is harmless
    assert driver.events[-1].kind == "hangup" and driver.events[-1].by == "local"
    assert call.signalling.hangup_by == "local" and "BYE" not in statuses(call)
    await asyncio.wait_for(call.playback_done(), 1.0)  # queued audio was dropped at hang-up
    assert call.state == CallState.ENDED and no_other_tasks()


async def test_silent_robot_makes_the_persona_hang_up() -> None:
    who = persona(hello="Hello?", patience_ms=1500)
    carrier = SimCarrier([who], speed=2.0)
    driver = RobotDriver(await carrier.dial("+12025550190"))
    await driver.ended()
    assert driver.events[-1].by == "remote"


async def test_background_noise_sits_at_the_configured_snr() -> None:
    who = persona(hello="Hello?", answer_delay_ms=1500, noise={"color": "pink", "snr_db": 30})
    carrier = SimCarrier([who], speed=2.0)
    call = await carrier.dial("+12025550190")
    driver = RobotDriver(call)
    await wait_until(lambda: bool(call.spoken))
    await call.hangup()
    await driver.ended()
    answer_ms = call.signalling.answer_ms or 0.0
    quiet = [f.pcm for f in driver.frames if f.timestamp_ms < answer_ms + 1400]
    expected_rms = 32768 * 10 ** ((-20 - 30) / 20)
    assert frame_rms(b"".join(quiet)) == pytest.approx(expected_rms, rel=0.15)


async def test_espeak_persona_voice_and_a_broken_voice() -> None:
    espeak = persona(voice={"engine": "espeak", "variant": "en-us+f3"}).voice
    audio = await asyncio.wrap_future(persona_speech(espeak, "Hello there."))
    assert audio.rate == 8000 and audio.duration_ms > 400 and frame_rms(audio.pcm) > 300
    pitched = persona(voice={"pitch": 1.3}).voice
    plain = persona(voice={"pitch": 1.0}).voice
    text = "I'm driving right now, call me back tomorrow morning."
    high = await asyncio.wrap_future(persona_speech(pitched, text))
    low = await asyncio.wrap_future(persona_speech(plain, text))
    assert high.duration_ms == pytest.approx(low.duration_ms, rel=0.2)  # same tempo
    assert spectral_centroid_hz(high) > 1.1 * spectral_centroid_hz(low)  # a higher voice


def spectral_centroid_hz(audio: AudioChunk) -> float:
    power = np.abs(np.fft.rfft(audio.to_float())) ** 2
    freqs = np.fft.rfftfreq(audio.samples, 1.0 / audio.rate)
    return float(np.sum(freqs * power) / np.sum(power))


async def test_a_voice_that_cannot_speak_leaves_the_persona_mute_not_the_call_broken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    who = persona(voice={"engine": "espeak", "variant": "no-such-voice"}, hello="Hello?")
    carrier = SimCarrier([who], speed=2.0)
    call = await carrier.dial("+12025550190")
    driver = RobotDriver(call)
    await driver.answered()
    await asyncio.sleep(0.5)
    await call.hangup()
    await driver.ended()
    assert driver.kinds()[-1] == "hangup" and len(driver.frames) > 10
    assert not any(speech_frames(driver.frames))
    assert "persona speech synthesis failed" in caplog.text


async def test_transfers_and_robot_dtmf() -> None:
    carrier = SimCarrier([persona(hello=None)], speed=2.0)
    ringing = await carrier.dial("+12025550190")
    with pytest.raises(CarrierError, match="cannot transfer"):
        await ringing.transfer("+12025550100")
    bridged = RobotDriver(ringing)
    await bridged.answered()
    await ringing.send_dtmf("12#")
    with pytest.raises(CarrierError, match="invalid DTMF"):
        await ringing.send_dtmf("1x")
    await ringing.transfer("+12025550100", bridged=True)
    assert ringing.state == CallState.ANSWERED  # the robot stays on a bridged call
    blind_call = await carrier.dial("+12025550190")
    blind = RobotDriver(blind_call)
    await blind.answered()
    await blind_call.transfer("+12025550101")
    await blind.ended()
    assert blind.events[-1].kind == "hangup" and blind.events[-1].by == "local"
    await carrier.close()
    await bridged.ended()
    assert ringing.dtmf_received == "12#"
    assert ringing.transfers == [("+12025550100", True)]
    assert blind_call.transfers == [("+12025550101", False)]


async def test_persona_speech_is_cached_and_synthesized_off_the_loop() -> None:
    voice = persona(voice={"pitch": 1.1}).voice
    text = "This sentence is only synthesized once, however often it is asked for."
    first = persona_speech(voice, text)
    assert persona_speech(voice, text) is first  # one synthesis for concurrent requests
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    ticking = asyncio.create_task(ticker())
    audio = await asyncio.wrap_future(first)
    ticking.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticking
    assert ticks > 2  # the loop kept running while Piper worked
    assert persona_speech(voice, text).result() is audio
