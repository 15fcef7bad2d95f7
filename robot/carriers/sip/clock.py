"""One 20 ms clock per carrier that paces every RTP stream it carries."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from robot.carriers.sip.media import RtpSession

FRAME_S = 0.020
#: A packet leaving later than this after its slot counts as late.
LATE_AFTER_S = 0.010
#: Behind by more than this (a stalled loop), skip the missed slots instead of bursting.
RESYNC_AFTER_S = 0.200


class MediaClock:
    """One 20 ms clock for every RTP stream of a carrier: one wake-up per slot, not per call.

    The clock task runs only while at least one stream is registered, so an idle carrier
    keeps no task alive.
    """

    def __init__(self) -> None:
        self._sessions: dict[RtpSession, None] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, session: RtpSession) -> None:
        self._sessions[session] = None
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="rtp-clock")

    def discard(self, session: RtpSession) -> None:
        self._sessions.pop(session, None)

    @property
    def running(self) -> bool:
        return self._task is not None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        slot = 0
        try:
            while self._sessions:
                due = start + slot * FRAME_S
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                behind = loop.time() - due
                if behind > RESYNC_AFTER_S:  # the loop stalled: skip slots, never burst
                    skipped = int(behind / FRAME_S)
                    slot += skipped
                    due += skipped * FRAME_S
                    for session in self._sessions:
                        session._skip_slots(skipped)
                        session.late_packets += 1
                for session in list(self._sessions):
                    session._clock_tick(due, loop.time())
                slot += 1
        finally:
            self._task = None

    async def close(self) -> None:
        self._sessions.clear()
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
