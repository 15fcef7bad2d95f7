"""One call leg of call control: its events and audio, read in the background, and a bridge.

A :class:`Leg` reads its call's control events (answer, early media, DTMF, the end) and audio
from creation, so a key pressed while a prompt plays waits for the next ``gather``, a hang-up
stops the action under way at once, and audio never piles up unread. :func:`bridge` plays each
of two legs' audio into the other until one hangs up or a time limit passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from models.webhook import EventType
from robot.audio import AudioChunk
from robot.carriers.base import Call, CallEvent, CallState
from robot.control.events import LegEvents
from robot.errors import CallrobotError

logger = logging.getLogger(__name__)

#: Seconds a leg's event reader has, once the call ended, to read its final event at close.
CLOSE_GUARD_S = 2.0


class Leg:
    """One call's events and audio, read in the background from creation."""

    def __init__(self, call: Call, events: LegEvents | None = None) -> None:
        self.call = call
        self.events = events
        self.digits: asyncio.Queue[str] = asyncio.Queue()
        self.answered = asyncio.Event()
        #: Set once the call sends early media (audio before its answer).
        self.early_media = asyncio.Event()
        self.ended = asyncio.Event()
        #: Where this leg's audio goes (the other leg of a bridge), or None (dropped).
        self.forward_to: Call | None = None
        #: Also given every frame (a conference member's input), or None.
        self.listener: Callable[[AudioChunk], None] | None = None
        #: Given every control event instead of ``digits`` (a script running on the leg).
        self.on_event: Callable[[CallEvent], None] | None = None
        self._tasks = [
            asyncio.create_task(self._read_events()),
            asyncio.create_task(self._read_audio()),
        ]

    async def _read_events(self) -> None:
        try:
            async for event in self.call.events():
                if self.events is not None:
                    self.events.carrier_event(event, self.call.signalling)
                if self.on_event is not None:
                    self.on_event(event)
                elif event.kind == "answered":
                    self.answered.set()
                elif event.kind == "early_media":
                    self.early_media.set()
                elif event.kind == "dtmf" and event.digit:
                    self.digits.put_nowait(event.digit)
        finally:
            self.ended.set()
            if self.events is not None:
                self.events.complete(self.call.signalling)

    async def _read_audio(self) -> None:
        async for frame in self.call.audio():
            listener = self.listener
            if listener is not None:
                listener(frame)
            target = self.forward_to
            if target is not None:
                with contextlib.suppress(CallrobotError):
                    await target.play(frame)

    async def until_ended(self, awaitable: Awaitable[Any]) -> tuple[bool, Any]:
        """``(True, result)`` of ``awaitable``, or ``(False, None)`` (and it is cancelled)
        when the call ends first."""
        work = asyncio.ensure_future(awaitable)
        ended = asyncio.create_task(self.ended.wait())
        try:
            await asyncio.wait({work, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, ended):
                task.cancel()
            await asyncio.gather(work, ended, return_exceptions=True)
        if work.cancelled() or not work.done():
            return False, None
        return True, work.result()

    async def play(self, chunk: AudioChunk) -> bool:
        """Play ``chunk`` and wait until it was sent; False when the call ended first."""
        if self.ended.is_set():
            return False
        await self.call.play(chunk)
        done, _ = await self.until_ended(self.call.playback_done())
        return done

    async def hangup(self) -> None:
        if not self.ended.is_set():
            with contextlib.suppress(CallrobotError):
                await self.call.hangup()

    async def close(self) -> None:
        """Stop reading; a call that has ended first gets its final event read."""
        if self.call.state == CallState.ENDED:
            await asyncio.wait({self._tasks[0]}, timeout=CLOSE_GUARD_S)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def bridge(caller: Leg, other: Leg, time_limit_s: int | None) -> None:
    """Each leg hears the other until one hangs up or the time limit passes."""
    caller.forward_to, other.forward_to = other.call, caller.call
    for leg, peer in ((caller, other), (other, caller)):
        if leg.events is not None:
            with_id = peer.events.call_id if peer.events is not None else None
            leg.events.emit(EventType.CALL_BRIDGED, with_call_id=with_id)
    waits: list[asyncio.Task[Any]] = [
        asyncio.create_task(caller.ended.wait()),
        asyncio.create_task(other.ended.wait()),
    ]
    if time_limit_s is not None:
        waits.append(asyncio.create_task(asyncio.sleep(time_limit_s)))
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        caller.forward_to = other.forward_to = None
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    logger.info("call %s: bridge ended", caller.call.call_id)
