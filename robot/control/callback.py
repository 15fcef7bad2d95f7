"""Callbacks A -> B: call A; once A answers, say the announcement, then dial B and bridge.

:func:`run_callback` is the one catch boundary of a callback. A is dialled first; B is
dialled only once A has answered and heard ``announce_a``. While B rings A hears ringback;
B hears ``whisper_b`` (and presses ``confirm_digit`` when asked) before the two are bridged.
The dial, the whisper, the ringback and the bridge are the ``dial`` action's
(:class:`~robot.control.runner.ActionRunner`), so a callback behaves exactly like a ``dial``
from an inbound call. Busy, no answer or a failure of either leg ends the callback cleanly:
the other leg is hung up and its ``call.completed`` event carries both outcomes. Every step
is written to the ``callback`` row (``GET /v1/callbacks/{id}``); the legs' events go to the
outbox under the ordering key ``callback:ID``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine

from models.callback import Callback, CallbackStatus
from models.transactions import DatabaseError, write_transaction
from models.types import utc_now
from models.webhook import EventType
from robot.carriers.base import Carrier
from robot.control.actions import Dial, DialTarget
from robot.control.events import COMPLETED, CallEvents, LegEvents, leg_outcome
from robot.control.outbound import place_leg, wait_answer
from robot.control.recorder import LiveRecordings
from robot.control.runner import ActionRunner, Leg
from robot.errors import CallrobotError
from robot.logs import bind_call
from robot.speaking import PromptSource

logger = logging.getLogger(__name__)

__all__ = ["NOT_CALLED", "run_callback"]

CALLBACK = Callback.__table__  # type: ignore[attr-defined]
#: ``outcome_b`` of a callback whose B was never dialled.
NOT_CALLED = "not_called"


class _Row:
    """The callback's row, updated in order in the background (``flush`` waits for it)."""

    def __init__(self, engine: Engine, callback_id: int) -> None:
        self.engine = engine
        self.callback_id = callback_id
        self._last: asyncio.Task[None] | None = None

    def update(self, **values: Any) -> None:
        previous = self._last

        async def write() -> None:
            if previous is not None:
                await previous
            try:
                await asyncio.to_thread(self._write, values)
            except DatabaseError as e:
                logger.error("callback %d: state not stored: %s", self.callback_id, e)

        self._last = asyncio.create_task(write())

    def _write(self, values: dict[str, Any]) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(update(CALLBACK).where(CALLBACK.c.id == self.callback_id).values(**values))

    async def flush(self) -> None:
        if self._last is not None:
            await self._last


async def run_callback(
    engine: Engine,
    order: Callback,
    *,
    carrier: Carrier,
    voice: PromptSource,
    live: LiveRecordings | None = None,
) -> dict[str, Any]:
    """Run callback ``order`` (a stored row) to its end; return the values stored last.
    ``live`` makes A's leg findable for recordings started through the API."""
    assert order.id is not None
    bind_call(call_id=f"callback-{order.id}")
    row = _Row(engine, order.id)
    events = CallEvents(
        engine, order.tenant_id, f"callback:{order.id}", shared={"callback_id": order.id}
    )
    a_events = events.leg(direction="outbound", leg="a", to=order.a, **{"from": order.caller_id_a})
    a_events.child_info["leg"] = "b"

    def follow(event_type: EventType, leg_events: LegEvents) -> None:
        if leg_events is a_events:
            return
        if event_type == EventType.CALL_INITIATED:  # B's leg
            row.update(call_id_b=leg_events.call_id)
        elif event_type == EventType.CALL_BRIDGED:
            row.update(status=CallbackStatus.BRIDGED.value, bridged_at=utc_now())

    final: dict[str, Any] = {"outcome_b": NOT_CALLED}
    row.update(status=CallbackStatus.CALLING_A.value, call_id_a=a_events.call_id)
    leg: Leg | None = None
    try:
        leg = await place_leg(
            carrier, order.a, order.caller_id_a, order.ring_timeout_s, a_events, live
        )
        call = leg.call
        unanswered = await wait_answer(leg, order.ring_timeout_s)
        if unanswered is not None:
            a_events.context.update(outcome_b=NOT_CALLED)
            final["outcome_a"] = unanswered
            return await _finish(row, final, failed=True)
        row.update(answered_a_at=utc_now())
        runner = ActionRunner(call, voice, carrier=carrier, leg=leg)
        if order.announce_a and not await runner.say(order.announce_a):
            final["outcome_a"] = leg_outcome(call.signalling, answered=True)
            a_events.context.update(outcome_b=NOT_CALLED)
            return await _finish(row, final, failed=True)
        row.update(status=CallbackStatus.CALLING_B.value)
        target = DialTarget(to=order.b, whisper=order.whisper_b, confirm=order.confirm_digit)
        dial = Dial(
            targets=[target],
            caller_id=order.caller_id_b,
            timeout_s=order.ring_timeout_s,
            record={"channels": 2} if order.record else None,
        )
        events.on_event = follow
        result = await runner.dial(dial)
        bridged = result.bridged_target is not None
        final["outcome_b"] = COMPLETED if bridged else result.outcomes[0]
        a_events.context.update(outcome_b=final["outcome_b"])
        await leg.hangup()
        final["outcome_a"] = leg_outcome(call.signalling, answered=True)
        return await _finish(row, final, failed=not bridged)
    except CallrobotError as e:
        logger.warning("callback %d failed: %s", order.id, e)
        final.setdefault("outcome_a", "failed")
        final["error"] = str(e)[:1000]
        return await _finish(row, final, failed=True)
    except asyncio.CancelledError:
        final.setdefault("outcome_a", "cancelled")
        final["error"] = "service shut down"
        await _finish(row, final, failed=True)
        raise
    finally:
        if leg is not None:
            await leg.hangup()
            if live is not None:
                await live.forget(leg)
            await leg.close()
        await events.close()
        await row.flush()


async def _finish(row: _Row, final: dict[str, Any], *, failed: bool) -> dict[str, Any]:
    status = CallbackStatus.FAILED if failed else CallbackStatus.COMPLETED
    ended: datetime = utc_now()
    final.update(status=status.value, ended_at=ended)
    row.update(**final)
    return final
