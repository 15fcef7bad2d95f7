"""Replay logic without speech engines: turn alignment, comparison, turn logs, the replay call."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from robot.audio import AudioChunk
from robot.carriers.base import CallState
from robot.errors import ValidationError
from robot.recording import CallRecorder
from robot.replay import ReplayCarrier, load_recorded_call
from robot.replay_compare import (
    CalleeTurn,
    ReplayResult,
    align_turns,
    callee_turns,
    compare_turns,
    normalised_words,
    word_error_rate,
)


def test_words_are_normalised_before_counting_errors() -> None:
    assert normalised_words("Yes, speaking. I'm HERE!") == ["yes", "speaking", "i'm", "here"]
    assert word_error_rate("Yes, speaking.", "yes speaking") == 0.0
    assert word_error_rate("no you have the wrong number", "no you have a wrong number") == 1 / 6
    assert word_error_rate("yes", "") == 1.0
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("", "uh") == 1.0


def test_turn_log_gives_callee_turns_since_answer_with_the_state_after() -> None:
    log = [
        {"who": "robot", "text": "Hi", "start_ms": 3000, "state": "greeting"},
        {"who": "callee", "text": "Hello?", "start_ms": 3500, "state": "greeting"},
        {"who": "callee", "text": "No", "start_ms": 9000, "state": "greeting", "intent": "deny"},
        {"who": "robot", "text": "Sorry", "start_ms": 9001, "state": "wrong_person_end"},
    ]
    turns = callee_turns(log, answered_ms=2500)
    assert turns == [
        CalleeTurn(1000, "Hello?", None, "greeting"),
        CalleeTurn(6500, "No", "deny", "wrong_person_end"),
    ]
    assert callee_turns(log, answered_ms=2500, time_scale=2.0)[1].at_ms == 13000


def test_alignment_pairs_shifted_turns_and_leaves_missing_ones_alone() -> None:
    before = [
        CalleeTurn(1000, "hello"),
        CalleeTurn(5000, "yes speaking"),
        CalleeTurn(9000, "no thanks"),
    ]
    after = [CalleeTurn(1200, "hello"), CalleeTurn(9400, "no thanks")]
    pairs = align_turns(before, after)
    assert [(b.text if b else None, a.text if a else None) for b, a in pairs] == [
        ("hello", "hello"),
        ("yes speaking", None),
        ("no thanks", "no thanks"),
    ]


def test_alignment_never_pairs_turns_too_far_apart_and_keeps_time_order() -> None:
    pairs = align_turns([CalleeTurn(1000, "yes")], [CalleeTurn(9000, "yes")], max_shift_ms=3000)
    assert pairs == [(CalleeTurn(1000, "yes"), None), (None, CalleeTurn(9000, "yes"))]
    pairs = align_turns([CalleeTurn(9000, "a")], [CalleeTurn(1000, "b")], max_shift_ms=3000)
    assert pairs == [(None, CalleeTurn(1000, "b")), (CalleeTurn(9000, "a"), None)]


def test_comparison_marks_transcript_intent_and_state_changes() -> None:
    before = [
        CalleeTurn(1000, "Hello?", None, "greeting"),
        CalleeTurn(6000, "No, you have the wrong number.", "wrong_person", "wrong_person_end"),
    ]
    same_words = [
        CalleeTurn(1100, "hello", None, "greeting"),
        CalleeTurn(6300, "No you have the wrong number", "wrong_person", "not_interested_end"),
    ]
    rows = compare_turns(before, same_words)
    assert [row.kinds for row in rows] == [[], ["state"]]
    other_words = [
        CalleeTurn(1100, "Hello?", None, "greeting"),
        CalleeTurn(6300, "No, you have the right number.", "affirm", "consent"),
    ]
    rows = compare_turns(before, other_words, max_wer=0.1)
    assert rows[1].kinds == ["transcript", "intent", "state"]
    assert rows[1].wer == pytest.approx(1 / 6, abs=1e-3)
    assert compare_turns(before, other_words, max_wer=0.2)[1].kinds == ["intent", "state"]


def test_result_lists_turn_and_call_differences() -> None:
    rows = compare_turns(
        [CalleeTurn(6000, "no", "deny", "wrong_person_end")],
        [CalleeTurn(6000, "no", "deny", "not_interested_end")],
    )
    result = ReplayResult(
        file="a.wav",
        call_id="a",
        turns=rows,
        outcome_before="human",
        outcome_after="human",
        disposition_before="wrong_person",
        disposition_after="not_interested",
        slots_before={"budget": 100},
        slots_after={"budget": 100, "timeframe": "soon"},
    )
    assert not result.same
    assert result.differences == [
        {
            "turn": 1,
            "kind": "state",
            "at_ms": 6000,
            "before": "wrong_person_end",
            "after": "not_interested_end",
        },
        {"kind": "disposition", "before": "wrong_person", "after": "not_interested"},
        {"kind": "slot", "slot": "timeframe", "before": None, "after": "soon"},
    ]
    data = result.to_json()
    assert data["disposition_before"] == "wrong_person" and data["same"] is False


def _write_recording(path: Path, callee_ms: int = 400) -> None:
    recorder = CallRecorder()
    tone = (np.sin(np.arange(8 * callee_ms) / 3.0) * 8000).astype("<i2")
    recorder.add_callee(AudioChunk(tone.tobytes()))
    recorder.write(path)


def _write_log(path: Path, **changes: object) -> None:
    data = {
        "call_id": path.stem,
        "script": {"name": "lead_qualification", "version": 1},
        "lead": {"first_name": "John"},
        "answered_ms": 100.0,
        "disposition": "wrong_person",
        "turns": [{"who": "callee", "text": "hi", "start_ms": 300}],
    }
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_recorded_call_is_read_with_its_turn_log(tmp_path: Path) -> None:
    _write_recording(tmp_path / "c1.wav")
    _write_log(tmp_path / "c1.json")
    recorded = load_recorded_call(tmp_path / "c1.wav")
    assert recorded.call_id == "c1" and recorded.script_name == "lead_qualification"
    assert recorded.callee.rate == 8000 and round(recorded.callee.duration_ms) == 400
    assert recorded.lead == {"first_name": "John"} and recorded.disposition == "wrong_person"


def test_bad_recordings_are_named_with_their_problem(tmp_path: Path) -> None:
    _write_recording(tmp_path / "nolog.wav")
    with pytest.raises(ValidationError, match=r"nolog\.wav: no turn log beside it"):
        load_recorded_call(tmp_path / "nolog.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really")
    _write_log(tmp_path / "junk.json")
    with pytest.raises(ValidationError, match=r"junk\.wav: not a readable audio file"):
        load_recorded_call(tmp_path / "junk.wav")
    _write_recording(tmp_path / "badjson.wav")
    (tmp_path / "badjson.json").write_text('{\n  "turns": [,]\n}', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"badjson\.json:2:\d+: invalid JSON"):
        load_recorded_call(tmp_path / "badjson.wav")
    _write_recording(tmp_path / "badturn.wav")
    _write_log(tmp_path / "badturn.json", turns=[{"who": "callee", "text": "x"}])
    with pytest.raises(ValidationError, match=r"badturn\.json: turns\[0\]: 'start_ms'"):
        load_recorded_call(tmp_path / "badturn.wav")
    with pytest.raises(ValidationError, match=r"gone\.wav: recording not found"):
        load_recorded_call(tmp_path / "gone.wav")


async def test_replay_call_answers_plays_the_callee_and_hangs_up_remotely() -> None:
    callee = AudioChunk((np.arange(8000) % 100).astype("<i2").tobytes())  # 1 s
    carrier = ReplayCarrier(callee, speed=20.0, call_id="r1")
    call = await carrier.dial("anything")
    events = call.events()
    assert (await anext(events)).kind == "answered"
    assert call.signalling.final_status == 200
    robot = AudioChunk(b"\x01\x00" * 1600)  # 200 ms of robot audio
    await call.play(robot)
    frames = [frame async for frame in call.audio()]
    hangup = await anext(events)
    assert hangup.kind == "hangup" and hangup.by == "remote"
    assert call.state == CallState.ENDED and call.signalling.hangup_by == "remote"
    assert b"".join(f.pcm for f in frames) == callee.pcm
    assert [f.timestamp_ms for f in frames[:3]] == [0, 20, 40]
    sent = call.robot_audio.pcm
    # one robot frame goes out with each callee frame, in order, then silence
    assert len(sent) == len(callee.pcm) and robot.pcm in sent
    assert sent.count(b"\x01") == len(robot.pcm) // 2
    await asyncio.wait_for(call.playback_done(), 1)


async def test_replay_call_ends_at_a_local_hangup() -> None:
    carrier = ReplayCarrier(AudioChunk(b"\x00\x00" * 80000), speed=5.0)  # 10 s
    call = await carrier.dial("x")
    events = call.events()
    assert (await anext(events)).kind == "answered"
    await call.play(AudioChunk(b"\x05\x00" * 8000))
    assert call.stop_playback() > 0
    await call.hangup()
    assert (await anext(events)).by == "local"
    await carrier.close()


async def test_after_a_robot_ended_recording_the_line_stays_open_for_the_robot() -> None:
    """A robot slower than the recorded one still gets to answer the last words and end the
    call itself; if it never does, the call ends remotely after the hold."""
    callee = AudioChunk((np.arange(8000) % 100).astype("<i2").tobytes())  # 1 s
    held = await ReplayCarrier(callee, speed=20.0, hold_ms=2000).dial("x")
    frames = [frame async for frame in held.audio()]
    assert len(frames) == 50 + 100 and held.signalling.hangup_by == "remote"
    assert frames[-1].pcm == b"\x00\x00" * 160 and frames[-1].timestamp_ms == 149 * 20
    slow_robot = await ReplayCarrier(callee, speed=20.0, hold_ms=60000).dial("x")
    heard = 0
    async for _ in slow_robot.audio():
        heard += 1
        if heard == 80:  # 0.6 s after the recording ran out, the robot hangs up
            await slow_robot.hangup()
    assert slow_robot.signalling.hangup_by == "local" and heard < 100


def test_human_output_marks_differing_turns(capsys: pytest.CaptureFixture[str]) -> None:
    from robot.cli.replay import _print_result

    rows = compare_turns(
        [CalleeTurn(1000, "Hello?", None, "greeting"), CalleeTurn(6000, "No.", "deny", "end_a")],
        [CalleeTurn(1000, "Hello?", None, "greeting"), CalleeTurn(6100, "No.", "deny", "end_b")],
    )
    result = ReplayResult("x.wav", "x", rows, "human", "human", "a", "b", {}, {})
    _print_result(result)
    lines = capsys.readouterr().out.splitlines()
    assert "x.wav (x): 2 difference(s)" in lines[0]
    marked = [line for line in lines if "*" in line and "end_a -> end_b" in line]
    assert len(marked) == 1 and "No." in marked[0]
    assert not [line for line in lines if "*" in line and "Hello?" in line]
    assert "* disposition: a -> b" in lines
