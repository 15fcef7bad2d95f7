"""The sim carrier with real synthesis and real timing: the signalling of every persona kind,
early media (SIT tones and announcements), voicemail greetings and beeps, clean shutdown, and
persona voices Whisper can understand.

:class:`~robot.carriers.sim_driver.RobotDriver` plays the robot's side, so these tests do not
depend on the call session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from robot.audio import AudioChunk
from robot.carriers.base import Call, CallEvent, CallState, Carrier
from robot.carriers.persona_loader import load_personas
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_audio import frame_rms, persona_speech
from robot.carriers.sim_call import SimCall
from robot.carriers.sim_driver import RobotDriver, message_sequence, wait_until
from robot.speech.evaluation import word_error_rate
from voicemail.signalling import ANSWERED, classify_signalling
from voicemail.tones import ToneTracker, is_sit_sequence

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundled() -> dict[str, Persona]:
    return {p.name: p for p in load_personas()}


@pytest.fixture(scope="module")
def whisper() -> Any:
    from robot.speech.whisper import WhisperRecognizer

    return WhisperRecognizer()


def statuses(call: SimCall) -> list[int | str | None]:
    return message_sequence(call.signalling)


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
    driver = RobotDriver(await carrier.dial("+12025550113"))
    await driver.ended()
    audio = AudioChunk(b"".join(f.pcm for f in driver.frames))
    tracker = ToneTracker()
    segments = tracker.process(audio) + tracker.flush()
    assert is_sit_sequence(segments[:3])
    text = whisper.transcribe(AudioChunk(audio.pcm[2 * 8000 * 1 :])).text
    # The announcement, not silence or noise. A word or two may be misheard ("does not
    # insert" for "is not in service"): that depends on the CPU, not on the network.
    said = bundled["invalid_number"].announcement or ""
    assert word_error_rate([(said, text)]) < 0.4, text
    await carrier.close()


async def test_unknown_and_malformed_numbers_are_refused_by_the_network() -> None:
    carrier = SimCarrier([], speed=4.0)
    unknown = await carrier.dial("sip:+12025550177@example.org")
    malformed = await carrier.dial("555-ABC")
    await asyncio.gather(unknown.wait_ended(), malformed.wait_ended())
    assert unknown.number == "+12025550177"
    assert unknown.signalling.final_status == 404
    assert classify_signalling(unknown.signalling).outcome == "invalid_number"
    assert malformed.signalling.final_status == 484
    assert malformed.signalling.reason == ['Q.850;cause=28;text="Invalid number format"']
    await carrier.close()


async def test_ring_timeout_cancels_with_no_answer_cause(bundled: dict[str, Persona]) -> None:
    carrier = SimCarrier([bundled["no_answer"]], speed=4.0)
    call = await carrier.dial("+12025550112", ring_timeout_s=1.0)
    driver = RobotDriver(call)
    await driver.ended()
    assert statuses(call) == [100, 180, "CANCEL", 487]
    assert call.signalling.reason == ['Q.850;cause=19;text="No answer from user"']
    assert classify_signalling(call.signalling).outcome == "no_answer"
    assert driver.kinds() == ["ringing", "failed"]


async def test_robot_hanging_up_while_ringing_cancels_the_call(bundled: dict[str, Persona]) -> None:
    carrier = SimCarrier([bundled["no_answer"]], speed=4.0)
    call = await carrier.dial("+12025550112")
    driver = RobotDriver(call)
    await wait_until(lambda: "ringing" in driver.kinds())
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


async def test_close_ends_every_call_and_leaves_no_tasks(bundled: dict[str, Persona]) -> None:
    carrier = SimCarrier(list(bundled.values()), speed=1.0)
    assert isinstance(carrier, Carrier)
    calls = [
        await carrier.dial(n)
        for n in ("+12025550101", "+12025550109", "+12025550112", "+12025550113")
    ]
    drivers = [RobotDriver(c) for c in calls]
    await wait_until(lambda: all(c.state != CallState.DIALLING for c in calls))
    await carrier.close()
    for driver in drivers:
        await driver.ended()
    assert all(c.state == CallState.ENDED for c in calls)
    assert carrier.calls == calls  # kept for inspection after the fact
    assert no_other_tasks()
    with pytest.raises(Exception, match="closed"):
        await carrier.dial("+12025550101")


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


async def test_the_carrier_forgets_old_ended_calls() -> None:
    from robot.carriers.sim import KEEP_ENDED_CALLS

    carrier = SimCarrier([], speed=50.0)
    dialled = []
    for i in range(KEEP_ENDED_CALLS + 6):
        dialled.append(call := await carrier.dial(f"+1202555019{i:03d}"))
        await call.wait_ended(5.0)
    assert len(carrier.calls) == KEEP_ENDED_CALLS
    assert carrier.calls == dialled[-KEEP_ENDED_CALLS:]
    await carrier.close()
