"""What a caller hears while a ``dial``'s targets ring: our ringback, or a target's early media.

:func:`caller_progress` plays ringback (:mod:`robot.control.tones`) to the caller's leg until
a target sends early media (a SIP 183 with SDP and audio, the ``sim`` network's announcement);
that target's audio is then relayed to the caller as it arrives, until the target answers or
fails, and ringback resumes while others still ring. The runner cancels it when a target is
bridged or every target failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from robot.control.tones import ringback_cadence

if TYPE_CHECKING:
    from robot.control.runner import Leg

logger = logging.getLogger(__name__)

__all__ = ["caller_progress", "ringback"]


async def caller_progress(
    caller: Leg,
    legs: list[Leg],
    *,
    ringing: bool = False,
    open_media: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Ringback or a target's early media to ``caller`` while ``legs`` ring, until cancelled.

    A ``caller`` that still ``ringing`` gets no ringback from us (its network plays the
    ringing); a target's early media reaches it only once ``open_media`` opened its media
    (a SIP 183 with our SDP), else it just rings."""
    relayed: set[int] = set()
    opened = False
    while True:
        tone = asyncio.create_task(asyncio.Event().wait() if ringing else ringback(caller))
        waits = {
            asyncio.create_task(leg.early_media.wait()): index
            for index, leg in enumerate(legs)
            if index not in relayed and not leg.ended.is_set() and not leg.answered.is_set()
        }
        try:
            if not waits:
                await tone
                return
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tone.cancel()
            for task in waits:
                task.cancel()
            await asyncio.gather(tone, *waits, return_exceptions=True)
        index = waits[next(iter(done))]
        relayed.add(index)
        if ringing and not opened:
            if open_media is None or not await open_media():
                continue
            opened = True
        await relay_early_media(caller, legs[index])


async def relay_early_media(caller: Leg, leg: Leg) -> None:
    """``caller`` hears ``leg``'s early media until ``leg`` answers or either one ends."""
    caller.call.stop_playback()
    logger.info("call %s: relaying a target's early media", caller.call.call_id)
    leg.forward_to = caller.call
    waits = [
        asyncio.create_task(leg.answered.wait()),
        asyncio.create_task(leg.ended.wait()),
        asyncio.create_task(caller.ended.wait()),
    ]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if leg.forward_to is caller.call:
            leg.forward_to = None
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def ringback(caller: Leg) -> None:
    """Ringback to ``caller`` until cancelled, or until its call ends."""
    tone, pause = ringback_cadence()
    while True:
        for chunk in (tone, pause):
            if not await caller.play(chunk):
                return
