"""Bridged transfer: a second call leg to a human and RTP relayed between the two legs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from robot.errors import CarrierError

if TYPE_CHECKING:
    from robot.carriers.sip.call import SipCall

log = logging.getLogger(__name__)

BRIDGE_RING_TIMEOUT_S = 30.0


async def bridge_calls(
    call: SipCall, target: str, dial_leg: Callable[[str], Awaitable[SipCall]]
) -> SipCall:
    """Dial ``target``; once it answers relay audio both ways until either side hangs up.

    Returns when the bridged conversation is over and both legs are hung up, so that, as
    after a blind transfer, the robot's call has ended when ``transfer`` returns. Cancelling
    the caller hangs up both legs. Raises :class:`CarrierError` (and leaves ``call``
    untouched, still talking to the robot) if the second leg does not answer.
    """
    leg = await dial_leg(target)
    outcome = "failed"
    try:
        async with asyncio.timeout(BRIDGE_RING_TIMEOUT_S):
            async for event in leg.events():
                if event.kind in ("answered", "failed", "hangup"):
                    outcome = event.kind
                    break
    except TimeoutError:
        outcome = "timeout"
    if outcome != "answered":
        await leg.hangup()
        raise CarrierError(f"the transfer target did not answer ({outcome})")
    call.stop_playback()
    call.rtp.relay_to = leg.rtp
    leg.rtp.relay_to = call.rtp
    log.info("call %s bridged to call %s", call.call_id, leg.call_id)
    first = asyncio.ensure_future(call.wait_ended())
    second = asyncio.ensure_future(leg.wait_ended())
    try:
        await asyncio.wait({first, second}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        first.cancel()
        second.cancel()
        call.rtp.relay_to = None
        leg.rtp.relay_to = None
        await asyncio.shield(_hang_up_both(call, leg))
    return leg


async def _hang_up_both(call: SipCall, leg: SipCall) -> None:
    await asyncio.gather(call.hangup(), leg.hangup(), return_exceptions=True)
