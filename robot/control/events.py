"""Call-control events: what each leg of an inbound call, an outbound call or a callback did.

:class:`CallEvents` queues ``call.initiated``, ``call.ringing``, ``call.answered``,
``call.bridged``, ``call.completed``, ``dial.completed`` and ``dtmf.received`` in the webhook
outbox (:func:`robot.crm.outbox.enqueue_event`), so they are signed and delivered at least
once like every other event. Each leg has its own ``seq`` (1, 2, ...) and each event the time
it happened at its source (``occurred_at``, not the time it was written or sent). All legs of
one call tree (an inbound call and the parties it dialled; both legs of a callback) share one
ordering key, and one writer task writes them in the order they were emitted, so an endpoint
receives them in order. A failed write is logged: the call goes on, only its report is lost.
A ``status_callback`` (:meth:`CallEvents.add_status_callback`) is written by the same task, so
it gets every event of the tree emitted before it and after it, in order.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from models.transactions import DatabaseError, write_transaction
from models.types import utc_now
from models.webhook import EventType
from robot.carriers.base import CallEvent, Signalling
from robot.crm.outbox import enqueue_event
from robot.crm.status_callback import add_status_callback
from voicemail.signalling import ANSWERED, classify_signalling

logger = logging.getLogger(__name__)

__all__ = ["CallEvents", "LegEvents", "StatusCallback", "leg_outcome", "new_call_id"]

#: Outcome of a leg that was answered and then ended normally.
COMPLETED = "completed"


def new_call_id() -> str:
    """A public id for one leg (``call_`` and 24 hex digits)."""
    return f"call_{secrets.token_hex(12)}"


def leg_outcome(signalling: Signalling, *, answered: bool) -> str:
    """``completed`` for an answered leg; otherwise what the network said (``busy``,
    ``no_answer``, ``rejected``...; :func:`voicemail.signalling.classify_signalling`)."""
    if answered:
        return COMPLETED
    outcome = classify_signalling(signalling).outcome
    return COMPLETED if outcome == ANSWERED else outcome


@dataclass(frozen=True, slots=True)
class StatusCallback:
    """Where a call tree's progress events also go, signed with ``secret``."""

    url: str
    secret: str
    event_types: tuple[str, ...]


#: What the writer task writes: an event ``(call_id, seq, type, data)`` or a status callback.
_Item = tuple[str, int, str, dict[str, Any]] | StatusCallback


@dataclass
class LegEvents:
    """The events of one leg; ``seq`` counts from 1."""

    owner: CallEvents
    call_id: str
    #: Fields sent with every event of this leg (direction, from, to, leg, callback_id...).
    info: dict[str, Any]
    #: Fields added to this leg's ``call.completed`` (e.g. a callback's outcome).
    context: dict[str, Any] = field(default_factory=dict)
    #: Fields sent with every event of the legs this one dials (e.g. ``leg: b``).
    child_info: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    ringing: bool = False
    answered: bool = False
    completed: bool = False

    def emit(self, event_type: EventType, **data: Any) -> None:
        """Queue one event now (its ``occurred_at`` is now)."""
        self.seq += 1
        body = {
            "call_id": self.call_id,
            "seq": self.seq,
            "occurred_at": self.owner.clock().isoformat(),
            **self.owner.shared,
            **self.info,
            **data,
        }
        self.owner.queue(self.call_id, self.seq, event_type, body)
        if self.owner.on_event is not None:
            self.owner.on_event(event_type, self)

    def child(self, **info: Any) -> LegEvents:
        """A leg this one dials (same ordering key; ``parent_call_id`` names this leg)."""
        return self.owner.leg(parent_call_id=self.call_id, **self.child_info, **info)

    def carrier_event(self, event: CallEvent, signalling: Signalling) -> None:
        """Report one carrier event (ringing, early media, answer, DTMF, the end)."""
        if event.kind in ("ringing", "early_media") and not self.ringing and not self.answered:
            self.ringing = True
            self.emit(EventType.CALL_RINGING, early_media=event.kind == "early_media")
        elif event.kind == "answered" and not self.answered:
            self.answered = True
            self.emit(EventType.CALL_ANSWERED)
        elif event.kind == "dtmf" and event.digit:
            self.emit(EventType.DTMF_RECEIVED, digit=event.digit)
        elif event.kind in ("hangup", "failed"):
            self.complete(signalling, by=event.by)

    def complete(self, signalling: Signalling, *, by: str | None = None) -> None:
        """Report the end of the leg once, with its outcome and the SIP status seen."""
        if self.completed:
            return
        self.completed = True
        outcome = leg_outcome(signalling, answered=self.answered)
        self.emit(
            EventType.CALL_COMPLETED,
            outcome=outcome,
            hangup_by=by,
            sip_status=signalling.final_status,
            **self.context,
        )


class CallEvents:
    """The events of one call tree of a tenant, written in order by one writer task."""

    def __init__(
        self,
        engine: Engine,
        tenant_id: int,
        ordering_key: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        shared: dict[str, Any] | None = None,
        record_id: int | None = None,
    ) -> None:
        """``shared``: fields sent with every event of the tree (e.g. ``callback_id``);
        ``record_id``: the ``call`` row the tree reports on (a call placed through the API)."""
        self.engine = engine
        self.record_id = record_id
        self.shared = dict(shared or {})
        #: Called with each event as it is emitted (the owner of the tree follows its steps).
        self.on_event: Callable[[EventType, LegEvents], None] | None = None
        self.tenant_id = tenant_id
        self.ordering_key = ordering_key[:64]
        self.clock = clock
        self._pending: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        #: Events written so far (type, call id, seq), in order (for logs and tests).
        self.written: list[tuple[str, str, int]] = []

    def leg(self, call_id: str | None = None, **info: Any) -> LegEvents:
        """Events of a new leg; ``call.initiated`` is its first event."""
        leg = LegEvents(self, call_id or new_call_id(), {k: v for k, v in info.items()})
        leg.emit(EventType.CALL_INITIATED)
        return leg

    def queue(self, call_id: str, seq: int, event_type: str, data: dict[str, Any]) -> None:
        self._put((call_id, seq, str(event_type), data))

    def add_status_callback(self, callback: StatusCallback) -> None:
        """Send the tree's events of ``callback.event_types`` to ``callback.url`` too, those
        emitted so far included."""
        self._put(callback)

    def _put(self, item: _Item) -> None:
        self._pending.put_nowait(item)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop())

    async def _write_loop(self) -> None:
        while True:
            item = await self._pending.get()
            if item is None:
                return
            batch = [item]
            while not self._pending.empty():
                more = self._pending.get_nowait()
                if more is None:
                    self._pending.put_nowait(None)
                    break
                batch.append(more)
            try:
                await asyncio.to_thread(self._write, batch)
            except DatabaseError as e:
                logger.error("call events of %s not recorded: %s", self.ordering_key, e)

    def _write(self, batch: list[_Item]) -> None:
        written: list[tuple[str, str, int]] = []
        with write_transaction(self.engine) as conn:
            for item in batch:
                if isinstance(item, StatusCallback):
                    add_status_callback(
                        conn,
                        tenant_id=self.tenant_id,
                        ordering_key=self.ordering_key,
                        url=item.url,
                        secret=item.secret,
                        event_types=item.event_types,
                    )
                    continue
                call_id, seq, event_type, data = item
                enqueue_event(
                    conn,
                    tenant_id=self.tenant_id,
                    event_type=event_type,
                    data=data,
                    ordering_key=self.ordering_key,
                    call_id=self.record_id,
                    dedupe_key=f"ctl:{call_id}:{seq}",
                )
                written.append((event_type, call_id, seq))
        self.written.extend(written)

    async def close(self) -> None:
        """Write everything emitted so far, then stop the writer."""
        if self._writer is None:
            return
        self._pending.put_nowait(None)
        writer, self._writer = self._writer, None
        await writer
