"""The sim carrier with real synthesis and real timing: signalling per persona kind, persona
speech in 20 ms frames, turn taking, barge-in, hang-up from either side, clean shutdown.

A small :class:`RobotDriver` plays canned Piper prompts into a call the way a call session
would, so these tests do not depend on the session.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from robot.audio import AudioChunk
from robot.carriers.base import Call, CallEvent, CallState, Carrier
from robot.carriers.personas import Persona, load_personas
from robot.carriers.sim import SimCall, SimCarrier
from robot.carriers.sim_audio import frame_rms, persona_speech
from robot.carriers.sim_conversation import ROBOT_SPEECH_RMS
from robot.errors import CarrierError
from voicemail.signalling import ANSWERED, classify_signalling
from voicemail.tones import ToneTracker, is_sit_sequence

pytestmark = pytest.mark.slow

SPEECH_RMS = 300.0
GUARD_S = 30.0


@pytest.fixture(scope="module")
def bundled() -> dict[str, Persona]:
    return {p.name: p for p in load_personas()}


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
        "numbers": ["+15550190"],
        "kind": "human",
        "voice": {"pitch": 1.2},
        "ring_ms": 400,
        "answer_delay_ms": 200,
    }
    return Persona.model_validate(base | fields)


async def wait_for(condition: Callable[[], bool], timeout_s: float = GUARD_S) -> None:
    """Wait until ``condition()`` holds (the timeout only guards against a hung test)."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


class RobotDriver:
    """Reads a call's two streams in the background and plays canned robot prompts."""

    def __init__(self, call: SimCall, *, stop_on_speech: bool = False) -> None:
        self.call = call
        self.stop_on_speech = stop_on_speech
        self.frames: list[AudioChunk] = []
        self.events: list[CallEvent] = []
        self.dropped_ms: list[float] = []
        self.playing = False
        self._tasks = [
            asyncio.create_task(self._read_audio()),
            asyncio.create_task(self._read_events()),
        ]

    async def _read_audio(self) -> None:
        async for frame in self.call.audio():
            self.frames.append(frame)
            if self.stop_on_speech and self.playing and frame_rms(frame.pcm) > SPEECH_RMS:
                self.playing = False
                self.dropped_ms.append(self.call.stop_playback())

    async def _read_events(self) -> None:
        async for event in self.call.events():
            self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    async def answered(self) -> None:
        await wait_for(lambda: "answered" in self.kinds() or self.call.state == CallState.ENDED)

    async def say(self, prompt: AudioChunk) -> None:
        self.playing = True
        await self.call.play(prompt)
        await self.call.playback_done()
        self.playing = False

    async def ended(self) -> None:
        async with asyncio.timeout(GUARD_S):
            await asyncio.gather(*self._tasks)


def statuses(call: SimCall) -> list[int | str | None]:
    return [m.status if m.method is None else m.method for m in call.signalling.messages]


def speech_frames(frames: list[AudioChunk], threshold: float = SPEECH_RMS) -> list[bool]:
    return [frame_rms(f.pcm) > threshold for f in frames]


def voiced_span_ms(prompt: AudioChunk) -> tuple[float, float]:
    """(start of the first, end of the last) frame the persona counts as robot speech."""
    voiced = [i for i, v in enumerate(speech_frames(prompt.frames(), ROBOT_SPEECH_RMS)) if v]
    return 20.0 * voiced[0], 20.0 * (voiced[-1] + 1)


def no_other_tasks() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


# --- signalling ---------------------------------------------------------------------------

FAILURE_CASES = [
    ("busy", [100, 486], 'Q.850;cause=17;text="User busy"', "busy"),
    ("no_answer", [100, 180, 480], 'Q.850;cause=19;text="No answer from user"', "no_answer"),
    ("invalid_number", [100, 183, 404], 'Q.850;cause=1;text="Unallocated number"', None),
    ("phone_off", [100, 183, 480], 'Q.850;cause=20;text="Subscriber absent"', "unavailable"),
    ("rejected", [100, 180, 603], 'Q.850;cause=21;text="Call rejected"', "rejected"),
    ("network_error", [100, 503], 'Q.850;cause=38;text="Network out of order"', None),
]


@pytest.mark.parametrize(("name", "expected", "reason", "outcome"), FAILURE_CASES)
async def test_failing_kinds_send_real_network_signalling(
    bundled: dict[str, Persona], name: str, expected: list[int], reason: str, outcome: str | None
) -> None:
    who = bundled[name]
    if who.ring_ms > 2000:  # keep the test short; the rule is the same
        who = who.model_copy(update={"ring_ms": 2000})
    carrier = SimCarrier([who], speed=4.0)
    call = await carrier.dial(who.numbers[0])
    assert isinstance(call, Call)
    assert call.state == CallState.DIALLING
    driver = RobotDriver(call)
    await driver.ended()
    assert statuses(call) == expected
    assert call.signalling.reason == [reason]
    assert classify_signalling(call.signalling).outcome == (outcome or name)
    assert driver.kinds()[-1] == "failed"
    assert call.state == CallState.ENDED
    times = [m.at_ms for m in call.signalling.messages]
    assert times == sorted(times)
    if 180 in expected:
        assert call.signalling.messages[-1].at_ms - call.signalling.ringing_ms >= who.ring_ms
    if 183 in expected:
        assert call.signalling.early_media and driver.kinds()[0] == "early_media"
        assert len(driver.frames) > 100  # the announcement came as early media
    else:
        assert driver.frames == []
    await carrier.close()
    assert no_other_tasks()


async def test_invalid_number_plays_sit_tones_then_the_announcement(
    bundled: dict[str, Persona], whisper: Any
) -> None:
    carrier = SimCarrier([bundled["invalid_number"]], speed=4.0)
    driver = RobotDriver(await carrier.dial("+15550113"))
    await driver.ended()
    audio = AudioChunk(b"".join(f.pcm for f in driver.frames))
    tracker = ToneTracker()
    segments = tracker.process(audio) + tracker.flush()
    assert is_sit_sequence(segments[:3])
    text = whisper.transcribe(AudioChunk(audio.pcm[2 * 8000 * 1 :])).text.lower()
    assert "not in service" in text
    await carrier.close()


async def test_unknown_and_malformed_numbers_are_refused_by_the_network() -> None:
    carrier = SimCarrier([], speed=4.0)
    unknown = await carrier.dial("sip:+15550177@example.org")
    malformed = await carrier.dial("555-ABC")
    await asyncio.gather(unknown.wait_ended(), malformed.wait_ended())
    assert unknown.number == "+15550177"
    assert unknown.signalling.final_status == 404
    assert classify_signalling(unknown.signalling).outcome == "invalid_number"
    assert malformed.signalling.final_status == 484
    assert malformed.signalling.reason == ['Q.850;cause=28;text="Invalid number format"']
    await carrier.close()


async def test_ring_timeout_cancels_with_no_answer_cause(bundled: dict[str, Persona]) -> None:
    carrier = SimCarrier([bundled["no_answer"]], speed=4.0)
    call = await carrier.dial("+15550112", ring_timeout_s=1.0)
    driver = RobotDriver(call)
    await driver.ended()
    assert statuses(call) == [100, 180, "CANCEL", 487]
    assert call.signalling.reason == ['Q.850;cause=19;text="No answer from user"']
    assert classify_signalling(call.signalling).outcome == "no_answer"
    assert driver.kinds() == ["ringing", "failed"]


async def test_robot_hanging_up_while_ringing_cancels_the_call(bundled: dict[str, Persona]) -> None:
    carrier = SimCarrier([bundled["no_answer"]], speed=4.0)
    call = await carrier.dial("+15550112")
    driver = RobotDriver(call)
    await wait_for(lambda: "ringing" in driver.kinds())
    await call.hangup()
    await driver.ended()
    assert statuses(call) == [100, 180, "CANCEL", 487]
    assert classify_signalling(call.signalling).outcome == "cancelled"
    assert driver.events[-1].kind == "hangup" and driver.events[-1].by == "local"
    assert no_other_tasks()


@pytest.mark.parametrize(
    ("name", "verdict"), [("carrier_voicemail", "machine"), ("voicemail", ANSWERED)]
)
async def test_voicemail_answers_with_greeting_and_beep(
    bundled: dict[str, Persona], whisper: Any, name: str, verdict: str
) -> None:
    who = bundled[name].model_copy(update={"ring_ms": 500})
    vm = who.voicemail.model_copy(update={"record_max_ms": 1500})  # type: ignore[union-attr]
    who = who.model_copy(update={"voicemail": vm})
    carrier = SimCarrier([who], speed=2.0)
    call = await carrier.dial(who.numbers[0])
    driver = RobotDriver(call)
    await driver.ended()
    answer = call.signalling.messages[-2]
    assert answer.status == 200 and answer.has_sdp
    assert bool(answer.header("diversion")) == vm.diversion
    assert classify_signalling(call.signalling).outcome == verdict
    # greeting, then one beep at the configured pitch, then the mailbox records silently
    tracker = ToneTracker()
    segments = tracker.process(AudioChunk(call.callee_audio.pcm)) + tracker.flush()
    beeps = [s for s in segments if s.duration_ms >= 300]
    assert len(beeps) == 1
    assert beeps[0].freq_hz == pytest.approx(vm.beep.frequency_hz, abs=15)
    assert beeps[0].duration_ms == pytest.approx(vm.beep.duration_ms, abs=60)
    greeting_end = int(beeps[0].start_ms) * 16
    text = whisper.transcribe(AudioChunk(call.callee_audio.pcm[:greeting_end])).text.lower()
    assert "leave a message" in text
    after_beep = call.callee_audio.pcm[int(beeps[0].end_ms) * 16 + 320 :]
    assert frame_rms(after_beep) < 5.0
    # the mailbox hangs up once its recording time is over
    assert statuses(call)[-1] == "BYE"
    assert driver.events[-1] == CallEvent("hangup", driver.events[-1].at_ms, None, "remote")


# --- the answered call ----------------------------------------------------------------------


async def test_human_persona_speaks_in_20ms_frames(whisper: Any) -> None:
    who = persona(hello="Hello, this is Maria.", lines=[{"say": "Yes, I am still interested."}])
    carrier = SimCarrier([who], speed=2.0)
    call = await carrier.dial("+15550190")
    driver = RobotDriver(call)
    await driver.answered()
    await wait_for(lambda: len(call.spoken) == 1 and call.spoken[0].end_ms is not None)
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
    call = await carrier.dial("+15550190")
    driver = RobotDriver(call)
    await driver.answered()
    for n, name in enumerate(("greeting", "still"), start=1):
        await driver.say(prompts[name])
        await wait_for(lambda n=n: len(call.spoken) == n and call.spoken[-1].end_ms is not None)
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
    call = await carrier.dial("+15550190")
    driver = RobotDriver(call, stop_on_speech=robot_stops)
    await driver.answered()
    consent = prompts["consent"]
    await driver.say(consent)
    await wait_for(lambda: bool(call.spoken) and call.spoken[0].end_ms is not None)
    await call.hangup()
    await driver.ended()
    prompt = call.robot_prompts[0]
    assert call.spoken[0].barge_in
    assert call.barge_in_at_ms == pytest.approx(prompt.start_ms + 1500, abs=40)
    after = call.robot_audio_ms_after_barge_in
    assert after is not None
    first_ms, last_ms = voiced_span_ms(consent)
    remaining_ms = last_ms - first_ms - (call.barge_in_at_ms - prompt.start_ms)
    barge_frame = int(first_ms + call.barge_in_at_ms - prompt.start_ms) // 20
    voiced_after_ms = 20 * sum(speech_frames(consent.frames()[barge_frame:], ROBOT_SPEECH_RMS))
    if robot_stops:
        (dropped,) = driver.dropped_ms
        assert dropped > 0.5 * remaining_ms
        assert after < voiced_after_ms - 0.5 * remaining_ms
        assert call.stop_playback_log[0][1] == dropped
        assert prompt.end_ms < prompt.start_ms + last_ms - first_ms - 1000
    else:  # the robot talked on: the persona heard every remaining word
        assert after == pytest.approx(voiced_after_ms, abs=40)
        assert call.stop_playback_log == []


async def test_persona_hangup_ends_both_streams_and_sends_dtmf() -> None:
    who = persona(hello="Hello?", lines=[{"say": "Bye.", "dtmf": "42", "hangup_after": True}])
    carrier = SimCarrier([who], speed=2.0)
    call = await carrier.dial("+15550190")
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
    call = await carrier.dial("+15550190")
    driver = RobotDriver(call)
    await driver.answered()
    await call.play(prompts["consent"])
    await wait_for(lambda: bool(call.robot_prompts))
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
    driver = RobotDriver(await carrier.dial("+15550190"))
    await driver.ended()
    assert driver.events[-1].by == "remote"


async def test_close_ends_every_call_and_leaves_no_tasks(bundled: dict[str, Persona]) -> None:
    carrier = SimCarrier(list(bundled.values()), speed=1.0)
    assert isinstance(carrier, Carrier)
    calls = [await carrier.dial(n) for n in ("+15550101", "+15550109", "+15550112", "+15550113")]
    drivers = [RobotDriver(c) for c in calls]
    await wait_for(lambda: all(c.state != CallState.DIALLING for c in calls))
    await carrier.close()
    for driver in drivers:
        await driver.ended()
    assert all(c.state == CallState.ENDED for c in calls)
    assert no_other_tasks()
    with pytest.raises(Exception, match="closed"):
        await carrier.dial("+15550101")


async def test_background_noise_sits_at_the_configured_snr() -> None:
    who = persona(hello="Hello?", answer_delay_ms=1500, noise={"color": "pink", "snr_db": 30})
    carrier = SimCarrier([who], speed=2.0)
    call = await carrier.dial("+15550190")
    driver = RobotDriver(call)
    await wait_for(lambda: bool(call.spoken))
    await call.hangup()
    await driver.ended()
    answer_ms = call.signalling.answer_ms or 0.0
    quiet = [f.pcm for f in driver.frames if f.timestamp_ms < answer_ms + 1400]
    expected_rms = 32768 * 10 ** ((-20 - 30) / 20)
    assert frame_rms(b"".join(quiet)) == pytest.approx(expected_rms, rel=0.15)


def bundled_lines(personas: dict[str, Persona]) -> Iterator[tuple[str, str]]:
    for name in ("interested", "call_me_later", "do_not_call", "wrong_person", "asks_who"):
        yield name, personas[name].lines[0].say


async def test_bundled_persona_voices_are_recognized(
    bundled: dict[str, Persona], whisper: Any
) -> None:
    for name, text in bundled_lines(bundled):
        audio = await asyncio.wrap_future(persona_speech(bundled[name].voice, text))
        heard = whisper.transcribe(audio).text.lower()
        words = [w.strip(".,?'").lower() for w in text.split() if len(w) > 3]
        found = sum(w in heard for w in words)
        assert found >= 0.75 * len(words), (name, text, heard)


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
    call = await carrier.dial("+15550190")
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
    ringing = await carrier.dial("+15550190")
    with pytest.raises(CarrierError, match="cannot transfer"):
        await ringing.transfer("+15550100")
    bridged = RobotDriver(ringing)
    await bridged.answered()
    await ringing.send_dtmf("12#")
    with pytest.raises(CarrierError, match="invalid DTMF"):
        await ringing.send_dtmf("1x")
    await ringing.transfer("+15550100", bridged=True)
    assert ringing.state == CallState.ANSWERED  # the robot stays on a bridged call
    blind_call = await carrier.dial("+15550190")
    blind = RobotDriver(blind_call)
    await blind.answered()
    await blind_call.transfer("+15550101")
    await blind.ended()
    assert blind.events[-1].kind == "hangup" and blind.events[-1].by == "local"
    await carrier.close()
    await bridged.ended()
    assert ringing.dtmf_received == "12#"
    assert ringing.transfers == [("+15550100", True)]
    assert blind_call.transfers == [("+15550101", False)]
