"""Calls the simulated network places *to us*: a persona calling one of our numbers.

:func:`ring_in` starts an :class:`InboundSimCall` from a persona's number to a called number.
The call rings here (the network sees our 100 Trying and 180 Ringing at once) until the
application answers it (:meth:`InboundSimCall.answer`) or rejects it; once answered it is a
sim call like any other: the persona's side runs its lines, hears what is played and hangs
up when its lines say so. The persona gives up (CANCEL) after ``ring_timeout_s`` unanswered.
Same surface as :class:`robot.carriers.sip.inbound.InboundSipCall`: ``caller_uri``,
``called_uri``, ``sip_headers``, ``answer()``, ``reject()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from robot.carriers.base import CallState
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_call import SimCall
from robot.carriers.sim_network import CARRIER_HOST, SIP_PHRASES, dialled_number
from robot.errors import CarrierError

__all__ = ["InboundSimCall", "ring_in"]

#: Seconds a calling persona waits for an answer before it gives up.
DEFAULT_RING_TIMEOUT_S = 60.0


class InboundSimCall(SimCall):
    """A persona's call to one of our numbers (we are the called side)."""

    def __init__(
        self,
        carrier: SimCarrier,
        caller: str,
        called: str,
        *,
        sip_headers: Mapping[str, str] | None = None,
        ring_timeout_s: float = DEFAULT_RING_TIMEOUT_S,
    ) -> None:
        persona = carrier.persona_for(caller)
        if persona is None:
            raise CarrierError("no persona calls from that number")
        super().__init__(
            dialled_number(caller),
            persona,
            speed=carrier.speed,
            ring_timeout_ms=ring_timeout_s * 1000.0,
            prompt_end_silence_ms=carrier.prompt_end_silence_ms,
            seed=len(carrier.calls),
            listen=carrier.listen,
        )
        self.called_number = dialled_number(called)
        self.sip_headers: dict[str, str] = dict(sip_headers or {})
        self._answer_requested = asyncio.Event()
        self._picked_up = asyncio.Event()
        self._reject_status = (480, SIP_PHRASES[480])

    @property
    def caller_uri(self) -> str:
        return f"sip:{self.number}@{CARRIER_HOST}"

    @property
    def called_uri(self) -> str:
        return f"sip:{self.called_number}@{CARRIER_HOST}"

    async def answer(self) -> None:
        """Answer the ringing call (200 OK); CarrierError when it is no longer ringing."""
        if self.state not in (CallState.DIALLING, CallState.RINGING):
            raise CarrierError(f"only a ringing inbound call can be answered ({self.state})")
        self._answer_requested.set()
        picked = asyncio.create_task(self._picked_up.wait())
        ended = asyncio.create_task(self._ended.wait())
        await asyncio.wait({picked, ended}, return_when=asyncio.FIRST_COMPLETED)
        for task in (picked, ended):
            task.cancel()
        if self.state is not CallState.ANSWERED:
            raise CarrierError("the caller hung up before the answer")

    async def reject(self, status: int = 486, reason: str = "Busy Here") -> None:
        """Refuse the ringing call with ``status``."""
        if self.state is CallState.ANSWERED:
            return
        self._reject_status = (status, reason)
        await self.hangup()

    async def _progress(self) -> bool:
        """We ring at once; the persona waits for our answer or gives up."""
        assert self.persona is not None
        self._signal(180, "Ringing")
        self._state = CallState.RINGING
        self._emit("ringing")
        answer = asyncio.create_task(self._answer_requested.wait())
        stop = asyncio.create_task(self._hangup_requested.wait())
        try:
            await asyncio.wait(
                {answer, stop},
                timeout=self.ring_timeout_ms / 1000.0 / self.speed,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for task in (answer, stop):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._hangup_requested.is_set():
            status, reason = self._reject_status
            return self._fail((status, reason, {}))
        if not self._answer_requested.is_set():
            return self._cancel(19, "No answer from user")
        return self._pick_up(self.persona)

    def _pick_up(self, persona: Persona) -> bool:
        answered = super()._pick_up(persona)
        self._picked_up.set()
        return answered


def ring_in(
    carrier: SimCarrier,
    caller: str,
    called: str,
    *,
    sip_headers: Mapping[str, str] | None = None,
    ring_timeout_s: float = DEFAULT_RING_TIMEOUT_S,
) -> InboundSimCall:
    """Start a call from the persona answering ``caller`` to ``called``; it rings at once."""
    call = InboundSimCall(
        carrier, caller, called, sip_headers=sip_headers, ring_timeout_s=ring_timeout_s
    )
    carrier.calls.append(call)
    call.start()
    return call
