"""Who answered: from dialling to "a person is on the line" (or a machine, or nobody).

:class:`AnswerDetection` follows the call's control events until answer, classifies the
signalling (dead numbers, carrier voicemail by Diversion / History-Info), then feeds the callee
audio to an answering-machine detector until it decides. The detector runs in the
``detector`` pool of :mod:`robot.executors` (it may read a greeting with Whisper, far too
long to hold the event loop that moves every call's frames); frames are queued and fed in
order. The wait for its verdict has a deadline (``max_detection_ms`` plus a grace for a busy
detector): past it the call goes on as a person's, and the miss is logged and counted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from robot.audio import AudioChunk
from robot.carriers.base import CallEvent, CallOutcome, Signalling
from robot.report import CallReport
from robot.session_metrics import STALLS
from voicemail.signalling import classify_signalling

log = logging.getLogger(__name__)


class AudioVerdict(Protocol):
    @property
    def verdict(self) -> str: ...  # "human" | "machine" | "unknown"

    @property
    def decision_ms(self) -> float: ...

    @property
    def reason(self) -> str: ...


class AnsweringMachineDetector(Protocol):
    def feed(self, chunk: AudioChunk) -> AudioVerdict | None: ...
    def finish(self) -> AudioVerdict: ...


@dataclass(frozen=True, slots=True)
class NoVerdict:
    """No verdict: the detector did not decide in time, or the callee hung up first."""

    decision_ms: float
    reason: str
    verdict: str = "unknown"


class AnswerDetection:
    """One call's answer: events until answer, signalling, then the audio detector."""

    def __init__(
        self,
        call_id: str,
        report: CallReport,
        spawn: Callable[[Any], asyncio.Task[Any]],
        *,
        max_detection_ms: float,
        grace_ms: float,
    ) -> None:
        self.call_id = call_id
        self.report = report
        self.executor: concurrent.futures.Executor | None = None
        self.max_detection_ms = max_detection_ms
        self.grace_ms = grace_ms
        self._spawn = spawn
        self.detector: AnsweringMachineDetector | None = None
        self._verdict: asyncio.Future[AudioVerdict] | None = None
        self._started = time.monotonic()
        self._frames: list[AudioChunk] = []
        self._running: asyncio.Task[None] | None = None
        self._job: concurrent.futures.Future[AudioVerdict | None] | None = None
        self._beep_waiter: Any = None
        self._beep_over = asyncio.Event()

    async def answered(
        self,
        events: AsyncIterator[CallEvent],
        signalling: Signalling,
        now_ms: Callable[[], float],
    ) -> bool:
        """Follow control events until answer (True) or a failed call (False)."""
        async for event in events:
            if event.kind == "answered":
                self.report.answered_ms = now_ms()
                return True
            if event.kind in ("failed", "hangup"):
                verdict = classify_signalling(signalling)
                outcome = verdict.outcome
                if outcome == "answered":  # hung up right at answer
                    outcome = CallOutcome.FAILED.value
                self.report.outcome = outcome
                self.report.q850 = verdict.q850
                self.report.signalling_reason = verdict.reason
                return False
        self.report.outcome = CallOutcome.FAILED.value
        return False

    def signalled_outcome(self, signalling: Signalling) -> str | None:
        """The outcome the network already told (e.g. carrier voicemail), else None."""
        verdict = classify_signalling(signalling)
        self.report.q850 = verdict.q850
        self.report.signalling_reason = verdict.reason
        if not verdict.is_final:
            return None
        self.report.outcome = verdict.outcome
        self.report.voicemail_verdict = "machine"
        self.report.voicemail_reason = verdict.reason
        return verdict.outcome

    # -- the audio detector -----------------------------------------------------------------

    def start(
        self, detector: AnsweringMachineDetector, executor: concurrent.futures.Executor
    ) -> None:
        """Feed callee audio to ``detector`` in ``executor`` until it decides."""
        self.detector = detector
        self.executor = executor
        self._started = time.monotonic()
        self._verdict = asyncio.get_running_loop().create_future()

    @property
    def listening(self) -> bool:
        return self._verdict is not None and not self._verdict.done()

    @property
    def busy(self) -> bool:
        """The detector is being fed in a worker thread right now."""
        return self._job is not None and not self._job.done()

    async def beep(self, timeout_s: float = 30.0) -> None:
        """Wait for a voicemail greeting's beep (or until it has gone quiet, or
        ``timeout_s``): a message is left after it, not over it."""
        from voicemail.early_media import BeepWaiter

        self._beep_waiter = BeepWaiter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._beep_over.wait(), timeout_s)
        self._beep_waiter = None

    def feed(self, frame: AudioChunk) -> None:
        if self._beep_waiter is not None and self._beep_waiter.feed(frame) is not None:
            self._beep_over.set()
        if not self.listening:
            return
        self._frames.append(frame)
        if self._running is None or self._running.done():
            self._running = self._spawn(self._run())

    async def verdict(self, hung_up: asyncio.Event) -> AudioVerdict:
        """The detector's verdict; :class:`NoVerdict` when it is late or the callee left."""
        assert self._verdict is not None
        limit_s = (self.max_detection_ms + self.grace_ms) / 1000
        left = asyncio.ensure_future(hung_up.wait())
        waits: set[asyncio.Future[Any]] = {self._verdict, left}
        try:
            await asyncio.wait(waits, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            left.cancel()
        if self._verdict.done():
            return self._verdict.result()
        if hung_up.is_set():
            found: AudioVerdict = NoVerdict(0.0, "hung up before a verdict")
        else:
            log.warning("call %s: no answer verdict in %.1f s: talking", self.call_id, limit_s)
            STALLS.add("verdict")
            self.report.late_waits["verdict"] = self.report.late_waits.get("verdict", 0) + 1
            found = NoVerdict(limit_s * 1000, "no verdict in time")
        self._verdict.set_result(found)  # and stop feeding
        return found

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._frames and self.listening:
            frames, self._frames = self._frames, []
            assert self.executor is not None
            job = self.executor.submit(self._feed_in, frames)
            self._job = job
            found = await asyncio.wrap_future(job, loop=loop)
            if found is not None and self._verdict is not None and not self._verdict.done():
                self._verdict.set_result(found)

    def _feed_in(self, frames: list[AudioChunk]) -> AudioVerdict | None:
        """Feed frames in order (blocking); the verdict, once there is one."""
        detector = self.detector
        assert detector is not None
        for frame in frames:
            found = detector.feed(frame)
            if found is not None:
                return found
        if (time.monotonic() - self._started) * 1000 > self.max_detection_ms:
            return detector.finish()
        return None
