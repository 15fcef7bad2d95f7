"""Every conference room of this process, per tenant, and their events in the webhook outbox.

A room's media lives where its clock runs, so rooms are kept in memory by the process that
hosts them (``callrobot serve``): :class:`ConferenceRooms` gives them ids, keeps one tenant
from seeing another's rooms (another tenant's id is simply not found), dials participants
through the carrier, and finds live calls by id among those registered with
:meth:`ConferenceRooms.register_call`. The rooms' events are written to the outbox in order by
one background task (the database is never touched from the audio clock). A recorded room's
mix is written in the recordings folder (``recording_dir``, the process's recordings root);
once the room ends its ``recording`` row and ``recording.completed`` event are written in one
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from models.recording import RecordingSource
from models.webhook import EventType
from robot.carriers.base import Call, CallState, Carrier
from robot.control.conference import Conference, ConferenceEndedError, Member, MemberOptions
from robot.control.recording_store import completed_data, insert_recording
from robot.errors import CallrobotError, NotFoundError
from robot.recording_files import new_recording_file

logger = logging.getLogger(__name__)

#: Ended rooms kept per process so their state and recording stay readable.
KEEP_ENDED_ROOMS = 200
DIAL_TIMEOUT_S = 30.0


#: (tenant, event type, data, the recorded file of a ``recording.completed``)
QueuedEvent = tuple[int, str, dict[str, Any], Path | None]


def recording_path(conference_id: int) -> str:
    """Where the API serves a room's recording."""
    return f"/v1/conferences/{conference_id}/recording"


class ConferenceConflictError(CallrobotError):
    """A live room already has that name, or the call is already in a room."""


@dataclass
class Room:
    tenant_id: int
    conference: Conference
    record: bool
    #: Participant id -> the leg still ringing for it.
    dialling: dict[int, Call] = field(default_factory=dict)


class ConferenceRooms:
    """Rooms by id; ``engine`` (None: events are only logged) receives their events."""

    def __init__(
        self,
        engine: Engine | None,
        *,
        carrier: Carrier | None = None,
        carrier_url: str | None = None,
        recording_dir: Path | None = None,
        relay: bool = True,
        clocked: bool = True,
    ) -> None:
        self.engine = engine
        self.carrier = carrier
        #: Made into a carrier on the first dial when ``carrier`` is not given.
        self.carrier_url = carrier_url
        self.recording_dir = recording_dir
        self.relay = relay
        #: False: rooms run no clock of their own (tests tick them frame by frame).
        self.clocked = clocked
        self._ids = itertools.count(1)
        self._rooms: OrderedDict[int, Room] = OrderedDict()
        self._live_names: dict[tuple[int, str], int] = {}
        self._calls: dict[tuple[int, str], Call] = {}
        self._events: asyncio.Queue[QueuedEvent | None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- rooms --------------------------------------------------------------------------------
    def create(self, tenant_id: int, name: str, *, record: bool = False) -> Room:
        if (tenant_id, name) in self._live_names:
            raise ConferenceConflictError(f"name: a live conference is already called {name!r}")
        conference_id = next(self._ids)
        record_to = None
        if record and self.recording_dir is not None:
            record_to = new_recording_file(self.recording_dir, tenant_id, "conference")
        conference = Conference(
            conference_id,
            name,
            on_event=lambda kind, data: self._queue(tenant_id, kind, data),
            record_to=record_to,
            relay=self.relay,
            clocked=self.clocked,
        )
        room = Room(tenant_id, conference, record_to is not None)
        self._rooms[conference_id] = room
        self._live_names[(tenant_id, name)] = conference_id
        task = asyncio.ensure_future(self._forget_when_ended(room))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._trim()
        return room

    def get(self, tenant_id: int, conference_id: int) -> Room:
        room = self._rooms.get(conference_id)
        if room is None or room.tenant_id != tenant_id:
            raise NotFoundError(f"conference {conference_id}: not found")
        return room

    def live(self, tenant_id: int, conference_id: int) -> Room:
        room = self.get(tenant_id, conference_id)
        if room.conference.ending:
            raise ConferenceEndedError(f"conference {conference_id}: has ended")
        return room

    def list(self, tenant_id: int) -> list[Room]:
        return [room for room in self._rooms.values() if room.tenant_id == tenant_id]

    def named(self, tenant_id: int, name: str, *, record: bool = False) -> Room:
        """The live room called ``name``, created when there is none (the ``conference``
        action); ``record`` records a room it creates."""
        conference_id = self._live_names.get((tenant_id, name))
        if conference_id is not None:
            room = self._rooms[conference_id]
            if not room.conference.ending:
                return room
            del self._live_names[(tenant_id, name)]
        return self.create(tenant_id, name, record=record)

    async def _forget_when_ended(self, room: Room) -> None:
        await room.conference.ended.wait()
        key = (room.tenant_id, room.conference.name)
        if self._live_names.get(key) == room.conference.id:
            del self._live_names[key]
        for call in list(room.dialling.values()):
            with contextlib.suppress(CallrobotError):
                await call.hangup("conference ended")
        room.dialling.clear()

    def _trim(self) -> None:
        ended = [i for i, r in self._rooms.items() if r.conference.ended.is_set()]
        for conference_id in ended[: max(0, len(ended) - KEEP_ENDED_ROOMS)]:
            del self._rooms[conference_id]

    # -- participants ---------------------------------------------------------------------------
    def register_call(self, tenant_id: int, call: Call) -> None:
        """Make a live call findable by ``call_id`` for :meth:`add_call` (until it ends)."""
        for key, known in list(self._calls.items()):
            if known.state is CallState.ENDED:
                del self._calls[key]
        self._calls[(tenant_id, call.call_id)] = call

    def forget_call(self, tenant_id: int, call: Call) -> None:
        self._calls.pop((tenant_id, call.call_id), None)

    def add_call(
        self, tenant_id: int, conference_id: int, call_id: str, options: MemberOptions
    ) -> Member:
        """Put a registered live call of the tenant in the room (the room reads its audio)."""
        room = self.live(tenant_id, conference_id)
        call = self._calls.get((tenant_id, call_id))
        if call is None or call.state is CallState.ENDED:
            raise NotFoundError(f"call_id: no live call {call_id!r}")
        for other in self._rooms.values():
            in_room = any(m.call is call for m in other.conference.members.values())
            if in_room and not other.conference.ending:
                raise ConferenceConflictError(f"call_id: call {call_id!r} is already in a room")
        return room.conference.add(call, options)

    async def dial(
        self,
        tenant_id: int,
        conference_id: int,
        number: str,
        options: MemberOptions,
        *,
        caller_id: str | None = None,
        timeout_s: float = DIAL_TIMEOUT_S,
    ) -> tuple[int, Call]:
        """Ring ``number``; it joins the room when it answers. Returns its participant id
        (reserved now) and the ringing leg."""
        room = self.live(tenant_id, conference_id)
        if self.carrier is None and self.carrier_url is not None:
            from robot.carriers.factory import create_carrier

            self.carrier = create_carrier(self.carrier_url)
        if self.carrier is None:
            raise ConferenceConflictError("number: no carrier is configured to dial out")
        call = await self.carrier.dial(number, caller_id=caller_id, ring_timeout_s=timeout_s)
        member_id = room.conference.reserve_id()
        room.dialling[member_id] = call
        options = MemberOptions(
            muted=options.muted,
            start_on_enter=options.start_on_enter,
            end_on_exit=options.end_on_exit,
            beep=options.beep,
            hang_up_on_end=True,
        )
        task = asyncio.create_task(self._join_when_answered(room, member_id, call, options))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return member_id, call

    async def _join_when_answered(
        self, room: Room, member_id: int, call: Call, options: MemberOptions
    ) -> None:
        answered = False
        try:
            async with asyncio.timeout(DIAL_TIMEOUT_S * 2):
                async for event in call.events():
                    if event.kind == "answered":
                        answered = True
                        break
                    if event.kind in ("hangup", "failed"):
                        break
        except TimeoutError:
            pass
        if room.dialling.pop(member_id, None) is None:
            return  # kicked while ringing
        if not answered or room.conference.ending:
            with contextlib.suppress(CallrobotError):
                await call.hangup("not joined")
            return
        room.conference.add(call, options, member_id=member_id)

    async def kick(self, tenant_id: int, conference_id: int, member_id: int) -> None:
        room = self.live(tenant_id, conference_id)
        ringing = room.dialling.pop(member_id, None)
        if ringing is not None:
            with contextlib.suppress(CallrobotError):
                await ringing.hangup("kicked")
            return
        await room.conference.kick(member_id)

    # -- events ---------------------------------------------------------------------------------
    def _queue(self, tenant_id: int, event_type: str, data: dict[str, Any]) -> None:
        logger.info("conference %s: %s", data.get("conference_id"), event_type)
        recorded: Path | None = None
        if event_type == EventType.RECORDING_COMPLETED:
            room = self._rooms.get(data["conference_id"])
            recorded = room.conference.record_to if room is not None else None
        if self.engine is None:
            return
        if self._events is None:
            self._events = asyncio.Queue()
            self._writer = asyncio.create_task(
                self._write_events(self._events), name="conference-events"
            )
        self._events.put_nowait((tenant_id, event_type, data, recorded))

    async def _write_events(self, queue: asyncio.Queue[QueuedEvent | None]) -> None:
        while (item := await queue.get()) is not None:
            try:
                await asyncio.to_thread(self._write, *item)
            except Exception as e:  # the room goes on; only the report is lost
                logger.error("conference event %s not recorded: %s", item[1], e)

    def _write(
        self, tenant_id: int, event_type: str, data: dict[str, Any], recorded: Path | None
    ) -> None:
        from models.transactions import write_transaction
        from robot.crm.outbox import enqueue_event

        assert self.engine is not None
        with write_transaction(self.engine) as conn:
            if recorded is not None and self.recording_dir is not None:
                recording_id, facts = insert_recording(
                    conn,
                    tenant_id=tenant_id,
                    root=self.recording_dir,
                    path=recorded,
                    source=RecordingSource.CONFERENCE.value,
                    conference_id=data["conference_id"],
                    conference_name=data.get("name"),
                )
                data = {**data, **completed_data(recording_id, "conference", facts)}
            enqueue_event(
                conn,
                tenant_id=tenant_id,
                event_type=event_type,
                data=data,
                ordering_key=f"conference:{data['conference_id']}",
            )

    async def flush(self) -> None:
        """Wait until every event queued so far is in the outbox."""
        if self._events is None or self._writer is None:
            return
        self._events.put_nowait(None)
        writer = self._writer
        self._events, self._writer = None, None
        with contextlib.suppress(asyncio.CancelledError):
            await writer

    async def close(self) -> None:
        """End every live room and write their last events."""
        for room in list(self._rooms.values()):
            await room.conference.end("shutdown")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush()
        if self.carrier is not None:
            await self.carrier.close()
