"""Recording call-control legs to WAV files in the recordings folder.

- :func:`bridge_recording` records a ``dial``'s bridge: 2 channels (the caller left, the
  called party right) or 1 (both mixed), from the bridge until it ends;
- :func:`record_caller` runs the ``record`` action: a beep, then the caller alone until the
  finish key, ``silence_timeout_s`` of silence, ``max_length_s`` or a hang-up;
- :class:`LegRecording` is the recording of one or two legs that either of them, or the API
  (:class:`LiveRecordings`), starts and stops.

Each leg's received audio reaches its :class:`~robot.control.track_writer.TrackWriter`
through a tap on the leg's ``listener`` (:func:`add_tap`: several recordings may tap one leg,
beside a listener already there, and each is removed alone); the writer keeps the tracks on
one timeline and writes the file as it goes.
A finished file becomes a ``recording`` row and a ``recording.completed`` event of the
recorded leg (its ``seq``; :mod:`robot.control.events`), when the leg reports events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from models.transactions import write_transaction
from models.webhook import EventType
from robot.audio import TELEPHONY_RATE_HZ, AudioChunk
from robot.config import get_settings
from robot.control.mixer import beep_frames, frame_dbfs
from robot.control.recording_store import completed_data, insert_recording
from robot.control.track_writer import TrackWriter
from robot.errors import CallrobotError, QuotaExceededError
from robot.recording_files import WavFacts, new_recording_file, wav_facts

if TYPE_CHECKING:
    from robot.control.actions import DialRecording, Record
    from robot.control.runner import Leg

logger = logging.getLogger(__name__)

__all__ = [
    "LegRecording",
    "LiveRecordings",
    "RecordingResult",
    "TrackWriter",
    "bridge_recording",
    "record_caller",
]

#: Frames quieter than this count as silence for ``record``'s ``silence_timeout_s``.
SILENCE_DBFS = -45.0

#: A leg in a bridge -> the leg it is bridged to (a 2-channel recording started by the API
#: takes the other party as its right channel).
_BRIDGED: weakref.WeakKeyDictionary[Leg, Leg] = weakref.WeakKeyDictionary()
Tap = Callable[[AudioChunk], None]


class _Taps:
    """The listener installed on a tapped leg: the one it replaced, then every tap."""

    def __init__(self, before: Tap | None) -> None:
        self.before = before
        self.taps: list[Tap] = []

    def __call__(self, chunk: AudioChunk) -> None:
        if self.before is not None:
            self.before(chunk)
        for tap in list(self.taps):
            tap(chunk)


def add_tap(leg: Leg, tap: Tap) -> None:
    """Give ``tap`` every frame the leg receives (after its own listener)."""
    taps = leg.listener if isinstance(leg.listener, _Taps) else _Taps(leg.listener)
    taps.taps.append(tap)
    leg.listener = taps


def remove_tap(leg: Leg, tap: Tap) -> None:
    taps = leg.listener
    if isinstance(taps, _Taps) and tap in taps.taps:
        taps.taps.remove(tap)
        if not taps.taps:
            leg.listener = taps.before


@dataclass(frozen=True, slots=True)
class RecordingResult:
    path: Path
    facts: WavFacts
    #: The ``recording`` row's id (None when the leg reports nothing: no database).
    recording_id: int | None
    #: ``record`` only: ``finish_key``, ``silence``, ``max_length`` or ``hangup``.
    ended_by: str | None = None


def _tenant(leg: Leg) -> tuple[int, Engine] | None:
    events = leg.events
    if events is None:
        return None
    return events.owner.tenant_id, events.owner.engine


def _check_quota(leg: Leg) -> None:
    """Refuse a new recording while the tenant stores ``quotas.max_stored_recordings``."""
    owner = _tenant(leg)
    if owner is None:
        return
    from robot.quotas import check_recordings

    tenant_id, engine = owner
    with engine.connect() as conn:
        check_recordings(conn, tenant_id, get_settings().quotas.max_stored_recordings)


class LegRecording:
    """A recording of ``legs`` (1 or 2) under way; :meth:`stop` finishes and stores it."""

    def __init__(self, legs: list[Leg], channels: int, source: str) -> None:
        self.legs = legs
        self.source = source
        self.channels = channels
        self.root = get_settings().recordings_root()
        owner = _tenant(legs[0])
        tenant_id = owner[0] if owner is not None else 0
        self.writer = TrackWriter(
            new_recording_file(self.root, tenant_id, source), len(legs), channels
        )
        self._taps = [self._tap(track) for track in range(len(legs))]
        for leg, tap in zip(legs, self._taps, strict=True):
            add_tap(leg, tap)
        self._result: asyncio.Future[RecordingResult] | None = None

    def _tap(self, track: int) -> Tap:
        return lambda chunk: self.writer.push(track, chunk)

    @property
    def stopped(self) -> bool:
        return self._result is not None

    async def stop(self, ended_by: str | None = None) -> RecordingResult:
        """Finish the file, store its row and queue ``recording.completed`` (once)."""
        if self._result is None:
            self._result = asyncio.ensure_future(self._finish(ended_by))
        return await asyncio.shield(self._result)

    async def _finish(self, ended_by: str | None) -> RecordingResult:
        for leg, tap in zip(self.legs, self._taps, strict=True):
            remove_tap(leg, tap)
        self.writer.close()
        path = self.writer.path
        leg = self.legs[0]
        call_id = leg.events.call_id if leg.events is not None else None
        owner = _tenant(leg)
        if owner is None:
            facts = await asyncio.to_thread(wav_facts, path)
            return RecordingResult(path, facts, None, ended_by)
        tenant_id, engine = owner

        def store() -> tuple[int, WavFacts]:
            facts = wav_facts(path)
            with write_transaction(engine) as conn:
                return insert_recording(
                    conn,
                    tenant_id=tenant_id,
                    root=self.root,
                    path=path,
                    source=self.source,
                    call_id=call_id,
                    facts=facts,
                )

        recording_id, facts = await asyncio.to_thread(store)
        assert leg.events is not None
        data = completed_data(recording_id, self.source, facts)
        if ended_by is not None:
            data["ended_by"] = ended_by
        leg.events.emit(EventType.RECORDING_COMPLETED, **data)
        logger.info("call %s: recording %d stored", call_id, recording_id)
        return RecordingResult(path, facts, recording_id, ended_by)


async def start_recording(legs: list[Leg], channels: int, source: str) -> LegRecording:
    """A new recording of ``legs``; :class:`QuotaExceededError` at the tenant's cap."""
    await asyncio.to_thread(_check_quota, legs[0])
    return LegRecording(legs, channels, source)


@contextlib.asynccontextmanager
async def bridge_recording(
    caller: Leg, other: Leg, record: DialRecording | None
) -> AsyncIterator[LegRecording | None]:
    """Record the bridge of ``caller`` and ``other`` while the block runs (``dial.record``);
    while it runs either leg's recording started by the API can take the other as a channel."""
    _BRIDGED[caller], _BRIDGED[other] = other, caller
    if record is None:
        try:
            yield None
        finally:
            _BRIDGED.pop(caller, None)
            _BRIDGED.pop(other, None)
        return
    try:
        recording: LegRecording | None = await start_recording(
            [caller, other], record.channels, "dial"
        )
    except (QuotaExceededError, OSError) as e:
        logger.warning("call %s: bridge not recorded: %s", caller.call.call_id, e)
        recording = None
    try:
        yield recording
    finally:
        _BRIDGED.pop(caller, None)
        _BRIDGED.pop(other, None)
        if recording is not None:
            await _stop_quietly(recording)


async def _stop_quietly(recording: LegRecording, ended_by: str | None = None) -> None:
    try:
        await recording.stop(ended_by)
    except (CallrobotError, OSError) as e:  # the call goes on; only the recording is lost
        logger.error("recording of %s not stored: %s", recording.legs[0].call.call_id, e)


async def record_caller(leg: Leg, action: Record) -> RecordingResult | None:
    """The ``record`` action: the caller's message, after a beep when asked (no beep when
    the tenant's quota leaves no room: nothing would be recorded)."""
    try:
        await asyncio.to_thread(_check_quota, leg)
        if action.beep:
            beep = AudioChunk(b"".join(beep_frames(ms=400)))
            if not await leg.play(beep):
                return None
        recording = LegRecording([leg], 1, "record")
    except (QuotaExceededError, OSError) as e:
        logger.warning("call %s: not recorded: %s", leg.call.call_id, e)
        return None
    quiet = _SilenceWatch(action.silence_timeout_s)
    add_tap(leg, quiet.feed)
    ended_by = "max_length"
    try:
        async with asyncio.timeout(action.max_length_s):
            ended_by = await _until_done(leg, action, quiet)
    except TimeoutError:
        ended_by = "max_length"
    finally:
        remove_tap(leg, quiet.feed)
    try:
        return await recording.stop(ended_by)
    except (CallrobotError, OSError) as e:
        logger.error("call %s: message not stored: %s", leg.call.call_id, e)
        return None


class _SilenceWatch:
    """Counts received 20 ms frames of silence in a row; ``silent`` is set past the limit."""

    def __init__(self, timeout_s: float) -> None:
        self.limit_samples = int(timeout_s * TELEPHONY_RATE_HZ)
        self.quiet_samples = 0
        self.silent = asyncio.Event()

    def feed(self, chunk: AudioChunk) -> None:
        samples = chunk.resampled(TELEPHONY_RATE_HZ).to_array()
        if frame_dbfs(samples) < SILENCE_DBFS:
            self.quiet_samples += len(samples)
        else:
            self.quiet_samples = 0
        if self.quiet_samples >= self.limit_samples:
            self.silent.set()


async def _until_done(leg: Leg, action: Record, quiet: _SilenceWatch) -> str:
    silent = asyncio.create_task(quiet.silent.wait())
    ended = asyncio.create_task(leg.ended.wait())
    waits: set[asyncio.Task[object]] = {silent, ended}
    key: asyncio.Task[object] | None = None
    try:
        while True:
            if action.finish_on_key is not None and key is None:
                key = asyncio.create_task(leg.digits.get())
                waits.add(key)
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if ended in done:
                return "hangup"
            if silent in done:
                return "silence"
            if key is not None and key in done:
                waits.discard(key)
                pressed, key = key.result(), None
                if pressed == action.finish_on_key:
                    return "finish_key"
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


class LiveRecordings:
    """Recordings started through the API on live legs of this process, by tenant and leg
    id. A leg is findable from :meth:`register` until :meth:`forget`."""

    def __init__(self) -> None:
        self._legs: dict[tuple[int, str], Leg] = {}
        self._running: dict[tuple[int, str], LegRecording] = {}

    def register(self, leg: Leg) -> None:
        if leg.events is not None:
            self._legs[(leg.events.owner.tenant_id, leg.events.call_id)] = leg

    async def forget(self, leg: Leg) -> None:
        """The leg has ended: a recording the API started on it is finished and stored."""
        if leg.events is not None:
            key = (leg.events.owner.tenant_id, leg.events.call_id)
            self._legs.pop(key, None)
            recording = self._running.pop(key, None)
            if recording is not None:
                await _stop_quietly(recording, "hangup")

    def leg(self, tenant_id: int, call_id: str) -> Leg | None:
        leg = self._legs.get((tenant_id, call_id))
        return None if leg is None or leg.ended.is_set() else leg

    async def start(self, tenant_id: int, call_id: str, channels: int) -> LegRecording | None:
        """Start recording the live leg (None: no such leg here). With 2 channels the leg's
        bridged party is the right channel when it has one."""
        leg = self.leg(tenant_id, call_id)
        if leg is None:
            return None
        key = (tenant_id, call_id)
        running = self._running.get(key)
        if running is not None and not running.stopped:
            return running
        legs = [leg]
        peer = _BRIDGED.get(leg)
        if channels == 2 and peer is not None:
            legs.append(peer)
        recording = await start_recording(legs, channels if len(legs) == 2 else 1, "call")
        self._running[key] = recording
        return recording

    async def stop(self, tenant_id: int, call_id: str) -> RecordingResult | None:
        recording = self._running.pop((tenant_id, call_id), None)
        if recording is None:
            return None
        return await recording.stop("api")
