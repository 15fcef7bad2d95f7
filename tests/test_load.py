"""Admission control's rules (robot.load) on synthetic measurements: no timing, no engines."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from typing import Any

from robot.audio import AudioChunk
from robot.config import AdmissionSettings
from robot.load import EngineLoad, percentile, process_cpu_s
from robot.speech.base import Transcript

TARGET = 1200.0
GOOD = 700.0
SLOW = 3000.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_load(
    clock: Clock | None = None, cpu: list[float] | None = None, **fields: object
) -> EngineLoad:
    settings = AdmissionSettings(target_turn_ms=TARGET, **fields)
    used = cpu if cpu is not None else [0.0]
    return EngineLoad(settings, clock=clock or Clock(), cpu_clock=lambda: used[0], cores=2)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile(range(1, 101), 95) == 95
    assert percentile([1.0, 9.0, 2.0, 3.0], 50) == 2.0


def test_starts_a_few_calls_then_one_at_a_time_as_each_proves_served() -> None:
    load = make_load(start_calls=2)
    assert load.room() == 2
    first, second = load.admit(), load.admit()
    assert load.room() == 0  # nothing measured yet: no probing beyond start_calls
    first.on_turn_latency(GOOD)
    assert load.room() == 0  # the last admitted call has not been served yet
    second.on_turn_latency(GOOD)
    assert load.room() == 1
    third = load.admit()
    assert load.limit == 3 and load.room() == 0
    third.on_turn_latency(GOOD)
    assert load.room() == 1
    first.close()
    assert load.active_calls == 2 and load.room() == 1  # below the limit: no proof needed
    load.admit()
    assert load.limit == 3 and load.room() == 0  # the new call, the last admitted, has no turn yet


def test_a_slow_turn_of_a_new_call_cuts_the_limit_by_a_quarter_once() -> None:
    load = make_load(start_calls=4, window_s=10.0)
    calls = [load.admit() for _ in range(4)]
    calls[3].on_turn_latency(SLOW)
    assert load.limit == 3 and load.cuts == 1
    for call in calls:  # the calls that ran at the cut do not cut again
        call.on_turn_latency(SLOW)
    assert load.limit == 3 and load.cuts == 1
    assert load.room() == 0
    for call in calls[:2]:
        call.close()
    newer = load.admit()
    newer.on_turn_latency(SLOW)  # admitted after the cut and still slow: cut again
    assert load.limit == 2 and load.cuts == 2


def test_the_limit_never_falls_below_min_calls() -> None:
    load = make_load(start_calls=1, min_calls=1)
    call = load.admit()
    call.on_turn_latency(SLOW)
    assert load.limit == 1
    call.close()
    assert load.room() == 1  # slow recent turns, but one call always runs


def test_slow_recent_turns_hold_calls_back_until_they_leave_the_window() -> None:
    clock = Clock()
    load = make_load(clock, start_calls=3, window_s=20.0, min_calls=1)
    first = load.admit()
    first.on_turn_latency(GOOD)
    assert load.room() == 2
    late = load.admit()
    late.close()
    first.on_turn_latency(SLOW)  # admitted before the cut? no cut yet: this one cuts
    assert load.room() == 0  # p95 of recent turns above target
    clock.now += 21.0
    assert load.room() == load.limit - 1


def test_long_decode_waits_and_a_busy_cpu_hold_calls_back() -> None:
    clock = Clock()
    cpu = [0.0]
    load = make_load(clock, cpu, start_calls=4, max_decode_wait_ms=300.0, max_cpu=0.9)
    call = load.admit()
    assert load.room() == 3
    call.on_decode_wait(900.0)
    assert load.room() == 0
    clock.now += 30.0
    assert load.room() == 3
    cpu[0] += 2 * 0.95 * 2.0  # two cores, 95% busy over the next 2 s
    clock.now += 2.0
    assert load.room() == 0
    assert load.snapshot()["cpu"] == 0.95


def test_after_a_cut_the_limit_grows_only_after_recovery_turns() -> None:
    load = make_load(start_calls=4, recovery_turns=4, window_s=1.0)
    calls = [load.admit() for _ in range(4)]
    calls[3].on_turn_latency(SLOW)  # limit 3
    calls[3].close()
    calls[2].close()
    probe = load.admit()  # within the limit: admitted without proof
    probe.on_turn_latency(GOOD)
    for _ in range(2):
        calls[0].on_turn_latency(GOOD)
    assert load.active_calls == 3 and load.room() == 0  # only 3 good turns in a row ...
    load._clock.now += 2.0  # type: ignore[attr-defined]  # the slow turn leaves the window
    assert load.room() == 0
    calls[1].on_turn_latency(GOOD)  # ... now 4, recovery_turns
    assert load.room() == 1


def test_late_decodes_count_as_slow_turns() -> None:
    load = make_load(start_calls=4)
    calls = [load.admit() for _ in range(4)]
    calls[3].on_late_decode()
    assert load.limit == 3 and load.late_decodes == 1


def test_max_calls_bounds_everything_and_disabled_admits_up_to_it() -> None:
    load = make_load(start_calls=8, max_calls=3)
    assert load.limit == 3 and load.room() == 3
    off = make_load(enabled=False, max_calls=5)
    calls = [off.admit() for _ in range(4)]
    calls[0].on_turn_latency(SLOW)
    assert off.room() == 1
    assert make_load(enabled=False).room() > 1000


def test_snapshot_reports_load_and_held_back_calls() -> None:
    load = make_load(start_calls=1)
    with load.admit() as call:
        call.on_turn_latency(1300.0)
        call.on_decode_wait(40.0)
        load.hold_back(3)
        snap = load.snapshot()
    assert snap == {
        "admitting": False,
        "active_calls": 1,
        "limit": 1,
        "held_back": 3,
        "admitted": 1,
        "turn_p95_ms": 1300,
        "decode_wait_p95_ms": 40,
        "late_decodes": 0,
        "cpu": None,
    }
    assert load.active_calls == 0 and load.snapshot()["admitting"] is True


class Recorder:
    def __init__(self) -> None:
        self.turns: list[float] = []
        self.waits: list[float] = []

    def on_turn_latency(self, ms: float) -> None:
        self.turns.append(ms)

    def on_decode_wait(self, ms: float) -> None:
        self.waits.append(ms)

    def on_late_decode(self) -> None:
        pass


class EchoRecognizer:
    name = "echo"
    language = "en"

    def known_phrases(self, phrases: Sequence[str]) -> tuple[str, ...]:
        return tuple(phrases[:1])

    def transcribe(self, audio: AudioChunk, *, hints: Sequence[str] = ()) -> Transcript:
        return Transcript("yes", 1.0, audio.duration_ms)


def _burn(cpu_s: float, ready: Any, done: Any) -> None:
    while time.process_time() < cpu_s:
        pass
    ready.set()
    done.wait()


def test_process_cpu_counts_live_worker_processes() -> None:
    context = multiprocessing.get_context("spawn")
    ready, done = context.Event(), context.Event()
    before = process_cpu_s()
    child = context.Process(target=_burn, args=(0.3, ready, done))
    child.start()
    try:
        assert ready.wait(120)
        assert process_cpu_s() - before >= 0.25  # the child's CPU, while it still runs
    finally:
        done.set()
        child.join()
