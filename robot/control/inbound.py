"""What an answered inbound call does: a masking session's bridge, or its number's routing.

:func:`answer_inbound` is the one catch boundary of an inbound call. A call from a masking
participant to its proxy number is bridged to the other participant, shown the other
participant's proxy number (:func:`robot.control.masking.resolve_masked`); any other call
to a tenant's number runs the actions its routing gives (:class:`RoutingClient`). A call to
an unknown number, or actions that cannot run, end in a hang-up; nothing a customer's server
does makes this raise. Real numbers are never logged. Each leg's progress is queued as
webhook events (:mod:`robot.control.events`), also sent to the routing answer's
``status_callback`` (signed with the number's ``routing_secret``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from robot.carriers.base import Call, Carrier
from robot.control.actions import Action, Dial, DialTarget
from robot.control.events import CallEvents, StatusCallback
from robot.control.masking import MaskedRoute, resolve_masked
from robot.control.media_store import StoredMedia
from robot.control.numbers import number_for_inbound
from robot.control.recorder import LiveRecordings
from robot.control.redirect import NextActions
from robot.control.ringing import Ringing
from robot.control.routing import STATUS_EVENTS, InboundCall, Routing, RoutingClient
from robot.control.runner import ActionRunner, Leg, MediaLoader, RunResult
from robot.errors import CallrobotError
from robot.speaking import PromptSource

if TYPE_CHECKING:
    from robot.engine import CallEngine

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


def _control(
    runner: ActionRunner,
    engine: Engine,
    number: Any,
    inbound: InboundCall,
    router: RoutingClient,
    call_engine: CallEngine | None,
    recording_dir: Path | None,
) -> None:
    """Give a routed call's runner ``redirect``, and with a call engine ``robot`` and speech."""
    runner.next_actions = NextActions(router, number, inbound, runner.leg.events)
    if call_engine is None:
        return
    from robot.control.robot_leg import RobotScripts
    from robot.control.speech_gather import SpeechGatherer

    runner.robots = RobotScripts(
        engine,
        call_engine,
        int(number.tenant_id),
        recording_dir,
        number=inbound.from_number,
        timezone=number.time_zone,
    )
    runner.speech = SpeechGatherer.from_engine(call_engine)


async def answer_inbound(
    engine: Engine,
    call: Call,
    inbound: InboundCall,
    *,
    router: RoutingClient,
    voice: PromptSource,
    carrier: Carrier,
    media: MediaLoader | None = None,
    answer: Callable[[], Awaitable[None]] | None = None,
    call_engine: CallEngine | None = None,
    recording_dir: Path | None = None,
    live: LiveRecordings | None = None,
) -> InboundOutcome:
    """Run an inbound call to its end and say what it did.

    ``answer`` picks up a call that still rings: it is called once the call's actions are
    known (after the routing request) and checked, just before the first action that needs
    an answered call, so the caller hears ringing, never silence, meanwhile; a ``dial`` with
    ``answer_on_bridge`` keeps it ringing until a target is bridged, and a list that ends while
    it rings refuses it (the call's ``reject``: 486, 480...). Without it the call is already
    answered. ``play`` of a ``media_id`` plays the number's tenant's uploads (kept under
    ``recording_dir``) unless ``media`` is given. ``live`` makes the call findable for recordings
    started through the API while it lasts. Its events (``call.initiated``, ``ringing``,
    ``answered``...; :mod:`robot.control.events`) go to the number's tenant. With
    ``call_engine`` the routed actions may hold ``robot`` and a ``gather`` with ``speech``
    (recordings of ``robot`` go to ``recording_dir``).
    """
    events: CallEvents | None = None
    leg: Leg | None = None
    try:
        masked = await asyncio.to_thread(_masked, engine, inbound)
        number = None if masked is not None else await asyncio.to_thread(_number, engine, inbound)
        if masked is None and number is None:
            logger.info("call %s: the number called is nobody's; refused", inbound.call_id)
            reject = getattr(call, "reject", None)
            if answer is not None and reject is not None:  # still ringing: 404 Not Found
                await reject(404, "Not Found")
            else:
                await call.hangup("unknown number")
            return InboundOutcome("unknown_number")
        owner: Any = masked if masked is not None else number
        events = CallEvents(engine, int(owner.tenant_id), f"call:{inbound.call_id}")
        info = {"direction": "inbound", "from": inbound.from_number, "to": inbound.to_number}
        leg = Leg(call, events.leg(inbound.call_id, **info))
        if live is not None:
            live.register(leg)
        if media is None and recording_dir is not None:
            media = StoredMedia(engine, recording_dir, int(owner.tenant_id))
        ringing = None
        if answer is not None:
            ringing = Ringing(
                answer, getattr(call, "reject", None), getattr(call, "early_media", None)
            )
        runner = ActionRunner(call, voice, carrier=carrier, media=media, leg=leg, ringing=ringing)
        if number is not None:
            _control(runner, engine, number, inbound, router, call_engine, recording_dir)
        if masked is not None:
            target = DialTarget(to=masked.dial)
            actions: list[Action] = [
                Dial(targets=[target], caller_id=masked.caller_id, timeout_s=MASKED_RING_S)
            ]
            routing = None
        else:
            routing = await router.route(number, inbound)
            actions = routing.actions
            if routing.status_callback is not None:
                events.add_status_callback(
                    StatusCallback(
                        routing.status_callback,
                        str(owner.routing_secret),
                        routing.events or tuple(sorted(STATUS_EVENTS)),
                    )
                )
        if answer is not None and leg.ended.is_set():
            return InboundOutcome("failed", routing=routing, error="the caller hung up")
        result = await runner.run(actions)
        if masked is not None:
            logger.info("call %s: masking session %s", inbound.call_id, masked.session_id)
            return InboundOutcome("masked", result=result, masked_session_id=masked.session_id)
        return InboundOutcome("routed", routing=routing, result=result)
    except CallrobotError as e:
        logger.warning("call %s: %s; hanging up", inbound.call_id, e)
        with contextlib.suppress(CallrobotError):
            await call.hangup("failed")
        return InboundOutcome("failed", error=str(e))
    finally:
        if leg is not None:
            if live is not None:
                await live.forget(leg)
            await leg.close()
        if events is not None:
            await events.close()
