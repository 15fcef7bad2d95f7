"""QA replay: run a recorded call's callee audio through the current script and engines.

A recorded call is ``<call_id>.wav`` (stereo 8 kHz, left = callee, right = robot, starting at
answer) plus its turn log ``<call_id>.json`` (see :func:`robot.session.write_turn_log`).

:class:`ReplayCarrier` implements the carrier contract: the call answers at once and sends the
recorded callee channel as 20 ms frames paced in real time (``speed`` 2.0 = twice as fast).
Robot audio is consumed one frame per callee frame, like a real line, and kept in
:attr:`ReplayCall.robot_audio`. DTMF is not in a recording, so none is ever sent. When the
callee channel runs out the call ends as a remote hang-up, except when the robot ended the
recorded call: then the line stays open, silent, for up to ``hold_ms`` of call time, so that a
robot slower than the recorded one (a busy machine) still answers the last words and ends the
call itself, as it did before.

:func:`replay_call` runs one recorded call through a script and returns the comparison made by
:mod:`robot.replay_compare`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robot.audio import FRAME_MS, TELEPHONY_RATE_HZ, AudioChunk
from robot.carriers.base import (
    CallEvent,
    CallState,
    Signalling,
    SipMessageInfo,
    queued_audio,
    queued_events,
)
from robot.errors import CarrierError, ValidationError
from robot.json_limits import loads_bounded
from robot.replay_compare import DEFAULT_MAX_WER, ReplayResult, compare_calls

if TYPE_CHECKING:
    from dialogues.loader import LoadedScript
    from robot.engine import CallEngine

log = logging.getLogger(__name__)

#: A turn log is a shallow object; anything deeper is not one (and must not crash the reader).
TURN_LOG_MAX_DEPTH = 16
_SILENT_FRAME = b"\x00\x00" * (TELEPHONY_RATE_HZ * FRAME_MS // 1000)
#: How long the line stays open after the recording when the robot ended the recorded call
#: (call ms): a late decode's deadline, the reply and the goodbye fit in it.
HOLD_MS = 20000.0


class ReplayCall:
    """A call whose callee is a recording (implements :class:`robot.carriers.base.Call`)."""

    def __init__(
        self,
        callee: AudioChunk,
        *,
        speed: float = 1.0,
        call_id: str | None = None,
        hold_ms: float = 0.0,
    ):
        if not speed > 0:
            raise CarrierError(f"replay speed must be positive, got {speed}")
        self.call_id = call_id or uuid.uuid4().hex
        self.signalling = Signalling()
        self.speed = speed
        self.hold_ms = hold_ms
        self._frames = callee.resampled(TELEPHONY_RATE_HZ).frames(FRAME_MS) if callee.pcm else []
        self._state = CallState.DIALLING
        self._events: asyncio.Queue[CallEvent | None] = asyncio.Queue()
        self._audio: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
        self._robot_frames: deque[bytes] = deque()
        self._robot_sent = bytearray()
        self._drained = asyncio.Event()
        self._drained.set()
        self._hangup_requested = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> CallState:
        return self._state

    @property
    def robot_audio(self) -> AudioChunk:
        """What the robot sent while the recording played (silence where it was quiet)."""
        return AudioChunk(bytes(self._robot_sent), TELEPHONY_RATE_HZ)

    def audio(self) -> AsyncIterator[AudioChunk]:
        return queued_audio(self._audio)

    def events(self) -> AsyncIterator[CallEvent]:
        return queued_events(self._events)

    async def play(self, chunk: AudioChunk) -> None:
        if self._state == CallState.ENDED:
            return
        self._robot_frames.extend(f.pcm for f in chunk.resampled(TELEPHONY_RATE_HZ).frames())
        if self._robot_frames:
            self._drained.clear()

    def stop_playback(self) -> float:
        dropped_ms = float(len(self._robot_frames) * FRAME_MS)
        self._robot_frames.clear()
        self._drained.set()
        return dropped_ms

    async def playback_done(self) -> None:
        await self._drained.wait()

    async def send_dtmf(self, digits: str) -> None:
        log.debug("call %s: DTMF ignored in a replay", self.call_id)

    async def transfer(self, target: str, *, bridged: bool = False) -> None:
        log.debug("call %s: transfer ignored in a replay", self.call_id)

    async def hangup(self, reason: str | None = None) -> None:
        self._hangup_requested.set()
        if self._task is not None:
            await asyncio.shield(self._task)

    def start(self) -> None:
        self._task = self._loop.create_task(self._run(), name=f"replay-{self.call_id}")

    def _now_ms(self) -> float:
        return (self._loop.time() - self._t0) * 1000.0 * self.speed

    async def _run(self) -> None:
        by = "local"
        try:
            self.signalling.record(SipMessageInfo(200, None, "OK", {}, self._now_ms(), True))
            self._state = CallState.ANSWERED
            self._events.put_nowait(CallEvent("answered", self._now_ms()))
            if await self._send_recording():
                by = "remote"
                self.signalling.record(SipMessageInfo(None, "BYE", "", {}, self._now_ms()))
        finally:
            self.signalling.hangup_by = by
            self.signalling.ended_ms = self._now_ms()
            self._state = CallState.ENDED
            self._robot_frames.clear()
            self._drained.set()
            self._events.put_nowait(CallEvent("hangup", self._now_ms(), by=by))
            self._events.put_nowait(None)
            self._audio.put_nowait(None)

    async def _send_recording(self) -> bool:
        """Send every callee frame in real time, then ``hold_ms`` of silence; False when the
        robot hung up first."""
        period_s = FRAME_MS / 1000.0 / self.speed
        deadline = self._loop.time()
        silence = AudioChunk(_SILENT_FRAME, TELEPHONY_RATE_HZ)
        held = [silence] * int(self.hold_ms // FRAME_MS)
        for index, frame in enumerate([*self._frames, *held]):
            if self._hangup_requested.is_set():
                return False
            robot = self._robot_frames.popleft() if self._robot_frames else _SILENT_FRAME
            if not self._robot_frames:
                self._drained.set()
            self._robot_sent += robot
            self._audio.put_nowait(AudioChunk(frame.pcm, frame.rate, index * FRAME_MS))
            deadline += period_s
            delay_s = deadline - self._loop.time()
            if delay_s < -0.2:  # a stalled loop: resync instead of bursting
                deadline = self._loop.time()
            await asyncio.sleep(max(0.0, delay_s))
        return not self._hangup_requested.is_set()


class ReplayCarrier:
    """Answers every dial with the same recorded callee (implements ``Carrier``)."""

    def __init__(
        self,
        callee: AudioChunk,
        *,
        speed: float = 1.0,
        call_id: str | None = None,
        hold_ms: float = 0.0,
    ):
        self.callee = callee
        self.speed = speed
        self.call_id = call_id
        self.hold_ms = hold_ms
        self.calls: list[ReplayCall] = []

    async def dial(
        self,
        number: str,
        *,
        caller_id: str | None = None,
        ring_timeout_s: float = 30.0,
        variables: dict[str, str] | None = None,
    ) -> ReplayCall:
        call = ReplayCall(self.callee, speed=self.speed, call_id=self.call_id, hold_ms=self.hold_ms)
        self.calls.append(call)
        call.start()
        return call

    async def close(self) -> None:
        await asyncio.gather(*(call.hangup() for call in self.calls))


# --- recorded calls -------------------------------------------------------------------------


@dataclass
class RecordedCall:
    """A recording and its turn log, checked and ready to replay."""

    wav_path: Path
    log_path: Path
    call_id: str
    script_name: str | None
    script_version: Any
    lead: dict[str, Any]
    timezone: str | None
    outcome: str | None
    disposition: str | None
    slots: dict[str, Any]
    answered_ms: float
    turns: list[dict[str, Any]]
    callee: AudioChunk
    #: Who ended the recorded call: "local" (the robot), "remote" (the callee), or None.
    hangup_by: str | None = None


def load_recorded_call(wav_path: str | Path) -> RecordedCall:
    """Read ``X.wav`` and ``X.json``; :class:`ValidationError` names the file and the problem."""
    wav_path = Path(wav_path)
    log_path = wav_path.with_suffix(".json")
    if not wav_path.exists():
        raise ValidationError(f"{wav_path}: recording not found")
    data = read_turn_log(wav_path)
    turns = data["turns"]
    answered_ms = data["answered_ms"]
    script: dict[str, Any] = data["script"] if isinstance(data.get("script"), dict) else {}
    callee = _read_callee_channel(wav_path)
    return RecordedCall(
        wav_path=wav_path,
        log_path=log_path,
        call_id=str(data.get("call_id") or wav_path.stem),
        script_name=script.get("name"),
        script_version=script.get("version"),
        lead=dict(data.get("lead") or {}),
        timezone=data.get("timezone"),
        outcome=data.get("outcome"),
        disposition=data.get("disposition"),
        slots=dict(data.get("slots") or {}),
        answered_ms=float(answered_ms),
        turns=turns,
        callee=callee,
        hangup_by=data.get("hangup_by") if data.get("hangup_by") in ("local", "remote") else None,
    )


def read_turn_log(wav_path: str | Path) -> dict[str, Any]:
    """The checked turn log beside a recording (``X.json``): ``turns`` (each with ``who`` and
    ``start_ms``) and ``answered_ms`` are sure to be there; ValidationError names the file."""
    wav_path = Path(wav_path)
    log_path = wav_path.with_suffix(".json")
    if not log_path.exists():
        raise ValidationError(f"{wav_path}: no turn log beside it ({log_path.name} is missing)")
    try:
        text = log_path.read_text(encoding="utf-8")
        data = loads_bounded(text, max_depth=TURN_LOG_MAX_DEPTH, source=str(log_path))
    except (OSError, UnicodeDecodeError) as e:
        raise ValidationError(f"{log_path}: cannot read the turn log: {e}") from e
    if not isinstance(data, dict):
        raise ValidationError(f"{log_path}: a turn log is a JSON object")
    turns = data.get("turns")
    if not isinstance(turns, list):
        raise ValidationError(f"{log_path}: field 'turns' must be a list")
    for n, turn in enumerate(turns):
        if not isinstance(turn, dict) or turn.get("who") not in ("robot", "callee"):
            raise ValidationError(f"{log_path}: turns[{n}]: 'who' must be robot or callee")
        if not isinstance(turn.get("start_ms"), int | float):
            raise ValidationError(f"{log_path}: turns[{n}]: 'start_ms' must be a number")
    answered_ms = data.get("answered_ms")
    if not isinstance(answered_ms, int | float):
        raise ValidationError(f"{log_path}: field 'answered_ms' must be a number")
    return data


def _read_callee_channel(wav_path: Path) -> AudioChunk:
    from robot.recording import read_recording

    try:
        callee, _robot = read_recording(wav_path)
    except ValidationError:
        raise  # checked on opening: the message already names the file and the problem
    except Exception as e:  # soundfile raises its own LibsndfileError, RuntimeError...
        raise ValidationError(f"{wav_path}: unreadable recording: {e}") from e
    if not callee.pcm:
        raise ValidationError(f"{wav_path}: the recording holds no audio")
    return callee


async def replay_call(
    recorded: RecordedCall,
    loaded: LoadedScript,
    engine: CallEngine,
    *,
    speed: float = 1.0,
    record_dir: Path | None = None,
    max_wer: float = DEFAULT_MAX_WER,
) -> ReplayResult:
    """Run the recorded callee through ``loaded`` and compare the new call with the old."""
    carrier = ReplayCarrier(
        recorded.callee,
        speed=speed,
        call_id=f"{recorded.call_id}-replay",
        hold_ms=HOLD_MS if recorded.hangup_by == "local" else 0.0,
    )
    try:
        report = await engine.call(
            carrier,
            "replay",
            loaded,
            lead=recorded.lead,
            timezone=recorded.timezone,
            recording_dir=record_dir,
        )
    finally:
        await carrier.close()
    result = compare_calls(recorded, report, speed=speed, max_wer=max_wer)
    log.info(
        "replayed call %s with script %s: %s",
        recorded.call_id,
        loaded.name,
        "same" if result.same else f"{len(result.differences)} difference(s)",
    )
    return result
