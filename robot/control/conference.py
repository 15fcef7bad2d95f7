"""A conference room: calls that hear each other, mixed in the event loop.

One 20 ms clock per room (deadline scheduling: slot ``n`` is due at ``start + n * 20 ms``, so
sleep overshoot never accumulates; a stalled loop skips slots instead of bursting). Each
member's audio lands in its own small jitter buffer (:class:`~robot.control.mixer.MemberBuffer`,
which also silences in-band DTMF); every tick takes one frame from each and plays to each
member the sum of the others (:func:`~robot.control.mixer.mix_minus`). Muted and held members
are mixed out; a held member hears nothing.

Two members on SIP legs are not mixed: their RTP is relayed directly between the two legs
(as a bridged transfer does) and the clock only records and watches who speaks. A third member
(or a mute, a hold, a beep) moves them back to the mixer.

The room reports through ``on_event(type, data)``: ``conference.started|ended``,
``participant.joined|left|muted|unmuted|speaking_started|speaking_stopped`` and
``recording.completed``. It never blocks on the database; the caller queues the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.webhook import EventType
from robot.audio import TELEPHONY_RATE_HZ, AudioChunk
from robot.carriers.base import Call
from robot.carriers.sip.clock import FRAME_S, LATE_AFTER_S, RESYNC_AFTER_S
from robot.control.mixer import (
    FRAME_SAMPLES,
    SILENT_FRAME,
    MemberBuffer,
    SpeakingDetector,
    beep_frames,
    frames_dbfs,
    mix_minus,
)
from robot.errors import CallrobotError, NotFoundError

logger = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], None]
#: Audio queued to a SIP leg beyond this (its clock skipped slots, or a relay left frames
#: behind) is dropped so the room's delay does not grow.
MAX_PLAYOUT_MS = 120.0


class ConferenceEndedError(CallrobotError):
    """The conference has ended; nobody can join it any more."""


@dataclass(frozen=True, slots=True)
class MemberOptions:
    muted: bool = False
    #: The room starts (members hear each other) when such a member is in it.
    start_on_enter: bool = True
    #: The room ends for everyone when this member leaves.
    end_on_exit: bool = False
    #: Everyone hears a short tone when this member enters.
    beep: bool = True
    #: The room hangs up this leg when it ends (a leg the room dialled itself).
    hang_up_on_end: bool = False


class Member:
    """One call in a room."""

    def __init__(self, member_id: int, call: Call, options: MemberOptions) -> None:
        self.id = member_id
        self.call = call
        self.options = options
        self.muted = options.muted
        self.held = False
        self.buffer = MemberBuffer()
        self.speaking = SpeakingDetector()
        #: Set when the member has left; ``left_reason`` says why (``hangup``, ``kicked``,
        #: ``conference_ended``, ``removed``).
        self.left = asyncio.Event()
        self.left_reason: str | None = None
        self.reader: asyncio.Task[None] | None = None

    @property
    def heard(self) -> bool:
        return not self.muted and not self.held

    def push(self, chunk: AudioChunk) -> None:
        """Audio the member sent (from its call's ``audio()`` or a runner's leg)."""
        self.buffer.push(chunk.resampled(TELEPHONY_RATE_HZ).pcm)

    def describe(self) -> dict[str, Any]:
        return {
            "participant_id": self.id,
            "call_id": self.call.call_id,
            "muted": self.muted,
            "hold": self.held,
            "speaking": self.speaking.speaking,
            "start_on_enter": self.options.start_on_enter,
            "end_on_exit": self.options.end_on_exit,
        }


class Conference:
    """A room of calls; :meth:`add` members, the clock runs while anyone is in it."""

    def __init__(
        self,
        conference_id: int,
        name: str,
        *,
        on_event: EventSink,
        record_to: Path | None = None,
        relay: bool = True,
        clocked: bool = True,
    ) -> None:
        self.id = conference_id
        self.name = name
        self._on_event = on_event
        self.record_to = record_to
        self.relay = relay
        #: False: nobody runs the clock but the caller, one :meth:`tick` per frame (tests,
        #: benchmarks).
        self.clocked = clocked
        self.members: dict[int, Member] = {}
        self.started = False
        #: Set once the room has ended and every member has left.
        self.ended = asyncio.Event()
        self.ending = False
        self.end_reason: str | None = None
        #: Clock ticks so far, and those that ran more than 10 ms after their slot.
        self.frames = 0
        self.late_frames = 0
        self.recorded_frames = 0
        self._next_member = 1
        self._beeps: deque[bytes] = deque()
        self._relayed: tuple[Member, Member] | None = None
        self._recorder: wave.Wave_write | None = None
        self._clock: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- membership ---------------------------------------------------------------------------
    def reserve_id(self) -> int:
        """A participant id for a member that will join later (a leg still ringing)."""
        member_id = self._next_member
        self._next_member += 1
        return member_id

    def add(
        self,
        call: Call,
        options: MemberOptions,
        *,
        read_audio: bool = True,
        member_id: int | None = None,
    ) -> Member:
        """Put ``call`` in the room. With ``read_audio`` the room reads ``call.audio()``
        itself (and the member leaves when it ends); otherwise the owner of the call feeds
        :meth:`Member.push` and removes the member when the call ends."""
        if self.ending:
            raise ConferenceEndedError(f"conference {self.name!r} has ended")
        member = Member(member_id or self.reserve_id(), call, options)
        self.members[member.id] = member
        if read_audio:
            member.reader = asyncio.create_task(self._read(member), name=f"conf-{self.id}-in")
        self._event(EventType.PARTICIPANT_JOINED, member)
        if options.start_on_enter and not self.started:
            self.started = True
            self._open_recording()
            self._event(EventType.CONFERENCE_STARTED)
        if options.beep and self.started:
            self._beeps.extend(beep_frames())
        self._arrange()
        if self._clock is None and self.clocked:
            self._clock = asyncio.create_task(self._run_clock(), name=f"conf-{self.id}-clock")
        return member

    def member(self, member_id: int) -> Member:
        try:
            return self.members[member_id]
        except KeyError:
            raise NotFoundError(f"participant {member_id}: not in this conference") from None

    def remove(self, member_id: int, reason: str = "removed") -> Member:
        """Take a member out (its call goes on); the room ends when an ``end_on_exit`` member
        or the last one leaves."""
        member = self.member(member_id)
        del self.members[member_id]
        member.left_reason = reason
        member.left.set()
        if member.reader is not None and member.reader is not asyncio.current_task():
            member.reader.cancel()
        if member.speaking.speaking:
            member.speaking.speaking = False
            self._event(EventType.PARTICIPANT_SPEAKING_STOPPED, member)
        self._event(EventType.PARTICIPANT_LEFT, member, reason=reason)
        self._arrange()
        if not self.ending and (member.options.end_on_exit or not self.members):
            why = "end_on_exit" if member.options.end_on_exit else "empty"
            self._spawn(self.end(why))
        return member

    async def kick(self, member_id: int) -> Member:
        """Remove a member and hang up its call (a SIP BYE)."""
        member = self.remove(member_id, "kicked")
        with contextlib.suppress(CallrobotError):
            await member.call.hangup("kicked")
        return member

    def set_muted(self, member_id: int, muted: bool) -> Member:
        member = self.member(member_id)
        if member.muted != muted:
            member.muted = muted
            kind = EventType.PARTICIPANT_MUTED if muted else EventType.PARTICIPANT_UNMUTED
            self._event(kind, member)
            self._arrange()
        return member

    def set_held(self, member_id: int, held: bool) -> Member:
        member = self.member(member_id)
        member.held = held
        self._arrange()
        return member

    async def end(self, reason: str = "ended") -> None:
        """End the room: every member leaves; legs the room dialled are hung up."""
        if self.ending:
            await self.ended.wait()
            return
        self.ending = True
        self.end_reason = reason
        if self._clock is not None and self._clock is not asyncio.current_task():
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
        hang_up = []
        for member_id in list(self.members):
            member = self.remove(member_id, "conference_ended")
            if member.options.hang_up_on_end:
                hang_up.append(member.call.hangup("conference ended"))
        await asyncio.gather(*hang_up, return_exceptions=True)
        self._close_recording()
        if self.started:
            self._event(EventType.CONFERENCE_ENDED, reason=reason)
        self.ended.set()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    # -- audio ----------------------------------------------------------------------------------
    async def _read(self, member: Member) -> None:
        try:
            async for chunk in member.call.audio():
                member.push(chunk)
        finally:
            if self.members.get(member.id) is member:
                self.remove(member.id, "hangup")

    async def tick(self) -> None:
        """One 20 ms frame: take a frame from every member, play each its mix-minus."""
        self.frames += 1
        members = list(self.members.values())
        if not members or not self.started:
            for member in members:
                member.buffer.pop()  # waiting members hear silence; keep buffers drained
            return
        pcm = b"".join(member.buffer.pop() for member in members)
        frames = np.frombuffer(pcm, dtype="<i2").reshape(len(members), FRAME_SAMPLES)
        heard = np.fromiter((m.heard for m in members), dtype=bool, count=len(members))
        beeping = bool(self._beeps)
        if beeping:
            beep = np.frombuffer(self._beeps.popleft(), dtype="<i2")
            frames = np.vstack([frames, beep])
            heard = np.append(heard, True)
        each, total = mix_minus(frames, heard)
        self._watch_speaking(members, frames[: len(members)])
        if self._recorder is not None:
            self._recorder.writeframes(total.astype("<i2").tobytes())
            self.recorded_frames += 1
        if self._relayed is None:
            for member, row in zip(members, each, strict=False):
                out = row.tobytes() if not member.held else SILENT_FRAME
                rtp = getattr(member.call, "rtp", None)
                if rtp is not None and rtp.queued_ms > MAX_PLAYOUT_MS:
                    member.call.stop_playback()  # the leg's clock fell behind: catch up
                with contextlib.suppress(CallrobotError):
                    await member.call.play(AudioChunk(out))
            if beeping and not self._beeps:
                self._arrange()  # the beep is over: two SIP members go back to the relay

    def _watch_speaking(self, members: list[Member], frames: np.ndarray) -> None:
        for member, level in zip(members, frames_dbfs(frames).tolist(), strict=True):
            change = member.speaking.feed(level if member.heard else -100.0)
            if change == "started":
                self._event(EventType.PARTICIPANT_SPEAKING_STARTED, member)
            elif change == "stopped":
                self._event(EventType.PARTICIPANT_SPEAKING_STOPPED, member)

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        slot = 0
        while not self.ending:
            due = start + slot * FRAME_S
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            behind = loop.time() - due
            if behind > RESYNC_AFTER_S:  # the loop stalled: skip the missed slots
                skipped = int(behind / FRAME_S)
                slot += skipped
                self.late_frames += skipped
            elif behind > LATE_AFTER_S:
                self.late_frames += 1
            try:
                await self.tick()
            except Exception:  # one bad frame must not silence the room
                logger.exception("conference %s: frame %d failed", self.id, self.frames)
            slot += 1

    def _arrange(self) -> None:
        """Relay RTP between two SIP members that simply talk; otherwise mix."""
        members = list(self.members.values())
        rtps: list[Any] = [getattr(m.call, "rtp", None) for m in members]
        want = (
            self.relay
            and self.started
            and not self._beeps
            and len(members) == 2
            and all(m.heard for m in members)
            and all(rtp is not None for rtp in rtps)
        )
        if want and self._relayed is None:
            rtps[0].relay_to, rtps[1].relay_to = rtps[1], rtps[0]
            self._relayed = (members[0], members[1])
        elif not want and self._relayed is not None:
            for member in self._relayed:
                rtp = getattr(member.call, "rtp", None)
                if rtp is not None:
                    rtp.relay_to = None
            self._relayed = None

    @property
    def relayed(self) -> bool:
        return self._relayed is not None

    # -- recording and events -------------------------------------------------------------------
    def _open_recording(self) -> None:
        if self.record_to is None:
            return
        self.record_to.parent.mkdir(parents=True, exist_ok=True)
        recorder = wave.open(str(self.record_to), "wb")  # noqa: SIM115 (closed at the end)
        recorder.setnchannels(1)
        recorder.setsampwidth(2)
        recorder.setframerate(TELEPHONY_RATE_HZ)
        self._recorder = recorder

    def _close_recording(self) -> None:
        if self._recorder is None:
            return
        self._recorder.close()
        self._recorder = None
        duration_ms = self.recorded_frames * FRAME_S * 1000
        self._emit(EventType.RECORDING_COMPLETED, {"duration_ms": round(duration_ms)})

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _event(self, event_type: str, member: Member | None = None, **extra: Any) -> None:
        data: dict[str, Any] = {}
        if member is not None:
            data.update(member.describe())
        data.update(extra)
        self._emit(event_type, data)

    def _emit(self, event_type: str, data: dict[str, Any]) -> None:
        payload = {"conference_id": self.id, "name": self.name, **data}
        try:
            self._on_event(event_type, payload)
        except Exception:  # reporting must never stop the audio
            logger.exception("conference %s: event %s not queued", self.id, event_type)
