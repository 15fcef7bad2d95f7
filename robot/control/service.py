"""Call control in a running service: the carrier that takes inbound calls and places
callbacks, the voice that speaks ``say``, and the routing client.

One :class:`CallControl` serves a process (``callrobot serve``, ``callrobot dialler``, the
demo, tests). With a ``sip://...;listen=HOST:PORT`` carrier URL it listens there: an INVITE
gets 100 Trying and 180 Ringing at once (the SIP carrier's), then
:func:`~robot.control.inbound.answer_inbound` runs it (the routing request while it rings,
then the answer and the actions; or a masking bridge). Other carrier URLs take no inbound
calls from outside; on the simulated network :meth:`CallControl.ring_in` has a persona call
one of the numbers (tests, the demo). Callbacks (:func:`~robot.control.callback.run_callback`)
and outbound calls that run actions (:func:`~robot.control.outbound.run_outbound`) run as
tasks of this object and end with it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any, Protocol

import httpx
from sqlalchemy.engine import Engine

from models.callback import Callback
from robot.carriers.base import Call, Carrier
from robot.carriers.sim_network import dialled_number
from robot.control.callback import run_callback
from robot.control.events import new_call_id
from robot.control.inbound import InboundOutcome, answer_inbound
from robot.control.outbound import OutboundOrder, run_outbound
from robot.control.recorder import LiveRecordings
from robot.control.routing import InboundCall, RoutingClient
from robot.errors import CallrobotError
from robot.logs import bind_call
from robot.speaking import PromptSource

logger = logging.getLogger(__name__)

__all__ = ["CallControl", "RegistryVoice", "RingingCall"]


class RingingCall(Call, Protocol):
    """An inbound call that rings until answered (SIP's and the sim's inbound calls)."""

    @property
    def caller_uri(self) -> str: ...

    @property
    def called_uri(self) -> str: ...

    @property
    def sip_headers(self) -> dict[str, str]: ...

    async def answer(self) -> None: ...


class RegistryVoice:
    """The configured synthesizer of ``language`` (:mod:`robot.speech.registry`), loaded
    on first use."""

    def __init__(self, language: str = "en") -> None:
        self.language = language
        self._synthesizer: Any = None
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> Any:
        with self._lock:
            if self._synthesizer is None:
                from robot.speech.registry import SpeechRegistry

                self._synthesizer = SpeechRegistry().synthesizer(self.language)
        return self._synthesizer.synthesize(text)


class CallControl:
    """Inbound calls and callbacks of one process, on one carrier."""

    def __init__(
        self,
        engine: Engine,
        carrier: Carrier,
        voice: PromptSource,
        *,
        router: RoutingClient | None = None,
        call_engine: Any = None,
        recording_dir: Path | None = None,
    ) -> None:
        """``call_engine`` (a :class:`robot.engine.CallEngine`) runs ``robot`` actions and
        speech in ``gather``; without it such actions are refused."""
        self.engine = engine
        self.call_engine = call_engine
        self.recording_dir = recording_dir
        self.carrier = carrier
        self.voice = voice
        self._client: httpx.AsyncClient | None = None
        self._router = router
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Inbound calls handled so far, with what each did (newest last; tests, the demo).
        self.outcomes: list[InboundOutcome] = []
        #: Live legs of this process that the API may start recording.
        self.recordings = LiveRecordings()

    @classmethod
    def from_url(
        cls,
        engine: Engine,
        carrier_url: str,
        voice: PromptSource,
        *,
        router: RoutingClient | None = None,
        **options: Any,
    ) -> CallControl:
        """A SIP URL with ``listen=`` listens there; any other URL only places calls.
        ``options``: ``call_engine`` and ``recording_dir`` (see the constructor)."""
        from robot.carriers.factory import create_carrier

        if carrier_url.lower().startswith(("sip:", "sips:")):
            from robot.carriers.sip.carrier import SipCarrier
            from robot.carriers.sip.config import SipCarrierConfig

            config = SipCarrierConfig.from_url(carrier_url)
            if config.listen is not None:
                controls: list[CallControl] = []

                async def incoming(call: Any) -> None:
                    await controls[0].accept(call)

                carrier = SipCarrier(config.for_listening(), incoming)
                controls.append(cls(engine, carrier, voice, router=router, **options))
                return controls[0]
        return cls(engine, create_carrier(carrier_url), voice, router=router, **options)

    @property
    def listen_address(self) -> tuple[str, int] | None:
        """Where inbound SIP calls are taken, once started (None: not listening)."""
        from robot.carriers.sip.carrier import SipCarrier

        if isinstance(self.carrier, SipCarrier) and self.carrier.config.listen is not None:
            return self.carrier.local_address
        return None

    async def start(self) -> None:
        """Start listening (SIP with ``listen=``); nothing to do for other carriers."""
        from robot.carriers.sip.carrier import SipCarrier

        if isinstance(self.carrier, SipCarrier) and self.carrier.config.listen is not None:
            await self.carrier.start()
            host, port = self.carrier.local_address
            logger.info("taking inbound SIP calls on %s:%d", host, port)

    def _routing(self) -> RoutingClient:
        if self._router is None:
            self._client = httpx.AsyncClient()
            self._router = RoutingClient(self.engine, self._client)
        return self._router

    async def accept(self, call: RingingCall) -> InboundOutcome:
        """Run a ringing inbound call to its end (the carrier's inbound handler; counted by
        :meth:`wait_idle` and ended by :meth:`close` like a callback)."""
        task = asyncio.current_task()
        if task is not None and task not in self._tasks:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        inbound = InboundCall(
            new_call_id(),
            dialled_number(call.caller_uri),
            dialled_number(call.called_uri),
            call.sip_headers,
        )
        bind_call(call_id=inbound.call_id)
        outcome = await answer_inbound(
            self.engine,
            call,
            inbound,
            router=self._routing(),
            voice=self.voice,
            carrier=self.carrier,
            answer=call.answer,
            call_engine=self.call_engine,
            recording_dir=self.recording_dir,
            live=self.recordings,
        )
        self.outcomes.append(outcome)
        logger.info("inbound call %s ended: %s", inbound.call_id, outcome.kind)
        return outcome

    def ring_in(self, caller: str, called: str, **options: Any) -> Any:
        """Simulated network only: the persona of ``caller`` calls ``called``; the call is
        taken like one from a trunk. Returns the caller's :class:`InboundSimCall`."""
        from robot.carriers.sim import SimCarrier
        from robot.carriers.sim_inbound import ring_in

        if not isinstance(self.carrier, SimCarrier):
            raise CallrobotError("only the simulated network places calls to our numbers")
        call = ring_in(self.carrier, caller, called, **options)
        self._spawn(self.accept(call))
        return call

    def start_callback(self, order: Callback) -> asyncio.Task[Any]:
        """Run a stored callback in the background."""
        return self._spawn(
            run_callback(
                self.engine, order, carrier=self.carrier, voice=self.voice, live=self.recordings
            )
        )

    def start_outbound(self, order: OutboundOrder) -> asyncio.Task[Any]:
        """Place a call that runs actions (``POST /v1/calls``) in the background."""
        return self._spawn(
            run_outbound(
                self.engine,
                order,
                carrier=self.carrier,
                voice=self.voice,
                router=self._routing(),
                call_engine=self.call_engine,
                recording_dir=self.recording_dir,
                live=self.recordings,
            )
        )

    def _spawn(self, work: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait_idle(self) -> None:
        """Wait until every inbound call, callback and outbound call under way has ended."""
        mine = asyncio.current_task()
        while others := [t for t in self._tasks if t is not mine]:
            await asyncio.gather(*others, return_exceptions=True)

    async def close(self) -> None:
        """End every call and callback, then the carrier and the routing client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.carrier.close()
        if self._client is not None:
            await self._client.aclose()
