"""What an answered inbound call does: a masking session's bridge, or its number's routing.

:func:`answer_inbound` is the one catch boundary of an inbound call. A call from a masking
participant to its proxy number is bridged to the other participant, shown the other
participant's proxy number (:func:`robot.control.masking.resolve_masked`); any other call
to a tenant's number runs the actions its routing gives (:class:`RoutingClient`). A call to
an unknown number, or actions that cannot run, end in a hang-up; nothing a customer's server
does makes this raise. Real numbers are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from robot.carriers.base import Call, Carrier
from robot.control.actions import Action, Dial, DialTarget
from robot.control.masking import MaskedRoute, resolve_masked
from robot.control.numbers import number_for_inbound
from robot.control.routing import InboundCall, Routing, RoutingClient
from robot.control.runner import ActionRunner, MediaLoader, RunResult
from robot.errors import CallrobotError
from robot.speaking import PromptSource

logger = logging.getLogger(__name__)

__all__ = ["InboundOutcome", "answer_inbound"]

#: Seconds the other participant of a masking session rings.
MASKED_RING_S = 30


@dataclass(frozen=True, slots=True)
class InboundOutcome:
    #: ``masked``, ``routed``, ``unknown_number`` or ``failed``.
    kind: str
    routing: Routing | None = None
    result: RunResult | None = None
    masked_session_id: int | None = None
    error: str | None = None


def _masked(engine: Engine, call: InboundCall) -> MaskedRoute | None:
    with engine.connect() as conn:
        return resolve_masked(conn, call.from_number, call.to_number)


def _number(engine: Engine, call: InboundCall) -> Any | None:
    with engine.connect() as conn:
        return number_for_inbound(conn, call.to_number)


async def answer_inbound(
    engine: Engine,
    call: Call,
    inbound: InboundCall,
    *,
    router: RoutingClient,
    voice: PromptSource,
    carrier: Carrier,
    media: MediaLoader | None = None,
) -> InboundOutcome:
    """Run an answered inbound call to its end and say what it did."""
    try:
        masked = await asyncio.to_thread(_masked, engine, inbound)
        if masked is not None:
            target = DialTarget(to=masked.dial)
            actions: list[Action] = [
                Dial(targets=[target], caller_id=masked.caller_id, timeout_s=MASKED_RING_S)
            ]
            runner = ActionRunner(call, voice, carrier=carrier, media=media)
            result = await runner.run(actions)
            logger.info("call %s: masking session %s", inbound.call_id, masked.session_id)
            return InboundOutcome("masked", result=result, masked_session_id=masked.session_id)
        number = await asyncio.to_thread(_number, engine, inbound)
        if number is None:
            logger.info("call %s: the number called is nobody's; hanging up", inbound.call_id)
            await call.hangup("unknown number")
            return InboundOutcome("unknown_number")
        routing = await router.route(number, inbound)
        runner = ActionRunner(call, voice, carrier=carrier, media=media)
        result = await runner.run(routing.actions)
        return InboundOutcome("routed", routing=routing, result=result)
    except CallrobotError as e:
        logger.warning("call %s: %s; hanging up", inbound.call_id, e)
        with contextlib.suppress(CallrobotError):
            await call.hangup("failed")
        return InboundOutcome("failed", error=str(e))
