"""Outbound calls driven by actions (``POST /v1/calls`` with ``actions``): dial, then run them.

:func:`run_outbound` is the one catch boundary of such a call. The number is dialled through
the process's carrier; once it answers, :class:`~robot.control.runner.ActionRunner` runs the
action list on that leg, exactly as on an inbound call. Its progress goes out as call-control
events (``call.initiated``, ``call.ringing``, ``call.answered``... with a per-leg ``seq``;
:mod:`robot.control.events`) under the ordering key ``call:ID``, each tied to the call's row,
and to the order's ``status_callback`` when it has one. The row (``GET /v1/calls/{id}``) gets
the end: ``outcome`` is ``completed`` for an answered call (no answering-machine detection
here), otherwise the network's word (``busy``, ``no_answer``, ``rejected``...).

:func:`wait_answer` is the ringing part shared with callbacks (:mod:`robot.control.callback`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.engine import Engine

from models.transactions import DatabaseError, write_transaction
from models.types import utc_now
from robot.carriers.base import Carrier, Signalling
from robot.control.actions import Action, Conference
from robot.control.dialling import RING_GUARD_S
from robot.control.events import CallEvents, LegEvents, StatusCallback, leg_outcome
from robot.control.media_store import StoredMedia
from robot.control.recorder import LiveRecordings
from robot.control.redirect import NextActions
from robot.control.routing import InboundCall, RoutingClient
from robot.control.runner import ActionRunner, Leg, _needs
from robot.crm.outbox import CALL
from robot.dialler.jobs import CallResult
from robot.dialler.outcomes import call_end_values
from robot.errors import CallrobotError, ValidationError
from robot.logs import bind_call
from robot.report import signalling_fields
from robot.speaking import PromptSource
from voicemail.signalling import classify_signalling

if TYPE_CHECKING:
    from robot.engine import CallEngine

logger = logging.getLogger(__name__)

__all__ = ["ANSWERED_OUTCOME", "OutboundOrder", "check_runnable", "run_outbound", "wait_answer"]

#: ``outcome`` of an answered call's row (the call-control word for a leg that talked).
ANSWERED_OUTCOME = "completed"


@dataclass(frozen=True, slots=True)
class OutboundOrder:
    """One call to place: its row, whom to call, and what to do once answered."""

    #: The ``call`` row (written before dialling).
    record_id: int
    tenant_id: int
    #: The leg's public id (``call_...``), in its events.
    call_id: str
    number: str
    actions: list[Action]
    caller_id: str | None = None
    #: The tenant's ``phone_number`` row of ``caller_id``, if it is one: serves ``redirect``
    #: (its ``routing_secret`` signs) and gives ``robot`` scripts its time zone.
    caller_number: Any = None
    ring_timeout_s: int = 30
    status_callback: StatusCallback | None = None


def check_runnable(actions: list[Action], *, redirects: bool, engine: bool) -> None:
    """Refuse (ValidationError naming the action's index) what an outbound call cannot run:
    ``redirect``/``action_url`` without a caller id among the tenant's numbers, ``robot`` and
    speech without the call engine, ``conference``."""
    available = {"next_actions": redirects, "speech": engine, "robots": engine, "media": True}
    for index, action in enumerate(actions):
        if isinstance(action, Conference):
            raise ValidationError(
                f"actions[{index}]: conference is not available on calls placed through the API"
            )
        needs = _needs(action)
        if needs is not None and not available[needs[0]]:
            raise ValidationError(f"actions[{index}]: {needs[1]}")


async def place_leg(
    carrier: Carrier,
    number: str,
    caller_id: str | None,
    ring_timeout_s: float,
    events: LegEvents,
    live: LiveRecordings | None,
) -> Leg:
    """Dial ``number`` and make its leg, findable through ``live`` for recordings started by
    the API; :func:`wait_answer` then waits for it to answer."""
    call = await carrier.dial(number, caller_id=caller_id, ring_timeout_s=ring_timeout_s)
    leg = Leg(call, events)
    if live is not None:
        live.register(leg)
    return leg


async def wait_answer(leg: Leg, ring_timeout_s: float) -> str | None:
    """Wait until ``leg`` (just dialled) answers: None; otherwise why not (``busy``,
    ``no_answer``...). A leg still ringing past ``ring_timeout_s`` (and a guard) is hung up
    as ``no_answer``."""
    try:
        async with asyncio.timeout(ring_timeout_s + RING_GUARD_S):
            answered, _ = await leg.until_ended(leg.answered.wait())
    except TimeoutError:
        answered = False
    if answered:
        return None
    if leg.ended.is_set():
        return leg_outcome(leg.call.signalling, answered=False)
    await leg.hangup()  # it rang past the timeout: we give up on it
    return "no_answer"


def _runner(
    engine: Engine,
    leg: Leg,
    order: OutboundOrder,
    carrier: Carrier,
    voice: PromptSource,
    router: RoutingClient | None,
    call_engine: CallEngine | None,
    recording_dir: Path | None,
) -> ActionRunner:
    media = None if recording_dir is None else StoredMedia(engine, recording_dir, order.tenant_id)
    runner = ActionRunner(
        leg.call, voice, carrier=carrier, leg=leg, tenant_id=order.tenant_id, media=media
    )
    number = order.caller_number
    if number is not None and router is not None:
        call = InboundCall(order.call_id, str(order.caller_id), order.number)
        runner.next_actions = NextActions(router, number, call, leg.events)
    if call_engine is not None:
        from robot.control.robot_leg import RobotScripts
        from robot.control.speech_gather import SpeechGatherer

        runner.robots = RobotScripts(
            engine,
            call_engine,
            order.tenant_id,
            recording_dir,
            number=order.number,
            timezone=number.time_zone if number is not None else None,
        )
        runner.speech = SpeechGatherer.from_engine(call_engine)
    return runner


async def run_outbound(
    engine: Engine,
    order: OutboundOrder,
    *,
    carrier: Carrier,
    voice: PromptSource,
    router: RoutingClient | None = None,
    call_engine: CallEngine | None = None,
    recording_dir: Path | None = None,
    live: LiveRecordings | None = None,
) -> CallResult:
    """Place ``order``'s call and run its actions to the end; store and return how it ended.
    ``router`` serves ``redirect`` (with ``order.caller_number``); ``call_engine`` the
    ``robot`` action and speech in ``gather``; ``live`` makes the leg findable for recordings
    started through the API."""
    bind_call(call_id=order.call_id)
    events = CallEvents(engine, order.tenant_id, f"call:{order.call_id}", record_id=order.record_id)
    if order.status_callback is not None:
        events.add_status_callback(order.status_callback)
    info = {"direction": "outbound", "to": order.number, "from": order.caller_id}
    leg_events = events.leg(order.call_id, **info)
    result = CallResult(outcome="failed")
    answered_at: datetime | None = None
    leg: Leg | None = None
    try:
        leg = await place_leg(
            carrier, order.number, order.caller_id, order.ring_timeout_s, leg_events, live
        )
        unanswered = await wait_answer(leg, order.ring_timeout_s)
        if unanswered is not None:
            result.outcome = unanswered
            return result
        answered_at = utc_now()
        runner = _runner(engine, leg, order, carrier, voice, router, call_engine, recording_dir)
        ran = await runner.run(order.actions)
        logger.info("call %s: actions ended by %s", order.call_id, ran.ended_by)
        result.outcome = ANSWERED_OUTCOME
        return result
    except CallrobotError as e:
        logger.warning("call %s failed: %s", order.call_id, e)
        result.error = str(e)
        return result
    except asyncio.CancelledError:
        result.outcome, result.error = "cancelled", "service shut down"
        raise
    except Exception as e:  # the row must end whatever happened (it counts in the quota)
        logger.exception("call %s failed", order.call_id)
        result.error = f"{e.__class__.__name__}: {e}"
        return result
    finally:
        if leg is not None:
            await leg.hangup()
            if live is not None:
                await live.forget(leg)
            await leg.close()
        signalling = leg.call.signalling if leg is not None else Signalling()
        leg_events.complete(signalling)
        await events.close()
        ended = utc_now()
        verdict = classify_signalling(signalling)
        result.q850 = verdict.q850
        result.signalling = {**signalling_fields(signalling, verdict.reason), "q850": verdict.q850}
        result.answered_at = answered_at
        if answered_at is not None:
            result.duration_ms = (ended - answered_at).total_seconds() * 1000.0
        with contextlib.suppress(DatabaseError):
            await asyncio.to_thread(_store_end, engine, order.record_id, result, ended)


def _store_end(engine: Engine, record_id: int, result: CallResult, ended: datetime) -> None:
    """Write how the call ended to its row (its events are written already)."""
    try:
        with write_transaction(engine) as conn:
            conn.execute(
                update(CALL).where(CALL.c.id == record_id).values(**call_end_values(result, ended))
            )
    except DatabaseError as e:
        logger.error("call %d: end not stored: %s", record_id, e)
        raise
