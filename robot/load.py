"""How loaded the call engine is, and whether it can take one more call now.

:class:`EngineLoad` keeps what recent calls measured: turn latencies (end of callee speech ->
first robot audio, endpoint silence included), how long utterances waited for a decoding
thread, late decodes, the calls running and this process's CPU use. From these it answers
:meth:`EngineLoad.room`: how many more calls can start now and still be served within
``admission.target_turn_ms``.

The rule (settings ``admission.*``, :class:`robot.config.AdmissionSettings`):

* at most ``max_calls`` calls (when set); ``min_calls`` always run, so leads keep moving;
* no call starts while the recent p95 turn latency, the recent p95 decode wait or the CPU share
  is above its target;
* a learned limit, ``start_calls`` at first, grows one call at a time: only when the last
  admitted call has had a turn within target (and, after a cut, ``recovery_turns`` turns in a
  row were); a slow turn of a call admitted since the last cut cuts the limit by a quarter.

So a burst of leads never starts at once: calls wait their turn instead of all turning slow.

Each admitted call gets a :class:`CallLoad`, the call's session observer
(:class:`robot.session_metrics.SessionObserver`): the session
reports ``on_turn_latency(ms)``, ``on_decode_wait(ms)`` and ``on_late_decode()`` to it.
The dialler admits a call before it claims the lead and sets :data:`admitted_call` for the
task that runs it; the call engine reports to that call (or admits one of its own).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from robot import metrics
from robot.config import AdmissionSettings

#: Process CPU use is measured over this span (seconds).
CPU_WINDOW_S = 5.0
#: ... and not reported over a shorter one; it is read at most this often.
MIN_CPU_SPAN_S = 1.0
CPU_SAMPLE_S = 0.25
#: What :meth:`EngineLoad.room` answers when nothing limits the calls.
UNLIMITED = 1 << 30


def percentile(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q <= 100), or None without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a live process, from ``/proc/PID/stat`` (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # After the command name: state is field 3, utime field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_s() -> float:
    """CPU seconds used so far by this process and its live worker processes (the grammar
    recognizer decodes in one)."""
    times = os.times()
    total = times.user + times.system
    try:
        children = multiprocessing.active_children()
    except RuntimeError:  # the set of children changed while another thread looked
        children = []
    for child in children:
        if child.pid is not None:
            total += _proc_cpu_s(child.pid)
    return total


def available_cores() -> int:
    with contextlib.suppress(AttributeError):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def cpu_info() -> dict[str, Any]:
    """The CPU a figure was measured on: model name, AVX-512 or not, cores this process may use."""
    model: str | None = None
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model is None:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"cpu_model": model, "avx512": "avx512f" in flags, "cores": available_cores()}


class CallLoad:
    """One admitted call: the session observer its session reports to. ``close()`` (or
    leave the ``with`` block) when the call is over."""

    def __init__(self, load: EngineLoad, seq: int) -> None:
        self.load = load
        self.seq = seq
        self.turns = 0
        self.good_turns = 0
        self.closed = False

    def on_turn_latency(self, ms: float) -> None:
        self.load._turn(self, ms)

    def on_decode_wait(self, ms: float) -> None:
        self.load._decode_wait(ms)

    def on_late_decode(self) -> None:
        self.load._late_decode(self)

    def close(self) -> None:
        self.load._close(self)

    def __enter__(self) -> CallLoad:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: The admitted call the current task runs (set by the dialler, read by the call engine).
admitted_call: ContextVar[CallLoad | None] = ContextVar("admitted_call", default=None)


class EngineLoad:
    """The engine's load and its admission decision (thread-safe)."""

    def __init__(
        self,
        settings: AdmissionSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = process_cpu_s,
        cores: int | None = None,
    ) -> None:
        self.settings = settings or AdmissionSettings()
        self._clock = clock
        self._cpu_clock = cpu_clock
        self.cores = cores or available_cores()
        self._lock = threading.Lock()
        self._calls: set[CallLoad] = set()
        self._seq = 0
        self._last: CallLoad | None = None
        self._limit = self._capped(self.settings.start_calls)
        #: Calls admitted up to this number were running when the limit was last cut.
        self._cut_seq = 0
        self._good_streak = 0
        samples = self.settings.window_samples
        self._turns: deque[tuple[float, float]] = deque(maxlen=samples)
        self._waits: deque[tuple[float, float]] = deque(maxlen=samples)
        self._cpu_samples: deque[tuple[float, float]] = deque()
        self._cpu: float | None = None
        self.admitted = 0
        #: Turns and decode waits reported since the start.
        self.turns = 0
        self.decodes = 0
        self.held_back = 0
        self.late_decodes = 0
        self.cuts = 0
        self.most_active = 0

    # -- the decision -----------------------------------------------------------------------

    def room(self) -> int:
        """How many more calls can start now."""
        with self._lock:
            return self._room()

    def can_admit(self) -> bool:
        return self.room() > 0

    def admit(self) -> CallLoad:
        """Count a call that starts now (never refuses: ask :meth:`room` first). Grows the
        limit when this call is the next probe."""
        with self._lock:
            if len(self._calls) >= self._limit and self._may_grow():
                self._limit = self._capped(self._limit + 1)
            self._seq += 1
            call = CallLoad(self, self._seq)
            self._calls.add(call)
            self._last = call
            self.admitted += 1
            self.most_active = max(self.most_active, len(self._calls))
            return call

    def hold_back(self, calls: int = 1) -> None:
        """Count call starts deferred because :meth:`room` was 0."""
        with self._lock:
            self.held_back += calls
        metrics.admission_held(calls)

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def limit(self) -> int:
        """The learned limit on simultaneous calls."""
        return self._limit

    def snapshot(self) -> dict[str, Any]:
        """The figures ``/health`` shows (no secrets, cheap)."""
        with self._lock:
            turn_p95 = percentile(self._recent(self._turns), 95)
            wait_p95 = percentile(self._recent(self._waits), 95)
            cpu = self._cpu_share()
            return {
                "admitting": self._room() > 0,
                "active_calls": len(self._calls),
                "limit": self._limit,
                "held_back": self.held_back,
                "admitted": self.admitted,
                "turn_p95_ms": round(turn_p95) if turn_p95 is not None else None,
                "decode_wait_p95_ms": round(wait_p95) if wait_p95 is not None else None,
                "late_decodes": self.late_decodes,
                "cpu": round(cpu, 2) if cpu is not None else None,
            }

    # -- measurements (from CallLoad) -------------------------------------------------------

    def _turn(self, call: CallLoad, ms: float) -> None:
        with self._lock:
            self._turns.append((self._clock(), ms))
            self.turns += 1
            call.turns += 1
            if ms <= self.settings.target_turn_ms:
                call.good_turns += 1
                self._good_streak += 1
            else:
                self._slow(call)

    def _decode_wait(self, ms: float) -> None:
        with self._lock:
            self._waits.append((self._clock(), ms))
            self.decodes += 1

    def _late_decode(self, call: CallLoad) -> None:
        with self._lock:
            self.late_decodes += 1
            self._slow(call)

    def _close(self, call: CallLoad) -> None:
        with self._lock:
            call.closed = True
            self._calls.discard(call)

    # -- rules (called with the lock held) --------------------------------------------------

    def _capped(self, calls: int) -> int:
        cap = self.settings.max_calls
        return max(self.settings.min_calls, min(calls, cap) if cap is not None else calls)

    def _room(self) -> int:
        s = self.settings
        active = len(self._calls)
        if s.max_calls is not None and active >= s.max_calls:
            return 0
        if not s.enabled:
            return s.max_calls - active if s.max_calls is not None else UNLIMITED
        floor = max(0, s.min_calls - active)  # always running, however slow
        if self._overloaded():
            return floor
        if active < self._limit:
            return max(floor, self._limit - active)
        return max(floor, 1 if self._may_grow() else 0)

    def _overloaded(self) -> bool:
        s = self.settings
        turn_p95 = percentile(self._recent(self._turns), 95)
        if turn_p95 is not None and turn_p95 > s.target_turn_ms:
            return True
        wait_p95 = percentile(self._recent(self._waits), 95)
        if wait_p95 is not None and wait_p95 > s.max_decode_wait_ms:
            return True
        cpu = self._cpu_share()
        return cpu is not None and cpu > s.max_cpu

    def _may_grow(self) -> bool:
        if self.settings.max_calls is not None and self._limit >= self.settings.max_calls:
            return False
        if self._last is None or self._last.good_turns == 0:
            return False  # the last call admitted has not shown that it is served in time
        return self._cut_seq == 0 or self._good_streak >= self.settings.recovery_turns

    def _slow(self, call: CallLoad) -> None:
        self._good_streak = 0
        if call.seq <= self._cut_seq:
            return  # running before the last cut: that cut already answered it
        running = max(1, len(self._calls))
        self._limit = self._capped(min(self._limit, running) * 3 // 4)
        self._cut_seq = self._seq
        self.cuts += 1

    def _recent(self, samples: deque[tuple[float, float]]) -> list[float]:
        since = self._clock() - self.settings.window_s
        return [value for at, value in samples if at >= since]

    def _cpu_share(self) -> float | None:
        """Share of the machine's cores this process used over the last few seconds."""
        now = self._clock()
        samples = self._cpu_samples
        if samples and now - samples[-1][0] < CPU_SAMPLE_S:
            return self._cpu
        used = self._cpu_clock()
        samples.append((now, used))
        # The oldest sample kept is about CPU_WINDOW_S old (or the last one before it).
        while (
            len(samples) > 2
            and now - samples[0][0] > CPU_WINDOW_S
            and now - samples[1][0] >= MIN_CPU_SPAN_S
        ):
            samples.popleft()
        then, used_then = samples[0]
        if now - then >= MIN_CPU_SPAN_S:
            self._cpu = (used - used_then) / (now - then) / self.cores
        return self._cpu
