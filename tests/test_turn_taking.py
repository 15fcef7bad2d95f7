"""Turn-taking rules and deadlines of the call session, driven by scripted fakes.

No models and no timing: callee words are frames the fake VAD and recognizer read back
(``tests/fakes.py``), a busy recognizer is an Event the test holds, and every assertion is
about what was said and understood, never about how long anything took.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest

from dialogues.loader import load_script_text
from dialogues.manager import DialogueManager
from robot.executors import ExecutorRegistry, PoolSpec
from robot.listening import Utterance
from robot.report import CallReport
from robot.session import CallSession, SessionConfig, SessionEngines
from robot.session_metrics import STALLS
from robot.turn_taking import Decision, TurnTaking
from tests.fakes import (
    FakeCall,
    FakeDetector,
    FakeObserver,
    FakeRecognizer,
    FakeTts,
    FakeVad,
    quiet,
    until,
    words,
)

SCRIPT = """\
script: turn_taking
language: en
settings:
  no_input_timeout_ms: 60000
  barge_in: {barge_in}
intents:
  affirm: [yes, yes speaking, yeah, sure, yes it is]
  deny: [no, nope, no thanks, not really]
start: greeting
global:
  no_input: {{say: [Hello?], retries: 2, then: unclear_end}}
  no_match: {{say: [Sorry could you repeat that?], retries: 2, then: unclear_end}}
states:
  greeting:
    say: Hi this is Anna.
    ask: Am I speaking with John?
    on: {{affirm: interest, deny: wrong_end}}
  interest:
    ask: Are you still interested?
    on: {{affirm: yes_end, deny: no_end}}
  yes_end: {{say: Great goodbye., disposition: qualified, end: true}}
  no_end: {{say: Alright goodbye., disposition: not_interested, end: true}}
  wrong_end: {{say: Sorry about that., disposition: wrong_person, end: true}}
  unclear_end: {{say: Goodbye., disposition: incomplete, end: true}}
"""

GREETING = "Am I speaking with John?"
SECOND = "Are you still interested?"
NO_MATCH = "Sorry could you repeat that?"
NO_INPUT = "Hello?"


class Harness:
    def __init__(
        self,
        *,
        barge_in: bool = True,
        decode_timeout_ms: float = 600_000.0,
        detector: FakeDetector | None = None,
        verdict_ms: float = 4000.0,
    ) -> None:
        loaded = load_script_text(SCRIPT.format(barge_in=str(barge_in).lower()))
        self.manager = DialogueManager(loaded)
        self.tts = FakeTts()
        self.asr = FakeRecognizer()
        self.call = FakeCall(self.tts)
        self.observer = FakeObserver()
        self.detector = detector
        self.pools = ExecutorRegistry(
            {"speech": PoolSpec(2), "asr": PoolSpec(2), "detector": PoolSpec(1)}
        )
        engines = SessionEngines(
            tts=self.tts,
            asr=self.asr,
            vad_factory=FakeVad,
            executors=self.pools,
            observer=self.observer,
            detector_factory=(lambda: detector) if detector is not None else None,
        )
        config = SessionConfig(
            decode_timeout_ms=decode_timeout_ms,
            max_detection_ms=verdict_ms / 2,
            verdict_grace_ms=verdict_ms / 2,
        )
        self.session = CallSession(self.call, self.manager, engines, config)
        self.task: asyncio.Task | None = None

    def heard(self) -> list[str]:
        return self.call.heard()

    async def session_report(self) -> CallReport:
        assert self.task is not None
        return await self.task

    def callee_said(self) -> list[str]:
        return [t.text for t in self.manager.transcript if t.who == "callee"]

    async def asked(self, question: str, times: int = 1) -> None:
        """Wait until the robot has finished asking ``question`` (``times`` in all)."""
        await until(lambda: self.heard().count(question) >= times, f"robot asks {question!r}")
        await until(lambda: self.session.turns.question_done_ms < math.inf, "question played")


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    made: list[Harness] = []

    async def start(**options: object) -> Harness:
        h = Harness(**options)  # type: ignore[arg-type]
        made.append(h)
        h.task = asyncio.create_task(h.session.run())
        return h

    yield start  # type: ignore[misc]
    for h in made:
        h.asr.gate.set()  # never leave a worker thread blocked
        if h.detector is not None:
            h.detector.gate.set()
        h.call.hang_up()
        if h.task is not None:
            await h.task
        h.pools.shutdown(wait=True)


async def test_speech_that_started_before_the_question_ended_does_not_answer_it(harness) -> None:
    h = await harness()
    await h.asked(GREETING)
    h.asr.gate.clear()  # a busy recognizer: "yes" is still being decoded ...
    await h.call.send(words("yes") + quiet(600))
    await h.call.send(quiet(900))  # ... a pause longer than an answer's inner pause ...
    await h.call.send(words("speaking"))  # ... and more speech before the robot replies
    h.asr.gate.set()
    await until(lambda: SECOND in h.heard(), "the robot moves on")
    await h.call.send(quiet(600))
    await until(lambda: "speaking" in h.asr.finished, "the fragment is decoded")
    await h.asked(SECOND)
    await h.call.send(words("no") + quiet(600))
    await until(lambda: h.manager.ended, "the call ends")
    report = await h.session_report()
    assert h.callee_said() == ["yes", "no"]
    assert NO_MATCH not in h.heard()
    assert report.disposition == "not_interested"
    [fragment] = [t for t in report.transcript if t.text == "speaking"]
    assert fragment.ignored == "before_question"


async def test_a_pause_inside_an_answer_keeps_one_answer(harness) -> None:
    h = await harness()
    await h.asked(GREETING)
    h.asr.gate.clear()
    await h.call.send(words("yes") + quiet(600))  # the endpoint fires after 500 ms ...
    await h.call.send(words("speaking"))  # ... and the callee goes on 100 ms later
    h.asr.gate.set()
    await h.call.send(quiet(600))
    await h.asked(SECOND)
    assert h.callee_said() == ["yes speaking"]
    assert h.heard().count(SECOND) == 1 and NO_MATCH not in h.heard()
    await h.call.send(words("yes") + quiet(600))
    await until(lambda: h.manager.ended, "the call ends")
    assert (await h.session_report()).disposition == "qualified"


async def test_the_callee_may_answer_over_the_question_when_barge_in_is_allowed(harness) -> None:
    h = await harness()
    h.call.playback.clear()  # the greeting is still playing
    await until(lambda: GREETING in h.heard(), "greeting queued")
    await h.call.send(words("no", word_ms=400) + quiet(600))
    await until(lambda: h.manager.ended, "the call ends")
    report = await h.session_report()
    assert h.call.stopped == 1 and report.barge_ins == 1
    assert report.disposition == "wrong_person"


async def test_without_barge_in_speech_over_the_question_is_not_its_answer(harness) -> None:
    h = await harness(barge_in=False)
    h.call.playback.clear()
    await until(lambda: GREETING in h.heard(), "greeting queued")
    await h.call.send(words("no", word_ms=400) + quiet(600))
    await until(lambda: "no" in h.asr.finished, "decoded")
    h.call.playback.set()
    await h.asked(GREETING)
    await h.call.send(words("yes") + quiet(600))
    await h.asked(SECOND)
    assert h.callee_said() == ["yes"] and h.call.stopped == 0


async def test_a_late_decode_gets_the_no_match_reprompt_not_silence(harness) -> None:
    late_before = STALLS.get("decode")
    h = await harness(decode_timeout_ms=100.0)
    await h.asked(GREETING)
    h.asr.gate.clear()  # the engine is busy far beyond the deadline
    await h.call.send(words("yes") + quiet(600))
    await until(lambda: NO_MATCH in h.heard(), "the callee hears a reprompt")
    await h.asked(GREETING, times=2)  # the question again, after the reprompt
    assert NO_INPUT not in h.heard()
    assert h.observer.late == 1 and STALLS.get("decode") == late_before + 1
    # The late transcript, when it finally comes, is dropped: "yes" was never taken.
    h.asr.gate.set()
    await until(lambda: h.asr.finished == ["yes"], "the late decode finishes")
    h.session.listener.decode_timeout_ms = 600_000.0
    await h.call.send(words("yes") + quiet(600))
    await h.asked(SECOND)
    assert h.callee_said() == ["yes"]
    h.call.hang_up()
    report = await h.session_report()
    assert report.late_decodes == 1
    callee = {t.text: t.ignored for t in report.transcript if t.who == "callee"}
    assert callee == {"": "late_decode", "yes": None}


async def test_a_decode_slower_than_the_no_input_timeout_is_still_answered(harness) -> None:
    h = await harness(decode_timeout_ms=1000.0)
    h.manager.settings = h.manager.settings.model_copy(update={"no_input_timeout_ms": 500})
    await h.asked(GREETING)
    h.asr.gate.clear()
    await h.call.send(words("yes") + quiet(600))
    await until(lambda: NO_MATCH in h.heard(), "the callee hears a reprompt")
    # The callee did speak: the answer is "not understood", never "no input".
    assert NO_INPUT not in h.heard()
    assert h.session.listener.late_decodes == 1


async def test_the_no_input_countdown_starts_at_the_end_of_speech(harness) -> None:
    h = await harness()
    ended: list[Utterance] = []
    on_end_of_speech = h.session.on_end_of_speech

    def record(utterance: Utterance) -> None:
        ended.append(utterance)
        on_end_of_speech(utterance)

    h.session.on_end_of_speech = record  # type: ignore[method-assign]
    await h.asked(GREETING)
    h.asr.gate.clear()
    await h.call.send(words("<cough>") + quiet(600))
    assert h.session.listener.pending == 1
    # Counted from the end of the cough, not from when its (empty) transcript comes back.
    [cough] = ended
    anchor = h.session._quiet_since
    assert anchor >= cough.ended_at
    h.asr.gate.set()
    await until(lambda: h.asr.finished == ["<cough>"], "decoded")
    await until(lambda: not h.session.listener.pending and h.session._inputs.empty(), "taken")
    assert h.session._quiet_since == anchor
    assert h.callee_said() == [] and h.heard().count(GREETING) == 1


async def test_each_turn_is_split_into_stages(harness) -> None:
    h = await harness()
    await h.asked(GREETING)
    await h.call.send(words("yes") + quiet(600))
    await h.asked(SECOND)
    h.call.hang_up()
    report = await h.session_report()
    [stages] = report.turn_stages
    expected = {"endpoint", "decode_queue", "decode_run", "decode_wait", "queue", "nlu"}
    assert expected | {"synthesis", "total"} <= set(stages)
    assert stages["endpoint"] == 500.0  # the trailing silence, on the audio's own clock
    assert all(value >= 0 for value in stages.values())
    assert len(h.observer.latencies) == len(report.turn_latencies_ms) == 1
    assert len(h.observer.decode_waits) == 1


async def test_a_busy_detector_does_not_keep_the_robot_silent(harness) -> None:
    detector = FakeDetector("machine")
    detector.gate.clear()  # the detector never gets to say anything
    h = await harness(detector=detector, verdict_ms=100.0)
    await h.call.send(quiet(200))
    await h.asked(GREETING)
    assert h.session.report.voicemail_reason == "no verdict in time"
    await h.call.send(words("yes") + quiet(600))
    await h.asked(SECOND)
    h.call.hang_up()
    report = await h.session_report()
    assert report.outcome == "human" and report.late_waits == {"verdict": 1}


async def test_a_machine_is_not_talked_to_and_its_greeting_is_not_an_answer(harness) -> None:
    h = await harness(detector=FakeDetector("machine"))
    await h.call.send(words("leave a message") + quiet(600), wait=False)
    report = await h.session_report()
    assert report.outcome == "machine" and h.heard() == []


def utterance(start_ms: float, end_ms: float, barged_in: bool = False) -> Utterance:
    return Utterance(1, start_ms, end_ms, end_ms + 500, 0.0, 0.0, barged_in)


def test_turn_taking_rules_on_the_stream_timeline() -> None:
    turns = TurnTaking(candidate_gap_ms=500)
    assert turns.decide(utterance(0, 300)) is Decision.BEFORE_QUESTION  # pickup "hello?"
    turns.robot_asks()
    turns.question_finished(1000)
    assert turns.decide(utterance(900, 1500)) is Decision.BEFORE_QUESTION
    assert turns.decide(utterance(1100, 1500)) is Decision.ANSWER
    turns.speech_started(2300, barge_in=False)  # 300 ms after the endpoint at 2000
    assert turns.decide(utterance(1100, 1500)) is Decision.HOLD
    turns.speech_started(3700, barge_in=False)  # 700 ms after the endpoint: a new turn
    assert turns.decide(utterance(2300, 2500)) is Decision.ANSWER
    turns.robot_asks()
    turns.speech_started(4000, barge_in=True)
    assert turns.decide(utterance(4000, 4400, barged_in=True)) is Decision.ANSWER
