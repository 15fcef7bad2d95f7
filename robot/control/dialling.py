"""The ``dial`` action: ring every target, bridge the first that answers with the caller.

While the targets ring the caller hears ringback (:mod:`robot.control.tones`), never silence,
unless a target sends early media (:mod:`robot.control.call_progress`). The first target to
answer, hear its ``whisper`` and press its ``confirm`` key when asked is bridged
(:func:`robot.control.leg.bridge`); the others are hung up. A caller that still rings
(``answer_on_bridge``) is answered only then. Each dial reports ``dial.completed``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from models.webhook import EventType
from robot.control.actions import Dial, DialTarget, Gather
from robot.control.call_progress import caller_progress
from robot.control.events import leg_outcome
from robot.control.leg import Leg, bridge
from robot.control.recorder import bridge_recording

if TYPE_CHECKING:
    from robot.control.runner import ActionRunner

#: Seconds a called party has to press its ``confirm`` key after the whisper.
CONFIRM_TIMEOUT_S = 10.0
#: Seconds past a dial's ``timeout_s`` before a target that never ends its ringing is dropped.
RING_GUARD_S = 5.0


@dataclass(frozen=True, slots=True)
class DialResult:
    #: Index in ``targets`` of the party bridged, or None.
    bridged_target: int | None
    #: Per target: ``bridged``, ``not_confirmed``, ``cancelled``, or why it was not answered
    #: (``no_answer``, ``busy``, ``rejected``, ``failed``...: the network's word).
    outcomes: tuple[str, ...]


async def run_dial(runner: ActionRunner, dial: Dial) -> DialResult:
    """Ring every target, bridge the first that answers (and confirms) with the caller."""
    assert runner.carrier is not None
    legs: list[Leg] = []
    caller_events = runner.leg.events
    for target in dial.targets:
        call = await runner.carrier.dial(
            target.to, caller_id=dial.caller_id, ring_timeout_s=dial.timeout_s
        )
        events = None
        if caller_events is not None:
            events = caller_events.child(
                direction="outbound", to=target.to, **{"from": dial.caller_id}
            )
        legs.append(Leg(call, events))
    outcomes = ["cancelled"] * len(legs)
    # A caller that still rings (answer_on_bridge) hears its own network's ringing, or a
    # target's early media when its carrier can open the media before the answer.
    opens = None if runner.ringing is None else runner.ringing.early_media
    hears = caller_progress(runner.leg, legs, ringing=runner.ringing is not None, open_media=opens)
    progress = asyncio.create_task(hears)
    takes = [
        asyncio.create_task(_take(runner, leg, target, dial.timeout_s))
        for leg, target in zip(legs, dial.targets, strict=True)
    ]
    winner: int | None = None
    try:
        pending: set[asyncio.Task[Any]] = set(takes)
        caller_gone: asyncio.Task[Any] = asyncio.create_task(runner.leg.ended.wait())
        while pending and winner is None:
            done, pending = await asyncio.wait(
                pending | {caller_gone}, return_when=asyncio.FIRST_COMPLETED
            )
            pending.discard(caller_gone)
            if caller_gone in done:
                break
            for task in done:
                index = takes.index(task)
                outcomes[index] = str(task.result())
                if outcomes[index] == "answered" and winner is None:
                    winner = index
        caller_gone.cancel()
        progress.cancel()
        for task in takes:
            task.cancel()
        await asyncio.gather(*takes, caller_gone, progress, return_exceptions=True)
        runner.leg.call.stop_playback()
        for index, leg in enumerate(legs):
            if index != winner:
                await leg.hangup()
        if winner is not None and not await runner._pick_up():  # answer_on_bridge
            outcomes[winner] = "cancelled"
            winner = None
        if winner is not None:
            outcomes[winner] = "bridged"
            async with bridge_recording(runner.leg, legs[winner], dial.record):
                await bridge(runner.leg, legs[winner], dial.time_limit_s)
    finally:
        progress.cancel()
        for leg in legs:
            await leg.hangup()
            await leg.close()
    result = DialResult(winner, tuple(outcomes))
    if caller_events is not None:
        called = [leg.events.call_id if leg.events else None for leg in legs]
        caller_events.emit(
            EventType.DIAL_COMPLETED,
            bridged_target=winner,
            targets=[
                {"to": t.to, "call_id": c, "outcome": o}
                for t, c, o in zip(dial.targets, called, outcomes, strict=True)
            ],
        )
    return result


async def _take(runner: ActionRunner, leg: Leg, target: DialTarget, timeout_s: float) -> str:
    """``answered`` once the party answered (heard its whisper, pressed its key)."""
    try:
        async with asyncio.timeout(timeout_s + RING_GUARD_S):
            answered, _ = await leg.until_ended(leg.answered.wait())
    except TimeoutError:
        answered = False
    if not answered:
        if not leg.ended.is_set():  # it rang past the dial's timeout: we give up on it
            await leg.hangup()
            return "no_answer"
        return leg_outcome(leg.call.signalling, answered=False)
    if target.whisper is not None and not await runner._say(leg, target.whisper):
        return "no_answer"
    if target.confirm is not None:
        pressed = await runner._gather(
            leg, Gather(max_digits=1, timeout_s=CONFIRM_TIMEOUT_S, finish_on_key=None)
        )
        if pressed.digits != target.confirm:
            await leg.hangup()
            return "not_confirmed"
    return "answered"
